//! Per-client state synchronization: what each client may see (the game's relevance scope
//! for each entity, and interest around the entity the player controls), what it is sent first
//! (priority within a byte budget), and the chain of views its deltas are built on.
//!
//! Generic over the game's declared state (`S`, a [`Replicated`]): monomorphized per game, so
//! the hot path is the same code a hand-written state would get.
//!
//! Rooms use it internally; it is public so that benchmarks and tools can build one client's
//! snapshot on its own.

use std::{cell::RefCell, collections::VecDeque};

use bevy_ecs::entity::Entity;
use protocol::{
    Replicated,
    sync::{SnapshotPacket, VIEW_HISTORY, View, body_cost_bits, encode_body, update_cost_bits},
};

use crate::game::{Replica, Scope};

/// How snapshots are built.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SyncSettings {
    /// A client sees nearby entities within this distance (a cube) of the entity it controls.
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

/// Who a snapshot is for: what decides which entities it may carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewer {
    /// Network id of the entity the player controls: always sent first (if its scope lets
    /// the player see it).
    pub own: Option<u32>,
    /// The centre of the player's interest (where its entity was last seen), x, y, z.
    pub center: [f32; 3],
    /// The player's entity in the world: the owner an owner-only entity names.
    pub entity: Option<Entity>,
    /// The player's team.
    pub team: u8,
}

impl Viewer {
    /// Whether the game's scope lets this player see an entity (nearby ones are then decided
    /// by interest).
    #[inline]
    fn may_see(&self, scope: Scope) -> bool {
        match scope {
            Scope::Nearby | Scope::Everyone => true,
            Scope::Owner(owner) => self.entity == Some(owner),
            Scope::Team(team) => self.team == team,
        }
    }
}

/// One tick's replicated entities, indexed for interest: a spatial grid of the nearby ones
/// with a position, and an id-ordered list of the ones sent by scope instead.
///
/// The grid is a vector sorted by cell rather than a map of cells: built once per tick,
/// searched with a binary search per row of cells a client's interest covers. It is 2-D
/// (x, y); a 3-D state's height is checked per entity. A room builds each tick's world in the
/// buffers of the one before ([`World::build`], [`World::into_buffers`]), so it allocates
/// nothing once they have grown.
pub struct World<'a, S> {
    entities: &'a [Replica<S>],
    cell: f32,
    /// Bounding box of every placed entity: (min, max), x, y, z.
    bounds: ([f32; 3], [f32; 3]),
    index: WorldBuffers<S>,
    /// What each client's snapshot chose, in a buffer the tick's clients share.
    updated: RefCell<Vec<(u32, S)>>,
}

/// The buffers a [`World`] is built in, kept from one tick to the next.
#[derive(Debug)]
pub struct WorldBuffers<S> {
    /// Each entity's position (x, y, z; zeros for a state that declares none).
    positions: Vec<[f32; 3]>,
    /// (cell, entity index) of placed entities, sorted.
    cells: Vec<((i32, i32), u32)>,
    /// (network id, entity index) of every entity, sorted.
    by_id: Vec<(u32, u32)>,
    /// Indices of entities sent by scope rather than by place, in id order. Empty for a game
    /// whose entities are all nearby ones with a position (a shooter), so its clients' interest
    /// is the grid alone.
    scoped: Vec<u32>,
    updated: Vec<(u32, S)>,
}

impl<S> Default for WorldBuffers<S> {
    fn default() -> Self {
        Self {
            positions: Vec::new(),
            cells: Vec::new(),
            by_id: Vec::new(),
            scoped: Vec::new(),
            updated: Vec::new(),
        }
    }
}

impl<'a, S: Replicated> World<'a, S> {
    /// Indexes one tick's entities on a grid of `cell`-sized squares (the interest radius).
    pub fn new(entities: &'a [Replica<S>], cell: f32) -> Self {
        Self::build(entities, cell, WorldBuffers::default())
    }

