//! Project automation: `cargo xtask spec ...` and `cargo xtask bench`.
//!
//! Thin: the logic lives in `phala-cloud-spec`. Exit codes of `spec diff`:
//! 0 no drift, 1 compatible drift only, 2 breaking drift (`--fail-on breaking`
//! or `never` narrows it);
//! 3 for any failure (network, bad document).

mod bench;
mod bench_cli;
mod bench_layers;
mod bench_sim;
mod doc_check;
mod evidence;
mod md;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use phala_cloud_spec::Overlay;
use phala_cloud_spec::diff::{DiffReport, diff};
use phala_cloud_spec::fetch::{UPSTREAM_URL, fetch};
use phala_cloud_spec::subset::{operation_keys, parse_operation, subset};
use serde_json::Value;

const FAILURE: u8 = 3;

#[derive(Parser)]
#[command(name = "xtask", about = "phala-cloud-rs project tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Work with the bundled OpenAPI document.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Run the benchmarks (release, loopback) and rewrite BENCHMARKS.md.
    Bench {
        /// A short run that checks the harness works; writes nothing.
        #[arg(long)]
        quick: bool,
        /// Skip scenarios 5 and 7 (clean builds: minutes).
        #[arg(long)]
        no_build: bool,
        /// Only scenario 7 (the features' clean builds); prints its table
        /// and writes nothing.
        #[arg(long, conflicts_with_all = ["quick", "no_build"])]
        features_only: bool,
        /// Only scenario 8 (operators' commands beside Phala's CLI); rewrites
        /// that section of BENCHMARKS.md.
        #[arg(long, conflicts_with_all = ["quick", "no_build", "features_only"])]
        cli_only: bool,
        /// Only scenario 9 (the simulator at scale: 100000 CVMs, its peak
        /// resident memory and webhook latency); rewrites that section of
        /// BENCHMARKS.md.
        #[arg(long, conflicts_with_all = ["quick", "no_build", "features_only", "cli_only"])]
        sim_only: bool,
    },
    /// Build the workspace's docs (warnings are errors) and check them as
    /// a user reads them: every type a facade signature names has a page
    /// in the facade's docs, every field and variant there a description,
    /// no empty list or dead link anywhere. Exit 1 when a check fails.
    DocCheck,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Markdown,
}

