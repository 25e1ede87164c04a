//! A room's defences against one client: a client's bytes are that client's risk only.
//!
//! Everything the room does with one client's bytes before they become a validated message
//! (the bundle, renet's packet and channel processing, the game's decoder) runs per connection
//! under [`contain`], so a panic there, in our code or in renet, costs that connection and
//! nothing else. Before renet sees a packet, [`protocol::renet_wire::check_client_packet`]
//! refuses what renet would trust blindly, so the known attacks never reach a panic at all; and
//! each client has an allowance of datagrams per second and packets per tick. A client that
//! breaks any of these is *ejected* ([`Ejection`]): told why, disconnected, its place given up
//! and its ticket not given back to the queue.

use std::{
    collections::HashMap,
    panic::{AssertUnwindSafe, catch_unwind},
    time::Duration,
};

use super::{core::ClientId, supervisor::panic_message};

/// Most datagrams one client may send per second. A client sends one per frame it renders
/// (its inputs ride together, and renet's acknowledgements share the datagram); 300 leaves room
/// for fast displays and bursts after a stall. A client over it is ejected: it is either
/// broken or attacking, and either way it costs other players their tick budget.
pub const MAX_DATAGRAMS_PER_CLIENT_SECOND: u32 = 300;

/// Most renet packets taken from one client per tick; the rest are dropped as if lost. An
/// honest client sends two or three per frame, so this leaves room for a burst of frames held
/// up on the way, while it bounds what one tick spends on a client (renet's acknowledgement
/// bookkeeping grows with every packet it is handed).
pub const MAX_PACKETS_PER_CLIENT_TICK: u32 = 64;

/// Why a client was ejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostileKind {
    /// Over [`MAX_DATAGRAMS_PER_CLIENT_SECOND`].
    Flood,
    /// A packet no honest client sends (see [`protocol::renet_wire::PacketViolation`]).
    Malformed,
    /// renet closed the connection on a protocol error of the client's (a channel overflowed,
    /// a packet it could not read).
    Protocol,
    /// Handling the client's bytes panicked; the panic was contained.
    Panic,
}

impl HostileKind {
    /// Every kind, in the order metrics list them.
    pub const ALL: [HostileKind; 4] = [Self::Flood, Self::Malformed, Self::Protocol, Self::Panic];

    /// The kind's label in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flood => "flood",
            Self::Malformed => "malformed",
            Self::Protocol => "protocol",
            Self::Panic => "panic",
        }
    }

    /// What the client is told.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Flood => "you sent more datagrams than a client may; disconnected",
            Self::Malformed => "you sent a packet that breaks the protocol; disconnected",
            Self::Protocol => "your connection broke the reliability protocol; disconnected",
            Self::Panic => "your packets could not be handled; disconnected",
        }
    }
}

/// The error code a client is told when it is ejected ([`protocol::ServerEvent::Error`]).
pub const EJECTED_CODE: &str = "protocol_violation";

/// A client to be ejected, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ejection {
    pub(crate) client: ClientId,
    pub(crate) kind: HostileKind,
    /// What it did, for the log.
    pub(crate) detail: String,
}

/// Ejections per kind, counted since the room started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EjectionCounts([u64; 4]);

impl EjectionCounts {
    pub(crate) fn add(&mut self, kind: HostileKind) {
        self.0[kind as usize] += 1;
    }

    /// Ejections of `kind`.
    pub fn get(&self, kind: HostileKind) -> u64 {
        self.0[kind as usize]
    }

    /// Ejections of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Runs `f` on behalf of one client: `Err` with the panic's message if it panicked. The caller
/// ejects the client and drops whatever state of its the panic may have left half-changed.
pub(crate) fn contain<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// Counts each client's datagrams per one-second window and renet packets per tick.
#[derive(Default)]
pub(crate) struct Allowance {
    window: Duration,
    datagrams: HashMap<ClientId, u32>,
    packets: HashMap<ClientId, u32>,
}

impl Allowance {
    /// A new tick, `dt` after the last.
    pub(crate) fn advance(&mut self, dt: Duration) {
        self.window += dt;
        if self.window >= Duration::from_secs(1) {
            self.window = Duration::ZERO;
            self.datagrams.clear();
        }
        self.packets.clear();
    }

    /// Counts one datagram: `Some(true)` within the allowance, `Some(false)` for the one that
    /// goes over it (the client is to be ejected), `None` for every one after (dropped).
    pub(crate) fn datagram(&mut self, client: ClientId) -> Option<bool> {
        let n = self.datagrams.entry(client).or_default();
        *n = n.saturating_add(1);
        match *n {
            n if n <= MAX_DATAGRAMS_PER_CLIENT_SECOND => Some(true),
            n if n == MAX_DATAGRAMS_PER_CLIENT_SECOND + 1 => Some(false),
            _ => None,
        }
    }

    /// Counts one renet packet: whether it is within this tick's allowance.
    pub(crate) fn packet(&mut self, client: ClientId) -> bool {
        let n = self.packets.entry(client).or_default();
        *n = n.saturating_add(1);
        *n <= MAX_PACKETS_PER_CLIENT_TICK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_contained_panic_is_an_error_with_its_message() {
        assert_eq!(contain(|| 7), Ok(7));
        let caught = contain(|| -> u8 { panic!("index out of bounds: {}", 3) });
        assert_eq!(caught, Err("index out of bounds: 3".to_string()));
    }

    #[test]
    fn allowances_reset_with_their_windows() {
        let mut a = Allowance::default();
        for _ in 0..MAX_DATAGRAMS_PER_CLIENT_SECOND {
            assert_eq!(a.datagram(1), Some(true));
        }
        assert_eq!(a.datagram(1), Some(false));
        assert_eq!(a.datagram(1), None);
        assert_eq!(a.datagram(2), Some(true), "per client");
        for _ in 0..MAX_PACKETS_PER_CLIENT_TICK {
            assert!(a.packet(1));
        }
        assert!(!a.packet(1));
        a.advance(Duration::from_millis(33));
        assert!(a.packet(1), "packets are counted per tick");
        assert_eq!(a.datagram(1), None, "datagrams per second");
        for _ in 0..30 {
            a.advance(Duration::from_millis(34));
        }
        assert_eq!(a.datagram(1), Some(true));
    }

    #[test]
    fn ejections_are_counted_by_kind() {
        let mut counts = EjectionCounts::default();
        counts.add(HostileKind::Panic);
        counts.add(HostileKind::Panic);
        counts.add(HostileKind::Flood);
        assert_eq!(counts.get(HostileKind::Panic), 2);
        assert_eq!(counts.get(HostileKind::Malformed), 0);
        assert_eq!(counts.total(), 3);
        assert_eq!(
            HostileKind::ALL.map(HostileKind::name),
            ["flood", "malformed", "protocol", "panic"]
        );
    }
}
