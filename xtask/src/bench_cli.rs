//! Scenario 8: operators' commands, `phala-cvm` beside Phala's CLI (npm
//! `phala`, pinned) on the same simulator: wall time and peak resident
//! memory of each process, measured exactly (`wait4`'s rusage of the one
//! child), runs alternating between the two tools.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{Value, json};

use crate::bench_sim::{SimProcess, mib};

/// Phala's CLI, the version the notes and tests read.
pub const PHALA_CLI_VERSION: &str = "1.1.18";

/// One run of a command: its wall time, peak resident memory and status.
struct Measured {
    secs: f64,
    peak_kib: u64,
    ok: bool,
}

/// Reaps `child` and measures it alone: `wait4` reports exactly this
/// child's own peak resident set.
fn reap(child: std::process::Child, started: Instant, ok: impl FnOnce(i32) -> bool) -> Result<Measured, String> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in; the pid is our
    // child's, which nothing else waits for (the `Child` is dropped
    // without a wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    drop(child);
    if reaped != pid {
        return Err(format!("wait4 failed for process {pid}"));
    }
    Ok(Measured {
        secs: started.elapsed().as_secs_f64(),
        // Linux reports ru_maxrss in KiB.
        peak_kib: usage.ru_maxrss.max(0) as u64,
        ok: ok(status),
    })
}

/// Runs `cmd` to the end and measures it.
fn measure(cmd: &mut Command) -> Result<Measured, String> {
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    reap(child, started, |status| {
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0
    })
}

/// Runs `cmd` until it has printed `lines` lines, then stops it (a follow
/// never ends by itself) and measures it.
fn measure_lines(cmd: &mut Command, lines: usize) -> Result<Measured, String> {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let read = std::io::BufReader::new(out)
        .lines()
        .take(lines)
        .map_while(Result::ok)
        .count();
    let _ = child.kill();
    reap(child, started, |_| read == lines)
}

/// `phala-cvm logs` under what a CVM may print: a follow of many lines
/// and one endless line, each at two sizes; peak memory should not grow
/// with them.
fn log_bounds(sim_bin: &Path, cvm_bin: &Path, quick: bool) -> Result<Value, String> {
    let mut rows = Vec::new();
    let follow_sizes: [usize; 2] = if quick { [200, 2_000] } else { [20_000, 200_000] };
    let line_sizes: [usize; 2] = if quick { [1 << 16, 1 << 20] } else { [1 << 20, 64 << 20] };
    for (i, lines) in follow_sizes.iter().enumerate() {
        // Fast for the follow; slow enough for the endless line to stay
        // among the last 1000 lines read after the restart that prints it.
        let long = line_sizes[i].to_string();
        let fast = SimProcess::start(
            sim_bin,
            &[
                "--cvms",
                "4",
                "--apps",
                "1",
                "--time-scale",
                "200000",
                "--api-key",
                "bench-key",
            ],
        )?;
        let slow = SimProcess::start(
            sim_bin,
            &[
                "--cvms",
                "4",
                "--apps",
                "1",
                "--time-scale",
                "20",
                "--api-key",
                "bench-key",
                "--hostile-logs",
                &long,
            ],
        )?;
        let cli = |sim: &SimProcess, args: &[&str]| {
            let mut c = Command::new(cvm_bin);
            c.args(["--base-url", &sim.url, "--api-key", "bench-key"]).args(args);
            c
        };
        let running = |sim: &SimProcess| -> Result<String, String> {
            let listed = cli(sim, &["-o", "json", "list"]).output().map_err(|e| e.to_string())?;
            let listed: Value = serde_json::from_slice(&listed.stdout).map_err(|e| format!("list: {e}"))?;
            listed
                .as_array()
                .and_then(|a| a.iter().find(|c| c["status"] == "running"))
                .and_then(|c| c["name"].as_str())
                .map(str::to_string)
                .ok_or_else(|| "no running CVM to read".to_string())
        };
        let name = running(&fast)?;
        let follow = measure_lines(
            &mut cli(&fast, &["logs", "--cvm", &name, "-n", "0", "-f", "--stderr"]),
            *lines,
        )?;
        let name = running(&slow)?;
        let restarted = cli(&slow, &["restart", &name, "--yes", "--wait"])
            .stdout(Stdio::null())
            .status()
            .map_err(|e| e.to_string())?;
        if !restarted.success() {
            return Err(format!("cannot restart {name} on the simulator"));
        }
        let long_line = measure(&mut cli(&slow, &["logs", "--cvm", &name, "--stderr"]))?;
        rows.push(json!({
            "follow_lines": lines, "follow_peak_mib": mib(follow.peak_kib), "follow_ok": follow.ok,
            "long_line_bytes": line_sizes[i], "long_line_peak_mib": mib(long_line.peak_kib), "long_line_ok": long_line.ok,
        }));
    }
    Ok(Value::Array(rows))
}

/// Installs Phala's CLI with npm into `target/official-cli` (once); its
/// entry point, or why not (no npm, no registry).
pub fn phala_cli(root: &Path) -> Result<PathBuf, String> {
    let dir = root.join("target/official-cli");
    let bin = dir.join("node_modules/phala/dist/index.js");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("package.json"), "{\"private\":true}").map_err(|e| e.to_string())?;
    let out = Command::new("npm")
        .args(["install", "--silent", "--no-audit", "--no-fund"])
        .arg(format!("phala@{PHALA_CLI_VERSION}"))
        .current_dir(&dir)
        .output()
        .map_err(|e| format!("npm: {e}"))?;
    if !out.status.success() || !bin.is_file() {
        return Err(format!("npm install phala@{PHALA_CLI_VERSION} failed"));
    }
    Ok(bin)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Runs every command of both tools `rounds` times, alternating.
