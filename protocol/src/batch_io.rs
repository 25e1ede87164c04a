//! Several datagrams per system call on Linux (`recvmmsg`, `sendmmsg`), one per call elsewhere.
//!
//! A room's tick receives a datagram or two from each of its players and sends one to each; a
//! client's frame does the same with one peer. One call each way instead of one per datagram
//! (plus the call that finds the socket empty) is a large share of what the network path costs
//! (BENCHMARKS.md). `N` is the most datagrams one call moves.

use std::{
    io,
    net::{SocketAddr, UdpSocket},
};

/// Buffers for batched receives of up to `N` datagrams.
pub struct RecvBatch<const N: usize> {
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    lens: [usize; N],
    from: [Option<SocketAddr>; N],
}

/// Largest datagram accepted (netcode's packets are at most 1400 bytes); longer ones are cut
/// short and then fail authentication.
pub const MAX_DATAGRAM: usize = 1500;

impl<const N: usize> Default for RecvBatch<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> RecvBatch<N> {
    /// Buffers for `N` datagrams.
    pub fn new() -> Self {
        Self {
            bufs: vec![[0; MAX_DATAGRAM]; N],
            lens: [0; N],
            from: [None; N],
        }
    }

    /// Datagram `i` of the last receive and its sender.
    pub fn get_mut(&mut self, i: usize) -> (&mut [u8], Option<SocketAddr>) {
        (&mut self.bufs[i][..self.lens[i]], self.from[i])
    }

