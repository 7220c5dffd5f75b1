//! Server-Sent Events, decoded without trusting the server: a byte stream
//! becomes events (LF, CRLF or CR line endings, comments, multi-line `data:`)
//! with a cap on how much may arrive without completing an event, so a
//! stream that never ends an event cannot grow memory without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use crate::error::snippet;
use crate::raw::types::{CvmStateComplete, CvmStateError, CvmStateTimeout};
use crate::watch::StateEvent;
use crate::{CvmState, Error, Status};

/// Decodes `bytes` into events. Fails (and ends) when more than `max_pending`
/// bytes arrive without an event completing, or when the transport fails.
pub(crate) fn events<S, B, E>(bytes: S, max_pending: usize) -> impl Stream<Item = Result<Event, Error>> + Send
where
    S: Stream<Item = Result<B, E>> + Send + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    // Bytes fed to the parser since it last produced an event.
    let pending = Arc::new(AtomicUsize::new(0));
    let fed = pending.clone();
    let mut endings = LineEndings::default();
    let guarded = bytes.map(move |chunk| {
        let chunk = chunk.map_err(|e| GuardError::Transport(e.to_string()))?;
        let n = fed.fetch_add(chunk.as_ref().len(), Ordering::Relaxed) + chunk.as_ref().len();
        if n > max_pending {
            return Err(GuardError::TooLong(max_pending));
        }
        Ok(endings.rewrite(chunk.as_ref()))
    });
    let mut failed = false;
    guarded
        .eventsource()
        .map(move |item| {
            pending.store(0, Ordering::Relaxed);
            item.map_err(|e| match e {
                eventsource_stream::EventStreamError::Transport(GuardError::TooLong(cap)) => {
                    Error::Stream(format!("more than {cap} bytes without a complete event"))
                }
                eventsource_stream::EventStreamError::Transport(GuardError::Transport(m)) => Error::Stream(m),
                other => Error::Stream(format!(
                    "malformed event stream: {}",
                    snippet(other.to_string().as_bytes())
                )),
            })
        })
        // The first error ends the stream: what follows a broken frame means nothing.
        .take_while(move |item| {
            let go = !failed;
            failed |= item.is_err();
            futures::future::ready(go)
        })
}

/// Rewrites CR and CRLF line endings to LF, across chunk boundaries.
///
/// The parser underneath waits for the byte after a CR to tell CR from
/// CRLF, so an event ended by CRs was held back until more bytes came, and
/// lost if the stream ended there (as it does after `complete`).
#[derive(Default)]
struct LineEndings {
    after_cr: bool,
}

impl LineEndings {
    fn rewrite(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len());
        for &b in chunk {
            match b {
                b'\r' => out.push(b'\n'),
                b'\n' if self.after_cr => {}
                _ => out.push(b),
            }
            self.after_cr = b == b'\r';
        }
        out
    }
}

#[derive(Debug)]
enum GuardError {
    Transport(String),
    TooLong(usize),
}

impl std::fmt::Display for GuardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuardError::Transport(m) => f.write_str(m),
            GuardError::TooLong(cap) => write!(f, "more than {cap} bytes without a complete event"),
        }
    }
}

/// The payload of a `complete`, `timeout` or `error` event, decoded into its
/// generated type; a payload that does not decode counts as empty, since the
/// event's name already says what happened.
fn payload<T: DeserializeOwned>(data: &str) -> Option<T> {
    serde_json::from_str(data).ok()
}

/// Seconds as the server counts them (a float, untrusted): negative, not a
/// number or beyond any `Duration` count as zero.
fn seconds(s: f64) -> std::time::Duration {
    std::time::Duration::try_from_secs_f64(s).unwrap_or_default()
}

