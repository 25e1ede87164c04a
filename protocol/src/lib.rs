//! Rallypoint's wire protocol and client SDK: the only crate that knows bytes on the wire.
//!
//! What it is:
//! - [`codec`]: bounded bincode encoding of every UDP message (limit, trailing bytes rejected).
//! - [`GameProtocol`]: what a game declares (name, version, its input, command, event, welcome
//!   and results types, each checked by [`WireMessage::validate`]); the platform's messages
//!   carry those types;
//! - [`replicate`]: replicated state as a game declares it (quantized fields, the
//!   [`replicated!`] macro that writes its bit-packed codec), and [`sync`]: delta snapshots
//!   of it against each client's acknowledged view;
//! - [`conformance`]: the checks a game runs on its own wire types in its tests and fuzz
//!   targets (round trips, every cut, arbitrary bytes through every decoder);
//! - the messages of the two channels ([`Channel`]): reliable [`ServerEvent`] / [`ClientEvent`],
//!   unreliable [`SnapshotPacket`] / [`InputPacket`];
//! - connect tokens ([`issue_token`], [`TokenUserData`]) for one game's version: its
//!   [`GameId`] and the platform's [`PROTOCOL_VERSION`] make the netcode protocol id;
//! - the matchmaker's HTTP/JSON types ([`api`]);
//! - datagram framing shared by both ends: [`bundle`] (several reliability-layer packets per
//!   netcode payload) and [`batch_io`] (several datagrams per system call);
//! - [`renet_wire`]: renet's packet format, to check clients' packets before renet trusts
//!   them and to build hostile ones in tests;
//! - the client SDK: [`Connection`], the protocol without I/O (netcode, renet, snapshot deltas;
//!   its [`InputClock`] stamps each input with the room tick it is for; datagrams in and out,
//!   time as arguments), [`GameClient`], its driver over a UDP socket and the system's clock,
//!   typed [`Snapshot`]s of the game's declared state, the [`Interpolator`] over the game's
//!   [`Interpolate`], the [`Predictor`] over the game's [`Predict`] and [`MatchmakerClient`]
//!   (HTTP).
//!
//! What it is not: it has no game logic (a game's types and client model live in the game's
//! own crate, under `games/`), no server, and no clock of its own; time comes in as
//! arguments. It depends on no other workspace crate.
//!
//! # A minimal game client
//!
//! ```no_run
//! use std::time::Duration;
//! use protocol::{api::CreateTicketRequest, GameClient, GameProtocol, MatchmakerClient, ServerEvent};
//!
//! # async fn play<G: GameProtocol>() -> Result<(), Box<dyn std::error::Error>> {
//! let mm = MatchmakerClient::new("http://127.0.0.1:7350");
//! let ticket = mm
//!     .create_ticket(&CreateTicketRequest::new("duel"))
//!     .await?;
//! let assignment = mm.wait_for_assignment(&ticket.id, Duration::from_secs(60)).await?;
//! // `G` is the game's declaration: its `GameProtocol` marker type.
//! let mut client = GameClient::<G>::connect(&assignment)?;
//! let frame = Duration::from_millis(33);
//! loop {
//!     client.update(frame)?;
//!     while let Some(event) = client.poll_event() {
//!         if let ServerEvent::MatchEnded(results) = event {
//!             println!("{results:?}");
//!             return Ok(());
//!         }
//!     }
//!     if let Some(snapshot) = client.take_new_snapshot() {
//!         let _ = snapshot.entities.len(); // draw the world here
//!     }
//!     for _ in 0..client.inputs_due() {
//!         client.send_input(G::Input::default()); // the player's intent for the tick
//!     }
//!     client.flush()?;
//!     tokio::time::sleep(frame).await;
//! }
//! # }
//! ```
#![warn(missing_docs)]

pub mod api;
pub mod batch_io;
mod bits;
pub mod bundle;
mod client;
pub mod codec;
pub mod conformance;
mod game;
mod input_clock;
mod interpolate;
pub mod link;
mod message;
mod mm_client;
mod predict;
pub mod renet_wire;
pub mod replicate;
pub mod sync;
mod token;

pub use client::{
    ClientError, ClientStats, Connection, ConnectionState, DisconnectCause, GameClient,
};
pub use game::{GameId, GameProtocol, NoMessage, WireMessage, protocol_id};
pub use input_clock::{InputClock, MAX_INPUTS_DUE, MAX_PACE_CHANGE, TARGET_LEAD};
pub use interpolate::{Interpolate, Interpolator};
pub use message::{
    Channel, ClientEvent, EndReason, INPUT_REDUNDANCY, InputFrame, InputPacket,
    MAX_INPUTS_PER_PACKET, MatchResults, Placement, ServerEvent, connection_config,
    dequantize_angle, quantize_angle,
};
pub use mm_client::{MatchmakerClient, MatchmakerError};
pub use predict::{Predict, Predictor};
pub use renetcode::{NETCODE_KEY_BYTES, NETCODE_USER_DATA_BYTES};
pub use replicate::{NoState, Replicated};
pub use sync::{Snapshot, SnapshotPacket, SnapshotReceiver, SyncError, View};
pub use token::{
    CONNECTION_TIMEOUT_SECONDS, MAX_PLAYER_ID_BYTES, MAX_TOKEN_EXPIRY, NetcodeConnectToken,
    PROTOCOL_VERSION, TokenError, TokenKey, TokenUserData, issue_token, key_from_hex,
    process_cpu_time, process_rss_bytes, token_from_base64, token_to_base64, unix_now,
};
