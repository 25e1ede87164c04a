//! Several reliability-layer packets in one netcode payload.
//!
//! Each frame renet hands over a few small packets per peer: the state or input message, and
//! an acknowledgement packet of its own. Sent one per datagram, each would cost a system call
//! and an AEAD seal at the sender and the same again at the receiver. Packed together they cost
//! one of each.
//!
//! A payload is either one renet packet as it is, or a bundle:
//! `0xFE (len: u16 little-endian, packet: len bytes)+`. Renet's packet types are small
//! integers, so the marker byte can never start a plain packet. Decoding is bounded by the
//! payload: a length that runs past the end is an error, never a read out of bounds.
//!
//! One more kind of payload goes from a room to a client: a *notice*, `0xFD` and an encoded
//! event, outside the reliability layer. A room sends it when it closes a connection whose
//! reliability layer it no longer trusts (the client broke the protocol), so the client still
//! learns why.

use renetcode::NETCODE_MAX_PAYLOAD_BYTES;

/// First byte of a bundle.
pub const BUNDLE_MARKER: u8 = 0xFE;

/// First byte of a notice (see the module docs).
pub const NOTICE_MARKER: u8 = 0xFD;

/// The payload of a notice carrying `body` (an encoded event).
pub fn notice(body: &[u8]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(1 + body.len());
    payload.push(NOTICE_MARKER);
    payload.extend_from_slice(body);
    payload
}

/// The body of a notice, or `None` when `payload` is packets.
pub fn notice_body(payload: &[u8]) -> Option<&[u8]> {
    match payload.split_first() {
        Some((&NOTICE_MARKER, body)) => Some(body),
        _ => None,
    }
}

/// Largest payload a bundle may fill (netcode's payload limit).
pub const MAX_PAYLOAD: usize = NETCODE_MAX_PAYLOAD_BYTES;

/// Why a bundle could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// A length prefix, or the packet it announces, runs past the end of the payload.
    #[error("bundle truncated at byte {at} of {len}")]
    Truncated {
        /// Where the entry that did not fit starts.
        at: usize,
        /// The payload's length.
        len: usize,
    },
    /// An entry of zero bytes (never written, so the bundle is corrupt).
    #[error("empty packet in bundle at byte {0}")]
    Empty(usize),
}

/// Packs `packets`, in order, into as few payloads of at most [`MAX_PAYLOAD`] bytes as a
/// greedy pass finds, and hands each to `emit`. A payload holding one packet is that packet
/// unchanged. `scratch` is reused between calls to avoid allocating.
pub fn pack<P, E>(
    packets: &[P],
    scratch: &mut Vec<u8>,
    mut emit: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<(), E>
where
    P: AsRef<[u8]>,
{
    let mut start = 0;
    while start < packets.len() {
        // Grow the group while the bundle would still fit.
        let mut size = 1 + 2 + packets[start].as_ref().len();
        let mut end = start + 1;
        while end < packets.len() {
            let next = 2 + packets[end].as_ref().len();
            if size + next > MAX_PAYLOAD {
                break;
            }
            size += next;
            end += 1;
        }
        if end - start == 1 {
            emit(packets[start].as_ref())?;
        } else {
            scratch.clear();
            scratch.push(BUNDLE_MARKER);
            for packet in &packets[start..end] {
                let packet = packet.as_ref();
                // A group of two or more fits in MAX_PAYLOAD, so every length fits in a u16.
                scratch.extend_from_slice(&(packet.len() as u16).to_le_bytes());
                scratch.extend_from_slice(packet);
            }
            emit(scratch)?;
        }
        start = end;
    }
    Ok(())
}

/// The packets in one received payload: the payload itself when it is not a bundle.
pub fn unpack(payload: &[u8]) -> Unpack<'_> {
    match payload.split_first() {
        Some((&BUNDLE_MARKER, rest)) => Unpack {
            payload,
            rest,
            single: false,
        },
        _ => Unpack {
            payload,
            rest: payload,
            single: true,
        },
    }
}

