//! Errors the matchmaker returns to its callers, and how each maps onto HTTP.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use protocol::api::{ErrorBody, ErrorDetail, TicketView};

use crate::store::StoreError;

/// Why a matchmaker request failed.
#[derive(Debug, thiserror::Error)]
pub enum MatchmakerError {
    /// The request is malformed or out of range; the text says which field.
    #[error("{0}")]
    InvalidRequest(String),
    /// The mode is not one the matchmaker knows.
    #[error("unknown mode {mode:?}; known modes: {known:?}")]
    UnknownMode {
        /// The mode asked for.
        mode: String,
        /// The modes on offer.
        known: Vec<String>,
    },
    /// The ticket id is not 32 hex digits.
    #[error("ticket id must be 32 hex digits")]
    BadTicketId,
    /// No such ticket (never existed, or finished long ago and was forgotten).
    #[error("no such ticket")]
    TicketNotFound,
    /// No finished match is kept for that room (it is still playing, never was, or its record
    /// is gone).
    #[error("no results for room {0}: the match has not ended, or its record is no longer kept")]
    MatchNotFound(u64),
    /// The ticket is already matched or finished.
    #[error("ticket can no longer be cancelled (it is {})", state_name(.0))]
    NotCancellable(Box<TicketView>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn state_name(view: &TicketView) -> &'static str {
    use protocol::api::TicketStatus::*;
    match view.status {
        Queued => "queued",
        Matched => "matched",
        Assigned(_) => "assigned",
        Cancelled => "cancelled",
        NoMatch => "no_match",
    }
}

impl MatchmakerError {
    /// HTTP status and stable error code.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::UnknownMode { .. } => (StatusCode::BAD_REQUEST, "unknown_mode"),
            Self::BadTicketId => (StatusCode::BAD_REQUEST, "invalid_ticket_id"),
            Self::TicketNotFound => (StatusCode::NOT_FOUND, "ticket_not_found"),
            Self::MatchNotFound(_) => (StatusCode::NOT_FOUND, "match_not_found"),
            Self::NotCancellable(_) => (StatusCode::CONFLICT, "ticket_not_cancellable"),
            Self::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable"),
        }
    }
}

/// An error response with the standard JSON body.
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.into(),
            message: message.into(),
        },
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for MatchmakerError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        error_response(status, code, self.to_string())
    }
}
