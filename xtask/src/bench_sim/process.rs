//! The simulator as a child process, and what `/proc` says of it.

use super::*;

/// The simulator binary in its own process, serving until dropped
/// (scenarios 8 and 9 run it).
pub(crate) struct SimProcess {
    pub(super) child: std::process::Child,
    pub(crate) url: String,
}

impl SimProcess {
    pub(crate) fn start(bin: &Path, args: &[&str]) -> Result<SimProcess, String> {
        let mut child = Command::new(bin)
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the simulator: {e}"))?;
        let mut lines = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("Phala Cloud simulator listening on ")
                    .map(|r| r.split_whitespace().next().unwrap_or_default().to_string())
            })
            .ok_or("the simulator did not say where it listens")?;
        // Keep reading what it prints, or its next line would meet a closed pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(SimProcess { child, url })
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops it; its peak resident set as `wait4` reports it (KiB).
    pub(super) fn stop(mut self) -> Result<u64, String> {
        let _ = self.child.kill();
        let pid = self.child.id() as libc::pid_t;
        let mut status = 0;
        // SAFETY: rusage is plain data that wait4 fills in; the pid is our
        // child's, which nothing else waits for (Drop's wait finds it reaped).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped != pid {
            return Err(format!("wait4 failed for the simulator ({pid})"));
        }
        // Linux reports ru_maxrss in KiB.
        Ok(usage.ru_maxrss.max(0) as u64)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// (VmRSS, VmHWM) of process `pid`, in KiB.
pub(super) fn memory(pid: u32) -> Result<(u64, u64), String> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .ok_or_else(|| format!("no {name} in /proc/{pid}/status"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU seconds (user + system) process `pid` has used so far.
pub(super) fn cpu_secs(pid: u32) -> f64 {
    cpu_secs_at(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) in a `stat` file of /proc.
pub(super) fn cpu_secs_at(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command's closing parenthesis: utime and stime are
    // the 12th and 13th of them, in clock ticks.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

/// File descriptors process `pid` holds open (its sockets among them).
pub(super) fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

pub(crate) fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

pub(super) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Median, 95th percentile (nearest rank) and maximum, in milliseconds.
pub(super) fn spread(mut ms: Vec<f64>) -> Value {
    if ms.is_empty() {
        return json!({"n": 0});
    }
    ms.sort_by(f64::total_cmp);
    let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    json!({
        "n": ms.len(),
        "median_ms": round2(rank(0.5)),
        "p95_ms": round2(rank(0.95)),
        "max_ms": round2(ms[ms.len() - 1]),
    })
}
