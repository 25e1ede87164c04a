//! State synchronization: quantized entity state and delta snapshots against the client's
//! acknowledged view.
//!
//! The model: the room and the client agree on a chain of *views*, each the full set of entity
//! states the client holds after decoding the snapshot of one tick. A [`SnapshotPacket`] for
//! tick T names a baseline tick B (one the client acknowledged; none for a keyframe) and
//! carries only the difference from view(B) to view(T): entities removed, and entities new or
//! changed. Both ends compute view(T) the same way, so the room can use any acknowledged view
//! as the next baseline. A spawn or removal keeps appearing in every snapshot until the client
//! acknowledges a view that has it, so structural changes arrive reliably and in tick order on
//! the unreliable channel, without a second channel that could race it.
//!
//! Body layout, little-endian bits: a count of removals and their ids, then a count of updates,
//! each an id and the entity's state, whole for an entity not in the baseline or as a change
//! from it (the state's [`Replicated`] forms, written by its declaration; see
//! [`crate::replicate`]). Ids are relative (1 bit for "next id", 6 for up to +17, else 34). An
//! unchanged field costs one bit; an unchanged entity costs nothing.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::{
    bits::{BitReader, BitWriter, Truncated},
    replicate::Replicated,
};

/// Most entities one snapshot may remove, and most it may update.
pub const MAX_ENTITIES_PER_SNAPSHOT: usize = 1023;
/// How many views each end keeps; an acknowledgement older than this forces a keyframe.
pub const VIEW_HISTORY: usize = 64;

const COUNT_BITS: u32 = 10;

/// The entity states a client holds at one tick, by network id, in id order.
///
/// A sorted vector rather than a tree: both ends make a view per snapshot by copying the
/// baseline and applying a delta, and with tens of entities one allocation and a copy are much
/// cheaper than a tree's node per entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View<S>(pub(crate) Vec<(u32, S)>);

impl<S> Default for View<S> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<S: Replicated> View<S> {
    /// An empty view.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Entities held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, id: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |&(i, _)| i)
    }

    /// An entity's state.
    pub fn get(&self, id: &u32) -> Option<&S> {
        self.find(*id).ok().map(|at| &self.0[at].1)
    }

    /// Sets an entity's state; returns the one it replaced.
    pub fn insert(&mut self, id: u32, state: S) -> Option<S> {
        match self.find(id) {
            Ok(at) => Some(std::mem::replace(&mut self.0[at].1, state)),
            Err(at) => {
                self.0.insert(at, (id, state));
                None
            }
        }
    }

    /// Removes an entity; returns its state.
    pub fn remove(&mut self, id: &u32) -> Option<S> {
        self.find(*id).ok().map(|at| self.0.remove(at).1)
    }

    /// (id, state) pairs in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&u32, &S)> {
        self.0.iter().map(|(id, s)| (id, s))
    }

    /// (id, state) pairs in id order, as a slice.
    pub fn as_slice(&self) -> &[(u32, S)] {
        &self.0
    }

    /// Ids in order.
    pub fn keys(&self) -> impl Iterator<Item = &u32> {
        self.0.iter().map(|(id, _)| id)
    }

    /// Makes this view a copy of `other`, reusing this view's buffer.
    pub fn copy_from(&mut self, other: &View<S>) {
        self.0.clear();
        self.0.extend_from_slice(&other.0);
    }

    /// Makes this view `baseline` with `removed` taken out and `updated` put in (both sorted by
    /// id, as [`encode_body`] takes them), in one pass and reusing this view's buffer.
    pub fn rebuild(&mut self, baseline: &View<S>, removed: &[u32], updated: &[(u32, S)]) {
        self.0.clear();
        self.0.reserve(baseline.len() + updated.len());
        let (mut r, mut u) = (0, 0);
        for &(id, state) in &baseline.0 {
            while u < updated.len() && updated[u].0 < id {
                self.0.push(updated[u]);
                u += 1;
            }
            while r < removed.len() && removed[r] < id {
                r += 1;
            }
            if r < removed.len() && removed[r] == id {
                r += 1;
            } else if u < updated.len() && updated[u].0 == id {
                self.0.push(updated[u]);
                u += 1;
            } else {
                self.0.push((id, state));
            }
        }
        self.0.extend_from_slice(&updated[u..]);
    }
}

impl<S: Replicated> Extend<(u32, S)> for View<S> {
    fn extend<I: IntoIterator<Item = (u32, S)>>(&mut self, iter: I) {
        for (id, state) in iter {
            self.insert(id, state);
        }
    }
}