/// What one event of the state stream means; `None` for events this crate
/// does not know (ignored, so the server may add new ones).
pub(crate) fn state_event(name: &str, data: &str, target: &str) -> Option<Result<StateEvent, Error>> {
    Some(match name {
        "state" => match serde_json::from_str::<CvmState>(data) {
            Ok(s) => Ok(StateEvent::State(Box::new(s))),
            Err(e) => Err(Error::decode(200, format!("state event: {e}"), data.as_bytes())),
        },
        "complete" => {
            let f = payload::<CvmStateComplete>(data);
            Ok(StateEvent::Complete {
                status: f
                    .as_ref()
                    .and_then(|f| f.status.clone())
                    .unwrap_or_else(|| Status::from(target)),
                elapsed: f.and_then(|f| f.elapsed).map(seconds).unwrap_or_default(),
                target: target.to_string(),
            })
        }
        "timeout" => Ok(StateEvent::Timeout {
            elapsed: payload::<CvmStateTimeout>(data)
                .and_then(|f| f.elapsed)
                .map(seconds)
                .unwrap_or_default(),
            target: target.to_string(),
        }),
        "error" => {
            let f = payload::<CvmStateError>(data);
            Ok(StateEvent::Error {
                error: f
                    .as_ref()
                    .and_then(|f| f.error.clone())
                    .unwrap_or_else(|| "error".into()),
                message: f.and_then(|f| f.message).unwrap_or_else(|| data.to_string()),
            })
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::types::KnownStatus;
    use futures::executor::block_on;
    use proptest::prelude::*;
    use serde_json::json;

    fn decode_all(chunks: Vec<Vec<u8>>, cap: usize) -> Vec<Result<Event, Error>> {
        let stream = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
        block_on(events(stream, cap).collect::<Vec<_>>())
    }

    /// Splits `bytes` at the given cut points.
    fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        points.push(0);
        points.push(bytes.len());
        points.sort_unstable();
        points.dedup();
        points.windows(2).map(|w| bytes[w[0]..w[1]].to_vec()).collect()
    }

    #[test]
    fn crlf_comments_multiline_data_and_unknown_events() {
        let text = ": keepalive\r\nevent: state\r\ndata: {\"status\":\r\ndata: \"stopping\"}\r\n\r\n\
                    event: brand_new\r\ndata: x\r\n\r\n: another comment\revent: complete\rdata: {\"status\":\"stopped\",\"elapsed\":3.5}\r\r";
        let evs: Vec<Event> = decode_all(vec![text.as_bytes().to_vec()], 1 << 20)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let names: Vec<&str> = evs.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(names, ["state", "brand_new", "complete"]);
        assert_eq!(evs[0].data, "{\"status\":\n\"stopping\"}");
        let decoded: Vec<_> = evs
            .iter()
            .filter_map(|e| state_event(&e.event, &e.data, "stopped"))
            .map(Result::unwrap)
            .collect();
        assert!(matches!(&decoded[0], StateEvent::State(s) if s.status == KnownStatus::Stopping));
        assert_eq!(
            decoded[1],
            StateEvent::Complete {
                status: KnownStatus::Stopped.into(),
                elapsed: std::time::Duration::from_millis(3500),
                target: "stopped".into()
            }
        );
        assert_eq!(decoded.len(), 2, "the unknown event is ignored");
    }

    #[test]
    fn an_event_that_never_ends_is_cut_at_the_cap() {
        let endless = std::iter::repeat_n(
            b"data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".to_vec(),
            10_000,
        )
        .collect();
        let out = decode_all(endless, 64 * 1024);
        assert_eq!(out.len(), 1, "one error, then the stream ends");
        assert!(matches!(&out[0], Err(Error::Stream(m)) if m.contains("65536 bytes")));
    }

    #[test]
    fn malformed_finish_payloads_fall_back_to_the_target() {
        let e = state_event("complete", "not json", "stopped").unwrap().unwrap();
        assert!(
            matches!(e, StateEvent::Complete { ref status, elapsed, .. } if *status == KnownStatus::Stopped && elapsed.is_zero())
        );
        let e = state_event("error", "gone", "stopped").unwrap().unwrap();
        assert_eq!(
            e,
            StateEvent::Error {
                error: "error".into(),
                message: "gone".into()
            }
        );
        assert!(matches!(
            state_event("state", "[1]", "x"),
            Some(Err(Error::Decode { .. }))
        ));
    }

    fn line_ending() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")]
    }

    fn status() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("running".to_string()),
            Just("stopping".to_string()),
            Just("stopped".to_string()),
            "[a-z_]{1,12}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Arbitrary bytes, cut anywhere, never panic the decoder and never
        /// yield more than one error.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                       cuts in proptest::collection::vec(any::<usize>(), 0..8),
                                       cap in 16usize..4096) {
            let out = decode_all(split(&bytes, &cuts), cap);
            prop_assert!(out.iter().filter(|r| r.is_err()).count() <= 1);
            for ev in out.into_iter().flatten() {
                let _ = state_event(&ev.event, &ev.data, "stopped");
            }
        }

        /// Arbitrary event names and payloads never panic the interpretation.
        #[test]
        fn arbitrary_events_never_panic(name in ".{0,16}", data in ".{0,256}", target in ".{0,16}") {
            let _ = state_event(&name, &data, &target);
        }

        /// States survive framing with any line ending, comments, unknown
        /// events, `data:` split over lines, and any chunking.
        #[test]
        fn states_round_trip(states in proptest::collection::vec(
                                 (status(), any::<bool>(), "[a-z0-9-]{0,20}", proptest::option::of("[0-9]{1,3}m")), 1..6),
                             eol in line_ending(),
                             comments in any::<bool>(),
                             cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
            let mut text = String::new();
            let mut expected = Vec::new();
            for (status, in_progress, name, uptime) in &states {
                let value = json!({"id": format!("cvm_{name}"), "name": name, "status": status,
                                   "in_progress": in_progress, "uptime": uptime});
                expected.push(serde_json::from_value::<CvmState>(value.clone()).unwrap());
                if comments {
                    text.push_str(&format!(": ping{eol}event: unknown{eol}data: {{}}{eol}{eol}"));
                }
                text.push_str(&format!("event: state{eol}"));
                for line in serde_json::to_string_pretty(&value).unwrap().lines() {
                    text.push_str(&format!("data: {line}{eol}"));
                }
                text.push_str(eol);
            }
            let got: Vec<CvmState> = decode_all(split(text.as_bytes(), &cuts), 1 << 20)
                .into_iter()
                .map(|r| r.unwrap())
                .filter_map(|e| state_event(&e.event, &e.data, "stopped"))
                .map(|r| match r.unwrap() {
                    StateEvent::State(s) => *s,
                    other => panic!("unexpected {other:?}"),
                })
                .collect();
            prop_assert_eq!(got, expected);
        }
    }
}
