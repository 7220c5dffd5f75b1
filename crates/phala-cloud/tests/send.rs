//! Every future and stream the client hands out can move to another task.

use std::time::Duration;

use phala_cloud::{Client, WatchOptions};

fn assert_send<T: Send + 'static>(_: T) {}

#[test]
fn futures_are_send() {
    let client = Client::builder()
        .base_url("http://127.0.0.1:1")
        .api_key("k")
        .build()
        .unwrap();
    let c = client.clone();
    assert_send(async move { c.status_many(vec!["a".to_string()]).await });
    let c = client.clone();
    assert_send(async move { c.stop_many(vec!["a".to_string()]).await });
    let c = client.clone();
    assert_send(async move { c.list_cvms(&Default::default()).await });
    let c = client.clone();
    assert_send(async move {
        c.wait_for_state("a", phala_cloud::KnownStatus::Running, Duration::from_secs(1))
            .await
    });
    let c = client.clone();
    assert_send(async move {
        c.wait_all(
            vec!["a".to_string()],
            phala_cloud::KnownStatus::Running,
            Duration::from_secs(1),
            Default::default(),
            |_| {},
        )
        .await
    });
    let c = client.clone();
    assert_send(async move {
        c.stop_and_wait(["cvm_a"], Duration::from_secs(1), Default::default(), |_| {})
            .await
    });
    assert_send(client.watch_state("a", phala_cloud::KnownStatus::Running, WatchOptions::default()));
}