pub fn run(sim_bin: &Path, cvm_bin: &Path, phala: Option<&Path>, quick: bool) -> Result<Value, String> {
    let sim = SimProcess::start(
        sim_bin,
        &[
            "--cvms",
            "200",
            "--apps",
            "25",
            "--api-key",
            "bench-key",
            "--default-version",
            "2026-01-21",
        ],
    )?;
    let home = std::env::temp_dir().join(format!("phala-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
    let env = |c: &mut Command| {
        c.env("PHALA_CLOUD_API_KEY", "bench-key")
            .env("PHALA_CLOUD_API_PREFIX", format!("{}/api/v1", sim.url))
            .env("PHALA_CLOUD_DIR", &home)
            .env("PHALA_DISABLE_UPDATE_CHECK", "1")
            .env("NO_COLOR", "1")
            .env("CI", "1")
            .current_dir(&home);
    };
    let name = "web-1-0";
    let ours: [(&str, Vec<&str>); 4] = [
        ("whoami", vec!["whoami"]),
        ("list", vec!["list"]),
        ("get", vec!["get", name]),
        (
            "logs (serial, last 100)",
            vec!["logs", "--serial", "-n", "100", "--cvm", name],
        ),
    ];
    let theirs: [Vec<&str>; 4] = [
        vec!["whoami"],
        vec!["cvms", "list"],
        vec!["cvms", "get", name],
        vec!["logs", "--serial", "-n", "100", "--cvm-id", name],
    ];
    let rounds = if quick { 1 } else { 5 };
    let mut rows = Vec::new();
    for ((label, our_args), their_args) in ours.iter().zip(&theirs) {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let mut c = Command::new(cvm_bin);
            c.args(our_args);
            env(&mut c);
            a.push(measure(&mut c)?);
            if let Some(js) = phala {
                let mut c = Command::new("node");
                c.arg(js).args(their_args);
                env(&mut c);
                b.push(measure(&mut c)?);
            }
        }
        let stats = |m: &[Measured]| {
            (!m.is_empty()).then(|| {
                json!({
                    "s": (median(m.iter().map(|x| x.secs).collect()) * 1000.0).round() / 1000.0,
                    "peak_mib": mib(m.iter().map(|x| x.peak_kib).max().unwrap_or(0)),
                    "ok": m.iter().all(|x| x.ok),
                })
            })
        };
        rows.push(json!({"command": label, "phala_cvm": stats(&a), "phala_cli": stats(&b)}));
    }
    let _ = std::fs::remove_dir_all(&home);
    drop(sim);
    let bounds = log_bounds(sim_bin, cvm_bin, quick)?;
    Ok(json!({"rounds": rounds, "commands": rows, "phala_cli_version": PHALA_CLI_VERSION, "log_bounds": bounds}))
}

/// The scenario's section of BENCHMARKS.md.
pub fn section(r: &Value) -> String {
    let mut md = String::from("## 8. Operators' commands: `phala-cvm` beside Phala's CLI on one simulator\n\n");
    if let Some(why) = r.get("skipped").and_then(Value::as_str) {
        md.push_str(&format!("Not run ({why}).\n\n"));
        return md;
    }
    md.push_str(&format!(
        "Each command as a process against the simulator binary (200 CVMs, API 2026-01-21), median wall time of {} runs \
         alternating between the tools, and the process's peak resident memory (`wait4`'s `ru_maxrss`, the largest run). \
         Phala's CLI is npm `phala@{}` under Node {}.\n\n",
        r["rounds"],
        r["phala_cli_version"].as_str().unwrap_or("?"),
        r["node"].as_str().unwrap_or("?"),
    ));
    md.push_str("| command | phala-cvm s | phala-cvm peak MiB | phala s | phala peak MiB | time ratio (phala / phala-cvm) |\n|---|---|---|---|---|---|\n");
    for row in r["commands"].as_array().into_iter().flatten() {
        let cell = |v: &Value, k: &str| v.get(k).map_or("-".to_string(), |x| x.to_string());
        let (a, b) = (&row["phala_cvm"], &row["phala_cli"]);
        let ratio = match (b["s"].as_f64(), a["s"].as_f64()) {
            (Some(t), Some(o)) if o > 0.0 => format!("{:.1}", t / o),
            _ => "-".into(),
        };
        let failed = |v: &Value| if v["ok"] == false { " (failed)" } else { "" };
        md.push_str(&format!(
            "| {} | {}{} | {} | {}{} | {} | {} |\n",
            row["command"].as_str().unwrap_or("?"),
            cell(a, "s"),
            failed(a),
            cell(a, "peak_mib"),
            cell(b, "s"),
            failed(b),
            cell(b, "peak_mib"),
            ratio
        ));
    }
    md.push_str(
        "\n`phala-cvm logs` under what a CVM may print (simulator at 200000x, its containers printing every 5 virtual seconds): \
         `-f` stopped after so many lines, and a whole log holding one endless line (cut at 64 KiB on output). \
         Peak resident memory should not grow with either.\n\n\
         | lines followed | peak MiB | one line of | peak MiB |\n|---|---|---|---|\n",
    );
    for row in r["log_bounds"].as_array().into_iter().flatten() {
        let bad = |k: &str| if row[k] == false { " (failed)" } else { "" };
        md.push_str(&format!(
            "| {} | {}{} | {} MiB | {}{} |\n",
            row["follow_lines"],
            row["follow_peak_mib"],
            bad("follow_ok"),
            row["long_line_bytes"].as_u64().unwrap_or(0) as f64 / (1u64 << 20) as f64,
            row["long_line_peak_mib"],
            bad("long_line_ok"),
        ));
    }
    md.push('\n');
    md
}
