//! The CVMs' logs over real HTTP, fetched as Phala's CLI fetches them: the
//! URLs of the CVM's `syslog_endpoint` and its containers' `log_endpoint`,
//! with query flags and no header at all.

use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use phala_cloud_sim::{CvmInfo, Faults, SimHandle, Simulator};
use reqwest::StatusCode;
use serde_json::Value;

/// 100 virtual seconds a second: a container prints a line every 50 ms.
async fn sim(seed: u64) -> SimHandle {
    Simulator::builder()
        .cvms(24)
        .apps(4)
        .seed(seed)
        .time_scale(100.0)
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    phala_cloud_api::install_crypto_provider();
    reqwest::Client::new()
}

/// The `n`th idle CVM of the main workspace in `status`.
fn idle(sim: &SimHandle, status: &str, n: usize) -> CvmInfo {
    sim.cvms()
        .into_iter()
        .filter(|c| c.in_main_workspace && c.status == status && !c.in_progress)
        .nth(n)
        .unwrap()
}

async fn api(sim: &SimHandle, path: &str, version: &str) -> Value {
    let resp = http()
        .get(format!("{}/api/v1{path}", sim.base_url()))
        .header("X-API-Key", sim.api_key())
        .header("X-Phala-Version", version)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn lifecycle(sim: &SimHandle, id: &str, call: &str) {
    let url = format!("{}/api/v1/cvms/{id}/{call}", sim.base_url());
    let resp = http()
        .post(url)
        .header("X-API-Key", sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{call}");
}

/// The CVM's `syslog_endpoint`, as the CLI reads it (at 2025-10-28).
async fn syslog_endpoint(sim: &SimHandle, id: &str) -> String {
    let detail = api(sim, &format!("/cvms/{id}"), "2025-10-28").await;
    detail["syslog_endpoint"].as_str().unwrap().to_string()
}

/// Each container's name and `log_endpoint`, from the composition.
async fn log_endpoints(sim: &SimHandle, id: &str) -> Vec<(String, String)> {
    let composition = api(sim, &format!("/cvms/{id}/composition"), "2026-01-21").await;
    composition["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let name = c["names"][0].as_str().unwrap().trim_start_matches('/').to_string();
            (name, c["log_endpoint"].as_str().unwrap().to_string())
        })
        .collect()
}

/// A log URL fetched with no header, as the CLI does: status and body.
async fn fetch(url: &str) -> (StatusCode, Vec<u8>) {
    let resp = http().get(url).send().await.unwrap();
    (resp.status(), resp.bytes().await.unwrap().to_vec())
}

async fn text(url: &str) -> String {
    let (status, body) = fetch(url).await;
    assert_eq!(status, 200, "{url}: {}", String::from_utf8_lossy(&body));
    String::from_utf8(body).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A timestamped line's time and the rest.
fn stamped(line: &str) -> (DateTime<Utc>, &str) {
    let (at, rest) = line.split_once(' ').unwrap();
    (DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc), rest)
}

/// An open follow stream, read a line at a time as it arrives.
struct Follow {
    resp: reqwest::Response,
    buffer: Vec<u8>,
}

impl Follow {
    async fn open(url: &str) -> Self {
        let resp = http().get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        Self {
            resp,
            buffer: Vec::new(),
        }
    }

    /// The next line, or `None` when the stream ended; fails the test only
    /// if nothing at all comes for a long time.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(at) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=at).collect();
                return Some(String::from_utf8_lossy(&line[..at]).into_owned());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.resp.chunk())
                .await
                .expect("nothing arrived on the stream for 60 s")
                .unwrap();
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => return None,
            }
        }
    }
}

