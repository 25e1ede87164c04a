//! Per-client state synchronization: what each client sees (interest), what it is sent first
//! (priority within a byte budget), and the chain of views its deltas are built on.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
};

use protocol::{
    EntityKind, EntityState,
    sync::{
        NetState, SnapshotPacket, VIEW_HISTORY, View, body_cost_bits, encode_body, update_cost_bits,
    },
};

/// How snapshots are built.
#[derive(Debug, Clone, Copy, PartialEq)]
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
pub(crate) struct World<'a> {
    entities: &'a [EntityState],
    quantized: Vec<NetState>,
    cell: f32,
    grid: HashMap<(i32, i32), Vec<usize>>,
    by_id: HashMap<u32, usize>,
}

impl<'a> World<'a> {
    pub(crate) fn new(entities: &'a [EntityState], cell: f32) -> Self {
        let cell = cell.max(1.0);
        let mut grid: HashMap<(i32, i32), Vec<usize>> = HashMap::new();
        let mut by_id = HashMap::with_capacity(entities.len());
        for (i, e) in entities.iter().enumerate() {
            grid.entry(cell_of(e.x, e.y, cell)).or_default().push(i);
            by_id.insert(e.id, i);
        }
        Self {
            quantized: entities.iter().map(NetState::quantize).collect(),
            entities,
            cell,
            grid,
            by_id,
        }
    }

    /// Where the entity with this network id is, if it exists this tick.
    pub(crate) fn position(&self, id: u32) -> Option<(f32, f32)> {
        self.by_id
            .get(&id)
            .map(|&i| (self.entities[i].x, self.entities[i].y))
    }

    /// Indices of entities within `radius` (square) of (x, y).
    fn around(&self, x: f32, y: f32, radius: f32, out: &mut Vec<usize>) {
        let (lo_x, lo_y) = cell_of(x - radius, y - radius, self.cell);
        let (hi_x, hi_y) = cell_of(x + radius, y + radius, self.cell);
        for cx in lo_x..=hi_x {
            for cy in lo_y..=hi_y {
                for &i in self.grid.get(&(cx, cy)).into_iter().flatten() {
                    let e = &self.entities[i];
                    if (e.x - x).abs() <= radius && (e.y - y).abs() <= radius {
                        out.push(i);
                    }
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
pub(crate) struct Header {
    pub(crate) tick: u32,
    pub(crate) last_input_seq: u32,
}

/// One connection's sync state.
#[derive(Debug, Default)]
pub(crate) struct ClientSync {
    /// Views sent, by tick, newest last.
    views: VecDeque<(u32, Arc<View>)>,
    /// Newest tick the client acknowledged.
    acked: Option<u32>,
    /// Send the next snapshot against an empty view.
    force_keyframe: bool,
    /// Priority accumulators of entities waiting to be sent.
    priority: HashMap<u32, f32>,
}

impl ClientSync {
    /// Records an acknowledgement (newest snapshot tick the client holds).
    pub(crate) fn ack(&mut self, tick: u32, now: u32) {
        if tick <= now && self.acked.is_none_or(|a| tick > a) {
            self.acked = Some(tick);
        }
    }

    /// Makes the next snapshot a keyframe (after a restart, the client's baselines are not
    /// trusted).
    pub(crate) fn force_keyframe(&mut self) {
        self.force_keyframe = true;
    }

    fn baseline(&self, tick: u32) -> (u8, Arc<View>) {
        if !self.force_keyframe
            && let Some(acked) = self.acked
            && let Some((_, view)) = self.views.iter().find(|(t, _)| *t == acked)
            && let Ok(age) = u8::try_from(tick - acked)
            && age > 0
        {
            return (age, view.clone());
        }
        (0, Arc::new(View::new()))
    }

    /// Builds this client's snapshot for `tick`: the entities around `center`, delta-encoded
    /// against its newest acknowledged view, most important changes first within the budget.
    pub(crate) fn snapshot(
        &mut self,
        world: &World<'_>,
        settings: &SyncSettings,
        own: Option<u32>,
        center: (f32, f32),
        header: Header,
    ) -> SnapshotPacket {
        let tick = header.tick;
        let (age, baseline) = self.baseline(tick);
        self.force_keyframe = false;

        let mut visible = Vec::new();
        world.around(center.0, center.1, settings.interest_radius, &mut visible);
        if let Some(&i) = own.and_then(|id| world.by_id.get(&id))
            && !visible.contains(&i)
        {
            visible.push(i);
        }
        visible.sort_unstable_by_key(|&i| world.entities[i].id);

        let removed: Vec<u32> = baseline
            .keys()
            .copied()
            .filter(|id| {
                visible
                    .binary_search_by_key(id, |&i| world.entities[i].id)
                    .is_err()
            })
            .collect();

        // Everything new or changed accrues priority; the own avatar first, then nearer and
        // more important entities, and whatever waited long enough.
        let mut candidates: Vec<(f32, usize)> = Vec::new();
        for &i in &visible {
            let e = &world.entities[i];
            if baseline.get(&e.id) == Some(&world.quantized[i]) {
                continue;
            }
            let distance = (e.x - center.0).hypot(e.y - center.1);
            let importance = match (Some(e.id) == own, e.kind) {
                (true, _) => 1000.0,
                (false, EntityKind::Player) => 8.0,
                (false, EntityKind::Projectile) => 4.0,
            };
            let acc = self.priority.entry(e.id).or_insert(0.0);
            *acc += importance / (1.0 + distance / 10.0);
            candidates.push((*acc, i));
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));

        let budget_bits = settings.budget_bytes * 8;
        let mut used = body_cost_bits(&baseline, &removed, &[]);
        let mut chosen: Vec<usize> = Vec::with_capacity(candidates.len());
        for &(_, i) in &candidates {
            // 6 bits covers a relative id within 17 of the previous; rare larger gaps are
            // caught by the exact check below.
            let cost =
                6 + update_cost_bits(baseline.get(&world.entities[i].id), &world.quantized[i]);
            if used + cost <= budget_bits {
                used += cost;
                chosen.push(i);
            }
        }
        let mut updated: Vec<(u32, NetState)>;
        loop {
            let mut sorted = chosen.clone();
            sorted.sort_unstable_by_key(|&i| world.entities[i].id);
            updated = sorted
                .iter()
                .map(|&i| (world.entities[i].id, world.quantized[i]))
                .collect();
            if body_cost_bits(&baseline, &removed, &updated) <= budget_bits || chosen.is_empty() {
                break;
            }
            chosen.pop(); // the least important
        }
        for (id, _) in &updated {
            self.priority.insert(*id, 0.0);
        }
        self.priority.retain(|id, _| {
            visible
                .binary_search_by_key(id, |&i| world.entities[i].id)
                .is_ok()
        });

        let body = encode_body(&baseline, &removed, &updated);
        let mut view = (*baseline).clone();
        for id in &removed {
            view.remove(id);
        }
        view.extend(updated.iter().copied());
        self.views.push_back((tick, Arc::new(view)));
        while self.views.len() > VIEW_HISTORY {
            self.views.pop_front();
        }
        SnapshotPacket {
            tick,
            baseline_age: age,
            last_input_seq: header.last_input_seq,
            body,
        }
    }
}
