//! `cargo xtask bench`: runs the benchmark example (scenarios 1-4), times
//! the builds (scenario 5), prints a table and rewrites BENCHMARKS.md.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

use crate::md::{row, text};
use crate::workspace_root;

/// What to run.
pub struct Options {
    /// Small sizes, one repetition, nothing written.
    pub quick: bool,
    /// Release build of the benchmark (debug only for the smoke test).
    pub release: bool,
    /// Scenario 5: a clean build of the workspace, then a facade edit.
    pub build_times: bool,
}

/// Runs cargo in the workspace root; its output if it succeeded.
fn cargo(args: &[&str]) -> Result<std::process::Output, String> {
    cargo_with(args, &[])
}

/// [`cargo`] with environment variables set.
pub(crate) fn cargo_with(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Result<std::process::Output, String> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(workspace_root())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(out)
}

/// Builds `package`'s binary `bin` and returns where cargo put it, as cargo
/// reports it (wherever `CARGO_TARGET_DIR` or the config sends its output).
pub fn build_binary(package: &str, bin: &str, release: bool) -> Result<PathBuf, String> {
    let mut args = vec![
        "build",
        "--quiet",
        "--locked",
        "-p",
        package,
        "--bin",
        bin,
        "--message-format=json-render-diagnostics",
    ];
    if release {
        args.push("--release");
    }
    let out = cargo(&args)?;
    executable_in(&String::from_utf8_lossy(&out.stdout), bin)
        .ok_or_else(|| format!("cargo built {package} but reported no executable named {bin}"))
}