impl<S: Replicated> FromIterator<(u32, S)> for View<S> {
    fn from_iter<I: IntoIterator<Item = (u32, S)>>(iter: I) -> Self {
        let mut view = Self::new();
        view.extend(iter);
        view
    }
}

impl<S: Replicated, const N: usize> From<[(u32, S); N]> for View<S> {
    fn from(pairs: [(u32, S); N]) -> Self {
        pairs.into_iter().collect()
    }
}

impl<S: Replicated> std::ops::Index<&u32> for View<S> {
    type Output = S;

    fn index(&self, id: &u32) -> &S {
        self.get(id).expect("no entity with that id in the view")
    }
}

/// Room to client, unreliable: one tick's delta. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotPacket {
    /// The tick it describes.
    pub tick: u32,
    /// `tick - baseline`; 0 means a keyframe (against an empty view).
    pub baseline_age: u8,
    /// Newest input from this client the room has applied.
    pub last_input_seq: u32,
    /// How many ticks early this client's inputs reached the room in the last second, at
    /// worst (negative: late); `None` before any. The client paces its input clock by it.
    pub input_lead: Option<i8>,
    /// The bit-packed difference.
    pub body: Vec<u8>,
}

impl SnapshotPacket {
    /// The baseline tick, or `None` for a keyframe.
    pub fn baseline(&self) -> Option<u32> {
        (self.baseline_age > 0).then(|| self.tick.wrapping_sub(u32::from(self.baseline_age)))
    }
}

/// Why a snapshot could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// The body ended early.
    #[error("snapshot body truncated")]
    Truncated,
    /// The baseline view is not (or no longer) held.
    #[error("baseline tick {0} not held")]
    MissingBaseline(u32),
    /// Ids out of order, a removal of an unknown entity, or a count over the limit.
    #[error("snapshot body malformed: {0}")]
    Malformed(&'static str),
}

impl From<Truncated> for SyncError {
    fn from(_: Truncated) -> Self {
        Self::Truncated
    }
}

#[inline]
fn id_cost(prev: u32, id: u32) -> usize {
    match id.wrapping_sub(prev) {
        1 => 1,
        2..=17 => 6,
        _ => 34,
    }
}

#[inline]
fn write_id(w: &mut BitWriter, prev: u32, id: u32) {
    match id.wrapping_sub(prev) {
        1 => w.bit(true),
        d @ 2..=17 => {
            w.write(0b10, 2); // "0" then "1", least significant first
            w.write(d - 2, 4);
        }
        _ => {
            w.write(0b00, 2);
            w.write(id, 32);
        }
    }
}

#[inline]
fn read_id(r: &mut BitReader<'_>, prev: u32) -> Result<u32, SyncError> {
    let id = if r.bit()? {
        prev.wrapping_add(1)
    } else if r.bit()? {
        prev.wrapping_add(r.read(4)? + 2)
    } else {
        r.read(32)?
    };
    if id <= prev {
        return Err(SyncError::Malformed("ids not increasing"));
    }
    Ok(id)
}

/// Bits an update of one entity costs, excluding its id.
pub fn update_cost_bits<S: Replicated>(base: Option<&S>, new: &S) -> usize {
    match base {
        None => new.full_bits(),
        Some(base) => new.delta_bits(base),
    }
}

/// Bits the whole body costs for this removal and update list (both sorted by id).
pub fn body_cost_bits<S: Replicated>(
    baseline: &View<S>,
    removed: &[u32],
    updated: &[(u32, S)],
) -> usize {
    let mut bits = 2 * COUNT_BITS as usize;
    let mut prev = 0;
    for &id in removed {
        bits += id_cost(prev, id);
        prev = id;
    }
    prev = 0;
    for (id, state) in updated {
        bits += id_cost(prev, *id) + update_cost_bits(baseline.get(id), state);
        prev = *id;
    }
    bits
}

/// Encodes the difference from `baseline`: `removed` ids (sorted, all in the baseline) and
/// `updated` entities (sorted by id; new or changed).
pub fn encode_body<S: Replicated>(
    baseline: &View<S>,
    removed: &[u32],
    updated: &[(u32, S)],
) -> Vec<u8> {
    assert!(
        removed.len() <= MAX_ENTITIES_PER_SNAPSHOT && updated.len() <= MAX_ENTITIES_PER_SNAPSHOT
    );
    // Enough for most bodies (a new entity with a near id takes 7 bytes, a moved one 2-3), so
    // the buffer is allocated once instead of doubling its way up.
    let mut w = BitWriter::with_capacity(4 + 2 * removed.len() + 8 * updated.len());
    w.write(removed.len() as u32, COUNT_BITS);
    let mut prev = 0;
    for &id in removed {
        write_id(&mut w, prev, id);
        prev = id;
    }
    w.write(updated.len() as u32, COUNT_BITS);
    prev = 0;
    for (id, new) in updated {
        write_id(&mut w, prev, *id);
        prev = *id;
        match baseline.get(id) {
            None => new.write_full(&mut w),
            Some(base) => new.write_delta(base, &mut w),
        }
    }
    w.finish()
}