    /// [`World::new`] in the buffers of an earlier world.
    pub fn build(entities: &'a [Replica<S>], cell: f32, buffers: WorldBuffers<S>) -> Self {
        let cell = cell.max(1.0);
        let WorldBuffers {
            mut positions,
            mut cells,
            mut by_id,
            mut scoped,
            mut updated,
        } = buffers;
        let positioned = entities
            .first()
            .is_some_and(|e| e.state.position().is_some());
        positions.clear();
        positions.extend(
            entities
                .iter()
                .map(|e| e.state.position().unwrap_or_default()),
        );
        let placed = |e: &Replica<S>| positioned && e.relevance.scope == Scope::Nearby;
        cells.clear();
        cells.extend(
            entities
                .iter()
                .zip(&positions)
                .enumerate()
                .filter(|(_, (e, _))| placed(e))
                .map(|(i, (_, p))| (cell_of(p[0], p[1], cell), i as u32)),
        );
        cells.sort_unstable();
        by_id.clear();
        by_id.extend(entities.iter().enumerate().map(|(i, e)| (e.id, i as u32)));
        by_id.sort_unstable();
        scoped.clear();
        scoped.extend(
            by_id
                .iter()
                .filter(|&&(_, i)| !placed(&entities[i as usize]))
                .map(|&(_, i)| i),
        );
        let mut bounds = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
        for &(_, i) in &cells {
            for (axis, &v) in positions[i as usize].iter().enumerate() {
                bounds.0[axis] = bounds.0[axis].min(v);
                bounds.1[axis] = bounds.1[axis].max(v);
            }
        }
        updated.clear();
        updated.reserve(entities.len());
        Self {
            entities,
            cell,
            bounds,
            index: WorldBuffers {
                positions,
                cells,
                by_id,
                scoped,
                updated: Vec::new(),
            },
            updated: RefCell::new(updated),
        }
    }

    /// The buffers, for the next tick's world.
    pub fn into_buffers(self) -> WorldBuffers<S> {
        WorldBuffers {
            updated: self.updated.into_inner(),
            ..self.index
        }
    }

    fn index_of(&self, id: u32) -> Option<usize> {
        self.index
            .by_id
            .binary_search_by_key(&id, |&(id, _)| id)
            .ok()
            .map(|at| self.index.by_id[at].1 as usize)
    }

    /// Where the entity with this network id is, if it exists this tick and its state
    /// declares a position.
    pub fn position(&self, id: u32) -> Option<[f32; 3]> {
        let i = self.index_of(id)?;
        self.entities[i].state.position()
    }

    /// Indices of the entities `viewer` may see, in id order: placed entities within `radius`
    /// (a cube) of its centre, and the others its scope admits. A cube that takes in every
    /// placed entity (in a small field, most do) is answered from the id index, with no grid
    /// search and no sort.
    fn visible(&self, viewer: &Viewer, radius: f32, out: &mut Vec<usize>) {
        let c = viewer.center;
        let (lo, hi) = self.bounds;
        let covers_all =
            (0..3).all(|axis| c[axis] - radius <= lo[axis] && c[axis] + radius >= hi[axis]);
        if covers_all && self.index.scoped.is_empty() {
            out.extend(self.index.by_id.iter().map(|&(_, i)| i as usize));
            return;
        }
        if covers_all {
            out.extend(self.index.cells.iter().map(|&(_, i)| i as usize));
        } else {
            self.around(c, radius, out);
        }
        for &i in &self.index.scoped {
            if viewer.may_see(self.entities[i as usize].relevance.scope) {
                out.push(i as usize);
            }
        }
        out.sort_unstable_by_key(|&i| self.entities[i].id);
    }

