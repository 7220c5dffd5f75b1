//! Scenario 1 of BENCHMARKS.md: what each layer costs per call, per event
//! and per listed CVM (the `overhead`, `sse` and `listing` results of the
//! bench example), and what the profile of it found.

use serde_json::Value;

use crate::md::{row, text};

/// A per-round ratio as "median (lowest-highest)".
fn ratio(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    format!("{}x ({}-{})", v["median"], v["min"], v["max"])
}

fn count(v: &Value) -> String {
    v.as_f64().map_or("-".into(), |x| format!("{}", x.round() as i64))
}

const FOUND: &str = "\nWhat a profile found (issue 31; `perf record -e cpu-clock` of each layer alone, \
`BENCH_VARIANT=facade|raw|hand bench --only overhead`, self samples compared symbol by symbol; this machine \
has no hardware counters). Most of the gap was in the comparison, not in the layers: the hand-written call \
decoded into the facade's `StatusMap` (a sorted `Vec`) where the raw client decodes into the generated \
`BTreeMap` (its inserts and teardown were the largest single difference), it built a cheaper body, and the \
benchmark's heap-counting allocator (two atomic updates per allocation) taxed whichever layer allocated more, \
contended at 64 in flight. Now all three start from the same ids and decode into the same generated type, and \
the counting allocator is paused for these scenarios. In the layers: progenitor puts an `api-version` header \
(the document's version, which the service ignores) in every request, which the hooks then removed: it is \
trimmed from the generated code (`phala_cloud_spec` `codegen_trim`); the facade's HTTP client had a \
client-wide read timeout (a boxed timer and a body wrapper per request) that nothing needed, since JSON \
answers have the per-attempt timeout and event streams their reader's idle timer; the facade sorted the status \
map the generated client had already sorted; the listing copied each CVM's id to hash it and moved each CVM \
(1.8 KB) once more than needed; an answer within the body cap is no longer wrapped (HTTP/1.1 framing already \
holds it to its declared length). What stays, measured and kept: the per-attempt timeout (reqwest's total \
timeout: turning it off bought about 1%), the body cap, the auth/version/workspace/user-agent headers, the \
facade's id checks, duplicate detection and the check that an answer holds only what was asked (about 2% of a \
facade call, mostly string comparisons of the 50 ids).\n\n\
What each change bought, from the runs made while changing (side by side in each run; medians of 6 rounds, \
then of 15 per-round ratios once the harness took them; 1a unless said): at the start, raw / hand-written 0.90 \
and 0.90 sequential, 0.93 and 0.91 at 64 in flight, facade / raw 0.93-0.94 and 0.94-0.96. Trimming \
`api-version`, dropping the read timeout and giving both the same input: 0.90-0.91 (within the noise). The \
hand-written call decoding into the generated map: raw / hand-written 0.95 sequential, 0.96-0.98 at 64. The \
counting allocator paused: 0.95-0.96 and 0.94-0.96. The status map without its sort: facade / raw 0.94-0.96 \
at both concurrencies (from 0.93-0.94). The listing's id hashed in place and one move less: one page at a \
time / hand-written 0.95 to 0.96 (1c). A per-attempt timeout turned off, for comparison only: about 1% (not \
kept). Since CVM references (issue 30), `status_many` also reads the form of each id (a branch-free pass \
over its bytes) to know that no listing is needed. Over the seven runs since the harness took per-round \
ratios (each a side-by-side measurement at both concurrencies), both medians ranged 0.94-0.97: at the goals, not reliably above them; a round's ratio still \
ranges about 0.1. What is left is the facade's checks of the ids and of the answer (about 2% of a call, kept) \
and the per-attempt timer (about 1%, kept).\n";

/// The scenario's section.
pub fn section(r: &Value) -> String {
    let mut md = String::from(
        "\n## 1. Layers: per call, per event, per listed CVM, against fixed-answer servers\n\n\
         The facade; the generated raw client (with its transport hooks); hand-written reqwest code decoding into \
         the same generated types. The layers run in turn within each round, each round starting with the next; a \
         ratio is taken within each round, and the table shows its median over the rounds with the lowest and \
         highest. Goals: raw >= 0.95x hand-written, facade >= 0.95x raw, at 1 and 64 in flight; the same for the \
         event path and the listing.\n\n\
         ### 1a. `status_many` of 50 ids (`raw().batch_cvm_status()`; a hand-written POST)\n\n\
         | mode | rounds x calls | facade req/s | raw req/s | hand-written req/s | facade / raw | raw / hand-written | facade / hand-written |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for o in r["overhead"].as_array().into_iter().flatten() {
        md.push_str(&row(&[
            text(&o["mode"]),
            format!("{} x {}", o["rounds"], o["calls_per_round"]),
            count(&o["facade_rps"]),
            count(&o["raw_rps"]),
            count(&o["hand_written_rps"]),
            ratio(&o["facade_vs_raw"]),
            ratio(&o["raw_vs_hand_written"]),
            ratio(&o["facade_vs_hand_written"]),
        ]));
    }
    let s = &r["sse"];
    md.push_str(&format!(
        "\n### 1b. Event stream: `state` events decoded per second, {} per stream, one stream at a time\n\n\
         `watch_state` (the generated `get_cvm_state` request, the facade's SSE reader with its line-ending \
         rewrite and pending-bytes cap, an idle timer per event) against a hand-written `eventsource-stream` \
         loop over `bytes_stream()`; both decode each event into the generated `CvmState`.\n\n\
         | rounds | facade events/s | hand-written events/s | facade / hand-written |\n|---|---|---|---|\n",
        s["events_per_stream"]
    ));
    md.push_str(&row(&[
        text(&s["rounds"]),
        count(&s["facade_eps"]),
        count(&s["hand_written_eps"]),
        ratio(&s["facade_vs_hand_written"]),
    ]));
    let l = &r["listing"];
    md.push_str(&format!(
        "\n### 1c. Listing: CVMs per second over {} CVMs in pages of 100 (`CVMInfo` shape)\n\n\
         The facade's `cvms()` stream (pages decoded by the generated client, each CVM wrapped, duplicates \
         dropped) one page at a time and with its default 8 pages ahead, against a hand-written loop that \
         fetches page after page and decodes each into the generated page type.\n\n\
         | rounds | facade, one page at a time | facade, 8 ahead | hand-written loop | one page / hand-written | 8 ahead / hand-written |\n\
         |---|---|---|---|---|---|\n",
        l["cvms"]
    ));
    md.push_str(&row(&[
        text(&l["rounds"]),
        count(&l["facade_one_page_cps"]),
        count(&l["facade_8_ahead_cps"]),
        count(&l["hand_written_cps"]),
        ratio(&l["one_page_vs_hand_written"]),
        ratio(&l["ahead_vs_hand_written"]),
    ]));
    md.push_str(FOUND);
    md
}