/// Applies a body to `baseline`, giving the new view. Bounded: counts are capped, every read is
/// checked, and ids must increase.
pub fn decode_body<S: Replicated>(baseline: &View<S>, body: &[u8]) -> Result<View<S>, SyncError> {
    let mut view = View::new();
    decode_body_into(baseline, body, &mut view)?;
    Ok(view)
}

/// [`decode_body`] into a view the caller reuses (its old contents are replaced); on error
/// `view` holds garbage.
pub fn decode_body_into<S: Replicated>(
    baseline: &View<S>,
    body: &[u8],
    view: &mut View<S>,
) -> Result<(), SyncError> {
    let mut r = BitReader::new(body);
    view.0.clear();
    view.0.extend_from_slice(&baseline.0);
    let removed = r.read(COUNT_BITS)? as usize;
    let mut prev = 0;
    for _ in 0..removed {
        let id = read_id(&mut r, prev)?;
        prev = id;
        if view.remove(&id).is_none() {
            return Err(SyncError::Malformed(
                "removal of an entity not in the baseline",
            ));
        }
    }
    let updated = r.read(COUNT_BITS)? as usize;
    prev = 0;
    for _ in 0..updated {
        let id = read_id(&mut r, prev)?;
        prev = id;
        let state = match baseline.get(&id) {
            None => S::read_full(&mut r)?,
            Some(base) => S::read_delta(base, &mut r)?,
        };
        view.insert(id, state);
    }
    if r.remaining_bits() >= 8 {
        return Err(SyncError::Malformed("trailing bytes"));
    }
    Ok(())
}

/// The client's side: the views it holds, and the newest one as a [`Snapshot`].
#[derive(Debug, Clone)]
pub struct SnapshotReceiver<S> {
    /// Views held, in tick order.
    views: VecDeque<(u32, View<S>)>,
    /// The last evicted view, whose buffer the next decode reuses.
    spare: View<S>,
    /// Tick and last applied input of the newest snapshot.
    newest: Option<(u32, u32)>,
}

impl<S> Default for SnapshotReceiver<S> {
    fn default() -> Self {
        Self {
            views: VecDeque::new(),
            spare: View::default(),
            newest: None,
        }
    }
}

impl<S: Replicated> SnapshotReceiver<S> {
    /// An empty receiver (also what a reconnecting client starts from).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a packet. Returns `Ok(true)` if it is the newest tick so far. A packet whose
    /// baseline is not held is an error and changes nothing; the room falls back to a keyframe
    /// when acknowledgements stop advancing.
    pub fn receive(&mut self, packet: &SnapshotPacket) -> Result<bool, SyncError> {
        let Err(at) = self.find(packet.tick) else {
            return Ok(false); // duplicate
        };
        // An empty view holds no allocation: a keyframe's baseline costs nothing.
        let empty = View::new();
        let baseline = match packet.baseline() {
            None => &empty,
            Some(b) => self
                .find(b)
                .map(|i| &self.views[i].1)
                .map_err(|_| SyncError::MissingBaseline(b))?,
        };
        let mut view = std::mem::take(&mut self.spare);
        if let Err(e) = decode_body_into(baseline, &packet.body, &mut view) {
            self.spare = view;
            return Err(e);
        }
        self.views.insert(at, (packet.tick, view));
        if self.views.len() > VIEW_HISTORY {
            // Drop the oldest tick (the front: views are in tick order); keep its buffer for
            // the next one.
            if let Some((_, evicted)) = self.views.pop_front() {
                self.spare = evicted;
            }
        }
        let newer = self.newest.is_none_or(|(t, _)| packet.tick > t);
        if newer {
            self.newest = Some((packet.tick, packet.last_input_seq));
        }
        Ok(newer)
    }

    /// The newest tick held: what the client acknowledges.
    pub fn newest_tick(&self) -> Option<u32> {
        self.newest.map(|(t, _)| t)
    }