/// The executable named `bin` among cargo's JSON build messages.
fn executable_in(messages: &str, bin: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// Runs the benchmarks; returns the report, also printed, and written to
/// BENCHMARKS.md unless quick.
pub fn run(opts: &Options) -> Result<String, String> {
    // Scenario 6 runs the simulator binary in its own process, so that the
    // heap it counts is the client's alone, and runs in a process of its
    // own, so that its peak resident memory is its own too.
    let sim_bin = build_binary("phala-cloud-sim", "phala-cloud-sim", opts.release)?;
    let bench = |scenarios: &[&str]| -> Result<Value, String> {
        let mut args = vec!["run", "--quiet", "--locked", "-p", "phala-cloud", "--example", "bench"];
        if opts.release {
            args.push("--release");
        }
        args.push("--");
        if opts.quick {
            args.push("--quick");
        }
        args.extend(scenarios);
        let out = cargo_with(&args, &[("PHALA_SIM_BIN", sim_bin.as_os_str())])?;
        serde_json::from_slice(&out.stdout).map_err(|e| format!("benchmark output is not JSON: {e}"))
    };
    let mut results = bench(&["--skip", "scale"])?;
    results["scale"] = bench(&["--only", "scale"])?["scale"].take();
    results["cli"] = cli_scenario(&sim_bin, opts)?;
    results["sim"] = crate::bench_sim::run(&sim_bin, opts.quick)?;
    if opts.build_times {
        results["build"] = build_times()?;
        results["features"] = feature_build_times()?;
    }
    let mut report = markdown(&results);
    let path = workspace_root().join("BENCHMARKS.md");
    if !opts.quick {
        // Sections this run did not measure (`--no-build`) keep their last figures.
        if let Ok(previous) = std::fs::read_to_string(&path) {
            report = keep_unmeasured(&report, &previous);
        }
        std::fs::write(&path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print!("{report}");
    Ok(report)
}

/// `report` with each section it did not run ("Not run (...)") taken from
/// `previous`, where that one has figures, marked with the commit they
/// were measured at.
fn keep_unmeasured(report: &str, previous: &str) -> String {
    const NOT_RUN: &str = "Not run (";
    const KEPT: &str = "Not re-run by this run";
    let commit = previous
        .lines()
        .find_map(|l| l.strip_prefix("- commit: "))
        .unwrap_or("an earlier commit");
    // A section: from its "## N." heading to the next "## " heading or the end.
    let section = |doc: &str, heading: &str| -> Option<(usize, usize)> {
        let start = doc.find(heading)?;
        let end = doc[start + 1..].find("\n## ").map_or(doc.len(), |e| start + 1 + e);
        Some((start, end))
    };
    let mut out = report.to_string();
    for heading in ["\n## 5.", "\n## 7."] {
        let (Some((s, e)), Some((ps, pe))) = (section(&out, heading), section(previous, heading)) else {
            continue;
        };
        let old = &previous[ps..pe];
        if !out[s..e].contains(NOT_RUN) || old.contains(NOT_RUN) {
            continue;
        }
        if old.contains(KEPT) {
            // Kept once already: it names the commit it was measured at.
            out.replace_range(s..e, old);
        } else {
            let kept = old.trim_end_matches('\n');
            let (head, body) = kept.split_once("\n\n").unwrap_or((kept, ""));
            let note = format!(
                "{head}\n\n{KEPT} (`--no-build`): as the previous report had it (that report's commit: {commit}).\n\n{body}\n"
            );
            out.replace_range(s..e, &note);
        }
    }
    out
}

/// Scenario 5: a clean debug build of the workspace in its own target
/// directory, then the rebuild after touching a facade file, which must not
/// run the code generator again.
fn build_times() -> Result<Value, String> {
    let dir = workspace_root().join("target/bench-build");
    let _ = std::fs::remove_dir_all(&dir);
    let dir_arg = dir.display().to_string();
    let build = |verbose: bool| -> Result<(f64, String), String> {
        let mut args = vec!["build", "--workspace", "--locked", "--target-dir", &dir_arg];
        if verbose {
            args.push("-v");
        }
        let started = Instant::now();
        let out = cargo(&args)?;
        Ok((
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    };
    let (clean, _) = build(false)?;
    let touched = workspace_root().join("crates/phala-cloud/src/lib.rs");
    let file = std::fs::File::options()
        .append(true)
        .open(&touched)
        .map_err(|e| format!("{}: {e}", touched.display()))?;
    file.set_modified(std::time::SystemTime::now())
        .map_err(|e| format!("{}: {e}", touched.display()))?;
    let (rebuild, log) = build(true)?;
    let regenerated = log.lines().any(|l| {
        l.trim_start().starts_with("Running") && l.contains("phala-cloud-api-") && l.contains("build-script-build")
    });
    let _ = std::fs::remove_dir_all(&dir);
    Ok(json!({"clean_s": round1(clean), "facade_edit_s": round1(rebuild), "codegen_reran": regenerated}))
}

/// The bundled document before every operation was generated (27
/// operations, all of them the facade's): "today" in the features scenario.
const BASELINE_REV: &str = "153ae38";

/// Scenario 7: what the features buy. Clean debug builds, each in a target
/// directory of its own, side by side in one run: the facade with default
/// features against the facade built from the baseline document, and the
/// raw crate alone with default features against `full` (build and `cargo
/// check`), with the lines of code generated for each.
pub fn feature_build_times() -> Result<Value, String> {
    let root = workspace_root();
    let scratch = root.join("target/bench-features");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    // The document and its overlay as of the baseline revision (today's
    // overlay targets schemas and paths that document does not have).
    let baseline = file_at(
        &root,
        BASELINE_REV,
        "openapi.json",
        &scratch.join("baseline.openapi.json"),
    )?;
    let baseline_overlay = file_at(
        &root,
        BASELINE_REV,
        "openapi.overlay.json",
        &scratch.join("baseline.openapi.overlay.json"),
    )?;
    let configs: [(&str, &str, &[&str], bool); 4] = [
        ("facade_before", "phala-cloud", &[], true),
        ("facade_default", "phala-cloud", &[], false),
        ("api_default", "phala-cloud-api", &[], false),
        ("api_full", "phala-cloud-api", &["--features", "full"], false),
    ];
    let mut out = json!({});
    for (name, package, features, before) in configs {
        let mut timed = json!({});
        for command in ["build", "check"] {
            let dir = scratch.join(format!("{name}-{command}"));
            let dir_arg = dir.display().to_string();
            let mut args = vec![command, "--locked", "-p", package, "--target-dir", &dir_arg];
            args.extend_from_slice(features);
            let env: Vec<(&str, &std::ffi::OsStr)> = if before {
                vec![
                    ("PHALA_CLOUD_API_DOCUMENT", std::ffi::OsStr::new(baseline.as_str())),
                    (
                        "PHALA_CLOUD_API_OVERLAY",
                        std::ffi::OsStr::new(baseline_overlay.as_str()),
                    ),
                ]
            } else {
                Vec::new()
            };
            let started = Instant::now();
            cargo_with(&args, &env)?;
            timed[format!("{command}_s")] = json!(round1(started.elapsed().as_secs_f64()));
            if command == "build" {
                timed["generated_lines"] = json!(generated_lines(&dir));
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        out[name] = timed;
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(out)
}

/// Writes `path` as of git revision `rev` to `to`; `to` as a string.
fn file_at(root: &Path, rev: &str, path: &str, to: &Path) -> Result<String, String> {
    let shown = Command::new("git")
        .current_dir(root)
        .args(["show", &format!("{rev}:{path}")])
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if !shown.status.success() {
        return Err(format!("git show {rev}:{path} failed"));
    }
    std::fs::write(to, &shown.stdout).map_err(|e| format!("{}: {e}", to.display()))?;
    Ok(to.display().to_string())
}

/// Lines of the client generated under `target_dir` (codegen.rs), if found.
fn generated_lines(target_dir: &Path) -> Option<usize> {
    let build = target_dir.join("debug/build");
    std::fs::read_dir(build)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("out/codegen.rs"))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|code| code.lines().count())
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn markdown(r: &Value) -> String {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mut md = String::from(
        "# Benchmarks\n\nWritten by `cargo xtask bench` (release, loopback: client and servers share the machine's cores). \
         Each figure is a median of repeated runs; each ratio compares two figures of the same run.\n\n",
    );
    md.push_str(&format!(
        "- machine: {} ({cpus} cores)\n- date: {}\n- commit: {}\n",
        command_output("uname", &["-sm"]),
        command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command_output("git", &["rev-parse", "--short", "HEAD"])
    ));
    if r["quick"] == true {
        md.push_str("- **quick run**: small sizes, one repetition; not for comparison\n");
    }

    md.push_str(&crate::bench_layers::section(r));

    let f = &r["fleet_stop"];
    md.push_str(&format!(
        "\n## 2. Fleet stop: `stop_many` of {} ids, {} ms latency per request, concurrency {}\n\nGoal: within 1.25x the ideal.\n\n",
        f["ids"], f["latency_ms"], f["concurrency"]
    ));
    md.push_str("| facade | ideal (requests / 8 x 20 ms) | vs ideal | naive sequential loop (raw client) | speed-up |\n|---|---|---|---|---|\n");
    md.push_str(&row(&[
        format!("{} s", f["facade_s"]),
        format!("{} s ({} requests)", f["ideal_s"], f["requests"]),
        format!("{}x", f["vs_ideal"]),
        format!("{} s", f["naive_sequential_s"]),
        format!("{}x", f["speedup_vs_naive"]),
    ]));

    let w = &r["fleet_wait"];
    md.push_str(&format!(
        "\n## 3. Fleet wait: {} CVMs stopping at random times within a few seconds\n\n\
         `wait_all` polls batch status every {} ms, {} uuids per request. The per-CVM watch is `watch_state` on every CVM at once: \
         five SSE streams (the API's limit per user), the rest polling the immediate state every {} s (the shortest interval the API's SSE takes). \
         Goals: requests per round at most ceil(N / chunk) = {}; done within one interval of the last transition.\n\n",
        w["cvms"], w["interval_ms"], w["chunk"], w["per_cvm_watch"]["poll_interval_s"], w["wait_all"]["goal_per_round"]
    ));
    md.push_str("| strategy | requests | rounds | most requests in a round | SSE streams at once | last transition to done |\n|---|---|---|---|---|---|\n");
    let a = &w["wait_all"];
    md.push_str(&row(&[
        "`wait_all`".into(),
        text(&a["requests"]),
        text(&a["rounds"]),
        text(&a["max_requests_per_round"]),
        "0".into(),
        format!("{} s", a["last_transition_to_done_s"]),
    ]));
    let p = &w["per_cvm_watch"];
    md.push_str(&row(&[
        "per-CVM `watch_state`".into(),
        text(&p["requests"]),
        "-".into(),
        "-".into(),
        text(&p["sse_peak"]),
        format!("{} s", p["last_transition_to_done_s"]),
    ]));

    md.push_str(&format!(
        "\n## 4. Decode: {} CVMs (lists in both shapes) and the status map\n\nGoal: peak heap under 3x the JSON. The peak counts what decoding allocates, the body aside; a block grown by `realloc` counts once, as the system allocator grows or remaps it in place (where it must copy, the copy's moment is not counted).\n\n\
         | payload | JSON bytes | median ms | peak heap bytes | peak / JSON |\n|---|---|---|---|---|\n",
        r["decode"]["cvms"]
    ));
    for d in r["decode"]["results"].as_array().into_iter().flatten() {
        md.push_str(&row(&[
            text(&d["payload"]),
            text(&d["json_bytes"]),
            text(&d["median_ms"]),
            text(&d["peak_heap_bytes"]),
            format!("{}x", d["peak_vs_json"]),
        ]));
    }
    md.push_str(&format!(
        "\nWhat a decoded status map retains once decoding is done (heap bytes still allocated), per entry, beside the JSON of that entry; the same bytes decoded into the facade's `StatusMap` and into the map it replaced. One `CvmStatus` value is {} bytes before anything it points to.\n\n\
         | form | entries | JSON bytes / entry | retained bytes / entry | retained / JSON |\n|---|---|---|---|---|\n",
        r["decode"]["cvm_status_size"]
    ));
    for d in r["decode"]["retained"].as_array().into_iter().flatten() {
        md.push_str(&row(&[
            text(&d["form"]),
            text(&d["entries"]),
            text(&d["json_bytes_per_entry"]),
            text(&d["retained_bytes_per_entry"]),
            format!("{}x", d["retained_vs_json"]),
        ]));
    }

    md.push_str("\n## 5. Build (debug, `cargo build --workspace`, own target directory)\n\n");
    match r.get("build") {
        Some(b) => {
            md.push_str(
                "| clean build | rebuild after touching a facade file | code generation re-ran |\n|---|---|---|\n",
            );
            md.push_str(&row(&[
                format!("{} s", b["clean_s"]),
                format!("{} s", b["facade_edit_s"]),
                if b["codegen_reran"] == true { "**yes**" } else { "no" }.into(),
            ]));
        }
        None => md.push_str("Not run (`--quick` or `--no-build`).\n"),
    }
    md.push_str(TLS_CHOICE);
    md.push_str(&scale_section(&r["scale"]));
    md.push_str(&features_section(r.get("features")));
    md.push_str(&crate::bench_cli::section(&r["cli"]));
    md.push_str(&crate::bench_sim::section(&r["sim"]));
    md
}

/// Scenario 8 alone (release), its section put in BENCHMARKS.md in place
/// of the one there, with the commit it was measured at.
pub fn cli_only() -> Result<String, String> {
    let opts = Options {
        quick: false,
        release: true,
        build_times: false,
    };
    let sim_bin = build_binary("phala-cloud-sim", "phala-cloud-sim", true)?;
    let r = cli_scenario(&sim_bin, &opts)?;
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"]);
    let section = crate::bench_cli::section(&r).replacen(
        "\n\n",
        &format!("\n\nMeasured alone by `cargo xtask bench --cli-only` at commit {commit}.\n\n"),
        1,
    );
    let path = workspace_root().join("BENCHMARKS.md");
    let mut doc = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match doc.find("\n## 8.") {
        Some(start) => {
            let end = doc[start + 1..].find("\n## ").map_or(doc.len(), |e| start + 1 + e);
            doc.replace_range(start + 1..end, &section);
        }
        None => {
            doc.push('\n');
            doc.push_str(&section);
        }
    }
    std::fs::write(&path, doc).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(section)
}

/// Scenario 8: our CLI beside Phala's. A quick run (the smoke test) uses
/// Phala's CLI only if it is installed already and never installs it.
fn cli_scenario(sim_bin: &Path, opts: &Options) -> Result<Value, String> {
    let ours = build_binary("phala-cvm", "phala-cvm", opts.release)?;
    let root = workspace_root();
    let installed = root.join("target/official-cli/node_modules/phala/dist/index.js");
    let node = command_output("node", &["--version"]);
    let theirs = if node.is_empty() {
        None
    } else if opts.quick {
        installed.is_file().then_some(installed)
    } else {
        Some(crate::bench_cli::phala_cli(&root)?)
    };
    let mut r = crate::bench_cli::run(sim_bin, &ours, theirs.as_deref(), opts.quick)?;
    r["node"] = json!(node);
    Ok(r)
}

/// Scenario 7, the features: see [`feature_build_times`].
pub fn features_section(f: Option<&Value>) -> String {
    let mut md = String::from(
        "\n## 7. Features: what a user compiles (clean debug builds, each in its own target directory, one run)\n\n",
    );
    let Some(f) = f else {
        md.push_str("Not run (`--quick` or `--no-build`).\n");
        return md;
    };
    md.push_str("| crate | features | operations generated | lines generated | clean build | `cargo check` |\n|---|---|---|---|---|---|\n");
    let rows = [
        (
            "facade_before",
            "`phala-cloud`",
            "default, before (27 operations bundled, their overlay)",
            "27",
        ),
        ("facade_default", "`phala-cloud`", "default (`core`)", "27 of 120"),
        ("api_default", "`phala-cloud-api`", "default (`core`)", "27 of 120"),
        (
            "api_full",
            "`phala-cloud-api`",
            "`full`",
            "117 + 3 multipart (102 published + 18 evidence-only)",
        ),
    ];
    for (key, krate, features, ops) in rows {
        let c = &f[key];
        md.push_str(&row(&[
            krate.into(),
            features.into(),
            ops.into(),
            text(&c["generated_lines"]),
            format!("{} s", c["build_s"]),
            format!("{} s", c["check_s"]),
        ]));
    }
    let ratio = |a: &str, b: &str, k: &str| {
        let (a, b) = (f[a][k].as_f64().unwrap_or(0.0), f[b][k].as_f64().unwrap_or(0.0));
        if b > 0.0 { format!("{:.2}", a / b) } else { "-".into() }
    };
    md.push_str(&format!(
        "\nThe facade with default features against before: {}x the clean build. `full` against default, the raw crate alone: {}x the clean build, {}x `cargo check`.\n",
        ratio("facade_default", "facade_before", "build_s"),
        ratio("api_full", "api_default", "build_s"),
        ratio("api_full", "api_default", "check_s"),
    ));
    md
}

/// Scenario 6, after the build section so that sections read in order.
fn scale_section(sc: &Value) -> String {
    let mib = |v: &Value| {
        v.as_f64()
            .map(|b| format!("{:.1} MiB", b / 1048576.0))
            .unwrap_or_else(|| "-".into())
    };
    let mut md = String::new();
    md.push_str(&format!(
        "\n## 6. Scale: a fleet of {} CVMs, {} in the caller's workspace\n\n\
         The simulator runs in its own process, and this scenario in a process of its own: heap and resident memory are the client's alone. \
         Goals: listing peak heap <= 32 MiB whatever the fleet size (the tenth-size fleet shows it does not grow with it); \
         status requests = ceil(N / 100); stop requests = ceil(N / 50); every id accounted for; \
         list, status and stop of the whole workspace within 128 MiB peak resident memory of the client process \
         (`VmHWM`, counted from the start of the full-fleet steps; the column shows the peak so far after each step, the listing kept as ids and uuids).\n\n\
         | step | time | requests | goal | outcome | peak heap in the step | peak RSS so far |\n|---|---|---|---|---|---|---|\n",
        sc["cvms"], sc["workspace"]
    ));
    for l in sc["listing"].as_array().into_iter().flatten() {
        md.push_str(&row(&[
            format!("list as a stream, fleet {}, counting only", l["fleet"]),
            format!("{} s", l["s"]),
            text(&l["requests"]),
            "pages of 100".into(),
            format!("{} listed", l["listed"]),
            mib(&l["peak_heap_bytes"]),
            "-".into(),
        ]));
    }
    let l = &sc["list"];
    md.push_str(&row(&[
        "list as a stream, keeping ids and uuids".into(),
        format!("{} s", l["s"]),
        text(&l["requests"]),
        "pages of 100".into(),
        format!("{} listed", l["listed"]),
        mib(&l["peak_heap_bytes"]),
        mib(&l["rss_after"]),
    ]));
    let s = &sc["status"];
    md.push_str(&row(&[
        "`status_many`, every CVM".into(),
        format!("{} s", s["s"]),
        text(&s["requests"]),
        text(&s["goal"]),
        format!(
            "{} answered; the map retains {}",
            s["answered"],
            mib(&s["retained_bytes"])
        ),
        mib(&s["peak_heap_bytes"]),
        mib(&s["rss_after"]),
    ]));
    let s = &sc["statuses"];
    md.push_str(&row(&[
        "`statuses()` stream, every CVM, keeping nothing".into(),
        format!("{} s", s["s"]),
        text(&s["requests"]),
        text(&s["goal"]),
        format!(
            "{} answered, {} unknown, {} failed",
            s["answered"], s["unknown"], s["failed"]
        ),
        mib(&s["peak_heap_bytes"]),
        mib(&s["rss_after"]),
    ]));
    let s = &sc["stop"];
    md.push_str(&row(&[
        "`stop_many`, every CVM".into(),
        format!("{} s", s["s"]),
        text(&s["requests"]),
        text(&s["goal"]),
        format!(
            "{} stopped, {} skipped, {} failed; consistent: {}",
            s["stopped"], s["skipped"], s["failed"], s["consistent"]
        ),
        mib(&s["peak_heap_bytes"]),
        mib(&s["rss_after"]),
    ]));
    let w = &sc["wait"];
    md.push_str(&row(&[
        "`wait_all` stopped".into(),
        format!("{} s", w["s"]),
        text(&w["requests"]),
        format!("{} rounds", w["rounds"]),
        format!("{} reached", w["reached"]),
        "-".into(),
        mib(&w["rss_after"]),
    ]));
    let rss = &sc["rss"];
    if rss["counted_from_here"] != true {
        md.push_str("\nPeak RSS could not be reset (`/proc/self/clear_refs` not writable): it counts the process from its start.\n");
    }
    let verdict = match (sc["stop"]["rss_after"].as_f64(), rss["goal_bytes"].as_f64()) {
        (Some(peak), Some(goal)) if peak <= goal => "within",
        (Some(_), Some(_)) => "**over**",
        _ => "not measured against",
    };
    md.push_str(&format!(
        "\nList, status and stop peak at {} resident ({} before the first step): {verdict} the 128 MiB goal.\n",
        mib(&sc["stop"]["rss_after"]),
        mib(&rss["before"])
    ));
    md.push_str(&by_reference_section(&sc["by_reference"]));
    md
}

/// Scenario 6's status of a fleet named by each form of reference.
fn by_reference_section(rows: &Value) -> String {
    let Some(rows) = rows.as_array().filter(|r| !r.is_empty()) else {
        return String::new();
    };
    let mut md = String::from(
        "\nStatus of a fleet named by each form of reference (`status_many` of every listed CVM, its own simulator): \
         VM UUIDs go straight to the batch endpoint; hashed ids and names are resolved by one listing pass for the \
         whole call. Goal: listing pages + ceil(N / 100) status requests, never a request per id.\n\n\
         | named by | CVMs | answered | time | listing requests | status requests | goal (requests) |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        md.push_str(&row(&[
            text(&r["form"]),
            text(&r["cvms"]),
            text(&r["answered"]),
            format!("{} s", r["s"]),
            text(&r["listing_requests"]),
            text(&r["status_requests"]),
            text(&r["goal"]),
        ]));
    }
    md
}

/// The TLS provider choice: measured once by `scripts/tls-compare.sh`
/// (minutes of clean builds, so not part of every bench run).
const TLS_CHOICE: &str = "
TLS provider (`scripts/tls-compare.sh`, 2026-11-29, same machine, side by side): a clean build of
reqwest + tokio + TLS with our features takes **39.9 s** on rustls + ring against **57.3 s** on
rustls + aws-lc in debug (77.9 s against 98.5 s in release), and aws-lc needs a C toolchain (cmake on
some platforms). A TLS handshake plus one request costs the same: 1.67-1.87 ms with ring, 1.90-1.93 ms
with aws-lc (3 runs of 300 each against one local HTTPS server). We use ring.
";

#[cfg(test)]
mod tests {
    #[test]
    fn sections_not_run_keep_their_last_figures() {
        let previous = "# B\n\n- commit: abc123\n\n## 5. Build\n\n| a |\n| 1 s |\n\n## 6. Scale\n\nold\n\n## 7. Features\n\n| f |\n";
        let report = "# B\n\n- commit: def456\n\n## 5. Build\n\nNot run (`--quick` or `--no-build`).\n\n## 6. Scale\n\nnew\n\n## 7. Features\n\nNot run (`--quick` or `--no-build`).\n";
        let out = super::keep_unmeasured(report, previous);
        assert!(out.contains("## 5. Build\n\nNot re-run by this run (`--no-build`): as the previous report had it (that report's commit: abc123).\n\n| a |\n| 1 s |\n"), "{out}");
        assert!(out.contains("## 6. Scale\n\nnew"), "{out}");
        assert!(out.ends_with("(that report's commit: abc123).\n\n| f |\n"), "{out}");
        assert!(!out.contains("Not run ("), "{out}");
        // Kept again by the next run: still the commit that measured them.
        let again = super::keep_unmeasured(&report.replace("def456", "0f0f0f"), &out);
        assert_eq!(again.matches("abc123").count(), 2, "{again}");
        // A run that measured them replaces them.
        let measured = "# B\n\n## 5. Build\n\n| 2 s |\n";
        assert_eq!(super::keep_unmeasured(measured, previous), measured);
    }

    use super::*;

    /// Keeps `cargo xtask bench --quick` from rotting: the harness runs
    /// (debug, small sizes), every scenario reports, and the invariants that
    /// do not depend on timing hold. Speed is never asserted here.
    #[test]
    fn quick_bench_runs_and_reports_every_scenario() {
        let report = run(&Options {
            quick: true,
            release: false,
            build_times: false,
        })
        .unwrap();
        for section in [
            "## 1.",
            "## 2.",
            "## 3.",
            "## 4.",
            "## 5.",
            "## 6.",
            "quick run",
            "| retained bytes / entry |",
            "`statuses()` stream",
            "| peak RSS so far |",
            "### 1b. Event stream",
            "### 1c. Listing",
            "Status of a fleet named by each form of reference",
            "## 8. Operators' commands",
            "| whoami |",
            "## 9. Simulator at scale",
            "| single stop or start: its completion",
        ] {
            assert!(report.contains(section), "{section} missing:\n{report}");
        }
        let at = |section: &str| report.find(section);
        assert!(
            (1..6).all(|n| at(&format!("## {n}.")) < at(&format!("## {}.", n + 1))),
            "sections out of order:\n{report}"
        );
        assert!(
            !report.contains("| null") && !report.contains("nullx"),
            "a figure is missing:\n{report}"
        );
    }

    #[test]
    fn the_executable_is_where_cargo_says_it_put_it() {
        let messages = [
            r#"{"reason":"compiler-artifact","target":{"name":"phala_cloud_sim","kind":["lib"]},"executable":null}"#,
            r#"{"reason":"compiler-artifact","target":{"name":"phala-cloud-sim","kind":["bin"]},"executable":"/elsewhere/release/phala-cloud-sim"}"#,
            r#"{"reason":"build-finished","success":true}"#,
        ]
        .join("\n");
        assert_eq!(
            executable_in(&messages, "phala-cloud-sim"),
            Some(PathBuf::from("/elsewhere/release/phala-cloud-sim"))
        );
        assert_eq!(executable_in(&messages, "other"), None);
    }
}
