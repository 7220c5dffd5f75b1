//! A 100 MB answer against a 16 MiB cap: refused, and the heap never holds
//! the body. Its own test binary, because it counts every allocation.

use axum::body::Body;
use phala_cloud::{Client, Error, RetryPolicy};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const CAP: usize = 16 * 1024 * 1024;
const SENT: usize = 100 * 1024 * 1024;

#[tokio::test]
async fn a_hundred_megabytes_never_reach_the_heap() {
    let app = axum::Router::new().fallback(|| async {
        let chunk = vec![b' '; 64 * 1024];
        Body::from_stream(futures::stream::iter(
            (0..SENT / chunk.len()).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
        ))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::builder()
        .base_url(base)
        .api_key("k")
        .max_body_bytes(CAP)
        .retry_policy(RetryPolicy::none())
        .build()
        .unwrap();
    let before = counting_alloc::start();
    let result = client.list_cvms(&Default::default()).await;
    let peak = counting_alloc::peak_since(before);
    assert!(matches!(result, Err(Error::BodyTooLarge { limit: CAP })), "{result:?}");
    // The body may grow to the cap (plus the copy while it grows), never to what was sent.
    assert!(peak < 2 * CAP + 4 * 1024 * 1024, "peak heap {peak} bytes");
    println!("peak heap while refusing {SENT} bytes with a {CAP}-byte cap: {peak} bytes");
}
