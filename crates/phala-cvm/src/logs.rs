//! `logs`: a CVM's container, serial, stdout or stderr log, as Phala's CLI
//! reads it, on the facade's log stream. What the CVM wrote is untrusted:
//! on output, escape sequences and control characters are shown escaped
//! (`--raw` opts out), and an endless line is cut with a marker. With
//! `--app`, every replica's lines, each prefixed by its CVM's name.

use clap::Args as ClapArgs;
use futures::StreamExt;
use phala_cloud::{Client, Error, LogChannel, LogLine, LogSource, LogsOptions};

use crate::cli::Format;
use crate::output::Out;
use crate::run::Outcome;

/// `logs` flags (Phala's CLI's, plus --app and --raw).
#[derive(ClapArgs, Debug)]
pub struct LogsArgs {
    /// The container (default: the first with logs; a stopped CVM's serial console).
    #[arg(conflicts_with_all = ["serial", "cvm_stdout", "cvm_stderr"])]
    pub container: Option<String>,
    /// The CVM: hashed id, VM UUID, app_APPID, instance id or name. Default: the CVM phala.toml here links to.
    #[arg(long = "cvm", visible_alias = "cvm-id", value_name = "CVM", conflicts_with = "app")]
    pub cvm: Option<String>,
    /// Every CVM of this app, each line prefixed by its CVM's name.
    #[arg(long, value_name = "APP_ID")]
    pub app: Option<String>,
    /// The CVM's serial console.
    #[arg(long, conflicts_with_all = ["cvm_stdout", "cvm_stderr", "stderr"])]
    pub serial: bool,
    /// The CVM's standard output.
    #[arg(long, conflicts_with_all = ["cvm_stderr", "stderr"])]
    pub cvm_stdout: bool,
    /// The CVM's standard error.
    #[arg(long, conflicts_with = "stderr")]
    pub cvm_stderr: bool,
    /// Show the container's standard error too (on stderr).
    #[arg(long)]
    pub stderr: bool,
    /// Only the last N lines.
    #[arg(short = 'n', long, value_name = "N")]
    pub tail: Option<u64>,
    /// Keep printing lines as they are written, until the CVM stops or Ctrl-C.
    #[arg(short, long)]
    pub follow: bool,
    /// Print each line's timestamp.
    #[arg(short, long)]
    pub timestamps: bool,
    /// From this time: RFC 3339, or an age like 10m.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Until this time: RFC 3339, or an age like 10m.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Print lines as the CVM wrote them, escape sequences included.
    #[arg(long)]
    pub raw: bool,
    /// Cut lines longer than this (bytes).
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    pub max_line_bytes: usize,
}

impl LogsArgs {
    fn options(&self) -> LogsOptions {
        let source = if self.serial {
            LogSource::Serial
        } else if self.cvm_stdout {
            LogSource::Stdout
        } else if self.cvm_stderr {
            LogSource::Stderr
        } else if let Some(name) = &self.container {
            LogSource::Container(Some(name.clone()))
        } else {
            LogSource::Auto
        };
        let mut o = LogsOptions::default()
            .source(source)
            .timestamps(self.timestamps)
            .follow(self.follow)
            .max_line_bytes(self.max_line_bytes);
        o.tail = self.tail;
        o.since = self.since.clone();
        o.until = self.until.clone();
        o
    }
}

/// Prints one line where it belongs.
fn print(out: &Out, args: &LogsArgs, prefix: Option<&str>, line: &LogLine) {
    if out.format != Format::Table {
        let mut value = serde_json::to_value(line).unwrap_or_default();
        if let (Some(p), Some(map)) = (prefix, value.as_object_mut()) {
            map.insert("cvm".into(), p.into());
        }
        outln!("{}", serde_json::to_string(&value).unwrap_or_default());
        return;
    }
    let text = if args.raw {
        line.text.as_str().into()
    } else {
        crate::output::safe_log(&line.text)
    };
    let mut shown = String::with_capacity(text.len() + 64);
    if let Some(p) = prefix {
        shown.push_str(&crate::output::safe(p));
        shown.push_str(" | ");
    }
    if let Some(ts) = &line.timestamp {
        shown.push_str(ts);
        shown.push(' ');
    }
    shown.push_str(&text);
    if line.truncated {
        shown.push_str(&format!(" [cut: line longer than {} bytes]", args.max_line_bytes));
    }
    // A container's stderr shows only when asked; the CVM's own channels always.
    let container_stderr = line.channel == LogChannel::Stderr && !args.cvm_stderr;
    if container_stderr {
        if args.stderr {
            eprintln!("{shown}");
        }
    } else {
        outln!("{shown}");
    }
}

/// Reads the log(s) until they end or Ctrl-C.
pub async fn logs(client: &Client, out: &Out, args: &LogsArgs) -> Result<Outcome, Error> {
    if out.format == Format::Json && args.follow {
        return Err(Error::InvalidInput(
            "-o json collects one document: use -o jsonl with --follow".into(),
        ));
    }
    let targets: Vec<(String, Option<String>)> = match &args.app {
        Some(app) => client
            .app_cvms(app)
            .await?
            .iter()
            .filter_map(|c| {
                Some((
                    c.id().or_else(|| c.vm_uuid().map(str::to_string))?,
                    Some(c.name().to_string()),
                ))
            })
            .collect(),
        None => vec![(crate::project::cvm_or_project(args.cvm.as_deref())?, None)],
    };
    if targets.is_empty() {
        return Err(Error::InvalidInput("the app has no CVMs".into()));
    }
    let options = args.options();
    let streams = targets.iter().map(|(id, name)| {
        let prefix = name.clone();
        client
            .logs(id, options.clone())
            .map(move |item| (prefix.clone(), item))
            .boxed()
    });
    let mut merged = futures::stream::select_all(streams);
    let mut collected = Vec::new();
    let mut failed = None;
    loop {
        let next = tokio::select! {
            next = merged.next() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some((prefix, item)) = next else { break };
        match item {
            Ok(line) if out.format == Format::Json => collected.push(line),
            Ok(line) => print(out, args, prefix.as_deref(), &line),
            // One replica's log failing leaves the others running.
            Err(e) if targets.len() > 1 => {
                eprintln!("{}: {e}", crate::output::safe(prefix.as_deref().unwrap_or("?")));
                failed = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    if out.format == Format::Json {
        out.json(&collected);
    }
    Ok(if failed.is_some() {
        Outcome::Partial
    } else {
        Outcome::Done
    })
}
