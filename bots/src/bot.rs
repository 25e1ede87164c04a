//! One bot's life: queue, wait for a room, connect, play to the end (or leave early when the
//! scenario churns it), queue again, while the scenario wants it playing.

use std::{sync::Arc, time::Duration};

use protocol::{
    ConnectionState, EndReason, GameClient, MatchmakerClient, MatchmakerError, ServerEvent,
    api::{Assignment, CreateTicketRequest, Party, TicketStatus},
};
use tokio::time::{Instant, MissedTickBehavior};

use crate::{
    Activity, Brain, Control, SwarmConfig,
    brain::{Play, Resumed, Welcome, acknowledge},
    report::{MatchStats, Recorder},
    scenario::{Group, Slot},
};

/// The longest a bot's frame lasts (see [`frame_period`]).
const FRAME: Duration = Duration::from_millis(33);

/// How long a bot waits for the netcode handshake and the room's welcome.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long without a snapshot before a bot asks the matchmaker whether its room still stands.
const SILENCE: Duration = Duration::from_secs(1);

/// How often a bot asks again while the silence lasts: a dead node's room resumes elsewhere
/// a few seconds after the node died, and holds its clock only briefly for its players.
const SILENT_POLL: Duration = Duration::from_millis(500);

/// Why snapshots stopped for a moment, until the first one after.
enum Gap {
    /// The match is moving to another node (live migration).
    Migration { since: Instant },
    /// The match's node was lost and the bot rejoined it where it resumed; `last_tick` is the
    /// newest tick the bot had seen before.
    Rejoin { since: Instant, last_tick: u32 },
}

pub(crate) struct Bot<B> {
    pub(crate) index: usize,
    pub(crate) slot: Slot,
    pub(crate) config: Arc<SwarmConfig>,
    pub(crate) mm: MatchmakerClient,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) control: Arc<Control>,
    pub(crate) brain: std::marker::PhantomData<fn() -> B>,
}

enum Queued {
    Assigned(String, Assignment),
    /// The run ended while queued; the ticket was cancelled.
    Stopped,
    Failed,
}

impl<B: Brain> Bot<B> {
    fn group(&self) -> &Group {
        &self.config.scenario.groups[self.slot.group]
    }

    /// Whether the scenario still wants this bot playing.
    fn wanted(&self) -> bool {
        self.index < *self.control.target.borrow()
    }

    /// Plays matches while the scenario wants this bot; a match under way is finished, up to
    /// `hard_stop`.
    pub(crate) async fn run(self, hard_stop: Instant) {
        let mut round = 0u64;
        while self.wanted() && Instant::now() < hard_stop {
            round += 1;
            self.control.set_activity(self.index, Activity::Queued);
            let queued = self.queue(round).await;
            self.control.set_activity(self.index, Activity::Playing);
            match queued {
                Queued::Assigned(ticket, mut assignment) => {
                    // A failed room sends its players back to the queue on the same ticket;
                    // follow it to the next room.
                    loop {
                        self.record_party_placement(&assignment);
                        match self.play(&mut assignment, &ticket, hard_stop).await {
                            Played::Completed => {
                                self.check_still_assigned(&ticket, assignment.room_id).await;
                                break;
                            }
                            Played::Over => break,
                            Played::Left => {
                                self.recorder.churned();
                                break;
                            }
                            Played::Requeued => {}
                        }
                        self.recorder.room_failed();
                        match self
                            .mm
                            .wait_for_new_room(&ticket, &assignment, Duration::from_secs(60))
                            .await
                        {
                            Ok(next) => assignment = next,
                            Err(e) => {
                                tracing::warn!(bot = self.index, error = %e, "no new room after a room failure");
                                self.recorder.error("requeue");
                                self.recorder.ticket_lost();
                                break;
                            }
                        }
                    }
                }
                Queued::Stopped => break,
                Queued::Failed => tokio::time::sleep(Duration::from_millis(500)).await,
            }
            self.control.set_activity(self.index, Activity::Idle);
        }
        self.control.set_activity(self.index, Activity::Idle);
    }

    /// This bot's party, the same id every round (only queued tickets count towards a party,
    /// so earlier rounds' tickets do not interfere).
    fn party(&self) -> Option<Party> {
        let number = self.slot.party?;
        Some(Party {
            id: format!("{}-party-{number}", self.config.player_prefix),
            size: self.group().party_size as u8,
        })
    }

    fn record_party_placement(&self, assignment: &Assignment) {
        if let Some(party) = self.party() {
            self.recorder.party_placed(
                &party.id,
                usize::from(party.size),
                assignment.room_id,
                assignment.team,
            );
        }
    }

