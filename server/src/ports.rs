//! Which UDP ports a node's rooms bind, and the pool that hands them out.

use std::{
    collections::VecDeque,
    fmt,
    net::{IpAddr, SocketAddr, UdpSocket},
    str::FromStr,
    sync::Mutex,
};

/// The UDP ports a node's rooms may bind (`--udp-ports`): one port per room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpPorts {
    /// Ports `first..=last` (`7400-7999`): what a firewall rule or a container's port map names.
    Range {
        /// First port.
        first: u16,
        /// Last port (inclusive).
        last: u16,
    },
    /// Whatever free port the system picks for each room (`0`): for tests, which then never
    /// collide, and for hosts with no port rules to match.
    Any,
}

impl UdpPorts {
    /// How many rooms the ports allow at once (`None`: no limit from ports).
    pub fn count(self) -> Option<usize> {
        match self {
            Self::Range { first, last } => Some(usize::from(last - first) + 1),
            Self::Any => None,
        }
    }
}

impl FromStr for UdpPorts {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "0" {
            return Ok(Self::Any);
        }
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("expected FIRST-LAST (e.g. 7400-7999) or 0 (any free port), got {s:?}")
        })?;
        let first: u16 = a
            .trim()
            .parse()
            .map_err(|_| format!("bad first port {a:?}"))?;
        let last: u16 = b
            .trim()
            .parse()
            .map_err(|_| format!("bad last port {b:?}"))?;
        if first == 0 || last < first {
            return Err(format!(
                "port range must be 1..=65535 with FIRST <= LAST, got {s:?}"
            ));
        }
        Ok(Self::Range { first, last })
    }
}

impl fmt::Display for UdpPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Range { first, last } => write!(f, "{first}-{last}"),
            Self::Any => f.write_str("0"),
        }
    }
}

/// Hands out room sockets: from a range's free ports, or the system's.
pub(crate) struct PortPool {
    ip: IpAddr,
    /// Free ports of a range; `None` for [`UdpPorts::Any`].
    free: Option<Mutex<VecDeque<u16>>>,
}

impl PortPool {
    pub(crate) fn new(ip: IpAddr, ports: UdpPorts) -> Self {
        let free = match ports {
            UdpPorts::Range { first, last } => Some(Mutex::new((first..=last).collect())),
            UdpPorts::Any => None,
        };
        Self { ip, free }
    }

    /// A bound socket and its port. A range's port taken by another process goes to the back
    /// of the pool and the next is tried; `None` when no port is left.
    pub(crate) fn bind(&self) -> Option<(UdpSocket, u16)> {
        let Some(free) = &self.free else {
            let socket = UdpSocket::bind(SocketAddr::new(self.ip, 0))
                .inspect_err(|e| tracing::warn!(error = %e, "cannot bind a room socket"))
                .ok()?;
            let port = socket.local_addr().ok()?.port();
            return Some((socket, port));
        };
        let mut free = free.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..free.len() {
            let port = free.pop_front()?;
            match UdpSocket::bind(SocketAddr::new(self.ip, port)) {
                Ok(socket) => return Some((socket, port)),
                Err(e) => {
                    tracing::debug!(port, error = %e, "port unavailable, trying the next");
                    free.push_back(port);
                }
            }
        }
        None
    }

    /// Gives a port back once its room's socket is closed.
    pub(crate) fn release(&self, port: u16) {
        if let Some(free) = &self.free {
            free.lock()
                .unwrap_or_else(|p| p.into_inner())
                .push_back(port);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn a_range_limits_the_rooms_and_any_port_does_not() {
        let range = UdpPorts::Range {
            first: 7400,
            last: 7899,
        };
        assert_eq!(range.count(), Some(500));
        assert_eq!(UdpPorts::Any.count(), None);
    }

    #[test]
    fn any_port_binds_a_fresh_one_each_time() {
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), UdpPorts::Any);
        let (a, pa) = pool.bind().unwrap();
        let (b, pb) = pool.bind().unwrap();
        assert_ne!(pa, pb);
        assert_eq!(a.local_addr().unwrap().port(), pa);
        assert_eq!(b.local_addr().unwrap().port(), pb);
    }

    #[test]
    fn a_range_runs_out_and_refills() {
        // A port the system gave, so the range is free on this machine.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pool = PortPool::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            UdpPorts::Range {
                first: port,
                last: port,
            },
        );
        let (socket, got) = pool.bind().unwrap();
        assert_eq!(got, port);
        assert!(pool.bind().is_none(), "one port, one room");
        drop(socket);
        pool.release(port);
        assert_eq!(pool.bind().unwrap().1, port);
    }
}
