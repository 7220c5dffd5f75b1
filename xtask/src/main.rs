//! Project automation: `cargo xtask spec ...` and `cargo xtask bench`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Run the benchmarks and rewrite BENCHMARKS.md.
    Bench {
        /// A short run, to keep the harness from rotting.
        #[arg(long)]
        quick: bool,
    },
}

#[derive(Subcommand)]
enum SpecCommand {
    /// Offline: the bundled document is valid, self-contained, normalises and generates.
    Check {
        /// The document to check.
        #[arg(long, default_value = "openapi.json")]
        path: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Spec {
            command: SpecCommand::Check { path },
        } => spec_check(&path),
        Command::Bench { .. } => {
            eprintln!("xtask bench: not implemented yet (see the benchmarks issue)");
            ExitCode::from(2)
        }
    }
}

fn spec_check(path: &std::path::Path) -> ExitCode {
    let result = (|| {
        let doc = phala_cloud_spec::load_path(path).map_err(|e| vec![e.to_string()])?;
        let problems: Vec<String> = phala_cloud_spec::check_document(&doc)
            .iter()
            .map(|e| format!("{}: {e}", path.display()))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        let normalised = phala_cloud_spec::normalise(&doc).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let code =
            phala_cloud_spec::codegen::generate(&normalised).map_err(|e| vec![format!("{}: {e}", path.display())])?;
        let ops = phala_cloud_spec::operations(&doc).count();
        Ok(format!(
            "{}: ok ({ops} operations, {} lines generated)",
            path.display(),
            code.lines().count()
        ))
    })();
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(problems) => {
            problems.iter().for_each(|p| eprintln!("{p}"));
            ExitCode::FAILURE
        }
    }
}
