//! A recognisable API key goes through every method, with faults injected so
//! that retries, reconnects and failures are logged at TRACE and every error
//! is rendered; the key must appear nowhere.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use phala_cloud::{Client, ListFilter, RetryPolicy, WaitAllOptions, WatchOptions};
use phala_cloud_sim::{Faults, Simulator};

const CANARY: &str = "phak_CANARY_7f3a_do_not_print";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn builder(base: &str, key: &str) -> phala_cloud::ClientBuilder {
    Client::builder().base_url(base).api_key(key).retry_policy(
        RetryPolicy::default()
            .with_max_attempts(5)
            .with_base_delay(Duration::from_millis(2))
            .with_max_delay(Duration::from_millis(10)),
    )
}

/// A server that accepts connections and never answers: any request to it
/// times out, whatever the timer's granularity or the machine's load.
async fn holding_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            held.push(conn);
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn the_api_key_never_reaches_logs_errors_or_debug() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .finish();
    // The test runs on one thread, so the simulator's and reqwest's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let sim = Simulator::builder()
        .cvms(60)
        .seed(9)
        .time_scale(200.0)
        .api_key(CANARY)
        .start()
        .await
        .unwrap();
    sim.set_faults(
        Faults::default()
            .with_server_errors(0.2)
            .with_rate_limits(0.1)
            .with_drops(0.1)
            .with_truncation(0.1)
            .with_sse_drops(0.5),
    );
    let client = builder(sim.base_url(), CANARY).build().unwrap();
    let cvms: Vec<(String, String)> = sim
        .cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace)
        .map(|c| (c.id, c.vm_uuid))
        .collect();
    let ids: Vec<&String> = cvms.iter().map(|(id, _)| id).collect();
    let uuids: Vec<&String> = cvms.iter().map(|(_, u)| u).collect();

    let mut rendered = vec![format!("{client:?}"), format!("{:?}", builder(sim.base_url(), CANARY))];
    let mut show = |what: &str, text: String| rendered.push(format!("{what}: {text}"));
    show("status_many", format!("{:?}", client.status_many(&uuids).await));
    show("cvm_state", format!("{:?}", client.cvm_state(ids[0]).await));
    show(
        "list_cvms",
        format!("{:?}", client.list_cvms(&Default::default()).await),
    );
    show(
        "list_cvms (admin filter)",
        format!("{:?}", client.list_cvms(&ListFilter::default().user_id("0")).await),
    );
    show("app_cvms", format!("{:?}", client.app_cvms("ffff").await));
    let watched: Vec<_> = client
        .watch_state(
            ids[1],
            phala_cloud::KnownStatus::Stopped,
            WatchOptions::default().deadline(Duration::from_secs(2)),
        )
        .collect()
        .await;
    show("watch_state", format!("{watched:?}"));
    show(
        "wait_for_state",
        format!(
            "{:?}",
            client
                .wait_for_state(ids[2], phala_cloud::KnownStatus::Running, Duration::from_millis(300))
                .await
        ),
    );
    show("stop_many", format!("{:?}", client.stop_many(&ids[..10]).await));
    let pairs: Vec<(String, String)> = cvms[10..20].to_vec();
    let opts = WaitAllOptions::default().interval(Duration::from_millis(20));
    show(
        "stop_and_wait",
        format!(
            "{:?}",
            client
                .stop_and_wait(
                    pairs.iter().map(|(id, _)| id),
                    Duration::from_secs(5),
                    opts.clone(),
                    |_| {}
                )
                .await
        ),
    );
    show(
        "wait_all",
        format!(
            "{:?}",
            client
                .wait_all(
                    &uuids,
                    phala_cloud::KnownStatus::Stopped,
                    Duration::from_millis(200),
                    opts,
                    |_| {}
                )
                .await
        ),
    );
    show(
        "raw client, event stream",
        format!(
            "{:?}",
            client
                .raw()
                .get_cvm_state()
                .cvm_id(ids[0].as_str())
                .send()
                .await
                .map(|answer| (answer.status(), answer.headers().clone()))
        ),
    );
    show(
        "raw client",
        format!(
            "{:?}",
            client
                .raw()
                .batch_cvm_status()
                .body(phala_cloud::raw::types::BatchStatusRequest {
                    vm_uuids: uuids.iter().map(|u| u.to_string()).collect()
                })
                .send()
                .await
        ),
    );
    // Errors of every kind, rendered both ways. The timeout comes from a
    // server that accepts and never answers, not from a race with a timer.
    let held = holding_server().await;
    let wrong_key = builder(sim.base_url(), "phak_CANARY_7f3a_wrong").build().unwrap();
    for e in [
        wrong_key.cvm_state(ids[0]).await.unwrap_err(),
        builder("http://127.0.0.1:9", CANARY)
            .build()
            .unwrap()
            .status_many(["u"])
            .await
            .unwrap_err(),
        builder(&held, CANARY)
            .request_timeout(Duration::from_millis(50))
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap()
            .cvm_state(ids[0])
            .await
            .unwrap_err(),
        builder("https://user:phak_CANARY_7f3a@example.com", CANARY)
            .build()
            .unwrap_err(),
        builder(sim.base_url(), "phak_CANARY_7f3a\n").build().unwrap_err(),
    ] {
        show("error", format!("{e} / {e:?}"));
    }

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("retrying") && logs.contains("TRACE"),
        "TRACE logs were captured"
    );
    assert!(sim.stats().faults.values().sum::<u64>() > 5, "faults were injected");
    for text in rendered.iter().chain([&logs]) {
        assert!(!text.contains("CANARY"), "key leaked: {text}");
    }
}
