//! renet's packet format, as far as a room needs to know it to distrust a client.
//!
//! renet reads its packets safely, but past the read it trusts some of the numbers in them: a
//! slice whose index is not below its slice count indexes out of bounds, a slice count that
//! changes between slices of one message corrupts its memory accounting, and a packet of
//! thousands of empty messages queues them all. A room therefore runs
//! [`check_client_packet`] on every packet from a client before renet sees it. The rule it
//! enforces is stricter than renet's format: a client's message fits in one packet
//! ([`MAX_CLIENT_MESSAGE_BYTES`]), so a client never sends slices at all, and a packet carries
//! at most [`MAX_MESSAGES_PER_CLIENT_PACKET`] non-empty messages on a channel of the right kind.
//!
//! [`RenetPacket`] writes packets of every kind with any field, in and out of bounds: the
//! fuzzing and the attack tests build hostile clients with it. (renet's own packet type is
//! private to it.)
//!
//! The layout, per renet 2.0 (`packet.rs`): a type byte, then QUIC-style variable-length
//! integers (two high bits give the length: 1, 2, 4 or 8 bytes, big-endian) and a few fixed
//! fields.

use crate::message::Channel;

/// Largest message a client may send on any channel. Below renet's slice size (1,200 bytes,
/// less the message's length and id prefixes), so every client message travels whole in one
/// packet and a room can refuse sliced packets outright. (At the slice size itself renet puts
/// an empty packet before the message.)
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 1024;

/// Most messages one packet from a client may carry. renet puts together what was queued in a
/// frame; a client queues an input and now and then an event per frame.
pub const MAX_MESSAGES_PER_CLIENT_PACKET: usize = 64;

/// Largest value a variable-length integer can hold (62 bits).
pub const MAX_VARINT: u64 = (1 << 62) - 1;

const SMALL_RELIABLE: u8 = 0;
const SMALL_UNRELIABLE: u8 = 1;
const RELIABLE_SLICE: u8 = 2;
const UNRELIABLE_SLICE: u8 = 3;
const ACK: u8 = 4;

/// Why a packet from a client was refused before renet saw it. Each is something no honest
/// client of this protocol sends: the sender is broken or hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacketViolation {
    /// The packet ends before its fields do.
    #[error("packet truncated")]
    Truncated,
    /// The type byte names no renet packet.
    #[error("unknown packet type {0}")]
    UnknownType(u8),
    /// A sliced message: clients' messages fit in one packet.
    #[error("sliced message from a client")]
    Slice,
    /// A channel this protocol does not have, or a reliable packet on the unreliable channel
    /// (or the other way round).
    #[error("packet on channel {0}, which does not take it")]
    Channel(u8),
    /// No messages, more than [`MAX_MESSAGES_PER_CLIENT_PACKET`], or an empty one.
    #[error("packet carries an empty message or too many messages")]
    Messages,
    /// A message over [`MAX_CLIENT_MESSAGE_BYTES`].
    #[error("message of {0} bytes from a client")]
    Oversized(u64),
    /// Bytes after the last field.
    #[error("trailing bytes after the packet")]
    Trailing,
}