    /// The view at a tick, if held.
    pub fn view(&self, tick: u32) -> Option<&View<S>> {
        self.find(tick).ok().map(|i| &self.views[i].1)
    }

    /// Where a tick's view is (or would go): views are kept in tick order, so a lookup is a
    /// binary search, not a walk over every view held.
    fn find(&self, tick: u32) -> Result<usize, usize> {
        self.views.binary_search_by_key(&tick, |(t, _)| *t)
    }

    /// The newest view: its tick, the last input the room had applied, and the states.
    pub fn newest(&self) -> Option<(u32, u32, &View<S>)> {
        let (tick, last_input_seq) = self.newest?;
        Some((tick, last_input_seq, self.view(tick)?))
    }

    /// The newest view as a [`Snapshot`] of its own (a copy; [`SnapshotReceiver::newest_into`]
    /// reuses one instead).
    pub fn snapshot(&self) -> Option<Snapshot<S>> {
        let mut out = Snapshot::default();
        self.newest_into(&mut out).then_some(out)
    }

    /// The newest view into a [`Snapshot`] the caller reuses (no allocation once its buffer
    /// has grown); `false` (and `out` untouched) if nothing was received yet.
    pub fn newest_into(&self, out: &mut Snapshot<S>) -> bool {
        let Some((tick, last_input_seq, view)) = self.newest() else {
            return false;
        };
        out.tick = tick;
        out.last_input_seq = last_input_seq;
        out.entities.copy_from(view);
        true
    }
}

/// The room's state at a tick as a client holds it: the game's declared states by network id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot<S> {
    /// The room tick it shows.
    pub tick: u32,
    /// Sequence number of the newest input from this client the room had applied.
    pub last_input_seq: u32,
    /// Every entity the client holds, in id order.
    pub entities: View<S>,
}