/// Iterator over the packets of a payload (see [`unpack`]). Stops after the first error.
#[derive(Debug)]
pub struct Unpack<'a> {
    payload: &'a [u8],
    rest: &'a [u8],
    single: bool,
}

impl<'a> Iterator for Unpack<'a> {
    type Item = Result<&'a [u8], BundleError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.single {
            return Some(Ok(std::mem::take(&mut self.rest)));
        }
        let at = self.payload.len() - self.rest.len();
        let truncated = BundleError::Truncated {
            at,
            len: self.payload.len(),
        };
        let Some((len, body)) = self.rest.split_first_chunk::<2>() else {
            self.rest = &[];
            return Some(Err(truncated));
        };
        let len = usize::from(u16::from_le_bytes(*len));
        if len == 0 {
            self.rest = &[];
            return Some(Err(BundleError::Empty(at)));
        }
        if len > body.len() {
            self.rest = &[];
            return Some(Err(truncated));
        }
        let (packet, rest) = body.split_at(len);
        self.rest = rest;
        Some(Ok(packet))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(packets: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        pack(packets, &mut scratch, |p| {
            out.push(p.to_vec());
            Ok::<_, ()>(())
        })
        .unwrap();
        out
    }

    fn unpacked(payloads: &[Vec<u8>]) -> Vec<Vec<u8>> {
        payloads
            .iter()
            .flat_map(|p| unpack(p).map(|r| r.unwrap().to_vec()))
            .collect()
    }

    #[test]
    fn small_packets_share_one_payload_and_come_back_in_order() {
        let packets = vec![vec![1u8; 40], vec![4u8; 12], vec![0u8; 300]];
        let payloads = packed(&packets);
        assert_eq!(payloads.len(), 1);
        assert_eq!(payloads[0][0], BUNDLE_MARKER);
        assert_eq!(payloads[0].len(), 1 + 3 * 2 + 40 + 12 + 300);
        assert_eq!(unpacked(&payloads), packets);
    }

    #[test]
    fn a_lone_packet_is_sent_unchanged() {
        let packets = vec![vec![1u8, 2, 3]];
        assert_eq!(packed(&packets), packets);
        assert_eq!(unpacked(&packets), packets);
    }

    #[test]
    fn packets_that_do_not_fit_together_split_into_several_payloads() {
        let packets = vec![
            vec![1u8; 1200],
            vec![2u8; 1200],
            vec![3u8; 50],
            vec![4u8; 50],
        ];
        let payloads = packed(&packets);
        assert_eq!(
            payloads.len(),
            3,
            "1200 | 1200 + 50 + 50 do not fit; 1200+50+50 does"
        );
        assert!(payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        assert_eq!(payloads[0], packets[0], "alone, so unchanged");
        assert_eq!(unpacked(&payloads), packets);
    }

    #[test]
    fn truncated_and_corrupt_bundles_are_errors() {
        let cases: [&[u8]; 4] = [
            &[BUNDLE_MARKER, 5],
            &[BUNDLE_MARKER, 5, 0, 1, 2],
            &[BUNDLE_MARKER, 0, 0, 9],
            &[BUNDLE_MARKER, 1, 0, 7, 255, 255, 1],
        ];
        for case in cases {
            let results: Vec<_> = unpack(case).collect();
            assert!(
                results.last().unwrap().is_err(),
                "{case:?} gave {results:?}"
            );
        }
        // The good entry before the bad one is still delivered.
        let mut it = unpack(&[BUNDLE_MARKER, 1, 0, 7, 255, 255, 1]);
        assert_eq!(it.next(), Some(Ok(&[7u8][..])));
        assert!(matches!(
            it.next(),
            Some(Err(BundleError::Truncated { at: 4, .. }))
        ));
        assert_eq!(it.next(), None);
        // A bare marker is an empty bundle: nothing in it.
        assert_eq!(notice_body(&notice(&[1, 2])), Some(&[1u8, 2][..]));
        assert_eq!(notice_body(&[BUNDLE_MARKER, 1, 0, 7]), None);
        assert_eq!(unpack(&[BUNDLE_MARKER]).count(), 0);
        assert_eq!(unpack(&[]).count(), 0);
    }
}