/// Checks one renet packet from a client against what this protocol's clients send. `Ok` means
/// renet may process it; it still applies its own checks (acknowledgement ranges, channel
/// memory).
pub fn check_client_packet(packet: &[u8]) -> Result<(), PacketViolation> {
    let mut r = Reader(packet);
    let kind = r.u8()?;
    match kind {
        SMALL_RELIABLE | SMALL_UNRELIABLE => {
            r.varint()?; // sequence
            let channel = r.u8()?;
            let expected = if kind == SMALL_RELIABLE {
                Channel::Events
            } else {
                Channel::State
            };
            if channel != u8::from(expected) {
                return Err(PacketViolation::Channel(channel));
            }
            let count = usize::from(r.u16()?);
            if count == 0 || count > MAX_MESSAGES_PER_CLIENT_PACKET {
                return Err(PacketViolation::Messages);
            }
            for _ in 0..count {
                if kind == SMALL_RELIABLE {
                    r.varint()?; // message id
                }
                let len = r.varint()?;
                if len == 0 {
                    return Err(PacketViolation::Messages);
                }
                if len > MAX_CLIENT_MESSAGE_BYTES as u64 {
                    return Err(PacketViolation::Oversized(len));
                }
                r.skip(len as usize)?;
            }
        }
        RELIABLE_SLICE | UNRELIABLE_SLICE => return Err(PacketViolation::Slice),
        ACK => {
            r.varint()?; // sequence
            r.varint()?; // end of the newest range
            r.varint()?; // its size
            let more = r.varint()?;
            // Each further range is two varints of at least a byte each: the count cannot
            // exceed what is left, which bounds the loop by the packet.
            if more > r.0.len() as u64 / 2 {
                return Err(PacketViolation::Truncated);
            }
            for _ in 0..more {
                r.varint()?;
                r.varint()?;
            }
        }
        other => return Err(PacketViolation::UnknownType(other)),
    }
    if r.0.is_empty() {
        Ok(())
    } else {
        Err(PacketViolation::Trailing)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PacketViolation> {
        if self.0.len() < n {
            return Err(PacketViolation::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn skip(&mut self, n: usize) -> Result<(), PacketViolation> {
        self.take(n).map(|_| ())
    }

    fn u8(&mut self) -> Result<u8, PacketViolation> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PacketViolation> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn varint(&mut self) -> Result<u64, PacketViolation> {
        let first = *self.0.first().ok_or(PacketViolation::Truncated)?;
        let len = 1usize << (first >> 6);
        let bytes = self.take(len)?;
        Ok(bytes[1..]
            .iter()
            .fold(u64::from(bytes[0] & 0x3f), |v, &b| (v << 8) | u64::from(b)))
    }
}

/// A renet packet described field by field, to be written as renet's wire format with
/// whatever values a test or a fuzzer chooses, in bounds or not. Values above
/// [`MAX_VARINT`] are written as [`MAX_VARINT`] (the format cannot hold more).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RenetPacket {
    /// Reliable messages with their ids.
    SmallReliable {
        /// Packet sequence number.
        sequence: u64,
        /// Channel id.
        channel: u8,
        /// `(message id, message)`.
        messages: Vec<(u64, Vec<u8>)>,
    },
    /// Unreliable messages.
    SmallUnreliable {
        /// Packet sequence number.
        sequence: u64,
        /// Channel id.
        channel: u8,
        /// The messages.
        messages: Vec<Vec<u8>>,
    },
    /// One slice of a big message, on a reliable (`reliable`) or unreliable channel.
    Slice {
        /// Reliable (type 2) or unreliable (type 3).
        reliable: bool,
        /// Packet sequence number.
        sequence: u64,
        /// Channel id.
        channel: u8,
        /// The sliced message's id.
        message_id: u64,
        /// Which slice.
        slice_index: u64,
        /// How many slices the message has.
        num_slices: u64,
        /// The slice's bytes.
        payload: Vec<u8>,
    },
    /// Acknowledged packet ranges, as renet encodes them: the newest range's last sequence and
    /// size, then for each older range the gap to the previous and its size.
    Ack {
        /// Packet sequence number.
        sequence: u64,
        /// Last sequence of the newest range.
        end: u64,
        /// Size of the newest range, less one.
        size: u64,
        /// `(gap, size)` of each older range.
        older: Vec<(u64, u64)>,
    },
    /// Bytes as they are (any type byte, any length).
    Raw(Vec<u8>),
}

impl RenetPacket {
    /// Appends the packet's bytes to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            RenetPacket::SmallReliable {
                sequence,
                channel,
                messages,
            } => {
                put_small_header(out, SMALL_RELIABLE, *sequence, *channel, messages.len());
                for (id, message) in messages.iter().take(usize::from(u16::MAX)) {
                    put_varint(out, *id);
                    put_varint(out, message.len() as u64);
                    out.extend_from_slice(message);
                }
            }
            RenetPacket::SmallUnreliable {
                sequence,
                channel,
                messages,
            } => {
                put_small_header(out, SMALL_UNRELIABLE, *sequence, *channel, messages.len());
                for message in messages.iter().take(usize::from(u16::MAX)) {
                    put_varint(out, message.len() as u64);
                    out.extend_from_slice(message);
                }
            }
            RenetPacket::Slice {
                reliable,
                sequence,
                channel,
                message_id,
                slice_index,
                num_slices,
                payload,
            } => {
                out.push(if *reliable {
                    RELIABLE_SLICE
                } else {
                    UNRELIABLE_SLICE
                });
                put_varint(out, *sequence);
                out.push(*channel);
                put_varint(out, *message_id);
                put_varint(out, *slice_index);
                put_varint(out, *num_slices);
                put_varint(out, payload.len() as u64);
                out.extend_from_slice(payload);
            }
            RenetPacket::Ack {
                sequence,
                end,
                size,
                older,
            } => {
                out.push(ACK);
                put_varint(out, *sequence);
                put_varint(out, *end);
                put_varint(out, *size);
                put_varint(out, older.len() as u64);
                for &(gap, size) in older {
                    put_varint(out, gap);
                    put_varint(out, size);
                }
            }
            RenetPacket::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }

    /// The packet's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }
}

/// The head of a packet of small messages: type, sequence, channel, message count (at most
/// `u16::MAX` are written).
fn put_small_header(out: &mut Vec<u8>, kind: u8, sequence: u64, channel: u8, count: usize) {
    out.push(kind);
    put_varint(out, sequence);
    out.push(channel);
    out.extend_from_slice(&(count.min(usize::from(u16::MAX)) as u16).to_be_bytes());
}

fn put_varint(out: &mut Vec<u8>, v: u64) {
    let v = v.min(MAX_VARINT);
    match v {
        0..=63 => out.push(v as u8),
        64..=16_383 => out.extend_from_slice(&(v as u16 | 0x4000).to_be_bytes()),
        16_384..=1_073_741_823 => out.extend_from_slice(&(v as u32 | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::connection_config;
    use renet::RenetClient;

    fn connected_pair() -> (RenetClient, RenetClient) {
        let mut client = RenetClient::new(connection_config());
        client.set_connected();
        // The room's end: the client's channels are the ones it receives on.
        let config = connection_config();
        let mut room = RenetClient::new(renet::ConnectionConfig {
            available_bytes_per_tick: config.available_bytes_per_tick,
            server_channels_config: config.client_channels_config,
            client_channels_config: config.server_channels_config,
        });
        room.set_connected();
        (client, room)
    }

    #[test]
    fn what_an_honest_client_sends_passes() {
        let (mut client, mut room) = connected_pair();
        for round in 0..5u8 {
            client.send_message(Channel::State, vec![round; 40]);
            client.send_message(Channel::State, vec![round; 3]);
            client.send_message(Channel::Events, vec![round; MAX_CLIENT_MESSAGE_BYTES]);
            for packet in client.get_packets_to_send() {
                assert_eq!(check_client_packet(&packet), Ok(()), "{packet:?}");
                room.process_packet(&packet);
            }
            room.send_message(Channel::Events, vec![9u8; 10]);
            for packet in room.get_packets_to_send() {
                client.process_packet(&packet);
            }
            client.update(std::time::Duration::from_millis(33));
        }
        // Acknowledgement packets were among them.
        assert!(room.is_connected());
        assert_eq!(
            room.receive_message(Channel::State).as_deref(),
            Some(&[0u8; 40][..])
        );
    }

    #[test]
    fn every_message_a_client_sends_fits_one_packet() {
        use crate::message::{InputFrame, InputPacket, MAX_INPUTS_PER_PACKET};
        // The platform's part of an input packet, with an empty input: a game's input adds its
        // own encoded size to each frame.
        let largest_input = crate::codec::encode(&InputPacket {
            ack_tick: u32::MAX,
            inputs: vec![
                InputFrame {
                    seq: u32::MAX,
                    tick: u32::MAX,
                    input: (),
                };
                MAX_INPUTS_PER_PACKET
            ],
        })
        .unwrap();
        let leave = crate::codec::encode(&crate::ClientEvent::<crate::game::tests::Minimal>::Leave)
            .unwrap();
        for message in [largest_input, leave] {
            assert!(
                message.len() <= MAX_CLIENT_MESSAGE_BYTES,
                "{} bytes",
                message.len()
            );
        }
    }

    #[test]
    fn packets_written_here_are_read_by_renet() {
        let (_, mut room) = connected_pair();
        let packets = [
            RenetPacket::SmallUnreliable {
                sequence: 70,
                channel: Channel::State.into(),
                messages: vec![vec![1, 2, 3], vec![4; 200]],
            },
            RenetPacket::SmallReliable {
                sequence: 20_000,
                channel: Channel::Events.into(),
                messages: vec![(0, vec![7; 2])],
            },
            RenetPacket::Ack {
                sequence: 2_000_000_000,
                end: 40,
                size: 3,
                older: vec![(2, 5), (1, 0)],
            },
        ];
        for packet in &packets {
            let bytes = packet.to_bytes();
            assert_eq!(check_client_packet(&bytes), Ok(()), "{packet:?}");
            room.process_packet(&bytes);
        }
        assert!(room.is_connected(), "{:?}", room.disconnect_reason());
        assert_eq!(
            room.receive_message(Channel::State).as_deref(),
            Some(&[1u8, 2, 3][..])
        );
        assert_eq!(
            room.receive_message(Channel::State).map(|m| m.len()),
            Some(200)
        );
        assert_eq!(
            room.receive_message(Channel::Events).as_deref(),
            Some(&[7u8, 7][..])
        );
    }

    #[test]
    fn what_no_honest_client_sends_is_refused() {
        let state = u8::from(Channel::State);
        let events = u8::from(Channel::Events);
        let slice = |reliable, slice_index, num_slices| RenetPacket::Slice {
            reliable,
            sequence: 1,
            channel: if reliable { events } else { state },
            message_id: 0,
            slice_index,
            num_slices,
            payload: vec![0; 1200],
        };
        let cases = [
            (RenetPacket::Raw(vec![]), PacketViolation::Truncated),
            (
                RenetPacket::Raw(vec![9, 0]),
                PacketViolation::UnknownType(9),
            ),
            (
                RenetPacket::Raw(vec![0xFD, 1]),
                PacketViolation::UnknownType(0xFD),
            ),
            (slice(true, 5, 2), PacketViolation::Slice),
            (slice(false, 0, 1), PacketViolation::Slice),
            (
                RenetPacket::SmallUnreliable {
                    sequence: 1,
                    channel: events,
                    messages: vec![vec![1]],
                },
                PacketViolation::Channel(events),
            ),
            (
                RenetPacket::SmallReliable {
                    sequence: 1,
                    channel: 7,
                    messages: vec![(0, vec![1])],
                },
                PacketViolation::Channel(7),
            ),
            (
                RenetPacket::SmallUnreliable {
                    sequence: 1,
                    channel: state,
                    messages: vec![],
                },
                PacketViolation::Messages,
            ),
            (
                RenetPacket::SmallUnreliable {
                    sequence: 1,
                    channel: state,
                    messages: vec![vec![]; 3],
                },
                PacketViolation::Messages,
            ),
            (
                RenetPacket::SmallUnreliable {
                    sequence: 1,
                    channel: state,
                    messages: vec![vec![1]; MAX_MESSAGES_PER_CLIENT_PACKET + 1],
                },
                PacketViolation::Messages,
            ),
            (
                RenetPacket::SmallReliable {
                    sequence: 1,
                    channel: events,
                    messages: vec![(0, vec![1; MAX_CLIENT_MESSAGE_BYTES + 1])],
                },
                PacketViolation::Oversized(MAX_CLIENT_MESSAGE_BYTES as u64 + 1),
            ),
            (
                RenetPacket::Raw(vec![1, 5, state, 0, 2, 1, 9]),
                PacketViolation::Truncated,
            ),
            (
                RenetPacket::Raw(vec![1, 5, state, 0, 1, 1, 9, 0]),
                PacketViolation::Trailing,
            ),
            (
                RenetPacket::Raw(vec![4, 1, 0x80, 1]),
                PacketViolation::Truncated,
            ),
            // An acknowledgement announcing more ranges than its bytes can hold.
            (
                RenetPacket::Raw(vec![4, 1, 9, 1, 0x7f, 0xff, 1, 1]),
                PacketViolation::Truncated,
            ),
        ];
        for (packet, violation) in cases {
            assert_eq!(
                check_client_packet(&packet.to_bytes()),
                Err(violation),
                "{packet:?}"
            );
        }
    }

    #[test]
    fn varints_round_trip_at_every_length() {
        for v in [
            0,
            63,
            64,
            16_383,
            16_384,
            1_073_741_823,
            1_073_741_824,
            MAX_VARINT,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader(&out);
            assert_eq!(r.varint(), Ok(v.min(MAX_VARINT)));
            assert!(r.0.is_empty());
        }
    }
}