#[tokio::test]
async fn the_syslog_endpoint_serves_each_channel_as_plain_text() {
    let sim = sim(21).await;
    let cvm = idle(&sim, "running", 0);
    let syslog = syslog_endpoint(&sim, &cvm.id).await;
    assert!(
        syslog.starts_with(&format!("{}/logs/syslog?token=", sim.base_url())),
        "{syslog}"
    );
    // From 2026-01-21 the CVM's `logs` names each channel.
    let info = api(&sim, &format!("/cvms/{}", cvm.id), "2026-01-21").await;
    assert_eq!(info["logs"]["serial"], format!("{syslog}&ch=serial").as_str(), "{info}");
    assert_eq!(info["logs"]["stderr"], format!("{syslog}&ch=stderr").as_str(), "{info}");
    let serial = text(&format!("{syslog}&ch=serial&tail=all")).await;
    assert!(serial.contains("Linux version"), "{serial}");
    assert!(serial.contains(&format!("dstack.app_id={}", cvm.app_id)), "{serial}");
    assert!(
        serial.lines().all(|l| l.starts_with('[')),
        "console lines carry the kernel's uptime"
    );
    let default = text(&format!("{syslog}&tail=all")).await;
    assert_eq!(
        default.lines().next(),
        serial.lines().next(),
        "serial is the default channel"
    );
    let stdout = text(&format!("{syslog}&ch=stdout")).await;
    assert!(stdout.contains(&format!("VM {} started", cvm.vm_uuid)), "{stdout}");
    let stderr = text(&format!("{syslog}&ch=stderr")).await;
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(!stderr.contains("Linux version") && !stdout.contains("Linux version"));
    let stamped_lines = text(&format!("{syslog}&ch=serial&timestamps&tail=all")).await;
    let times: Vec<DateTime<Utc>> = stamped_lines.lines().map(|l| stamped(l).0).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert!(stamped_lines.lines().all(|l| stamped(l).1.starts_with('[')));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_containers_ndjson_decodes_to_its_text_lines() {
    let sim = sim(22).await;
    let cvm = idle(&sim, "running", 0);
    let endpoints = log_endpoints(&sim, &cvm.id).await;
    let (name, url) = &endpoints[0];
    assert!(
        url.starts_with(&format!("{}/logs/containers?token=", sim.base_url())),
        "{url}"
    );
    assert!(url.ends_with(&format!("&container={name}")), "{url}");
    // A fixed past (`until` the newest line's time) reads the same whatever comes next.
    let now = text(&format!("{url}&text&bare&ansi&timestamps&tail=1")).await;
    let until = stamped(now.trim_end()).0.to_rfc3339();
    let until = until.replace('+', "%2B");
    let plain = text(&format!("{url}&text&bare&ansi&tail=all&until={until}")).await;
    let ndjson = text(&format!("{url}&tail=all&until={until}")).await;
    let engine = base64::engine::general_purpose::STANDARD;
    let mut decoded = Vec::new();
    let mut channels = std::collections::BTreeSet::new();
    for line in ndjson.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        channels.insert(record["channel"].as_str().unwrap().to_string());
        let message = engine.decode(record["message"].as_str().unwrap()).unwrap();
        assert_eq!(message.last(), Some(&b'\n'), "a message is its line with the newline");
        decoded.extend(message);
    }
    assert_eq!(String::from_utf8(decoded).unwrap(), plain);
    assert_eq!(
        channels.into_iter().collect::<Vec<_>>(),
        ["stderr", "stdout"],
        "both channels, interleaved"
    );
    assert!(plain.lines().count() > 100, "{}", plain.lines().count());
    // `text` without `bare`: the same NDJSON, the message as text.
    let as_text = text(&format!("{url}&text&tail=all&until={until}")).await;
    let messages: String = as_text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(messages, plain);
    // `bare` without `text`: each line's base64, a line each.
    let bare = text(&format!("{url}&bare&tail=all&until={until}")).await;
    let lines: Vec<u8> = bare.lines().flat_map(|l| engine.decode(l).unwrap()).collect();
    assert_eq!(String::from_utf8(lines).unwrap(), plain);
    // Every container has its own log; the name may carry docker's `/`.
    for (name, url) in &endpoints {
        assert!(!text(&format!("{url}&text&bare")).await.is_empty(), "{name}");
    }
    let slashed = url.replace(&format!("container={name}"), &format!("container=%2F{name}"));
    assert_eq!(
        text(&format!("{slashed}&text&bare&tail=all&until={until}")).await,
        plain
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn tail_lines_since_and_until_select_lines() {
    let sim = sim(23).await;
    let cvm = idle(&sim, "running", 1);
    let (_, url) = log_endpoints(&sim, &cvm.id).await.remove(0);
    let newest = text(&format!("{url}&text&bare&ansi&timestamps&tail=1")).await;
    let until = stamped(newest.trim_end()).0;
    let fixed = format!(
        "{url}&text&bare&ansi&timestamps&until={}",
        until.to_rfc3339().replace('+', "%2B")
    );
    let all = text(&format!("{fixed}&tail=all")).await;
    let all: Vec<&str> = all.lines().collect();
    assert!(all.len() > 20);
    assert!(all.iter().all(|l| stamped(l).0 < until), "until is exclusive");
    // A container gives its last 1000 lines by default.
    assert_eq!(text(&fixed).await.lines().count(), all.len().min(1000));
    assert_eq!(
        text(&format!("{fixed}&tail=5")).await.lines().collect::<Vec<_>>(),
        all[all.len() - 5..]
    );
    // The CLI sends `lines` with `tail`; `lines` alone means the same.
    assert_eq!(
        text(&format!("{fixed}&lines=3")).await.lines().collect::<Vec<_>>(),
        all[all.len() - 3..]
    );
    assert_eq!(text(&format!("{fixed}&tail=0")).await, "");
    let since = stamped(all[all.len() - 10]).0;
    let window = text(&format!(
        "{fixed}&tail=all&since={}",
        since.to_rfc3339().replace('+', "%2B")
    ))
    .await;
    let first = all.iter().position(|l| stamped(l).0 >= since).unwrap();
    assert_eq!(window.lines().collect::<Vec<_>>(), all[first..], "since is inclusive");
    let unix = text(&format!("{fixed}&tail=all&since={}", since.timestamp())).await;
    assert!(unix.lines().count() >= window.lines().count());
    // Relative: the last simulated minute.
    let recent = text(&format!("{url}&text&bare&timestamps&tail=all&since=1m")).await;
    let times: Vec<DateTime<Utc>> = recent.lines().map(|l| stamped(l).0).collect();
    let last = *times.last().unwrap();
    assert!(
        times.iter().all(|t| last - *t <= chrono::Duration::seconds(60)),
        "{recent}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_follow_stream_gets_new_lines_and_ends_when_the_cvm_stops() {
    let sim = sim(24).await;
    let cvm = idle(&sim, "running", 0);
    let (_, url) = log_endpoints(&sim, &cvm.id).await.remove(0);
    let mut follow = Follow::open(&format!("{url}&follow&text&bare&ansi&timestamps&tail=1")).await;
    let first = follow.line().await.unwrap();
    let (before, _) = stamped(&first);
    // A line printed after the stream began arrives on it.
    loop {
        let line = follow.line().await.expect("the stream ended while the CVM runs");
        if stamped(&line).0 > before {
            break;
        }
    }
    lifecycle(&sim, &cvm.id, "stop").await;
    let mut rest = Vec::new();
    while let Some(line) = follow.line().await {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.ends_with("received SIGTERM, shutting down")),
        "the shutdown line ends it: {rest:?}"
    );
    // A stopped CVM's log is still there, and following it ends at once.
    let stopped = text(&format!("{url}&follow&text&bare&tail=3")).await;
    assert_eq!(stopped.lines().count(), 3);
    assert!(stopped.contains("received SIGTERM"), "{stopped}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_syslog_follow_ends_when_the_cvm_is_deleted_and_its_token_is_gone() {
    let sim = sim(25).await;
    let cvm = idle(&sim, "running", 0);
    let syslog = syslog_endpoint(&sim, &cvm.id).await;
    let mut follow = Follow::open(&format!("{syslog}&ch=serial&follow&tail=2")).await;
    assert!(follow.line().await.is_some());
    let gone = http()
        .delete(format!("{}/api/v1/cvms/{}", sim.base_url(), cvm.id))
        .header("X-API-Key", sim.api_key())
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 204);
    while follow.line().await.is_some() {}
    let (status, body) = fetch(&syslog).await;
    assert_eq!(status, 404);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["detail"]["error_code"], "ERR-03-001", "{body}");
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_log_queries_are_400_and_unknown_tokens_and_containers_404() {
    let sim = sim(26).await;
    let cvm = idle(&sim, "running", 0);
    let syslog = syslog_endpoint(&sim, &cvm.id).await;
    let (_, url) = log_endpoints(&sim, &cvm.id).await.remove(0);
    let error = |body: &[u8]| -> Value { serde_json::from_slice(body).unwrap() };
    for bad in [
        format!("{url}&tail=abc"),
        format!("{url}&lines=-1"),
        format!("{url}&since=yesterday"),
        format!("{url}&until=5x"),
        format!("{url}&follow=maybe"),
        format!("{syslog}&ch=console"),
        format!("{syslog}&tail=1.5"),
        url.replace("&container=", "&nothing="),
        format!("{}/logs/syslog?ch=serial", sim.base_url()),
    ] {
        let (status, body) = fetch(&bad).await;
        assert_eq!(status, 400, "{bad}");
        let body = error(&body);
        assert_eq!(body["detail"]["error_code"], "ERR-03-020", "{bad}: {body}");
        assert!(body["detail"]["request_id"].is_string(), "{body}");
    }
    let (status, body) = fetch(&url.replace("&container=", "&container=nope-")).await;
    assert_eq!(status, 404);
    assert_eq!(error(&body)["detail"]["error_code"], "ERR-03-021");
    let token = syslog.split("token=").nth(1).unwrap();
    let flipped = if token.ends_with('0') { '1' } else { '0' };
    let forged = syslog.replace(token, &format!("{}{flipped}", &token[..token.len() - 1]));
    for unknown in [
        forged,
        format!("{}/logs/syslog?token=1-00", sim.base_url()),
        format!("{}/logs/syslog?token=", sim.base_url()),
    ] {
        let (status, body) = fetch(&unknown).await;
        assert_eq!(status, 404, "{unknown}");
        assert_eq!(error(&body)["detail"]["error_code"], "ERR-03-001");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_prints_the_same_logs() {
    let (a, b) = (sim(27).await, sim(27).await);
    let (stopped, running) = (idle(&a, "stopped", 0), idle(&a, "running", 0));
    let mut seen = Vec::new();
    for sim in [&a, &b] {
        // A stopped CVM's whole log (its last run); what a running one
        // printed before the simulated clock's start (the same whenever read).
        let syslog = syslog_endpoint(sim, &stopped.id).await;
        let serial = text(&format!("{syslog}&timestamps&tail=all")).await;
        assert!(
            serial.contains("reboot: Power down"),
            "a stopped CVM's last run: {serial}"
        );
        let (_, url) = log_endpoints(sim, &running.id).await.remove(0);
        let app = text(&format!("{url}&timestamps&until=1790000000&tail=100")).await;
        assert_eq!(app.lines().count(), 100);
        seen.push((serial, app));
    }
    assert_eq!(seen[0], seen[1]);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_restart_boots_the_console_again() {
    let sim = sim(28).await;
    let cvm = idle(&sim, "running", 0);
    let syslog = syslog_endpoint(&sim, &cvm.id).await;
    let boots = |log: &str| log.matches("Linux version").count();
    assert_eq!(boots(&text(&format!("{syslog}&tail=all")).await), 1);
    lifecycle(&sim, &cvm.id, "restart").await;
    // Wait for the restart to complete (a condition, with a generous bound).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !sim
        .cvms()
        .iter()
        .any(|c| c.id == cvm.id && c.status == "running" && !c.in_progress)
    {
        assert!(tokio::time::Instant::now() < deadline, "the restart never completed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let serial = text(&format!("{syslog}&tail=all")).await;
    assert_eq!(boots(&serial), 2, "{serial}");
    assert_eq!(serial.matches("reboot: Power down").count(), 1, "{serial}");
    sim.shutdown().await;
}

#[tokio::test]
async fn hostile_logs_reach_clients_raw_and_stripped_without_ansi() {
    const LONG: usize = 3 * 1024 * 1024;
    let sim = Simulator::builder()
        .cvms(6)
        .seed(29)
        .time_scale(100.0)
        .hostile_logs(LONG)
        .start()
        .await
        .unwrap();
    let cvm = idle(&sim, "running", 0);
    let (_, url) = log_endpoints(&sim, &cvm.id).await.remove(0);
    let (status, raw) = fetch(&format!("{url}&text&bare&ansi&tail=all")).await;
    assert_eq!(status, 200);
    let lines: Vec<&[u8]> = raw.split(|&b| b == b'\n').collect();
    assert!(lines.iter().any(|l| l.len() == LONG), "one line of {LONG} bytes");
    assert!(contains(&raw, b"\x1b]0;pwned\x07"), "the title escape, raw");
    assert!(contains(&raw, b"\x1b[2J"), "the clear-screen escape, raw");
    assert!(contains(&raw, b"\x1b]52;c;"), "the clipboard escape, raw");
    // `text` reads bytes that are not UTF-8 lossily; the NDJSON carries them as printed.
    let ndjson = text(&format!("{url}&tail=all")).await;
    let engine = base64::engine::general_purpose::STANDARD;
    let decoded: Vec<Vec<u8>> = ndjson
        .lines()
        .map(|l| {
            engine
                .decode(serde_json::from_str::<Value>(l).unwrap()["message"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert!(decoded.iter().any(|m| contains(m, b"\xff\xfe")), "not UTF-8, kept");
    assert!(
        String::from_utf8(raw.clone()).unwrap().contains('\u{fffd}'),
        "text is UTF-8, lossily"
    );
    let stripped = text(&format!("{url}&text&bare&tail=all")).await;
    assert!(
        !stripped.contains('\x1b') && !stripped.contains('\x07'),
        "no escape without ansi"
    );
    assert!(stripped.contains("ALERT: terminal taken over"));
    let syslog = syslog_endpoint(&sim, &cvm.id).await;
    let (_, serial) = fetch(&format!("{syslog}&ansi&tail=all")).await;
    assert!(contains(&serial, b"\x1b]0;pwned\x07"));
    let (_, serial) = fetch(&format!("{syslog}&tail=all")).await;
    assert!(!serial.contains(&0x1b));
    sim.shutdown().await;
}

#[tokio::test]
async fn dropped_responses_spare_follow_streams() {
    let sim = sim(30).await;
    let cvm = idle(&sim, "running", 0);
    let (_, url) = log_endpoints(&sim, &cvm.id).await.remove(0);
    sim.set_faults(Faults::default().with_drops(1.0));
    let cut = match http().get(&url).send().await {
        Ok(resp) => resp.bytes().await.is_err(),
        Err(_) => true,
    };
    assert!(cut, "a plain fetch is dropped");
    // A stream is never read whole to be cut: it flows.
    let mut follow = Follow::open(&format!("{url}&follow&text&bare&timestamps&tail=1")).await;
    let (before, _) = stamped(&follow.line().await.unwrap());
    while stamped(&follow.line().await.unwrap()).0 <= before {}
    sim.shutdown().await;
}