    /// Receives what is waiting, up to `N` datagrams, without blocking; 0 when nothing is.
    /// Errors that only mean "nothing now" (would block, refused, reset) count as 0.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let result = self.recv_inner(socket);
        match result {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionRefused
                        | io::ErrorKind::ConnectionReset
                ) =>
            {
                Ok(0)
            }
            other => other,
        }
    }

    #[cfg(target_os = "linux")]
    fn recv_inner(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: every pointer handed to the kernel points into `self` or these locals, which
        // outlive the call; lengths match the buffers they describe.
        unsafe {
            let mut addrs: [libc::sockaddr_storage; N] = std::mem::zeroed();
            let mut iovecs: [libc::iovec; N] = std::mem::zeroed();
            let mut msgs: [libc::mmsghdr; N] = std::mem::zeroed();
            for i in 0..N {
                iovecs[i] = libc::iovec {
                    iov_base: self.bufs[i].as_mut_ptr().cast(),
                    iov_len: MAX_DATAGRAM,
                };
                msgs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
                msgs[i].msg_hdr.msg_namelen =
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
                msgs[i].msg_hdr.msg_iovlen = 1;
            }
            let n = libc::recvmmsg(
                socket.as_raw_fd(),
                msgs.as_mut_ptr(),
                N as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            );
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let n = n as usize;
            for i in 0..n {
                self.lens[i] = msgs[i].msg_len as usize;
                self.from[i] = socket_addr(&addrs[i]);
            }
            Ok(n)
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn recv_inner(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let mut n = 0;
        while n < N {
            match socket.recv_from(&mut self.bufs[n]) {
                Ok((len, from)) => {
                    self.lens[n] = len;
                    self.from[n] = Some(from);
                    n += 1;
                }
                Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

/// A kernel socket address as a std one (IPv4 and IPv6; anything else is `None`).
#[cfg(target_os = "linux")]
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Whether a send error only means the datagram is lost: the destination refused an earlier
/// one (ICMP port unreachable surfaces on a later call on Linux; the peer may be restarting,
/// and netcode's timeout decides when a connection is gone), or the send buffer is full.
pub(crate) fn lost_not_broken(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::WouldBlock
    )
}

/// Datagrams queued to be sent together, up to `N` per call.
pub struct SendBatch<const N: usize> {
    bufs: Vec<(Vec<u8>, SocketAddr)>,
    len: usize,
}

impl<const N: usize> Default for SendBatch<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> SendBatch<N> {
    /// An empty batch.
    pub fn new() -> Self {
        Self {
            bufs: Vec::new(),
            len: 0,
        }
    }

    /// Queues a copy of `datagram` for `to`; returns whether the batch is now full (send it).
    pub fn push(&mut self, datagram: &[u8], to: SocketAddr) -> bool {
        if self.len == self.bufs.len() {
            self.bufs.push((Vec::with_capacity(MAX_DATAGRAM), to));
        }
        let (buf, addr) = &mut self.bufs[self.len];
        buf.clear();
        buf.extend_from_slice(datagram);
        *addr = to;
        self.len += 1;
        self.len >= N
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sends everything queued. A refused destination (ICMP port unreachable from an earlier
    /// datagram) is not an error: the peer may be restarting; nor is a full send buffer: UDP
    /// may drop datagrams anyway, and the protocol above recovers. On any error the rest of
    /// the batch is dropped, as lost datagrams would be.
    pub fn send(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let result = self.send_inner(socket);
        self.len = 0;
        match result {
            Err(e) if lost_not_broken(&e) => Ok(()),
            other => other,
        }
    }

    #[cfg(target_os = "linux")]
    fn send_inner(&mut self, socket: &UdpSocket) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let mut sent = 0;
        while sent < self.len {
            // SAFETY: every pointer handed to the kernel points into `self` or these locals,
            // which outlive the call; lengths match the buffers they describe.
            let n = unsafe {
                let mut addrs: [(libc::sockaddr_storage, libc::socklen_t); N] = std::mem::zeroed();
                let mut iovecs: [libc::iovec; N] = std::mem::zeroed();
                let mut msgs: [libc::mmsghdr; N] = std::mem::zeroed();
                let count = (self.len - sent).min(N);
                for i in 0..count {
                    let (buf, to) = &self.bufs[sent + i];
                    addrs[i] = raw_addr(*to);
                    iovecs[i] = libc::iovec {
                        iov_base: buf.as_ptr() as *mut libc::c_void,
                        iov_len: buf.len(),
                    };
                    msgs[i].msg_hdr.msg_name =
                        (&mut addrs[i].0 as *mut libc::sockaddr_storage).cast();
                    msgs[i].msg_hdr.msg_namelen = addrs[i].1;
                    msgs[i].msg_hdr.msg_iov = &mut iovecs[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                }
                libc::sendmmsg(
                    socket.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    count as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            sent += n as usize;
        }
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    fn send_inner(&mut self, socket: &UdpSocket) -> io::Result<()> {
        for (buf, to) in &self.bufs[..self.len] {
            socket.send_to(buf, *to)?;
        }
        Ok(())
    }
}

/// A std socket address as a kernel one.
#[cfg(target_os = "linux")]
fn raw_addr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; the writes below stay within the type
    // the family names, which fits in the storage.
    unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                (*sin).sin_family = libc::AF_INET as libc::sa_family_t;
                (*sin).sin_port = a.port().to_be();
                (*sin).sin_addr.s_addr = u32::from(*a.ip()).to_be();
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 =
                    (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                (*sin6).sin6_family = libc::AF_INET6 as libc::sa_family_t;
                (*sin6).sin6_port = a.port().to_be();
                (*sin6).sin6_addr.s6_addr = a.ip().octets();
                (*sin6).sin6_flowinfo = a.flowinfo();
                (*sin6).sin6_scope_id = a.scope_id();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_out_in_order_and_comes_back_in_one_receive() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        b.set_nonblocking(true).unwrap();
        let mut send = SendBatch::<8>::new();
        for i in 0..5u8 {
            assert!(!send.push(&[i; 100][..usize::from(i) + 1], b.local_addr().unwrap()));
        }
        send.send(&a).unwrap();
        let mut recv = RecvBatch::<8>::new();
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = recv.recv(&b).unwrap();
            for i in 0..n {
                let (data, from) = recv.get_mut(i);
                assert_eq!(from, Some(a.local_addr().unwrap()));
                got.push(data.to_vec());
            }
            if got.len() == 5 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let want: Vec<Vec<u8>> = (0..5u8).map(|i| vec![i; usize::from(i) + 1]).collect();
        assert_eq!(got, want);
        // Nothing waiting is zero datagrams, not an error.
        assert_eq!(recv.recv(&b).unwrap(), 0);
    }
}
