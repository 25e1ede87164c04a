//! Per-client state synchronization: what each client sees (interest), what it is sent first
//! (priority within a byte budget), and the chain of views its deltas are built on.
//!
//! Rooms use it internally; it is public so that benchmarks and tools can build one client's
//! snapshot on its own.

use std::{cell::RefCell, collections::VecDeque};

use protocol::{
    EntityKind, EntityState,
    sync::{
        NetState, SnapshotPacket, VIEW_HISTORY, View, body_cost_bits, encode_body, update_cost_bits,
    },
};

/// How snapshots are built.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncSettings {
    /// A client sees entities within this distance (a square) of its avatar.
    pub interest_radius: f32,
    /// Most bytes of snapshot body per client per tick; the rest waits, by priority.
    pub budget_bytes: usize,
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            interest_radius: 60.0,
            // Keeps every snapshot inside one 1200-byte packet with headers to spare.
            budget_bytes: 1000,
        }
    }
}

/// One tick's entities, quantized and indexed by a spatial grid.
///
/// The grid is a vector sorted by cell rather than a map of cells: built once per tick with
/// one allocation, searched with a binary search per row of cells a client's interest square
/// covers.
pub struct World<'a> {
    entities: &'a [EntityState],
    quantized: Vec<NetState>,
    cell: f32,
    /// (cell, entity index), sorted.
    cells: Vec<((i32, i32), u32)>,
    /// (network id, entity index), sorted.
    by_id: Vec<(u32, u32)>,
    /// Bounding box of every entity: (min x, min y, max x, max y).
    bounds: (f32, f32, f32, f32),
}

impl<'a> World<'a> {
    /// Indexes one tick's entities on a grid of `cell`-sized squares (the interest radius).
    pub fn new(entities: &'a [EntityState], cell: f32) -> Self {
        let cell = cell.max(1.0);
        let mut cells: Vec<_> = entities
            .iter()
            .enumerate()
            .map(|(i, e)| (cell_of(e.x, e.y, cell), i as u32))
            .collect();
        cells.sort_unstable();
        let mut by_id: Vec<_> = entities
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i as u32))
            .collect();
        by_id.sort_unstable();
        let bounds = entities.iter().fold(
            (
                f32::INFINITY,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NEG_INFINITY,
            ),
            |(x0, y0, x1, y1), e| (x0.min(e.x), y0.min(e.y), x1.max(e.x), y1.max(e.y)),
        );
        Self {
            quantized: entities.iter().map(NetState::quantize).collect(),
            entities,
            cell,
            cells,
            by_id,
            bounds,
        }
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.by_id
            .binary_search_by_key(&id, |&(id, _)| id)
            .ok()
            .map(|at| self.by_id[at].1 as usize)
    }

    /// Where the entity with this network id is, if it exists this tick.
    pub fn position(&self, id: u32) -> Option<(f32, f32)> {
        self.index_of(id)
            .map(|i| (self.entities[i].x, self.entities[i].y))
    }

    /// Indices of entities within `radius` (square) of (x, y), in id order. A square that
    /// takes in every entity (in a small field, most do) is answered from the id index, with no
    /// grid search and no sort.
    fn visible(&self, x: f32, y: f32, radius: f32, out: &mut Vec<usize>) {
        let (x0, y0, x1, y1) = self.bounds;
        if x - radius <= x0 && y - radius <= y0 && x + radius >= x1 && y + radius >= y1 {
            out.extend(self.by_id.iter().map(|&(_, i)| i as usize));
            return;
        }
        self.around(x, y, radius, out);
        out.sort_unstable_by_key(|&i| self.entities[i].id);
    }

    /// Indices of entities within `radius` (square) of (x, y).
    fn around(&self, x: f32, y: f32, radius: f32, out: &mut Vec<usize>) {
        let (lo_x, lo_y) = cell_of(x - radius, y - radius, self.cell);
        let (hi_x, hi_y) = cell_of(x + radius, y + radius, self.cell);
        for cx in lo_x..=hi_x {
            let from = self.cells.partition_point(|&(c, _)| c < (cx, lo_y));
            for &(c, i) in &self.cells[from..] {
                if c > (cx, hi_y) {
                    break;
                }
                let e = &self.entities[i as usize];
                if (e.x - x).abs() <= radius && (e.y - y).abs() <= radius {
                    out.push(i as usize);
                }
            }
        }
    }
}

