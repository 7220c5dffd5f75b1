//! `phala-cvm`: manage fleets of Phala Cloud CVMs from a shell and from scripts.

/// `println!` that ends the program quietly when stdout is closed (a
/// `| head` that has read enough) instead of panicking: results stream, so
/// the reader may well leave first.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: cannot write the result: {e}");
            std::process::exit(1);
        }
    }};
}

mod account;
mod api;
mod cli;
mod deploy;
mod deploy_flags;
mod discovery;
mod fleet;
mod lifecycle;
mod logs;
mod output;
mod project;
mod run;
mod select;
mod settings;
mod ssh;
mod waiting;

use std::process::ExitCode;

use clap::Parser;

/// Exit codes: 0 success, 1 API or network error, 2 usage error, 3 some CVMs
/// did not reach the target or could not be stopped.
pub(crate) mod exit {
    pub const API: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const PARTIAL: u8 = 3;
}

fn main() -> ExitCode {
    let args = cli::Args::parse();
    if let cli::Command::Completions { shell } = args.command {
        let mut command = <cli::Args as clap::CommandFactory>::command();
        clap_complete::generate(shell, &mut command, "phala-cvm", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    // Local commands (compose hash, env sealing) need no account or server.
    let out = output::Out::new(args.output, args.progress);
    if let Some(result) = deploy::local(&args.command, &out) {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                out.error(&e);
                ExitCode::from(exit::USAGE)
            }
        };
    }
    if args.log_level != cli::LogLevel::Off {
        tracing_subscriber::fmt()
            .with_max_level(args.log_level.filter())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::API);
        }
    };
    runtime.block_on(run::run(args))
}
