//! Log bytes to lines, with bounded memory: a line longer than the cap is
//! cut (the rest of it dropped until its newline) and marked, never
//! buffered whole. Container answers may be NDJSON
//! (`{"channel":"stdout|stderr","message":"<base64>"}`), decided from the
//! first byte as Phala's CLI does; anything else is plain text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;

/// Which stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LogChannel {
    /// A container's or the CVM's standard output.
    Stdout,
    /// A container's or the CVM's standard error.
    Stderr,
    /// The CVM's serial console.
    Serial,
}

/// One line of a log, as the CVM wrote it (untrusted: neutralise control
/// characters before showing it on a terminal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogLine {
    /// Where it was written.
    pub channel: LogChannel,
    /// The line without its newline (invalid UTF-8 replaced).
    pub text: String,
    /// The line was longer than the cap: `text` is its beginning.
    pub truncated: bool,
    /// When it was written, if the answer said (and it was parsed off `text`).
    pub timestamp: Option<String>,
}

/// Splits a byte stream into lines of at most `cap` bytes.
#[derive(Debug)]
pub(crate) struct Splitter {
    cap: usize,
    buf: Vec<u8>,
    /// Inside a line already cut: dropping until its newline.
    skipping: bool,
}

impl Splitter {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            buf: Vec::new(),
            skipping: false,
        }
    }

    /// Feeds a chunk; complete (or cut) lines go to `out` as `(bytes, cut)`.
    pub(crate) fn feed(&mut self, mut chunk: &[u8], out: &mut Vec<(Vec<u8>, bool)>) {
        while !chunk.is_empty() {
            let newline = chunk.iter().position(|&b| b == b'\n');
            let (part, rest, ends) = match newline {
                Some(i) => (&chunk[..i], &chunk[i + 1..], true),
                None => (chunk, &[][..], false),
            };
            chunk = rest;
            if self.skipping {
                self.skipping = !ends;
                continue;
            }
            let room = self.cap - self.buf.len();
            if part.len() > room {
                self.buf.extend_from_slice(&part[..room]);
                out.push((std::mem::take(&mut self.buf), true));
                self.skipping = !ends;
            } else {
                self.buf.extend_from_slice(part);
                if ends {
                    out.push((std::mem::take(&mut self.buf), false));
                }
            }
        }
    }

    /// What is left at the end of the stream (a last line without newline).
    pub(crate) fn finish(&mut self) -> Option<(Vec<u8>, bool)> {
        let skipping = std::mem::replace(&mut self.skipping, false);
        (!self.buf.is_empty() && !skipping).then(|| (std::mem::take(&mut self.buf), false))
    }
}

/// Whether `message` is base64 as Phala's CLI tests it: only the
/// alphabet, padded, a multiple of four long.
fn looks_base64(message: &str) -> bool {
    !message.is_empty()
        && message.len().is_multiple_of(4)
        && message
            .trim_end_matches('=')
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// The text of a line: lossy UTF-8 without a trailing `\r`.
fn text_of(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// An RFC 3339 timestamp and a space at the start of `text`, split off.
pub(crate) fn split_timestamp(text: &str) -> Option<(&str, &str)> {
    let (first, rest) = text.split_once(' ')?;
    chrono::DateTime::parse_from_rfc3339(first).ok().map(|_| (first, rest))
}

/// One NDJSON record's channel and message lines. A record cut by the cap
/// still gives the beginning of its message: the base64 up to the cut.
pub(crate) fn ndjson(bytes: &[u8], cut: bool) -> Option<(LogChannel, Vec<(String, bool)>)> {
    let (channel, message) = if cut {
        let text = String::from_utf8_lossy(bytes);
        let channel = if text.contains("\"channel\":\"stderr\"") {
            LogChannel::Stderr
        } else {
            LogChannel::Stdout
        };
        let start = text.find("\"message\":\"")? + "\"message\":\"".len();
        let b64: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '+' || *c == '/')
            .collect();
        (channel, b64[..b64.len() / 4 * 4].to_string())
    } else {
        #[derive(serde::Deserialize)]
        struct Record {
            channel: Option<String>,
            message: Option<String>,
        }
        let r: Record = serde_json::from_slice(bytes).ok()?;
        let channel = match r.channel.as_deref() {
            Some("stderr") => LogChannel::Stderr,
            _ => LogChannel::Stdout,
        };
        (channel, r.message.unwrap_or_default())
    };
    let decoded = if looks_base64(&message) || cut {
        STANDARD
            .decode(&message)
            .unwrap_or_else(|_| message.clone().into_bytes())
    } else {
        message.into_bytes()
    };
    let decoded = decoded.strip_suffix(b"\n").unwrap_or(&decoded);
    let lines = decoded.split(|&b| b == b'\n').map(|l| (text_of(l), cut)).collect();
    Some((channel, lines))
}

/// How a log answer's lines read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Not known until the first byte.
    Unknown,
    Ndjson,
    Text,
}