fn cell_of(x: f32, y: f32, cell: f32) -> (i32, i32) {
    ((x / cell).floor() as i32, (y / cell).floor() as i32)
}

/// The header fields of one client's snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    /// The tick the snapshot shows.
    pub tick: u32,
    /// The newest input of this client the tick applied.
    pub last_input_seq: u32,
    /// How early this client's inputs arrive, at worst over the last second.
    pub input_lead: Option<i8>,
}

/// A keyframe's baseline.
static EMPTY: View = View::new();

/// Most views a room keeps per client: about a second at 30 Hz. A client keeps
/// [`VIEW_HISTORY`] (the most a snapshot can refer back); the room needs only the views a
/// client may still acknowledge, and an acknowledgement more than a second old means a
/// connection in trouble, for which a keyframe is the right answer anyway. Views older than
/// the newest acknowledged one are dropped at once (acknowledgements only move forward), so a
/// healthy connection holds a round trip's worth of views, not this many.
const KEPT_VIEWS: usize = 32;
const _: () = assert!(KEPT_VIEWS <= VIEW_HISTORY);

/// Dropped views whose buffers the next views reuse, most recently dropped first (the ones
/// still in cache); a burst of acknowledgements frees more, which are released.
const SPARE_VIEWS: usize = 4;

/// One connection's sync state.
#[derive(Debug, Default)]
pub struct ClientSync {
    /// Views sent, by tick, newest last.
    views: VecDeque<(u32, View)>,
    /// Newest tick the client acknowledged.
    acked: Option<u32>,
    /// Send the next snapshot against an empty view.
    force_keyframe: bool,
    /// Priority accumulators of visible entities waiting to be sent, by network id, sorted.
    priority: Vec<(u32, f32)>,
    /// Views dropped from the history, whose buffers the next views reuse.
    spares: Vec<View>,
}

thread_local! {
    /// Working buffers for building a snapshot, per thread rather than per client: a node
    /// ticks hundreds of rooms, so a client's own buffers would be out of cache every time its
    /// turn came (they were a large part of the snapshot's cost), while the thread's are in
    /// cache from the client before. Building a snapshot allocates only its body.
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Debug, Default)]
struct Scratch {
    /// Entity indices in the client's interest, in id order.
    visible: Vec<usize>,
    /// For each visible entity, its state in the baseline.
    base_states: Vec<Option<NetState>>,
    removed: Vec<u32>,
    /// (priority, position in `visible`, index into `next_priority`, estimated bits).
    candidates: Vec<Candidate>,
    /// Positions in `candidates` chosen, most important first.
    chosen: Vec<usize>,
    /// For each visible entity, whether it is in this snapshot.
    picked: Vec<bool>,
    updated: Vec<(u32, NetState)>,
    next_priority: Vec<(u32, f32)>,
}

impl ClientSync {
    /// Records an acknowledgement (newest snapshot tick the client holds).
    pub fn ack(&mut self, tick: u32, now: u32) {
        if tick <= now && self.acked.is_none_or(|a| tick > a) {
            self.acked = Some(tick);
        }
    }

    /// Makes the next snapshot a keyframe (after a restart, the client's baselines are not
    /// trusted).
    pub fn force_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    /// Builds this client's snapshot for `tick`: the entities around `center`, delta-encoded
    /// against its newest acknowledged view, most important changes first within the budget.
    pub fn snapshot(
        &mut self,
        world: &World<'_>,
        settings: &SyncSettings,
        own: Option<u32>,
        center: (f32, f32),
        header: Header,
    ) -> SnapshotPacket {
        SCRATCH.with_borrow_mut(|scratch| {
            self.snapshot_with(scratch, world, settings, own, center, header)
        })
    }

