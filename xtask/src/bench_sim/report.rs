//! Scenario 9's section of BENCHMARKS.md.

use super::*;

/// The scenario's section of BENCHMARKS.md.
pub fn section(r: &Value) -> String {
    let mut md = format!(
        "## 9. Simulator at scale: {} CVMs with apps, webhooks and logs in use\n\n",
        r["cvms"].as_u64().unwrap_or(100_000)
    );
    if let Some(why) = r.get("skipped").and_then(Value::as_str) {
        md.push_str(&format!("Not run ({why}).\n\n"));
        return md;
    }
    if r["quick"] == true {
        md.push_str("Quick run: a small fleet; not for comparison.\n\n");
    }
    let l = &r["latency"];
    md.push_str(&format!(
        "The simulator binary in its own process (`--cvms {} --apps {} --time-scale {}`), driven over loopback \
         (API {}) through the steps below, in order. After each step: the simulator's resident memory (`VmRSS`), its \
         peak so far (`VmHWM`, both from `/proc/<pid>/status`), the CPU time it used in the step and the file \
         descriptors it holds (its sockets). Wall times are mostly the bench client's, an unoptimised build. \
         Webhooks deliver to a receiver in the bench process (plain tokio, a thread of its own). \
         Goals: peak resident memory <= {GOAL_MIB} MiB; a delivery within {GOAL_MS} ms of its state change.\n\n",
        r["cvms"],
        r["apps"],
        r["time_scale"].as_str().unwrap_or("?"),
        r["api_version"].as_str().unwrap_or("?"),
    ));
    md.push_str(
        "| step | what ran | requests | wall time | simulator CPU | open fds after | RSS after | peak RSS so far |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let mut burst_receiver_cpu = Value::Null;
    for s in r["steps"].as_array().into_iter().flatten() {
        if s["step"] == "many state changes" {
            burst_receiver_cpu = s["receiver_cpu_s"].clone();
        }
        md.push_str(&format!(
            "| {} | {} | {} | {} s | {} s | {} | {} MiB | {} MiB |\n",
            s["step"].as_str().unwrap_or("?"),
            s["did"].as_str().unwrap_or("?"),
            s["requests"],
            s["s"],
            s["sim_cpu_s"],
            s["sim_fds"],
            s["rss_mib"],
            s["hwm_mib"],
        ));
    }
    let d = &r["deliveries"];
    let m = &r["missing"];
    md.push_str(&format!(
        "\nPeak resident memory over the scenario: **{} MiB** (goal <= {GOAL_MIB} MiB). Deliveries received: {} (`*`), \
         {} (`cvm.stopped`), {} (`cvm.started`); {} recorded failed by the simulator; {} awaited that never arrived. \
         The {} followed consoles streamed {} lines.\n",
        r["peak_mib"],
        d["all"],
        d["stopped"],
        d["started"],
        r["deliveries_failed"],
        ["burst", "restart", "timed"]
            .iter()
            .map(|k| m[k].as_u64().unwrap_or(0))
            .sum::<u64>(),
        r["follows"],
        r["follow_lines"],
    ));
    let u = &r["unpaged"];
    md.push_str(&format!(
        "\nThen, beyond the scenario: the workspace's {} CVMs in one unpaged `GET /cvms` ({} s) took the simulator's \
         peak to {} MiB (`wait4`'s `ru_maxrss` at exit: {} MiB).\n",
        u["cvms"], u["s"], u["hwm_mib"], r["wait4_maxrss_mib"],
    ));
    md.push_str(&format!(
        "\nWebhook latency. The state change is the simulator applying it: a stop or start applies its first change \
         (running -> stopping, stopped -> starting) in the request, and the delivery pump, woken as the request ends, \
         applies the one that completes it when it falls due, at this time scale 0.06-0.3 ms after the request. Each \
         delivery is timed from just before its request is sent to its arrival at the receiver, so the request's own \
         time counts too (median answer {} ms). The single changes run one at a time, nothing else changing; the batch \
         stop sends its requests back to back (the receiver used {} s of CPU in that step).\n\n",
        l["request_ms"]["median_ms"], burst_receiver_cpu,
    ));
    md.push_str("| deliveries | count | median | p95 | max | goal |\n|---|---|---|---|---|---|\n");
    let row = |md: &mut String, what: String, s: &Value| {
        md.push_str(&format!(
            "| {what} | {} | {} ms | {} ms | {} ms | <= {GOAL_MS} ms |\n",
            s["n"], s["median_ms"], s["p95_ms"], s["max_ms"]
        ));
    };
    row(
        &mut md,
        "single stop or start: its first change (`cvm.status.changed`)".into(),
        &l["first"],
    );
    row(
        &mut md,
        "single stop or start: its completion (`cvm.stopped` / `cvm.started`)".into(),
        &l["completed"],
    );
    row(
        &mut md,
        format!(
            "batch stop of {} CVMs, 50 per request: each `cvm.stopped`, from its request",
            l["burst_cvms"]
        ),
        &l["burst"],
    );
    let max = |s: &Value| s["max_ms"].as_f64().unwrap_or(f64::INFINITY);
    let single = max(&l["first"]).max(max(&l["completed"]));
    let complete = m["timed"] == 0 && l["first"]["n"].as_u64().unwrap_or(0) > 0;
    let memory_ok = r["peak_mib"].as_f64().is_some_and(|p| p <= GOAL_MIB);
    md.push_str(&format!(
        "\nOutcome: peak {} MiB, {} the {GOAL_MIB} MiB goal; single changes delivered within {single} ms at the most, {} the \
         {GOAL_MS} ms goal{}.\n\n",
        r["peak_mib"],
        if memory_ok { "within" } else { "**over**" },
        if complete && single <= GOAL_MS {
            "within"
        } else {
            "**not within**"
        },
        if max(&l["burst"]) <= GOAL_MS && m["burst"] == 0 {
            "; the batch stop's deliveries too".to_string()
        } else {
            format!(
                "; under the batch stop's burst up to {} ms (median {} ms)",
                l["burst"]["max_ms"], l["burst"]["median_ms"]
            )
        },
    ));
    md
}

/// Scenario 9 alone (release), its section put in BENCHMARKS.md in place of
/// the one there (or after the last), with the commit it was measured at.
/// `PHALA_SIM_BIN` names a simulator binary to run instead of building one.
pub fn sim_only() -> Result<String, String> {
    let sim_bin = match std::env::var_os("PHALA_SIM_BIN") {
        Some(bin) => bin.into(),
        None => crate::bench::build_binary("phala-cloud-sim", "phala-cloud-sim", true)?,
    };
    let r = run(&sim_bin, false)?;
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let section = section(&r).replacen(
        "\n\n",
        &format!("\n\nMeasured alone by `cargo xtask bench --sim-only` at commit {commit}.\n\n"),
        1,
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../BENCHMARKS.md");
    let doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc = put_section(&doc, &section);
    std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(section)
}

/// `doc` with `section` (`## 9. ...`) in place of the section 9 it has, or
/// after its last section.
fn put_section(doc: &str, section: &str) -> String {
    let mut doc = doc.to_string();
    match doc.find("\n## 9.") {
        Some(start) => {
            // To the next section's heading (the blank line before it kept), or the end.
            let end = doc[start + 1..].find("\n## ").map_or(doc.len(), |e| start + 1 + e);
            let body = if end == doc.len() {
                section.to_string()
            } else {
                format!("{}\n", section.trim_end())
            };
            doc.replace_range(start + 1..end, &body);
        }
        None => {
            if !doc.ends_with("\n\n") {
                doc.push('\n');
            }
            doc.push_str(section);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_section_replaces_its_old_self_wherever_it_is() {
        let new = "## 9. Sim\n\nnew\n\n";
        let appended = super::put_section("# B\n\n## 8. Cli\n\n| a |\n", new);
        assert_eq!(appended, "# B\n\n## 8. Cli\n\n| a |\n\n## 9. Sim\n\nnew\n\n");
        assert_eq!(super::put_section(&appended, new), appended);
        let middle = "# B\n\n## 9. Sim\n\nold\nolder\n\n## 10. Next\n\nx\n";
        assert_eq!(
            super::put_section(middle, new),
            "# B\n\n## 9. Sim\n\nnew\n\n## 10. Next\n\nx\n"
        );
    }

    #[test]
    fn spreads_are_nearest_rank() {
        let s = super::spread((1..=100).map(f64::from).collect());
        assert_eq!(
            (s["median_ms"].as_f64(), s["p95_ms"].as_f64(), s["max_ms"].as_f64()),
            (Some(50.0), Some(95.0), Some(100.0))
        );
        assert_eq!(super::spread(Vec::new())["n"], 0);
    }
}
