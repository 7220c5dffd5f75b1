//! Running the `phala-cvm` binary as a process, hermetically: no key,
//! profile or credentials file from the machine running the tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A credentials directory that does not exist.
fn no_credentials() -> PathBuf {
    std::env::temp_dir().join(format!("phala-cvm-tests-no-credentials-{}", std::process::id()))
}

/// A fresh empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("phala-cvm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    run_in(None, args, env)
}

/// Runs in `cwd` (where a project's `phala.toml` is looked for).
pub fn run_in(cwd: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_phala-cvm"));
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .env_remove("PHALA_CLOUD_API_KEY")
        .env_remove("PHALA_CLOUD_API_PREFIX")
        .env_remove("PHALA_CLOUD_WORKSPACE")
        .env_remove("PHALA_CLOUD_API_VERSION")
        .env_remove("PHALA_CLOUD_PROFILE")
        .env_remove("PHALA_OIDC_TOKEN")
        // No credentials file but the one a test writes.
        .env("PHALA_CLOUD_DIR", no_credentials())
        .env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

pub fn sim(args: &[&str]) -> Output {
    let mut all = vec!["--simulate", "--sim-cvms", "40"];
    all.extend_from_slice(args);
    run(&all, &[])
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