/// Turns raw lines into [`LogLine`]s.
#[derive(Debug)]
pub(crate) struct Decoder {
    pub(crate) framing: Framing,
    /// The channel of plain-text lines.
    pub(crate) text_channel: LogChannel,
    /// Parse a leading timestamp off each line.
    pub(crate) timestamps: bool,
}

impl Decoder {
    pub(crate) fn decode(&mut self, bytes: &[u8], cut: bool, out: &mut Vec<LogLine>) {
        if self.framing == Framing::Unknown {
            let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
            match first {
                None => return,
                Some(b'{') => self.framing = Framing::Ndjson,
                Some(_) => self.framing = Framing::Text,
            }
        }
        let parsed = match self.framing {
            Framing::Ndjson => ndjson(bytes, cut),
            _ => None,
        };
        let (channel, lines) = parsed.unwrap_or_else(|| (self.text_channel, vec![(text_of(bytes), cut)]));
        for (text, truncated) in lines {
            let (timestamp, text) = match self.timestamps.then(|| split_timestamp(&text)).flatten() {
                Some((ts, rest)) => (Some(ts.to_string()), rest.to_string()),
                None => (None, text),
            };
            out.push(LogLine {
                channel,
                text,
                truncated,
                timestamp,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(cap: usize, chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut s = Splitter::new(cap);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, &mut out);
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn lines_split_across_chunks_and_long_ones_are_cut_not_buffered() {
        let got = split(8, &[b"ab", b"c\nde", b"f\n", b"tail"]);
        assert_eq!(
            got,
            [
                (b"abc".to_vec(), false),
                (b"def".to_vec(), false),
                (b"tail".to_vec(), false)
            ]
        );
        let got = split(4, &[b"0123456789", b"0123456789", b"\nok\n"]);
        assert_eq!(got, [(b"0123".to_vec(), true), (b"ok".to_vec(), false)]);
        // A cut line that never ends leaves nothing behind.
        assert_eq!(split(4, &[b"0123456789"]), [(b"0123".to_vec(), true)]);
    }

    #[test]
    fn ndjson_messages_decode_and_plain_text_passes() {
        let mut d = Decoder {
            framing: Framing::Unknown,
            text_channel: LogChannel::Stdout,
            timestamps: true,
        };
        let mut out = Vec::new();
        let msg = STANDARD.encode("2026-01-01T00:00:00Z hello\n");
        d.decode(
            format!("{{\"channel\":\"stderr\",\"message\":\"{msg}\"}}").as_bytes(),
            false,
            &mut out,
        );
        assert_eq!(out[0].channel, LogChannel::Stderr);
        assert_eq!(
            (out[0].text.as_str(), out[0].timestamp.as_deref()),
            ("hello", Some("2026-01-01T00:00:00Z"))
        );
        // A record cut by the cap gives the beginning of its message.
        let long = STANDARD.encode("x".repeat(100));
        let record = format!("{{\"channel\":\"stdout\",\"message\":\"{long}\"}}");
        out.clear();
        d.decode(&record.as_bytes()[..60], true, &mut out);
        assert!(out[0].truncated && out[0].text.chars().all(|c| c == 'x') && !out[0].text.is_empty());

        let mut t = Decoder {
            framing: Framing::Unknown,
            text_channel: LogChannel::Serial,
            timestamps: false,
        };
        out.clear();
        t.decode(b"[  0.1] boot\r", false, &mut out);
        assert_eq!(
            (out[0].channel, out[0].text.as_str()),
            (LogChannel::Serial, "[  0.1] boot")
        );
    }
}
