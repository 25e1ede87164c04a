//! Per-IP limits on ticket creation: one address cannot fill the queue or keep the matchmaker
//! busy. A keyed GCRA limiter (`governor`): each address may create `per_second` tickets a
//! second on average, in bursts of up to ten seconds' worth (a whole party or a LAN café
//! queueing at once).

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use crate::error::error_response;

/// The limiter; cheap to clone.
#[derive(Clone)]
pub(crate) struct TicketRateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

impl TicketRateLimit {
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let burst = per_second.saturating_mul(NonZeroU32::new(10).expect("10 is not zero"));
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            )),
            checks: Arc::default(),
        }
    }

    /// `Err(wait)` when `ip` is over its allowance.
    fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        // Forget addresses whose allowance has refilled, now and then, so the table stays
        // the size of the recent callers.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(&ip).map_err(|not_until| {
            not_until.wait_time_from(governor::clock::DefaultClock::default().now())
        })
    }
}

/// Middleware for the ticket-creation route. Requests without a peer address (served without
/// connect info, as in-process tests are) are not limited.
pub(crate) async fn limit_tickets(
    State(limit): State<TicketRateLimit>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(ip) = peer
        && let Err(wait) = limit.check(ip)
    {
        let seconds = wait.as_secs() + 1;
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many tickets from {ip}; retry in {seconds} s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    next.run(request).await
}
