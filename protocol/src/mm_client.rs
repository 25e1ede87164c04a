//! [`MatchmakerClient`]: queue a player over the `/v1` HTTP API and wait for a room.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use crate::api::{
    Assignment, CreateTicketRequest, ErrorBody, FaultRequest, Health, MatchRecord, RoomSummary,
    TicketStatus, TicketView,
};

/// Longest single long-poll the client asks for; the server caps it too.
const LONG_POLL: Duration = Duration::from_secs(20);

/// Why a matchmaker call failed.
#[derive(Debug, thiserror::Error)]
pub enum MatchmakerError {
    /// The request did not complete (connection refused, timeout, bad body).
    #[error("matchmaker request failed: {0}")]
    Transport(String),
    /// The matchmaker answered with an error.
    #[error("matchmaker refused ({status} {code}): {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The error code from the body.
        code: String,
        /// The error message from the body.
        message: String,
    },
    /// The ticket ended without an assignment (cancelled, or no match in time).
    #[error("ticket ended without a match: {0:?}")]
    NotAssigned(TicketStatus),
    /// No assignment arrived within the caller's timeout.
    #[error("no assignment within {0:?}")]
    Timeout(Duration),
}

impl From<reqwest::Error> for MatchmakerError {
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e.to_string())
    }
}