    /// Indices of placed entities within `radius` (a cube) of `c`.
    fn around(&self, c: [f32; 3], radius: f32, out: &mut Vec<usize>) {
        let (lo_x, lo_y) = cell_of(c[0] - radius, c[1] - radius, self.cell);
        let (hi_x, hi_y) = cell_of(c[0] + radius, c[1] + radius, self.cell);
        for cx in lo_x..=hi_x {
            let from = self
                .index
                .cells
                .partition_point(|&(cell, _)| cell < (cx, lo_y));
            for &(cell, i) in &self.index.cells[from..] {
                if cell > (cx, hi_y) {
                    break;
                }
                let p = self.index.positions[i as usize];
                if (p[0] - c[0]).abs() <= radius
                    && (p[1] - c[1]).abs() <= radius
                    && (p[2] - c[2]).abs() <= radius
                {
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
#[derive(Debug)]
pub struct ClientSync<S> {
    /// Views sent, by tick, newest last.
    views: VecDeque<(u32, View<S>)>,
    /// Newest tick the client acknowledged.
    acked: Option<u32>,
    /// Send the next snapshot against an empty view.
    force_keyframe: bool,
    /// Priority accumulators of visible entities waiting to be sent, by network id, sorted.
    priority: Vec<(u32, f32)>,
    /// Views dropped from the history, whose buffers the next views reuse.
    spares: Vec<View<S>>,
    /// A keyframe's baseline (empty, so it holds no allocation).
    empty: View<S>,
}

impl<S> Default for ClientSync<S> {
    fn default() -> Self {
        Self {
            views: VecDeque::new(),
            acked: None,
            force_keyframe: false,
            priority: Vec::new(),
            spares: Vec::new(),
            empty: View::default(),
        }
    }
}

thread_local! {
    /// Working buffers for building a snapshot, per thread rather than per client: a node
    /// ticks hundreds of rooms, so a client's own buffers would be out of cache every time its
    /// turn came (they were a large part of the snapshot's cost), while the thread's are in
    /// cache from the client before. Building a snapshot allocates only its body. (The
    /// part typed by the game's state lives in the tick's [`World`].)
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

#[derive(Debug, Default)]
struct Scratch {
    /// Entity indices in the client's interest, in id order.
    visible: Vec<usize>,
    /// For each visible entity, where it is in the baseline view, if there.
    base_at: Vec<Option<u32>>,
    removed: Vec<u32>,
    /// (priority, position in `visible`, index into `next_priority`, estimated bits).
    candidates: Vec<Candidate>,
    /// Positions in `candidates` chosen, most important first.
    chosen: Vec<usize>,
    /// For each visible entity, whether it is in this snapshot.
    picked: Vec<bool>,
    next_priority: Vec<(u32, f32)>,
}

impl<S: Replicated> ClientSync<S> {
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

    /// Builds this client's snapshot for `tick`: the entities `viewer` may see, delta-encoded
    /// against its newest acknowledged view, most important changes first within the budget.
    // Out of line (one call per client per tick, so the call costs nothing that shows) so it
    // is a function of its own in profiles, as it was before the engine was generic.
    #[inline(never)]
    pub fn snapshot(
        &mut self,
        world: &World<'_, S>,
        settings: &SyncSettings,
        viewer: &Viewer,
        header: Header,
    ) -> SnapshotPacket {
        SCRATCH
            .with_borrow_mut(|scratch| self.snapshot_with(scratch, world, settings, viewer, header))
    }

    fn snapshot_with(
        &mut self,
        scratch: &mut Scratch,
        world: &World<'_, S>,
        settings: &SyncSettings,
        viewer: &Viewer,
        header: Header,
    ) -> SnapshotPacket {
        let tick = header.tick;
        let Self {
            views,
            acked,
            force_keyframe,
            priority,
            spares,
            empty,
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
        let (age, baseline) = baseline(views, *acked, *force_keyframe, tick, empty);
        let Scratch {
            visible,
            base_at,
            removed,
            candidates,
            chosen,
            picked,
            next_priority,
        } = scratch;
        let updated = &mut *world.updated.borrow_mut();
        let id_of = |i: usize| world.entities[i].id;
        let held = baseline.as_slice();

        visible.clear();
        world.visible(viewer, settings.interest_radius, visible);
        // The entity the player controls, even if interest missed it (its centre is where it
        // was last seen), unless its scope hides it from the player.
        if let Some(i) = viewer.own.and_then(|id| world.index_of(id))
            && viewer.may_see(world.entities[i].relevance.scope)
            && let Err(at) = visible.binary_search_by_key(&id_of(i), |&v| id_of(v))
        {
            visible.insert(at, i);
        }

        // Both sorted by id: one merge finds what left the client's view and what each
        // visible entity looked like in the baseline.
        removed.clear();
        base_at.clear();
        let mut b = 0;
        for &i in visible.iter() {
            let id = id_of(i);
            while b < held.len() && held[b].0 < id {
                removed.push(held[b].0);
                b += 1;
            }
            if b < held.len() && held[b].0 == id {
                base_at.push(Some(b as u32));
                b += 1;
            } else {
                base_at.push(None);
            }
        }
        removed.extend(held[b..].iter().map(|&(id, _)| id));

        // Everything new or changed accrues priority; the player's own entity first, then nearer
        // entities and those the game weighs more, and whatever waited long enough. Accumulators of entities
        // no longer visible are dropped; those of unchanged visible ones are kept.
        candidates.clear();
        next_priority.clear();
        let mut p = 0;
        for (at, &i) in visible.iter().enumerate() {
            let e = &world.entities[i];
            while p < priority.len() && priority[p].0 < e.id {
                p += 1;
            }
            let waited = (p < priority.len() && priority[p].0 == e.id).then(|| priority[p].1);
            let base = base_at[at].map(|b| &held[b as usize].1);
            if base == Some(&e.state) {
                if let Some(acc) = waited {
                    next_priority.push((e.id, acc));
                }
                continue;
            }
            let position = world.index.positions[i];
            let (dx, dy, dz) = (
                position[0] - viewer.center[0],
                position[1] - viewer.center[1],
                position[2] - viewer.center[2],
            );
            let distance = (dx * dx + dy * dy + dz * dz).sqrt();
            let importance = if Some(e.id) == viewer.own {
                1000.0
            } else {
                e.relevance.weight
            };
            let acc = waited.unwrap_or(0.0) + importance / (1.0 + distance / 10.0);
            // 6 bits covers a relative id within 17 of the previous; rare larger gaps are
            // caught by the exact check.
            let cost = 6 + update_cost_bits(base, &e.state);
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
                    .map(|(&i, _)| (id_of(i), world.entities[i].state)),
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
fn spare<S>(spares: &mut Vec<View<S>>, view: View<S>) {
    if spares.len() < SPARE_VIEWS {
        spares.push(view);
    }
}

/// The view to encode against and its age in ticks (0 and empty for a keyframe): the newest
/// acknowledged view, if it is still held.
fn baseline<'v, S: Replicated>(
    views: &'v VecDeque<(u32, View<S>)>,
    acked: Option<u32>,
    force_keyframe: bool,
    tick: u32,
    empty: &'v View<S>,
) -> (u8, &'v View<S>) {
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
    found.unwrap_or((0, empty))
}

#[cfg(test)]
mod tests {
    use protocol::replicate::{Angle, Point, UInt};

    use super::*;
    use crate::game::Relevance;

    protocol::replicated! {
        /// A body in the plane: a kind, a place, a facing, health (49 bits whole).
        struct Body {
            #[once]
            kind: UInt<u8, 2>,
            #[position]
            pos: Point<u16, 2, 0, 2047, 32, 7>,
            facing: Angle<u8, 8>,
            hp: UInt<u8, 7>,
        }
    }

    fn body(id: u32, x: f32, y: f32, relevance: Relevance) -> Replica<Body> {
        Replica {
            id,
            state: Body {
                kind: UInt::new(0),
                pos: Point::new([x, y]),
                facing: Angle::from_turn16(0),
                hp: UInt::new(100),
            },
            relevance,
        }
    }

    fn players(n: u32, t: f32) -> Vec<Replica<Body>> {
        (1..=n)
            .map(|id| body(id, 10.0 + id as f32 + t, 20.0, Relevance::nearby(8.0)))
            .collect()
    }

    fn viewer(own: Option<u32>, center: (f32, f32)) -> Viewer {
        Viewer {
            own,
            center: [center.0, center.1, 0.0],
            entity: None,
            team: 0,
        }
    }

    fn snapshot_at(client: &mut ClientSync<Body>, tick: u32) -> SnapshotPacket {
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
            &viewer(Some(1), (10.0, 20.0)),
            header,
        )
    }

    #[test]
    fn when_the_estimate_is_short_the_snapshot_keeps_the_most_important_within_budget() {
        // Ids 100 apart cost 34 bits each, not the 6 the estimate assumes: ten new players
        // are estimated to fit 80 bytes and do not, so the ranked fallback decides.
        let entities: Vec<Replica<Body>> = (1..=10u32)
            .rev()
            .map(|k| body(k * 100, 10.0 + k as f32 * 3.0, 20.0, Relevance::nearby(8.0)))
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
        let packet = client.snapshot(&world, &settings, &viewer(Some(1000), (10.0, 20.0)), header);
        assert!(packet.body.len() <= 80, "{} bytes", packet.body.len());
        let mut receiver = protocol::SnapshotReceiver::<Body>::new();
        receiver.receive(&packet).unwrap();
        let sent: Vec<u32> = receiver.view(1).unwrap().keys().copied().collect();
        // The own avatar (id 1000, farthest) first, then the nearest: 100, 200, ...
        assert_eq!(sent, [100, 200, 300, 400, 500, 600, 1000]);
    }

    #[test]
    fn the_whole_arena_shortcut_sees_what_the_grid_search_sees() {
        let entities: Vec<Replica<Body>> = (1..=40u32)
            .map(|id| {
                // Not in id order, as the world hands them over.
                let (x, y) = ((id * 37 % 100) as f32, (id * 53 % 100) as f32);
                body(41 - id, x, y, Relevance::nearby(4.0))
            })
            .collect();
        let world = World::new(&entities, 60.0);
        let mut shortcut_taken = 0;
        for (x, y, radius) in [(50.0, 50.0, 60.0), (10.0, 90.0, 60.0), (50.0, 50.0, 200.0)] {
            let mut fast = Vec::new();
            world.visible(&viewer(None, (x, y)), radius, &mut fast);
            let mut slow = Vec::new();
            world.around([x, y, 0.0], radius, &mut slow);
            slow.sort_unstable_by_key(|&i| entities[i].id);
            assert_eq!(fast, slow, "square at ({x}, {y}) of {radius}");
            let ([x0, y0, _], [x1, y1, _]) = world.bounds;
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

    #[test]
    fn a_client_is_sent_only_what_its_scope_and_interest_admit() {
        let mut ecs = bevy_ecs::world::World::new();
        let (alice, bob) = (ecs.spawn_empty().id(), ecs.spawn_empty().id());
        let entities = vec![
            body(1, 10.0, 20.0, Relevance::nearby(8.0)),
            body(2, 500.0, 500.0, Relevance::nearby(8.0)),
            body(3, 900.0, 900.0, Relevance::everyone(1.0)),
            body(4, 10.0, 20.0, Relevance::owner(alice, 1.0)),
            body(5, 10.0, 20.0, Relevance::owner(bob, 1.0)),
            body(6, 10.0, 20.0, Relevance::team(1, 1.0)),
            body(7, 10.0, 20.0, Relevance::team(2, 1.0)),
        ];
        let world = World::new(&entities, 60.0);
        let header = Header {
            tick: 1,
            last_input_seq: 0,
            input_lead: None,
        };
        let sent = |viewer: Viewer| -> Vec<u32> {
            let packet =
                ClientSync::default().snapshot(&world, &SyncSettings::default(), &viewer, header);
            let mut receiver = protocol::SnapshotReceiver::<Body>::new();
            receiver.receive(&packet).unwrap();
            receiver.view(1).unwrap().keys().copied().collect()
        };
        let near_the_start = Viewer {
            entity: Some(alice),
            team: 1,
            ..viewer(Some(1), (10.0, 20.0))
        };
        assert_eq!(sent(near_the_start), [1, 3, 4, 6]);
        // Bob stands by entity 2 and is sent neither Alice's own entity 4 nor team 1's
        // entity 6, and not entity 1 either (out of his interest).
        let far_away = Viewer {
            entity: Some(bob),
            team: 2,
            ..viewer(Some(2), (500.0, 500.0))
        };
        assert_eq!(sent(far_away), [2, 3, 5, 7]);
        // The entity a player controls is no exception to its scope.
        let hidden_own = Viewer {
            entity: Some(bob),
            team: 2,
            ..viewer(Some(6), (10.0, 20.0))
        };
        assert_eq!(sent(hidden_own), [1, 3, 5, 7]);
    }
}