    fn snapshot_with(
        &mut self,
        scratch: &mut Scratch,
        world: &World<'_>,
        settings: &SyncSettings,
        own: Option<u32>,
        center: (f32, f32),
        header: Header,
    ) -> SnapshotPacket {
        let tick = header.tick;
        let Self {
            views,
            acked,
            force_keyframe,
            priority,
            spares,
        } = self;
        // Nothing older than the newest acknowledged view can be a baseline again.
        while views
            .front()
            .is_some_and(|&(t, _)| acked.is_some_and(|a| t < a))
        {
            if let Some((_, old)) = views.pop_front() {
                spare(spares, old);
            }
        }
        let (age, baseline) = baseline(views, *acked, *force_keyframe, tick);
        let Scratch {
            visible,
            base_states,
            removed,
            candidates,
            chosen,
            picked,
            updated,
            next_priority,
        } = scratch;
        let id_of = |i: usize| world.entities[i].id;

        visible.clear();
        world.visible(center.0, center.1, settings.interest_radius, visible);
        if let Some(i) = own.and_then(|id| world.index_of(id))
            && let Err(at) = visible.binary_search_by_key(&id_of(i), |&v| id_of(v))
        {
            visible.insert(at, i);
        }

        // Both sorted by id: one merge finds what left the client's view and what each
        // visible entity looked like in the baseline.
        removed.clear();
        base_states.clear();
        let mut base = baseline.iter().peekable();
        for &i in visible.iter() {
            let id = id_of(i);
            while let Some(&(&held, _)) = base.peek()
                && held < id
            {
                removed.push(held);
                base.next();
            }
            match base.peek() {
                Some(&(&held, &state)) if held == id => {
                    base_states.push(Some(state));
                    base.next();
                }
                _ => base_states.push(None),
            }
        }
        removed.extend(base.map(|(&id, _)| id));

        // Everything new or changed accrues priority; the own avatar first, then nearer and
        // more important entities, and whatever waited long enough. Accumulators of entities
        // no longer visible are dropped; those of unchanged visible ones are kept.
        candidates.clear();
        next_priority.clear();
        let mut p = 0;
        for (at, &i) in visible.iter().enumerate() {
            let e = &world.entities[i];
            while p < priority.len() && priority[p].0 < e.id {
                p += 1;
            }
            let held = (p < priority.len() && priority[p].0 == e.id).then(|| priority[p].1);
            if base_states[at] == Some(world.quantized[i]) {
                if let Some(acc) = held {
                    next_priority.push((e.id, acc));
                }
                continue;
            }
            let (dx, dy) = (e.x - center.0, e.y - center.1);
            let distance = (dx * dx + dy * dy).sqrt();
            let importance = match (Some(e.id) == own, e.kind) {
                (true, _) => 1000.0,
                (false, EntityKind::Player) => 8.0,
                (false, EntityKind::Projectile) => 4.0,
            };
            let acc = held.unwrap_or(0.0) + importance / (1.0 + distance / 10.0);
            // 6 bits covers a relative id within 17 of the previous; rare larger gaps are
            // caught by the exact check.
            let cost = 6 + update_cost_bits(base_states[at].as_ref(), &world.quantized[i]);
            candidates.push((acc, at, next_priority.len(), cost));
            next_priority.push((e.id, acc));
        }
        let budget_bits = settings.budget_bytes * 8;
        let base_bits = body_cost_bits(baseline, removed, &[]);
        let all_bits = base_bits + candidates.iter().map(|c| c.3).sum::<usize>();
        // Only a snapshot that cannot carry every change needs its candidates ranked (most
        // snapshots carry all; the 6 bits per id are an estimate, so the exact check below
        // ranks them after all if it finds the estimate was short).
        let mut ranked = all_bits > budget_bits;
        picked.clear();
        picked.resize(visible.len(), false);
        let mut choose_again = true;
        loop {
            if choose_again {
                if ranked {
                    rank(candidates);
                }
                choose(
                    candidates,
                    base_bits,
                    budget_bits,
                    chosen,
                    picked,
                    next_priority,
                );
                choose_again = false;
            }
            updated.clear();
            updated.extend(
                visible
                    .iter()
                    .zip(picked.iter())
                    .filter(|&(_, &picked)| picked)
                    .map(|(&i, _)| (id_of(i), world.quantized[i])),
            );
            if body_cost_bits(baseline, removed, updated) <= budget_bits {
                break;
            }
            if !ranked {
                // Undo the picks (their priorities were reset) and choose again, by rank.
                for &(acc, _, slot, _) in candidates.iter() {
                    next_priority[slot].1 = acc;
                }
                ranked = true;
                choose_again = true;
                continue;
            }
            // The least important goes back to waiting with what it had accrued.
            let Some(n) = chosen.pop() else { break };
            let (acc, at, slot, _) = candidates[n];
            picked[at] = false;
            next_priority[slot].1 = acc;
        }

        let body = encode_body(baseline, removed, updated);
        let mut view = spares.pop().unwrap_or_default();
        view.rebuild(baseline, removed, updated);
        // Copied rather than swapped, so the client keeps no buffer of the thread's.
        priority.clear();
        priority.extend_from_slice(next_priority);
        *force_keyframe = false;
        views.push_back((tick, view));
        while views.len() > KEPT_VIEWS {
            if let Some((_, old)) = views.pop_front() {
                spare(spares, old);
            }
        }
        SnapshotPacket {
            tick,
            baseline_age: age,
            last_input_seq: header.last_input_seq,
            input_lead: header.input_lead,
            body,
        }
    }
}

