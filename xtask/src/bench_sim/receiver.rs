//! The loopback receiver the simulator delivers webhooks to: plain tokio
//! on a thread of its own (an axum one in this unoptimised build was slow
//! enough to skew what is measured), recording each delivery's arrival.

use super::*;

/// A delivery as the receiver saw it: (webhook, CVM id, event, status).
pub(super) type Key = (String, String, String, String);

pub(super) fn key(hook: &str, cvm: &str, event: &str, status: &str) -> Key {
    (hook.into(), cvm.into(), event.into(), status.into())
}

/// The loopback webhook receiver: when each delivery arrived.
#[derive(Default)]
pub(super) struct Arrivals {
    pub(super) at: HashMap<Key, Vec<Instant>>,
    pub(super) per_hook: BTreeMap<String, u64>,
    /// Bodies that were not a CVM event's envelope.
    pub(super) other: u64,
}

pub(super) struct Receiver {
    pub(super) arrivals: Mutex<Arrivals>,
    /// Bumped after each delivery recorded.
    pub(super) seen: tokio::sync::watch::Sender<u64>,
}

impl Receiver {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The first arrival of `key` at or after `after`.
    pub(super) fn first(&self, key: &Key, after: Instant) -> Option<Instant> {
        self.lock().at.get(key)?.iter().copied().filter(|&t| t >= after).min()
    }

    /// Waits for `key` to arrive at or after `after`, until `deadline`.
    pub(super) async fn arrival(&self, key: &Key, after: Instant, deadline: tokio::time::Instant) -> Option<Instant> {
        let mut seen = self.seen.subscribe();
        loop {
            if let Some(t) = self.first(key, after) {
                return Some(t);
            }
            match tokio::time::timeout_at(deadline, seen.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

/// When a wait for deliveries gives up.
pub(super) fn deadline() -> tokio::time::Instant {
    tokio::time::Instant::now() + GUARD
}

impl Receiver {
    /// Records one delivery (`path` names the webhook) that arrived `at`.
    pub(super) fn record(&self, path: &str, body: &[u8], at: Instant) {
        let name = path.rsplit('/').next().unwrap_or_default();
        let event: Value = serde_json::from_slice(body).unwrap_or_default();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        {
            let mut a = self.lock();
            *a.per_hook.entry(name.to_string()).or_default() += 1;
            match event["data"]["cvm_id"].as_str() {
                Some(cvm) => {
                    let k = key(name, cvm, &text(&event["event"]), &text(&event["data"]["status"]));
                    a.at.entry(k).or_default().push(at);
                }
                None => a.other += 1,
            }
        }
        self.seen.send_modify(|n| *n += 1);
    }
}

/// One connection to the receiver: HTTP/1.1 requests with a
/// `Content-Length` body (what the simulator's client sends), each answered
/// 200 with no body. Plain tokio, no HTTP framework: this crate is built
/// without optimisation, and the receiver must not be what delays a delivery.
pub(super) async fn receive(stream: tokio::net::TcpStream, receiver: Arc<Receiver>) {
    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        // A whole request: its head, then as many bytes as it says.
        let (head, len) = loop {
            if let Some(head) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&buf[..head]);
                let len = text
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buf.len() >= head + 4 + len {
                    break (head, len);
                }
            }
            if stream.readable().await.is_err() {
                return;
            }
            match stream.try_read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        };
        let at = Instant::now();
        let path = String::from_utf8_lossy(&buf[..head])
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        receiver.record(&path, &buf[head + 4..head + 4 + len], at);
        buf.drain(..head + 4 + len);
        let mut sent = 0;
        while sent < OK.len() {
            if stream.writable().await.is_err() {
                return;
            }
            match stream.try_write(&OK[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}

/// The receiver, served on 127.0.0.1 from a thread and runtime of its own
/// (so the bench's requests do not delay it): its base URL, the sender that
/// stops it, and its thread's id (for its CPU time).
pub(super) fn start_receiver(
    receiver: Arc<Receiver>,
) -> Result<(String, tokio::sync::oneshot::Sender<()>, String), String> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let tid = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_default();
        let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = ready_tx.send(Err(format!("receiver runtime: {e}")));
                return;
            }
        };
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("receiver: {e}")));
                    return;
                }
            };
            let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let _ = ready_tx.send(Ok((format!("http://{addr}"), tid)));
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        if let Ok((stream, _)) = accepted {
                            tokio::spawn(receive(stream, receiver.clone()));
                        }
                    }
                    _ = &mut stop_rx => return,
                }
            }
        });
    });
    let (url, tid) = ready_rx
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| format!("receiver did not start: {e}"))??;
    Ok((url, stop_tx, tid))
}

/// CPU seconds the bench's thread `tid` has used so far.
pub(super) fn thread_cpu_secs(tid: &str) -> f64 {
    let own = std::process::id();
    cpu_secs_at(&format!("/proc/{own}/task/{tid}/stat"))
}