impl MatchmakerError {
    /// Whether asking again (there or at another instance) may succeed: the matchmaker could
    /// not be reached, said it is unavailable, or asked this client to slow down (429).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Pause between attempts while every matchmaker is unreachable or unavailable.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// A client of the matchmaker's HTTP API. Given several matchmaker instances (they share their
/// state), it moves to the next one when the current one cannot be reached.
#[derive(Debug, Clone)]
pub struct MatchmakerClient {
    http: reqwest::Client,
    bases: Arc<[String]>,
    current: Arc<AtomicUsize>,
}

impl MatchmakerClient {
    /// A client for the matchmaker at `base_url`, e.g. `http://127.0.0.1:7350`, or for several
    /// instances given as a comma-separated list.
    pub fn new(base_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(LONG_POLL + Duration::from_secs(10))
            .build()
            .expect("a client with only a timeout set always builds");
        let bases: Vec<String> = base_url
            .split(',')
            .map(|b| b.trim().trim_end_matches('/').to_string())
            .filter(|b| !b.is_empty())
            .collect();
        Self {
            http,
            bases: bases.into(),
            current: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Sends a request to the current instance; if it cannot be reached, tries each other
    /// instance once. A request that reached an instance is never sent twice.
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, MatchmakerError> {
        let start = self.current.load(Ordering::Relaxed);
        let n = self.bases.len().max(1);
        let mut last = None;
        for i in 0..n {
            let at = (start + i) % n;
            match build(self.bases.get(at).map_or("", |b| b.as_str()))
                .send()
                .await
            {
                Ok(response) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(response);
                }
                // Only a failed connection proves the request never arrived.
                Err(e) if e.is_connect() => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(
            || MatchmakerError::Transport("no matchmaker address".into()),
            Into::into,
        ))
    }

    /// Queues a player: `POST /v1/tickets`.
    pub async fn create_ticket(
        &self,
        request: &CreateTicketRequest,
    ) -> Result<TicketView, MatchmakerError> {
        let response = self
            .send(|base| self.http.post(format!("{base}/v1/tickets")).json(request))
            .await?;
        parse(response).await
    }

    /// Queues a player and waits for a room in the same request (`POST /v1/tickets?wait_ms=N`),
    /// then long-polls if needed, until assigned or `timeout`. Returns the ticket id and the
    /// assignment.
    pub async fn queue(
        &self,
        request: &CreateTicketRequest,
        timeout: Duration,
    ) -> Result<(String, Assignment), MatchmakerError> {
        let wait_ms = timeout.min(LONG_POLL).as_millis();
        let response = self
            .send(|base| {
                self.http
                    .post(format!("{base}/v1/tickets?wait_ms={wait_ms}"))
                    .json(request)
            })
            .await?;
        let view: TicketView = parse(response).await?;
        match view.status {
            TicketStatus::Assigned(assignment) => Ok((view.id, assignment)),
            status if status.is_terminal() => Err(MatchmakerError::NotAssigned(status)),
            _ => {
                let assignment = self.wait_for_assignment(&view.id, timeout).await?;
                Ok((view.id, assignment))
            }
        }
    }

    /// Reads a ticket, waiting up to `wait` for it to change from queued or matched:
    /// `GET /v1/tickets/{id}?wait_ms=N`.
    pub async fn get_ticket(
        &self,
        id: &str,
        wait: Duration,
    ) -> Result<TicketView, MatchmakerError> {
        let wait_ms = wait.min(LONG_POLL).as_millis();
        let response = self
            .send(|base| {
                self.http
                    .get(format!("{base}/v1/tickets/{id}?wait_ms={wait_ms}"))
            })
            .await?;
        parse(response).await
    }

    /// Long-polls until the ticket is assigned, ends otherwise, or `timeout` passes. While no
    /// matchmaker can answer (restarting, or its store is down), it keeps asking.
    pub async fn wait_for_assignment(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<Assignment, MatchmakerError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(MatchmakerError::Timeout(timeout));
            }
            let view = match self.get_ticket(id, left).await {
                Ok(view) => view,
                Err(e) if e.is_transient() => {
                    tokio::time::sleep(RETRY_PAUSE.min(left)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            match view.status {
                TicketStatus::Assigned(assignment) => return Ok(assignment),
                status if status.is_terminal() => return Err(MatchmakerError::NotAssigned(status)),
                _ => {}
            }
        }
    }

    /// Long-polls until the ticket's assignment is no longer `previous`: another room (that
    /// room failed and the ticket went back to the queue), or the same room at another
    /// address (its node died and the room resumed elsewhere; see [`GameClient::rejoin`]).
    ///
    /// [`GameClient::rejoin`]: crate::GameClient::rejoin
    pub async fn wait_for_new_room(
        &self,
        id: &str,
        previous: &Assignment,
        timeout: Duration,
    ) -> Result<Assignment, MatchmakerError> {
        let (previous_room, previous_addr) = (previous.room_id, &previous.server_addr);
        let deadline = Instant::now() + timeout;
        loop {
            let assignment = self
                .wait_for_assignment(id, deadline.saturating_duration_since(Instant::now()))
                .await?;
            if assignment.room_id != previous_room {
                return Ok(assignment);
            }
            if &assignment.server_addr != previous_addr {
                // The same room, resumed on another node after its own died.
                return Ok(assignment);
            }
            // The old assignment is still showing: the requeue has not landed yet.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The results of the match room `room_id` played, once it ended (`GET
    /// /v1/matches/{room_id}`; a match still playing is a 404 `match_not_found`).
    pub async fn match_results(&self, room_id: u64) -> Result<MatchRecord, MatchmakerError> {
        let response = self
            .send(|base| self.http.get(format!("{base}/v1/matches/{room_id}")))
            .await?;
        parse(response).await
    }

    /// The node's liveness and load: `GET /v1/health`.
    pub async fn health(&self) -> Result<Health, MatchmakerError> {
        let response = self
            .send(|base| self.http.get(format!("{base}/v1/health")))
            .await?;
        parse(response).await
    }

    /// The rooms of the node serving this API: `GET /v1/rooms`.
    pub async fn rooms(&self) -> Result<Vec<RoomSummary>, MatchmakerError> {
        let response = self
            .send(|base| self.http.get(format!("{base}/v1/rooms")))
            .await?;
        parse(response).await
    }

    /// Injects a fault into a room (`POST /v1/admin/rooms/{id}/fault`); needs the server's
    /// admin token and fault injection enabled.
    pub async fn inject_fault(
        &self,
        admin_token: &str,
        room_id: u64,
        fault: &FaultRequest,
    ) -> Result<(), MatchmakerError> {
        let response = self
            .send(|base| {
                self.http
                    .post(format!("{base}/v1/admin/rooms/{room_id}/fault"))
                    .bearer_auth(admin_token)
                    .json(fault)
            })
            .await?;
        parse::<serde_json::Value>(response).await.map(|_| ())
    }

    /// Cancels a queued ticket: `DELETE /v1/tickets/{id}`. A ticket already assigned cannot be
    /// cancelled (409).
    pub async fn cancel(&self, id: &str) -> Result<TicketView, MatchmakerError> {
        let response = self
            .send(|base| self.http.delete(format!("{base}/v1/tickets/{id}")))
            .await?;
        parse(response).await
    }
}

async fn parse<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, MatchmakerError> {
    let status = response.status();
    let bytes = response.bytes().await?;
    if status.is_success() {
        return serde_json::from_slice(&bytes)
            .map_err(|e| MatchmakerError::Transport(format!("bad response body: {e}")));
    }
    match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => Err(MatchmakerError::Api {
            status: status.as_u16(),
            code: body.error.code,
            message: body.error.message,
        }),
        Err(_) => Err(MatchmakerError::Api {
            status: status.as_u16(),
            code: "http".into(),
            message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
        }),
    }
}
