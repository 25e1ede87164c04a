//! Abuse of the HTTP API of a running embedded server: ticket floods from one address,
//! malformed and oversized bodies, guessed ticket ids.

mod support;

use std::collections::HashSet;

use arena::ArenaGame;
use server::EmbeddedServer;

async fn start(rate: &str) -> EmbeddedServer<ArenaGame> {
    support::embedded(&[
        "--ticket-rate-per-ip",
        rate,
        // No matches: every ticket stays queued.
        "--players-per-match",
        "100",
    ])
    .await
}

async fn post_json(http: &reqwest::Client, url: &str, body: String) -> reqwest::Response {
    http.post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_flood_the_queue_and_bad_bodies_get_a_clear_4xx() {
    let server = start("2").await;
    let http = reqwest::Client::new();
    let tickets = format!("{}/v1/tickets", server.url());
    let post = |body: String| post_json(&http, &tickets, body);

    // Two a second, in bursts of twenty: of 40 at once, about 20 get in.
    let mut ids = HashSet::new();
    let mut limited = 0;
    for i in 0..40 {
        let response = post(format!(r#"{{"mode":"arena","player_id":"p{i}"}}"#)).await;
        match response.status().as_u16() {
            201 => {
                let view: serde_json::Value = response.json().await.unwrap();
                ids.insert(view["id"].as_str().unwrap().to_string());
            }
            429 => {
                assert!(response.headers().contains_key("retry-after"));
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "rate_limited", "{body}");
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!((20..=22).contains(&ids.len()), "{} created", ids.len());
    assert_eq!(ids.len() + limited, 40);
    // Ticket ids: 128 random bits, never repeated.
    assert!(
        ids.iter()
            .all(|id| id.len() == 32 && u128::from_str_radix(id, 16).is_ok())
    );

    // Once the allowance refills, the same address is served again.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = post(r#"{"mode":"arena"}"#.into()).await;
    assert_eq!(again.status(), 201);

    // Malformed JSON: a 4xx that says what is wrong (rate limiting off for these).
    let server = start("0").await;
    let tickets = format!("{}/v1/tickets", server.url());
    let post = |body: String| post_json(&http, &tickets, body);
    for (body, status, says) in [
        ("{".to_string(), 400, "EOF"),
        (r#"{"mode": 5}"#.to_string(), 422, "mode"),
        (
            r#"{"mode":"arena","skill":"NaN"}"#.to_string(),
            422,
            "skill",
        ),
        (
            r#"{"mode":"arena","skill":1e400}"#.to_string(),
            400,
            "number",
        ),
        (
            format!(r#"{{"mode":"{}"}}"#, "a".repeat(20_000)),
            413,
            "length limit",
        ),
    ] {
        let response = post(body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{body:.60}");
        let text = response.text().await.unwrap();
        assert!(text.contains(says), "{body:.60}: {text}");
    }
    // A guessed ticket id: not found; a malformed one: refused as such.
    let guess = http
        .get(format!("{tickets}/{:032x}", 12345u128))
        .send()
        .await
        .unwrap();
    assert_eq!(guess.status(), 404);
    let junk = http
        .get(format!("{tickets}/../../etc"))
        .send()
        .await
        .unwrap();
    assert!(junk.status().is_client_error());
}