#[derive(Clone, Copy, ValueEnum)]
enum FailOn {
    Breaking,
    Any,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum EvidenceFailOn {
    Error,
    Warning,
    Never,
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Download the upstream document and check it is OpenAPI.
    Fetch {
        #[arg(long, default_value = UPSTREAM_URL, value_name = "URL|PATH")]
        from: String,
        #[arg(long, default_value = "target/openapi-upstream.json")]
        out: PathBuf,
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Compare the bundled operations with upstream, semantically.
    Diff {
        #[arg(long, default_value = UPSTREAM_URL, value_name = "URL|PATH")]
        from: String,
        /// The document to compare against (the bundled one by default).
        #[arg(long, default_value = "openapi.json")]
        against: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Which drift makes the exit code non-zero. By default any drift
        /// does, as `diff` does: 1 compatible only, 2 breaking.
        #[arg(long, value_enum, default_value_t = FailOn::Any)]
        fail_on: FailOn,
        /// The overlay whose actions are checked against upstream.
        #[arg(long, default_value = "openapi.overlay.json")]
        overlay: PathBuf,
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
    },
    /// Rewrite openapi.json from upstream: the covered operations (plus --add) and the schemas they reach.
    Update {
        #[arg(long, default_value = UPSTREAM_URL, value_name = "URL|PATH")]
        from: String,
        /// Another operation to cover, as 'METHOD /path'.
        #[arg(long, value_name = "'METHOD PATH'")]
        add: Vec<String>,
        /// Cover every operation upstream publishes.
        #[arg(long, conflicts_with = "add")]
        all: bool,
        #[arg(long, default_value = "openapi.json")]
        path: PathBuf,
        /// The overlay the updated document must still accept.
        #[arg(long, default_value = "openapi.overlay.json")]
        overlay: PathBuf,
        #[arg(long, default_value_t = 30, value_name = "SECS")]
        timeout: u64,
        /// Write the document without proving first that the generated
        /// crate compiles (`cargo check` in target/proof).
        #[arg(long)]
        no_compile: bool,
    },
    /// Offline: compare the overlaid document with what the official SDKs
    /// and CLI say (the snapshots in xtask/evidence), per operation and API
    /// version. Exit 0 clean (or acknowledged only), 1 warnings, 2 errors.
    Evidence {
        #[arg(long, default_value = "openapi.json")]
        path: PathBuf,
        #[arg(long, default_value = "openapi.overlay.json")]
        overlay: PathBuf,
        /// The snapshots (every `*.json` but known.json) and known.json.
        #[arg(long, default_value = "xtask/evidence")]
        evidence: PathBuf,
        /// Only findings at these API versions (repeatable; all by default).
        #[arg(long = "api-version", value_name = "YYYY-MM-DD")]
        api_versions: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Which findings make the exit code non-zero.
        #[arg(long, value_enum, default_value_t = EvidenceFailOn::Warning)]
        fail_on: EvidenceFailOn,
        /// Also list what only reflects an SDK's modelling.
        #[arg(long)]
        show_hidden: bool,
    },
    /// The version bump what regeneration changed in the generated crates'
    /// public API needs, by cargo-semver-checks (a maintained tool: install
    /// it with `cargo install cargo-semver-checks --locked`) against a git
    /// revision. Exit 0: no breaking change (minor bump), 2: breaking (major
    /// bump), 3: the tool could not run.
    Semver {
        /// The revision to compare with (the last release, or the base of a PR).
        #[arg(long, default_value = "HEAD")]
        baseline_rev: String,
        /// The crates to check.
        #[arg(long = "package", default_values = ["phala-cloud-api", "phala-cloud"])]
        packages: Vec<String>,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Offline: writes the bundled document with the overlay applied (what
    /// the live service is known to do; the conformance run tests the
    /// simulator against it).
    Overlaid {
        #[arg(long, default_value = "openapi.json")]
        path: PathBuf,
        #[arg(long, default_value = "openapi.overlay.json")]
        overlay: PathBuf,
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
    },
    /// Offline: the bundled document is valid and self-contained, every overlay
    /// action applies, and the result normalises and generates.
    Check {
        #[arg(long, default_value = "openapi.json")]
        path: PathBuf,
        #[arg(long, default_value = "openapi.overlay.json")]
        overlay: PathBuf,
        /// Also prove the generated crate compiles: `cargo check` of
        /// phala-cloud-api generated from this document, in target/proof.
        #[arg(long)]
        compile: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start a runtime: {e}")),
    };
    match cli.command {
        Command::Spec { command } => match runtime.block_on(spec(command)) {
            Ok(code) => code,
            Err(message) => fail(message),
        },
        Command::Bench {
            features_only: true, ..
        } => match bench::feature_build_times() {
            Ok(f) => {
                print!("{}", bench::features_section(Some(&f)));
                ExitCode::SUCCESS
            }
            Err(message) => fail(message),
        },
        Command::Bench { cli_only: true, .. } => match bench::cli_only() {
            Ok(section) => {
                print!("{section}");
                ExitCode::SUCCESS
            }
            Err(message) => fail(message),
        },
        Command::Bench { sim_only: true, .. } => match bench_sim::sim_only() {
            Ok(section) => {
                print!("{section}");
                ExitCode::SUCCESS
            }
            Err(message) => fail(message),
        },
        Command::DocCheck => match doc_check::run() {
            Ok(found) => {
                for (page, what) in &found.problems {
                    println!("{page}: {what}");
                }
                println!(
                    "{} pages, {} fields and variants of the facade read: {} problems",
                    found.pages,
                    found.fields,
                    found.problems.len()
                );
                if found.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
            Err(message) => fail(message),
        },
        Command::Bench { quick, no_build, .. } => {
            let opts = bench::Options {
                quick,
                release: true,
                build_times: !quick && !no_build,
            };
            match bench::run(&opts) {
                Ok(_) => ExitCode::SUCCESS,
                Err(message) => fail(message),
            }
        }
    }
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(FAILURE)
}

async fn spec(command: SpecCommand) -> Result<ExitCode, String> {
    match command {
        SpecCommand::Fetch { from, out, timeout } => {
            let doc = fetch(&from, Duration::from_secs(timeout))
                .await
                .map_err(|e| e.to_string())?;
            write_json(&out, &doc)?;
            println!(
                "{}: {} operations from {from}",
                out.display(),
                phala_cloud_spec::operations(&doc).count()
            );
            Ok(ExitCode::SUCCESS)
        }
        SpecCommand::Diff {
            from,
            against,
            format,
            fail_on,
            overlay,
            timeout,
        } => {
            let (ours, upstream) = ours_and_upstream(&against, &from, timeout).await?;
            let report = diff(&ours, &upstream, true);
            print_report(&report, format);
            let overlay = Overlay::load_path(&overlay).map_err(|e| e.to_string())?;
            eprint!("{}", overlay_report(&overlay, &upstream));
            eprint!("{}", evidence_only_published(&overlay, &ours, &upstream)?);
            let severity = report.severity();
            Ok(ExitCode::from(match fail_on {
                FailOn::Never => 0,
                FailOn::Any => severity,
                FailOn::Breaking if severity == 2 => 2,
                FailOn::Breaking => 0,
            }))
        }
        SpecCommand::Update {
            from,
            add,
            all,
            path,
            overlay: overlay_path,
            timeout,
            no_compile,
        } => {
            let overlay = Overlay::load_path(&overlay_path).map_err(|e| e.to_string())?;
            let (ours, upstream) = ours_and_upstream(&path, &from, timeout).await?;
            let mut ops = operation_keys(if all { &upstream } else { &ours });
            for a in &add {
                let op = parse_operation(a).map_err(|e| e.to_string())?;
                if !ops.contains(&op) {
                    ops.push(op);
                }
            }
            let updated = subset(&upstream, &ops).map_err(|e| e.to_string())?;
            verify(&updated, &overlay, "the updated document")?;
            let report = diff(&ours, &updated, false);
            if updated == ours {
                println!("{}: already up to date", path.display());
            } else {
                if !no_compile {
                    // Proven on a scratch copy: a document that would break
                    // the build never replaces the bundled one.
                    let candidate = scratch_dir()?.join("candidate.openapi.json");
                    write_json(&candidate, &updated)?;
                    compile(&candidate, &overlay_path).map_err(|e| format!("not written: {e}"))?;
                }
                write_json(&path, &updated)?;
                println!("{}: updated ({} operations)", path.display(), ops.len());
            }
            print_report(&report, Format::Text);
            println!("next: cargo xtask spec evidence (the SDKs' view), cargo xtask spec semver (the version bump)");
            Ok(ExitCode::SUCCESS)
        }
        SpecCommand::Evidence {
            path,
            overlay,
            evidence: dir,
            api_versions,
            format,
            fail_on,
            show_hidden,
        } => {
            let report = evidence::run(&path, &overlay, &dir)?.at_versions(&api_versions);
            match format {
                Format::Text => print!("{}", report.to_text(show_hidden)),
                Format::Markdown => print!("{}", report.to_markdown(show_hidden)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?),
            }
            let code = report.exit_code();
            Ok(ExitCode::from(match fail_on {
                EvidenceFailOn::Never => 0,
                EvidenceFailOn::Warning => code,
                EvidenceFailOn::Error if code == 2 => 2,
                EvidenceFailOn::Error => 0,
            }))
        }
        SpecCommand::Semver {
            baseline_rev,
            packages,
            format,
        } => semver(&baseline_rev, &packages, format),
        SpecCommand::Overlaid { path, overlay, out } => {
            let doc = phala_cloud_spec::load_path(&path).map_err(|e| e.to_string())?;
            let overlay = phala_cloud_spec::Overlay::load_path(&overlay).map_err(|e| e.to_string())?;
            let overlaid = phala_cloud_spec::apply_overlay(&doc, &overlay).map_err(|e| e.to_string())?;
            write_json(&out, &overlaid)?;
            Ok(ExitCode::SUCCESS)
        }
        SpecCommand::Check {
            path,
            overlay,
            compile: build,
        } => {
            let code = check(&path, &overlay)?;
            if build {
                compile(&path, &overlay)?;
                println!("{}: the generated crate compiles", path.display());
            }
            Ok(code)
        }
    }
}

fn print_report(report: &DiffReport, format: Format) {
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Markdown => print!("{}", report.to_markdown()),
        Format::Json => println!("{}", serde_json::to_string_pretty(report).unwrap_or_default()),
    }
}

/// Writes pretty JSON (two spaces, trailing newline) atomically.
fn write_json(path: &Path, doc: &Value) -> Result<(), String> {
    let mut text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    text.push('\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// What upstream now says about each overlay action: carried (the action can
/// go) or no longer selecting anything there (the schema moved or went).
fn overlay_report(overlay: &Overlay, upstream: &Value) -> String {
    let mut out = String::new();
    for action in overlay.carried_by(upstream) {
        out.push_str(&format!(
            "overlay: upstream now carries what `{}` adds; the action can go\n",
            action.target
        ));
    }
    if let Ok(applied) = overlay.apply(upstream) {
        for action in applied.unmatched() {
            out.push_str(&format!(
                "overlay: `{}` selects nothing upstream; update or drop it before the next `spec update`\n",
                action.target
            ));
        }
    }
    out
}

/// Runs cargo-semver-checks on `packages` against `baseline`, every feature
/// on (the generated code of every group is public API).
fn semver(baseline: &str, packages: &[String], format: Format) -> Result<ExitCode, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = std::process::Command::new(cargo);
    cmd.current_dir(workspace_root())
        .args(["semver-checks", "--baseline-rev", baseline, "--all-features"]);
    for p in packages {
        cmd.args(["--package", p]);
    }
    let output = cmd
        .output()
        .map_err(|e| format!("cannot run cargo semver-checks: {e}"))?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if log.contains("no such command") || log.contains("no such subcommand") {
        return Err("cargo-semver-checks is not installed: cargo install cargo-semver-checks --locked".into());
    }
    // Its summary line says which bump the changes need.
    let (code, verdict) = if log.contains("semver requires new major version") {
        (
            2,
            "breaking changes in the public API: a major version bump (0.x: a minor one)",
        )
    } else if output.status.success() {
        (0, "no breaking change in the public API: a minor version bump at most")
    } else {
        return Err(format!("cargo semver-checks failed ({}):\n{log}", output.status));
    };
    match format {
        Format::Markdown => print!(
            "## Semver of the regenerated crates\n\n**{verdict}** (against `{baseline}`, cargo-semver-checks).\n\n<details><summary>Report</summary>\n\n```text\n{log}\n```\n</details>\n"
        ),
        Format::Json => println!(
            "{}",
            serde_json::json!({"baseline": baseline, "verdict": verdict, "breaking": code == 2, "report": log})
        ),
        Format::Text => print!("{log}\nsemver: {verdict} (against {baseline})\n"),
    }
    Ok(ExitCode::from(code))
}

/// The operations the overlay adds from the evidence that upstream now
/// publishes: each can leave the overlay and be bundled with `spec update --add`.
fn evidence_only_published(overlay: &Overlay, ours: &Value, upstream: &Value) -> Result<String, String> {
    let published: std::collections::BTreeSet<String> = phala_cloud_spec::operations(upstream)
        .map(|(p, m, _)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let mut out = String::new();
    for op in overlay.operations_added(ours).map_err(|e| e.to_string())? {
        if published.contains(&op) {
            out.push_str(&format!(
                "overlay: upstream now publishes {op}, which the overlay adds from the evidence; \
                 drop it from scripts/evidence/overlay_operations.py and bundle it: spec update --add '{op}'\n"
            ));
        }
    }
    Ok(out)
}

/// The document is self-contained, takes every overlay action, normalises and
/// generates; the generated line count.
fn verify(doc: &Value, overlay: &Overlay, origin: &str) -> Result<usize, String> {
    let problems: Vec<String> = phala_cloud_spec::check_document(doc)
        .iter()
        .map(|e| format!("{origin}: {e}"))
        .collect();
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    let normalised = phala_cloud_spec::prepare(doc, overlay).map_err(|e| format!("{origin}: {e}"))?;
    let code = phala_cloud_spec::codegen::generate(&normalised).map_err(|e| format!("{origin}: {e}"))?;
    Ok(code.lines().count())
}

/// The document at `path` and the upstream one at `from`.
async fn ours_and_upstream(path: &Path, from: &str, timeout: u64) -> Result<(Value, Value), String> {
    let ours = phala_cloud_spec::load_path(path).map_err(|e| e.to_string())?;
    let upstream = fetch(from, Duration::from_secs(timeout))
        .await
        .map_err(|e| e.to_string())?;
    Ok((ours, upstream))
}

fn check(path: &Path, overlay: &Path) -> Result<ExitCode, String> {
    let doc = phala_cloud_spec::load_path(path).map_err(|e| e.to_string())?;
    let overlay = Overlay::load_path(overlay).map_err(|e| e.to_string())?;
    let lines = verify(&doc, &overlay, &path.display().to_string())?;
    let ops = phala_cloud_spec::operations(&doc).count();
    println!(
        "{}: ok ({ops} operations, {} overlay actions applied, {lines} lines generated)",
        path.display(),
        overlay.actions.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The workspace root (xtask lives one level below it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Where `--compile` builds: a target directory of its own (shared with the
/// facade's drift test, which builds the same dependencies), so the
/// workspace's build is not invalidated and later runs are incremental.
fn scratch_dir() -> Result<PathBuf, String> {
    let dir = workspace_root().join("target/proof");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(dir)
}

/// Proves that the raw client generated from `doc` and `overlay` compiles:
/// `cargo check -p phala-cloud-api` with the build script pointed at them.
/// progenitor can emit code that does not type-check (it did for nullable
/// header parameters), so generating is not enough.
fn compile(doc: &Path, overlay: &Path) -> Result<(), String> {
    let absolute = |p: &Path| std::path::absolute(p).map_err(|e| format!("{}: {e}", p.display()));
    let (doc, overlay) = (absolute(doc)?, absolute(overlay)?);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(workspace_root())
        // Every feature: the typed mocks and schema derives are generated code too.
        .args([
            "check",
            "--quiet",
            "--locked",
            "-p",
            "phala-cloud-api",
            "--all-features",
        ])
        .env("CARGO_TARGET_DIR", scratch_dir()?)
        .env("PHALA_CLOUD_API_DOCUMENT", &doc)
        .env("PHALA_CLOUD_API_OVERLAY", &overlay)
        .env_remove("PHALA_CLOUD_API_EXTRA_OVERLAY")
        .env_remove("RUSTFLAGS")
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).take(10).collect();
    Err(format!(
        "{}: the generated crate does not compile ({} error lines; first ones below)\n{}",
        doc.display(),
        stderr.lines().filter(|l| l.starts_with("error")).count(),
        errors.join("\n")
    ))
}
