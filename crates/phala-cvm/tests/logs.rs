//! `logs` against the simulator: a container's last lines, the serial
//! console with timestamps, JSON lines, an app's replicas prefixed by
//! name, and `-f` receiving lines as the CVM writes them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{code, sim, stdout_json, text};

/// A running CVM's name and app.
fn running() -> (String, String) {
    let listed = stdout_json(&sim(&["-o", "json", "list"]));
    let c = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "running")
        .expect("a running CVM")
        .clone();
    (c["name"].as_str().unwrap().into(), c["app_id"].as_str().unwrap().into())
}

#[test]
fn logs_read_a_container_the_console_and_an_app() {
    let (name, app) = running();
    let out = sim(&["logs", "--cvm", &name, "-n", "5"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let lines = String::from_utf8_lossy(&out.stdout).lines().count();
    assert!(
        (1..=5).contains(&lines),
        "at most the last 5 (stderr ones not shown): {}",
        text(&out)
    );

    let json = sim(&["-o", "jsonl", "logs", "--cvm", &name, "-n", "3", "--stderr"]);
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 3, "{}", text(&json));
    assert!(
        records
            .iter()
            .all(|r| r["channel"] == "stdout" || r["channel"] == "stderr")
    );

    let serial = sim(&["logs", "--cvm", &name, "--serial", "-n", "2", "-t"]);
    assert_eq!(code(&serial), 0, "{}", text(&serial));
    for line in String::from_utf8_lossy(&serial.stdout).lines() {
        let ts = line.split(' ').next().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "timestamped: {line}");
    }

    let all = sim(&["logs", "--app", &app, "-n", "2"]);
    assert_eq!(code(&all), 0, "{}", text(&all));
    assert!(
        String::from_utf8_lossy(&all.stdout).lines().all(|l| l.contains(" | ")),
        "{}",
        text(&all)
    );

    let nope = sim(&["logs", "--cvm", &name, "no-such-container"]);
    assert_eq!(code(&nope), 2);
    assert!(text(&nope).contains("no container"), "{}", text(&nope));
    assert_eq!(
        code(&sim(&["logs", "--cvm", &name, "--serial", "web"])),
        2,
        "a container and --serial conflict"
    );
    assert_eq!(
        code(&sim(&["-o", "json", "logs", "--cvm", &name, "-f"])),
        2,
        "one JSON document cannot follow"
    );
}

#[test]
fn logs_follow_receives_lines_as_they_are_written() {
    let (name, _) = running();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phala-cvm"))
        .args([
            "--simulate",
            "--sim-cvms",
            "40",
            "logs",
            "--cvm",
            &name,
            "-n",
            "1",
            "-f",
            "-t",
        ])
        .env_remove("PHALA_CLOUD_API_KEY")
        .env(
            "PHALA_CLOUD_DIR",
            std::env::temp_dir().join("phala-cvm-logs-follow-none"),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The last line written before, then lines written after the command
    // started (the simulator's containers print every 5 virtual seconds).
    let mut stamps = Vec::new();
    while stamps.len() < 4 {
        let line = lines.next().expect("the follow ended early").unwrap();
        stamps.push(line.split(' ').next().unwrap().to_string());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut sorted = stamps.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, stamps, "new lines, in order, none repeated: {stamps:?}");
}

#[test]
fn hostile_log_lines_are_shown_escaped_and_cut() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(
            phala_cloud_sim::Simulator::builder()
                .cvms(4)
                .time_scale(20.0)
                .api_key("phak_hostile")
                .hostile_logs(300_000)
                .start(),
        )
        .unwrap();
    let url = sim.base_url().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["--base-url", url.as_str(), "--api-key", "phak_hostile"];
        all.extend_from_slice(args);
        common::run(&all, &[])
    };
    let listed = stdout_json(&cli(&["-o", "json", "list"]));
    let name = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["status"] == "running")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();
    // The simulator's containers print the hostile lines as they start.
    assert_eq!(code(&cli(&["restart", &name, "--yes", "--wait"])), 0);
    let out = cli(&["logs", "--cvm", &name, "--stderr"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "no escape reaches the terminal"
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("\\u{1b}]0;pwned\\u{7}"), "shown escaped");
    let cut = shown
        .lines()
        .find(|l| l.contains("[cut: line longer than 65536 bytes]"))
        .expect("the long line, cut");
    assert!(cut.len() < 65536 + 100, "{}", cut.len());
    let raw = cli(&["logs", "--cvm", &name, "--raw"]);
    assert!(raw.stdout.contains(&0x1b), "--raw prints what the CVM wrote");
    rt.block_on(sim.shutdown());
}