    async fn queue(&self, round: u64) -> Queued {
        let group = self.group();
        let request = CreateTicketRequest {
            mode: group.mode.clone().unwrap_or_else(|| B::MODE.to_string()),
            skill: Some(self.skill()),
            player_id: Some(format!(
                "{}-{}-{round}",
                self.config.player_prefix, self.index
            )),
            latencies: group
                .region
                .as_ref()
                .map(|region| [(region.clone(), 20)].into()),
            party: self.party(),
        };
        let started = Instant::now();
        let ticket = match self.mm.create_ticket(&request).await {
            Ok(ticket) => ticket,
            Err(e) => {
                tracing::warn!(bot = self.index, error = %e, "create ticket failed");
                self.recorder.error("create_ticket");
                return Queued::Failed;
            }
        };
        self.recorder.ticket_created();
        let wait = self
            .mm
            .wait_for_assignment(&ticket.id, Duration::from_secs(3600));
        let mut target = self.control.target.clone();
        let index = self.index;
        let result = tokio::select! {
            r = wait => r,
            // (The guard `wait_for` returns is dropped at once: it must not be held across the
            // awaits below.)
            _ = async { target.wait_for(|t| index >= *t).await.is_ok() } => {
                // The scenario no longer wants this bot: leave the queue, unless a room was already made for us, in
                // which case the others are counting on us to show up.
                match self.mm.cancel(&ticket.id).await {
                    Ok(_) => {
                        self.recorder.ticket_cancelled();
                        return Queued::Stopped;
                    }
                    Err(MatchmakerError::Api { status: 409, .. }) => {
                        self.mm.wait_for_assignment(&ticket.id, Duration::from_secs(30)).await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(assignment) => {
                self.recorder.ticket_assigned(started.elapsed());
                Queued::Assigned(ticket.id, assignment)
            }
            Err(MatchmakerError::NotAssigned(TicketStatus::NoMatch)) => {
                self.recorder.error("ticket_no_match");
                Queued::Failed
            }
            Err(e) => {
                tracing::warn!(bot = self.index, error = %e, "waiting for a match failed");
                self.recorder.error("wait_assignment");
                // Neither assigned, cancelled nor unmatched as far as this bot could tell.
                self.recorder.ticket_lost();
                Queued::Failed
            }
        }
    }

    /// After a completed match, the ticket must still name the room that was played: anything
    /// else means it was assigned a second time.
    async fn check_still_assigned(&self, ticket: &str, room_id: u64) {
        match self.mm.get_ticket(ticket, Duration::ZERO).await {
            Ok(view) => match view.status {
                TicketStatus::Assigned(a) if a.room_id == room_id => {}
                other => {
                    tracing::warn!(bot = self.index, ?other, "ticket changed after its match");
                    self.recorder.ticket_reassigned();
                }
            },
            Err(MatchmakerError::Api { status: 404, .. }) => {}
            Err(e) => {
                tracing::warn!(bot = self.index, error = %e, "re-reading a finished ticket failed")
            }
        }
    }

    fn skill(&self) -> f64 {
        let spread = self.group().skill_spread;
        if spread <= 0.0 {
            return 1000.0;
        }
        1000.0 + (self.index as f64 * 7919.0 % (2.0 * spread)) - spread
    }

    /// Plays the match of `assignment`; if the match resumes on another node meanwhile, the
    /// assignment is updated to the one the bot rejoined with.
    async fn play(&self, assignment: &mut Assignment, ticket: &str, hard_stop: Instant) -> Played {
        let mut client = match GameClient::<B::Game>::connect(assignment) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(bot = self.index, error = %e, "connect failed");
                self.recorder.error("connect");
                return Played::Over;
            }
        };
        if let Some(network) = self.group().link() {
            client.condition(network, self.index as u64 ^ assignment.room_id);
        }
        let mut stats = MatchStats::default();
        let mut brain = B::new(self.index as u64 ^ assignment.room_id);
        let mut welcomed = false;
        let mut tick_interval = FRAME;
        let mut last_snapshot_at: Option<Instant> = None;
        // Inputs sent and not yet acknowledged by a snapshot, oldest first.
        let mut unacked = std::collections::VecDeque::new();
        let mut frame = tokio::time::interval(FRAME);
        frame.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let started = Instant::now();
        // When the current connection attempt began (the assignment, or a migration).
        let mut connecting_since = started;
        // Snapshots stopped (the match moving, or rejoined elsewhere), until the first after.
        let mut gap: Option<Gap> = None;
        let mut newest_tick = 0u32;
        let mut last = started;
        let mut connected_at = None;
        let mut next_rtt_sample = started + Duration::from_secs(2);
        // A room that goes silent may be on a node that died: then the ticket shows the room
        // resumed elsewhere (the bot rejoins it) or is back in the queue (the bot follows it),
        // rather than waiting for the connection to time out.
        let mut heard_at = started;
        let mut next_ticket_check = started;
        let outcome = loop {
            frame.tick().await;
            let now = Instant::now();
            if let Err(e) = client.update(now - last) {
                tracing::warn!(bot = self.index, error = %e, "socket error");
                break Outcome::Error("socket");
            }
            last = now;
            let mut ended = false;
            let mut failed = false;
            while let Some(event) = client.poll_event() {
                match event {
                    ServerEvent::Welcome {
                        entity_id,
                        team,
                        game,
                        tick_rate,
                        ..
                    } => {
                        if !welcomed {
                            self.recorder.connected(now - started);
                        }
                        welcomed = true;
                        tick_interval = Duration::from_secs_f64(1.0 / f64::from(tick_rate.max(1)));
                        let period = frame_period(tick_interval);
                        if frame.period() != period {
                            frame = tokio::time::interval(period);
                            frame.set_missed_tick_behavior(MissedTickBehavior::Delay);
                        }
                        brain.welcome(&Welcome {
                            entity: entity_id,
                            team,
                            tick_rate,
                            game: &game,
                        });
                    }
                    ServerEvent::Game(event) => brain.event(&event, &mut stats),
                    ServerEvent::MatchEnded(results) => {
                        if results.reason == EndReason::Abandoned {
                            self.recorder.match_ended_early();
                        }
                        ended = true;
                    }
                    ServerEvent::Migrate { .. } => {
                        // The client reconnects by itself; the bot only measures the pause.
                        tracing::debug!(bot = self.index, "match moving to another node");
                        gap = Some(Gap::Migration {
                            since: last_snapshot_at.unwrap_or(now),
                        });
                        connecting_since = now;
                    }
                    ServerEvent::RoomFailed { reason } => {
                        tracing::info!(bot = self.index, %reason, "room failed; back to the queue");
                        failed = true;
                    }
                    ServerEvent::Error { code, .. } if code == "room_failed" => failed = true,
                    ServerEvent::Error { code, message } => {
                        tracing::warn!(bot = self.index, %code, %message, "room refused us");
                        self.recorder.error(&format!("room_{code}"));
                    }
                    _ => {}
                }
            }
            if ended {
                break Outcome::Completed;
            }
            if failed {
                break Outcome::RoomFailed;
            }
            match client.state() {
                ConnectionState::Connecting if now - connecting_since > CONNECT_TIMEOUT => {
                    break Outcome::Error("connect_timeout");
                }
                ConnectionState::Connecting => {}
                ConnectionState::Disconnected(cause) => {
                    tracing::warn!(
                        bot = self.index,
                        ?cause,
                        "disconnected before the match ended"
                    );
                    break Outcome::Unexpected;
                }
                ConnectionState::Connected => {
                    connected_at.get_or_insert(now);
                    if !welcomed && now - started > CONNECT_TIMEOUT {
                        break Outcome::Error("no_welcome");
                    }
                    if now >= next_rtt_sample {
                        self.recorder.rtt(client.rtt());
                        self.recorder.merge(&mut stats);
                        next_rtt_sample = now + Duration::from_secs(1);
                    }
                    if welcomed {
                        if let Some(snapshot) = client.take_new_snapshot() {
                            heard_at = now;
                            match gap.take() {
                                Some(Gap::Migration { since }) => {
                                    self.recorder.migrated(assignment.room_id, now - since);
                                    // The gap is the migration's, not jitter.
                                    last_snapshot_at = None;
                                    brain.resumed(Resumed::Moved);
                                }
                                Some(Gap::Rejoin { since, last_tick }) => {
                                    // The room resumed from a copy: the ticks between it and
                                    // what this bot had seen are the play that was lost.
                                    self.recorder.rejoined(
                                        now - since,
                                        last_tick.saturating_sub(snapshot.tick),
                                    );
                                    last_snapshot_at = None;
                                    brain.resumed(Resumed::FromCopy);
                                }
                                None => {}
                            }
                            newest_tick = snapshot.tick;
                            if let Some(previous) = last_snapshot_at.replace(now) {
                                let gap = now - previous;
                                stats.snapshot_jitter(gap.abs_diff(tick_interval));
                            }
                            acknowledge(&mut unacked, snapshot.last_input_seq, now, &mut stats);
                            brain.snapshot(snapshot, &mut stats);
                        }
                        brain.act(&mut Play {
                            client: &mut client,
                            unacked: &mut unacked,
                            stats: &mut stats,
                            now,
                        });
                    }
                }
            }
            if now - heard_at > SILENCE && now >= next_ticket_check && client.is_connected() {
                next_ticket_check = now + SILENT_POLL;
                match self.mm.get_ticket(ticket, Duration::ZERO).await {
                    Ok(view) => match view.status {
                        // The same token: the room still stands where the bot last joined it.
                        TicketStatus::Assigned(a)
                            if a.room_id == assignment.room_id
                                && a.connect_token == assignment.connect_token => {}
                        TicketStatus::Assigned(a) if a.room_id == assignment.room_id => {
                            tracing::info!(bot = self.index, addr = %a.server_addr, "match resumed on another node; rejoining");
                            if let Err(e) = client.rejoin(&a) {
                                tracing::warn!(bot = self.index, error = %e, "could not rejoin");
                                break Outcome::Error("rejoin");
                            }
                            *assignment = a;
                            gap = Some(Gap::Rejoin {
                                since: last_snapshot_at.unwrap_or(now),
                                last_tick: newest_tick,
                            });
                            connecting_since = now;
                        }
                        _ => break Outcome::RoomFailed,
                    },
                    Err(e) => {
                        tracing::warn!(bot = self.index, error = %e, "checking a silent room's ticket failed")
                    }
                }
            }
            if now >= hard_stop {
                client.leave();
                break Outcome::Error("match_overran_run");
            }
            if welcomed && self.control.take_churn(self.index) {
                // Say goodbye reliably: a few more frames for the event to get through.
                client.leave();
                for _ in 0..3 {
                    let _ = client.flush();
                    frame.tick().await;
                    let _ = client.update(frame.period());
                }
                break Outcome::Left;
            }
            if let Err(e) = client.flush() {
                tracing::warn!(bot = self.index, error = %e, "send failed");
                break Outcome::Error("socket");
            }
        };
        client.disconnect();
        self.recorder.merge(&mut stats);
        let traffic = client.stats();
        let connected = connected_at.map_or(Duration::ZERO, |t| t.elapsed());
        self.recorder
            .traffic(traffic.bytes_received, traffic.bytes_sent, connected);
        match outcome {
            Outcome::Completed => {
                self.recorder.match_completed(assignment.room_id);
                return Played::Completed;
            }
            Outcome::RoomFailed => return Played::Requeued,
            Outcome::Left => return Played::Left,
            Outcome::Unexpected => self.recorder.unexpected_disconnect(),
            Outcome::Error(class) => self.recorder.error(class),
        }
        Played::Over
    }
}

/// The bot's frame for a room of this tick: the longest that divides the tick and is at most
/// [`FRAME`] (give or take 5 %: a 33.3 ms tick is one frame), so every snapshot is seen the
/// same number of frames after it was sent and the snapshot jitter measured is the network's,
/// not the beat of two clocks (a 33 ms frame against a 50 ms tick reads 17 ms of jitter on a
/// perfect link).
fn frame_period(tick: Duration) -> Duration {
    let frames_per_tick = tick.as_secs_f64() / FRAME.as_secs_f64();
    tick.div_f64((frames_per_tick - 0.05).ceil().max(1.0))
}

enum Outcome {
    Completed,
    RoomFailed,
    Left,
    Unexpected,
    Error(&'static str),
}

/// How a match attempt ended, for the bot's loop.
#[derive(Debug, PartialEq, Eq)]
enum Played {
    /// Played to the end.
    Completed,
    /// Failed in a way already recorded.
    Over,
    /// The room failed and the ticket is back in the queue.
    Requeued,
    /// Left the match on purpose (churn).
    Left,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_divides_the_tick_and_is_at_most_33_ms() {
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        // 30 Hz: one frame a tick; 20 Hz: two of 25 ms; 10 Hz: three of 33.33 ms; 60 Hz: one.
        assert_eq!(ms(frame_period(Duration::from_secs_f64(1.0 / 30.0))), 33.33);
        assert_eq!(ms(frame_period(Duration::from_millis(50))), 25.0);
        assert_eq!(ms(frame_period(Duration::from_millis(100))), 33.33);
        assert_eq!(ms(frame_period(Duration::from_secs_f64(1.0 / 60.0))), 16.67);
    }
}