/// An entity that changed: (priority, position in the visible list, index into the next
/// priority list, estimated bits).
type Candidate = (f32, usize, usize, usize);

/// Highest priority first; equal priorities in id order (the visible list is in id order).
fn rank(candidates: &mut [Candidate]) {
    candidates.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
}

/// Picks candidates in order while their estimated bits fit the budget; a picked one's
/// priority starts accruing afresh.
fn choose(
    candidates: &[Candidate],
    mut used: usize,
    budget_bits: usize,
    chosen: &mut Vec<usize>,
    picked: &mut [bool],
    next_priority: &mut [(u32, f32)],
) {
    chosen.clear();
    picked.fill(false);
    for (n, &(_, at, slot, cost)) in candidates.iter().enumerate() {
        if used + cost <= budget_bits {
            used += cost;
            chosen.push(n);
            picked[at] = true;
            next_priority[slot].1 = 0.0;
        }
    }
}

/// Keeps a dropped view's buffer for reuse, up to [`SPARE_VIEWS`].
fn spare(spares: &mut Vec<View>, view: View) {
    if spares.len() < SPARE_VIEWS {
        spares.push(view);
    }
}

/// The view to encode against and its age in ticks (0 and empty for a keyframe): the newest
/// acknowledged view, if it is still held.
fn baseline(
    views: &VecDeque<(u32, View)>,
    acked: Option<u32>,
    force_keyframe: bool,
    tick: u32,
) -> (u8, &View) {
    let found = acked.filter(|_| !force_keyframe).and_then(|acked| {
        // Views are kept one per tick, in order, so the acknowledged one is found by
        // arithmetic rather than by a scan (which touched every kept view each tick); a gap in
        // the ticks breaks the arithmetic, and then the scan finds it.
        let newest = views.back()?.0;
        let guess = (views.len() - 1).checked_sub(newest.checked_sub(acked)? as usize);
        let at = guess
            .filter(|&i| views[i].0 == acked)
            .or_else(|| views.iter().position(|(t, _)| *t == acked))?;
        let age = u8::try_from(tick - acked).ok().filter(|&age| age > 0)?;
        Some((age, &views[at].1))
    });
    found.unwrap_or((0, &EMPTY))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn players(n: u32, t: f32) -> Vec<EntityState> {
        (1..=n)
            .map(|id| EntityState {
                id,
                kind: EntityKind::Player,
                x: 10.0 + id as f32 + t,
                y: 20.0,
                angle: 0,
                hp: 100,
            })
            .collect()
    }

    fn snapshot_at(client: &mut ClientSync, tick: u32) -> SnapshotPacket {
        let entities = players(5, tick as f32 * 0.1);
        let world = World::new(&entities, 60.0);
        let header = Header {
            tick,
            last_input_seq: 0,
            input_lead: None,
        };
        client.snapshot(
            &world,
            &SyncSettings::default(),
            Some(1),
            (10.0, 20.0),
            header,
        )
    }

    #[test]
    fn when_the_estimate_is_short_the_snapshot_keeps_the_most_important_within_budget() {
        // Ids 100 apart cost 34 bits each, not the 6 the estimate assumes: ten new players
        // are estimated to fit 80 bytes and do not, so the ranked fallback decides.
        let entities: Vec<EntityState> = (1..=10u32)
            .rev()
            .map(|k| EntityState {
                id: k * 100,
                kind: EntityKind::Player,
                x: 10.0 + k as f32 * 3.0,
                y: 20.0,
                angle: 0,
                hp: 100,
            })
            .collect();
        let world = World::new(&entities, 60.0);
        let settings = SyncSettings {
            interest_radius: 60.0,
            budget_bytes: 80,
        };
        let header = Header {
            tick: 1,
            last_input_seq: 0,
            input_lead: None,
        };
        let mut client = ClientSync::default();
        let packet = client.snapshot(&world, &settings, Some(1000), (10.0, 20.0), header);
        assert!(packet.body.len() <= 80, "{} bytes", packet.body.len());
        let mut receiver: protocol::SnapshotReceiver = protocol::SnapshotReceiver::new();
        receiver.receive(&packet).unwrap();
        let sent: Vec<u32> = receiver.view(1).unwrap().keys().copied().collect();
        // The own avatar (id 1000, farthest) first, then the nearest: 100, 200, ...
        assert_eq!(sent, [100, 200, 300, 400, 500, 600, 1000]);
    }

    #[test]
    fn the_whole_arena_shortcut_sees_what_the_grid_search_sees() {
        let entities: Vec<EntityState> = (1..=40u32)
            .map(|id| EntityState {
                id: 41 - id, // not in id order, as the world hands them over
                kind: EntityKind::Projectile,
                x: (id * 37 % 100) as f32,
                y: (id * 53 % 100) as f32,
                angle: 0,
                hp: 1,
            })
            .collect();
        let world = World::new(&entities, 60.0);
        let mut shortcut_taken = 0;
        for (x, y, radius) in [(50.0, 50.0, 60.0), (10.0, 90.0, 60.0), (50.0, 50.0, 200.0)] {
            let mut fast = Vec::new();
            world.visible(x, y, radius, &mut fast);
            let mut slow = Vec::new();
            world.around(x, y, radius, &mut slow);
            slow.sort_unstable_by_key(|&i| entities[i].id);
            assert_eq!(fast, slow, "square at ({x}, {y}) of {radius}");
            let (x0, y0, x1, y1) = world.bounds;
            if x - radius <= x0 && y - radius <= y0 && x + radius >= x1 && y + radius >= y1 {
                shortcut_taken += 1;
            }
        }
        assert_eq!(
            shortcut_taken, 2,
            "two squares cover every entity, one does not"
        );
    }

    #[test]
    fn views_older_than_the_acknowledged_one_are_dropped_and_their_buffers_reused() {
        let mut client = ClientSync::default();
        for tick in 1..=10 {
            snapshot_at(&mut client, tick);
        }
        assert_eq!(client.views.len(), 10, "nothing acknowledged: all kept");
        client.ack(8, 10);
        assert_eq!(snapshot_at(&mut client, 11).baseline_age, 3);
        let kept: Vec<u32> = client.views.iter().map(|(t, _)| *t).collect();
        assert_eq!(kept, [8, 9, 10, 11]);
        // Seven dropped, four kept for reuse, one of which the new view took.
        assert_eq!(client.spares.len(), SPARE_VIEWS - 1);
    }

    #[test]
    fn deltas_refer_to_the_acknowledged_view_until_it_is_no_longer_kept() {
        let mut client = ClientSync::default();
        assert_eq!(
            snapshot_at(&mut client, 1).baseline_age,
            0,
            "first is a keyframe"
        );
        client.ack(1, 1);
        for tick in 2..=10 {
            assert_eq!(snapshot_at(&mut client, tick).baseline_age as u32, tick - 1);
        }
        client.ack(9, 10);
        assert_eq!(snapshot_at(&mut client, 11).baseline_age, 2);
        // No acknowledgement for longer than the kept history: a keyframe.
        for tick in 12..=(11 + KEPT_VIEWS as u32) {
            snapshot_at(&mut client, tick);
        }
        let tick = 12 + KEPT_VIEWS as u32;
        assert_eq!(snapshot_at(&mut client, tick).baseline_age, 0);
        // A newer acknowledgement brings deltas back.
        client.ack(tick, tick);
        assert_eq!(snapshot_at(&mut client, tick + 1).baseline_age, 1);
    }
}
