//! Several datagrams per system call on Linux (`recvmmsg`, `sendmmsg`), one per call elsewhere.
//!
//! A client's frame receives about two datagrams (a snapshot, an acknowledgement) and sends about
//! two; one call each way instead of one per datagram, plus the call that finds the socket empty,
//! is a large share of what a frame costs (BENCHMARKS.md, the bots' CPU).

use std::{
    io,
    net::{SocketAddr, UdpSocket},
};

/// Most datagrams taken in one call.
pub(crate) const BATCH: usize = 8;

/// Buffers for one batched receive.
pub(crate) struct RecvBatch {
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    lens: [usize; BATCH],
    from: [Option<SocketAddr>; BATCH],
}

/// Largest datagram a client accepts (netcode's packets are at most 1200 bytes).
const MAX_DATAGRAM: usize = 1500;

impl RecvBatch {
    pub(crate) fn new() -> Self {
        Self {
            bufs: vec![[0; MAX_DATAGRAM]; BATCH],
            lens: [0; BATCH],
            from: [None; BATCH],
        }
    }

    /// Datagram `i` of the last receive and its sender.
    pub(crate) fn get_mut(&mut self, i: usize) -> (&mut [u8], Option<SocketAddr>) {
        (&mut self.bufs[i][..self.lens[i]], self.from[i])
    }

    /// Receives what is waiting, up to [`BATCH`] datagrams, without blocking; 0 when nothing
    /// is. Errors that only mean "nothing now" (would block, refused, reset) count as 0.
    pub(crate) fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
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
            let mut addrs: [libc::sockaddr_storage; BATCH] = std::mem::zeroed();
            let mut iovecs: [libc::iovec; BATCH] = std::mem::zeroed();
            let mut msgs: [libc::mmsghdr; BATCH] = std::mem::zeroed();
            for i in 0..BATCH {
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
                BATCH as libc::c_uint,
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
        while n < BATCH {
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

/// Datagrams to one address, sent together.
pub(crate) struct SendBatch {
    bufs: Vec<Vec<u8>>,
    len: usize,
}

impl SendBatch {
    pub(crate) fn new() -> Self {
        Self {
            bufs: Vec::new(),
            len: 0,
        }
    }

    /// Queues a copy of `datagram`; returns whether the batch is now full.
    pub(crate) fn push(&mut self, datagram: &[u8]) -> bool {
        if self.len == self.bufs.len() {
            self.bufs.push(Vec::with_capacity(MAX_DATAGRAM));
        }
        let buf = &mut self.bufs[self.len];
        buf.clear();
        buf.extend_from_slice(datagram);
        self.len += 1;
        self.len == BATCH
    }

    /// Sends everything queued to `to`. A refused destination (ICMP port unreachable from an
    /// earlier datagram) is not an error: the server may be restarting.
    pub(crate) fn send(&mut self, socket: &UdpSocket, to: SocketAddr) -> io::Result<()> {
        let result = self.send_inner(socket, to);
        self.len = 0;
        match result {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(()),
            other => other,
        }
    }

    #[cfg(target_os = "linux")]
    fn send_inner(&mut self, socket: &UdpSocket, to: SocketAddr) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if self.len == 0 {
            return Ok(());
        }
        let (addr, addr_len) = raw_addr(to);
        let mut sent = 0;
        while sent < self.len {
            // SAFETY: every pointer handed to the kernel points into `self` or these locals,
            // which outlive the call; lengths match the buffers they describe.
            let n = unsafe {
                let mut iovecs: [libc::iovec; BATCH] = std::mem::zeroed();
                let mut msgs: [libc::mmsghdr; BATCH] = std::mem::zeroed();
                let count = self.len - sent;
                for i in 0..count {
                    let buf = &self.bufs[sent + i];
                    iovecs[i] = libc::iovec {
                        iov_base: buf.as_ptr() as *mut libc::c_void,
                        iov_len: buf.len(),
                    };
                    msgs[i].msg_hdr.msg_name =
                        (&addr as *const libc::sockaddr_storage).cast_mut().cast();
                    msgs[i].msg_hdr.msg_namelen = addr_len;
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
    fn send_inner(&mut self, socket: &UdpSocket, to: SocketAddr) -> io::Result<()> {
        for buf in &self.bufs[..self.len] {
            socket.send_to(buf, to)?;
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
        let mut send = SendBatch::new();
        for i in 0..5u8 {
            assert!(!send.push(&[i; 100][..usize::from(i) + 1]));
        }
        send.send(&a, b.local_addr().unwrap()).unwrap();
        let mut recv = RecvBatch::new();
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
