//! The retry deadline bounds every call, batch and fleet calls included:
//! servers on loopback hold their answers (a slowloris body, or no answer at
//! all), and each call ends by its deadline with an error that says so.
//! Bounds are wide (seconds for a deadline of one), so no test races a timer.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use phala_cloud::{Client, Error, RetryPolicy};

/// How a held request is answered.
#[derive(Clone, Copy)]
enum Hold {
    /// Headers at once, then one byte of JSON whitespace every 200 ms, forever.
    Slowloris,
    /// Nothing at all, ever.
    Silence,
}

/// A server that answers the first `refusals` requests 503, then holds
/// every later one; counts the requests it saw.
async fn holding_server(refusals: usize, hold: Hold) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let app = axum::Router::new().fallback(move || {
        let n = count.fetch_add(1, Ordering::SeqCst);
        async move {
            if n < refusals {
                return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
            }
            match hold {
                Hold::Slowloris => slowloris(),
                Hold::Silence => std::future::pending().await,
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, seen)
}

fn slowloris() -> Response {
    let bytes = futures::stream::unfold(true, |first| async move {
        if !first {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Some((
            Ok::<_, Infallible>(Bytes::from_static(if first { b"[" } else { b" " })),
            false,
        ))
    });
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(bytes))
        .unwrap()
}

/// A client whose requests may take a minute each, under a short deadline.
fn client(base: &str, deadline: Duration) -> Client {
    Client::builder()
        .base_url(base)
        .api_key("k")
        .request_timeout(Duration::from_secs(60))
        .retry_policy(
            RetryPolicy::default()
                .with_base_delay(Duration::from_millis(10))
                .with_deadline(deadline),
        )
        .build()
        .unwrap()
}

const DEADLINE: Duration = Duration::from_millis(1500);
/// Far more than the deadline plus any scheduling noise, far less than one
/// request timeout: a call that ends before this ended by its deadline.
const WELL_BEFORE_A_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_read_against_a_slowloris_body_ends_by_its_deadline() {
    let (base, seen) = holding_server(2, Hold::Slowloris).await;
    let started = Instant::now();
    let err = client(&base, DEADLINE).cvm_state("cvm_1").await.unwrap_err();
    let took = started.elapsed();
    assert!(
        took >= DEADLINE && took < WELL_BEFORE_A_REQUEST_TIMEOUT,
        "took {took:?}"
    );
    assert_eq!(seen.load(Ordering::SeqCst), 3, "two refusals, then the held attempt");
    match &err {
        Error::GaveUp {
            attempts,
            elapsed,
            per_attempt,
            last,
        } => {
            assert_eq!((*attempts, *per_attempt), (3, Duration::from_secs(60)));
            assert!(*elapsed >= DEADLINE && *elapsed <= took, "{elapsed:?}");
            // The held attempt was cut at what was left, not at its minute.
            assert!(matches!(**last, Error::Timeout(d) if d < DEADLINE), "{last:?}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
    assert!(err.is_timeout());
    let message = err.to_string();
    assert!(message.starts_with("timed out: 3 attempts over "), "{message}");
    assert!(message.ends_with(" (each at most 60 s)"), "{message}");
}

#[tokio::test]
async fn batch_stop_reports_every_id_when_the_deadline_cuts_its_chunks() {
    let (base, seen) = holding_server(0, Hold::Silence).await;
    let ids: Vec<String> = (0..120).map(|i| format!("cvm_{i}")).collect();
    let started = Instant::now();
    let report = client(&base, DEADLINE).stop_many(&ids).await;
    assert!(started.elapsed() < WELL_BEFORE_A_REQUEST_TIMEOUT);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        3,
        "three chunks of at most 50, none retried"
    );
    assert!(report.is_consistent(), "{report:?}");
    assert_eq!((report.total, report.stopped, report.skipped), (120, 0, 0));
    assert_eq!(report.failed.len(), 120);
    let mut failed: Vec<&str> = report.failed.iter().map(|f| f.cvm_id.as_str()).collect();
    failed.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(failed, expected);
    for f in &report.failed {
        // The error itself, typed as a single call's: a timeout, retries spent.
        assert!(
            f.error.to_string().starts_with("timed out: 1 attempt over "),
            "{}",
            f.error
        );
        assert!(f.error.is_timeout() && !f.error.is_retryable(), "{:?}", f.error);
        assert!(f.error.last_attempt().is_retryable(), "{:?}", f.error);
    }
}

#[tokio::test]
async fn fleet_actions_report_every_id_when_the_deadline_cuts_them() {
    let (base, seen) = holding_server(0, Hold::Slowloris).await;
    let ids: Vec<String> = (0..5).map(|i| format!("cvm_{i}")).collect();
    let started = Instant::now();
    let report = client(&base, DEADLINE).start_many(&ids).await;
    assert!(started.elapsed() < WELL_BEFORE_A_REQUEST_TIMEOUT);
    assert_eq!(seen.load(Ordering::SeqCst), 5);
    assert!(report.is_consistent() && report.done.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 5);
    for f in &report.failed {
        assert!(f.error.to_string().starts_with("timed out: "), "{}", f.error);
        assert!(f.error.is_timeout(), "{:?}", f.error);
        // The request was sent and never answered: it may have been applied.
        assert!(f.may_have_applied, "{f:?}");
    }
}

#[tokio::test]
async fn status_of_many_fails_by_the_deadline_of_the_whole_call() {
    let (base, _) = holding_server(0, Hold::Silence).await;
    let ids: Vec<String> = (0..250)
        .map(|i| format!("{i:08}-0000-0000-0000-000000000000"))
        .collect();
    let started = Instant::now();
    let err = client(&base, DEADLINE).status_many(&ids).await.unwrap_err();
    assert!(started.elapsed() < WELL_BEFORE_A_REQUEST_TIMEOUT);
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().starts_with("timed out: "), "{err}");
}