impl<S> Default for Snapshot<S> {
    fn default() -> Self {
        Self {
            tick: 0,
            last_input_seq: 0,
            entities: View::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicate::{Angle, Point, UInt};

    crate::replicated! {
        /// A state of the common shape: a kind sent once, a 2-D position (1/32 unit over
        /// 0..2047, small moves in 7 bits per axis), a facing and a small number.
        struct Unit {
            #[once]
            kind: UInt<u8, 2>,
            #[position]
            pos: Point<u16, 2, 0, 2047, 32, 7>,
            angle: Angle<u8, 8>,
            hp: UInt<u8, 7>,
        }
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Walker,
        Flyer,
    }

    type View = super::View<Unit>;

    fn state(kind: Kind, x: u32, y: u32) -> Unit {
        Unit {
            kind: UInt::new(kind as u32),
            pos: Point::from_steps([x, y]),
            angle: Angle::from_turn16(0),
            hp: UInt::new(100),
        }
    }

    fn moved_to(s: &Unit, x: u32, y: u32) -> Unit {
        Unit {
            pos: Point::from_steps([x, y]),
            ..*s
        }
    }

    #[test]
    fn an_xy_update_of_100_moving_entities_fits_300_bytes() {
        let base: View = (1..=100)
            .map(|id| (id, state(Kind::Walker, 1000 + id * 10, 2000)))
            .collect();
        let updated: Vec<(u32, Unit)> = base
            .iter()
            .map(|(&id, s)| (id, moved_to(s, s.pos.steps()[0] + 13, s.pos.steps()[1] - 7)))
            .collect();
        let body = encode_body(&base, &[], &updated);
        assert_eq!(
            body.len() * 8,
            body_cost_bits(&base, &[], &updated).div_ceil(8) * 8
        );
        assert!(body.len() <= 300, "{} bytes", body.len());
        // 2 x 10 count bits + 100 x (1 id + 3 change flags + 1 size + 2 x 7 delta) = 1920 bits.
        assert_eq!(body.len(), 240);
        let view = decode_body(&base, &body).unwrap();
        assert_eq!(view, updated.into_iter().collect::<View>());
    }

    #[test]
    fn keyframes_removals_large_moves_and_every_field_round_trip() {
        let base: View = [
            (3, state(Kind::Walker, 10, 10)),
            (9, state(Kind::Flyer, 500, 500)),
            (40, state(Kind::Walker, 0, 0)),
        ]
        .into();
        let updated = vec![
            (
                3,
                Unit {
                    pos: Point::from_steps([60_000, 5]),
                    angle: Angle::from_turn16(200 << 8),
                    hp: UInt::new(0),
                    kind: UInt::new(Kind::Walker as u32),
                },
            ),
            (41, state(Kind::Flyer, 7, 8)),
            (1_000_000, state(Kind::Walker, 1, 2)),
        ];
        let view = decode_body(&base, &encode_body(&base, &[9, 40], &updated)).unwrap();
        let expected: View = updated.into_iter().collect();
        assert_eq!(view, expected);
        // A keyframe is a body against the empty view.
        let key = encode_body(
            &View::new(),
            &[],
            &expected.iter().map(|(&i, &s)| (i, s)).collect::<Vec<_>>(),
        );
        assert_eq!(decode_body(&View::new(), &key).unwrap(), expected);
    }

    #[test]
    fn hostile_bodies_are_errors() {
        let base: View = [(5, state(Kind::Walker, 1, 1))].into();
        let body = encode_body(
            &base,
            &[],
            &[
                (5, state(Kind::Walker, 2, 2)),
                (6, state(Kind::Walker, 3, 3)),
            ],
        );
        for cut in 0..body.len() {
            assert!(decode_body(&base, &body[..cut]).is_err(), "cut {cut}");
        }
        let mut long = body.clone();
        long.push(0);
        assert!(decode_body(&base, &long).is_err());
        // Removing an entity the client does not have.
        assert!(decode_body(&View::new(), &encode_body(&base, &[5], &[])).is_err());
        // Counts of 1023 with almost no data behind them.
        assert!(decode_body(&base, &[0xff, 0xff, 0xff]).is_err());
        assert!(decode_body(&base, &[0x00, 0xfc, 0xff]).is_err());
        assert_eq!(decode_body(&base, &[0x00, 0x00]), Err(SyncError::Truncated));
        let mut state = 0x1234_5678u32;
        for len in 0..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = decode_body(&base, &junk);
        }
    }

    #[test]
    fn a_receiver_follows_the_chain_and_refuses_unknown_baselines() {
        let mut rx = SnapshotReceiver::<Unit>::new();
        let v1: View = [(1, state(Kind::Walker, 100, 100))].into();
        let p1 = SnapshotPacket {
            tick: 1,
            baseline_age: 0,
            last_input_seq: 0,
            input_lead: None,
            body: encode_body(&View::new(), &[], &[(1, v1[&1])]),
        };
        assert_eq!(rx.receive(&p1), Ok(true));
        let moved = moved_to(&v1[&1], 110, v1[&1].pos.steps()[1]);
        let p3 = SnapshotPacket {
            tick: 3,
            baseline_age: 2,
            last_input_seq: 7,
            input_lead: None,
            body: encode_body(&v1, &[], &[(1, moved)]),
        };
        assert_eq!(rx.receive(&p3), Ok(true));
        assert_eq!(rx.newest_tick(), Some(3));
        let mut newest = Snapshot::default();
        assert!(rx.newest_into(&mut newest));
        assert_eq!((newest.tick, newest.last_input_seq), (3, 7));
        assert_eq!(newest.entities[&1].pos.get()[0], 110.0 / 32.0);
        // Tick 2 arrives late, against a baseline (tick 0) the client never had.
        let p2 = SnapshotPacket {
            tick: 2,
            baseline_age: 2,
            last_input_seq: 1,
            input_lead: None,
            body: p3.body.clone(),
        };
        assert_eq!(rx.receive(&p2), Err(SyncError::MissingBaseline(0)));
        // Late but decodable: held, yet not the newest.
        let p2 = SnapshotPacket {
            baseline_age: 1,
            ..p2
        };
        assert_eq!(rx.receive(&p2), Ok(false));
        assert!(rx.view(2).is_some());
        assert_eq!(rx.receive(&p3), Ok(false), "duplicates are ignored");
        assert_eq!(rx.newest_tick(), Some(3));
    }

    #[test]
    fn rebuild_matches_removing_and_inserting_one_by_one() {
        let base: View = (0..20u32)
            .map(|i| (i * 3, state(Kind::Walker, i, 0)))
            .collect();
        let removed = [0u32, 9, 57];
        let updated = [
            (1u32, state(Kind::Flyer, 1, 1)),
            (9, state(Kind::Walker, 2, 2)),
            (12, state(Kind::Walker, 3, 3)),
            (100, state(Kind::Walker, 4, 4)),
        ];
        let mut expected = base.clone();
        for id in &removed {
            expected.remove(id);
        }
        expected.extend(updated);
        let mut rebuilt = View::from([(5, state(Kind::Walker, 9, 9))]);
        rebuilt.rebuild(&base, &removed, &updated);
        assert_eq!(rebuilt, expected);
    }
}
