//! Benchmark (not a test): `cargo bench --bench inline_completion`.
//!
//! (a) The server's own time per inline completion on a 10,000-line Rust module and on a
//!     10,000-line Python file that is one class: the real `baton` binary over stdio, each request
//!     preceded by a one-character `didChange` (so every request misses the cache and a reparse
//!     runs beside it), against a scripted model that answers at once. The scripted model's own
//!     round trip is measured separately and subtracted; p50 and p99 of the overhead.
//! (b) Model calls over a replayed typing trace (keystrokes with human gaps; an automatic inline
//!     completion request after each, as VS Code sends them), against the scripted model.
//!
//! `BATON_BENCH_BIN` names another server binary (another build or branch) to measure.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use baton_test_support::baton;
use baton_test_support::client::{Client, TIMEOUT, inline_params, items_text, rich_capabilities};
use baton_test_support::documents::large_rust_file;
use baton_test_support::model_server::{ModelServer, Reply};
use serde_json::json;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn options(base: &str, debounce_ms: u64) -> serde_json::Value {
    json!({
        "provider": { "kind": "openai", "base_url": format!("{base}/v1"), "model": "qwen2.5-coder", "max_retries": 0 },
        "completion": { "debounce_ms": debounce_ms, "max_debounce_ms": debounce_ms.max(300) },
    })
}

/// The server binary measured: `BATON_BENCH_BIN` (another build or branch, for a side-by-side
/// run), else this build's.
fn server_bin() -> std::path::PathBuf {
    std::env::var_os("BATON_BENCH_BIN").map_or_else(|| baton!().to_path_buf(), std::path::PathBuf::from)
}

/// A Python file of 10,000 lines that is one class (small documented methods), and the lines
/// (0-based) of its methods' empty body lines (8 spaces), where completions are requested. In
/// Python the top-level item around the cursor is often a whole class (issue 13).
fn one_class_python_file() -> (String, Vec<u32>) {
    let mut text = String::from("class Store:\n    \"\"\"Values by key.\"\"\"\n\n");
    let mut targets = Vec::new();
    let mut n = 0u32;
    while text.lines().count() < 10_000 {
        let first = text.lines().count() as u32;
        text.push_str(&format!(
            "    def add_{n}(self, value):\n        \"\"\"Adds {n}.\"\"\"\n        entry = self.table.get(\"k{n}\", 0)\n        entry += value\n        \n        return entry\n\n"
        ));
        targets.push(first + 4);
        n += 1;
    }
    (text, targets)
}

/// The median round trip of the scripted model itself (a streamed completion of a prompt of the
/// size Baton sends), in milliseconds.
async fn model_round_trip(model: &ModelServer) -> f64 {
    let http = reqwest::Client::new();
    let mut rtt = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let r = http
            .post(format!("{}/v1/completions", model.base_url()))
            .json(&json!({ "model": "m", "prompt": "x".repeat(6000), "stream": true }))
            .send()
            .await
            .expect("model");
        let _ = r.bytes().await;
        rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    rtt.sort_by(f64::total_cmp);
    percentile(&rtt, 0.5)
}

/// Part (a) on one file: `rounds` invoked requests (one suggestion each), each after a
/// one-character `didChange` at `indent` on a target line and undone after it. Returns the
/// sorted end-to-end times in milliseconds and how many answers had a suggestion.
async fn overhead_run(
    model: &ModelServer,
    uri: &str,
    language: &str,
    (text, targets): &(String, Vec<u32>),
    indent: u32,
    rounds: usize,
) -> (Vec<f64>, usize) {
    let mut options = options(&model.base_url(), 0);
    options["completion"]["suggestions"] = json!(1);
    let client = Client::start(&server_bin(), rich_capabilities(), options).await;
    client.open(uri, language, text).await;
    let mut times = Vec::new();
    let mut answered = 0;
    for i in 0..rounds {
        let line = targets[(i * 37) % targets.len()];
        let version = 2 + 2 * i as i32;
        client.change(uri, version, (line, indent), (line, indent), "x").await;
        let t = Instant::now();
        let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, indent + 1, true)).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(resp.get("error").is_none(), "{resp}");
        answered += usize::from(!items_text(&resp).is_empty());
        client.change(uri, version + 1, (line, indent), (line, indent + 1), "").await;
    }
    times.sort_by(f64::total_cmp);
    (times, answered)
}

async fn server_time_on_large_files() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("value + 1"));
    let model_ms = model_round_trip(&model).await;
    let rounds = 300;
    println!(
        "(a) server overhead per inline completion ({}), {rounds} requests each after a one-character didChange:",
        server_bin().display()
    );
    println!("    scripted model round trip (median, same prompt size): {model_ms:.2} ms, subtracted below");
    let files = [
        ("file:///bench/large.rs", "rust", large_rust_file(), 4, "10,000-line Rust module"),
        ("file:///bench/one_class.py", "python", one_class_python_file(), 8, "10,000-line one-class Python file"),
    ];
    for (uri, language, file, indent, name) in &files {
        let (times, answered) = overhead_run(&model, uri, language, file, *indent, rounds).await;
        let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        println!(
            "    {name:<34} end to end p50 {p50:6.2} ms, p99 {p99:6.2} ms; overhead p50 {:5.2} ms, p99 {:5.2} ms ({answered} of {rounds} with a suggestion)",
            (p50 - model_ms).max(0.0),
            (p99 - model_ms).max(0.0)
        );
    }
}

/// One keystroke of the trace: the text typed and the gap before it, in milliseconds.
fn trace() -> Vec<(String, u64)> {
    // Lines the model predicts exactly (its scripted answer) and lines it does not.
    let predicted = "total += item.price * item.quantity;";
    let lines = [predicted, "if total > limit { break; }", predicted, "count += 1;", predicted];
    let mut keys = Vec::new();
    let mut gap_seed = 7u64;
    for (n, line) in lines.iter().enumerate() {
        for (i, c) in line.chars().enumerate() {
            gap_seed = gap_seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let jitter = (gap_seed >> 33) % 90;
            // A pause to think at the start of each line, otherwise 40-130 ms between keys.
            let gap = if i == 0 && n > 0 { 600 } else { 40 + jitter };
            keys.push((c.to_string(), gap));
        }
        keys.push(("\n    ".to_owned(), 200));
    }
    keys
}

/// What one replay of the typing trace did.
struct TraceRun {
    keys: usize,
    requests: u64,
    /// Model calls started (requests the scripted model received).
    calls: usize,
    /// Answers with a suggestion, and how many of them came from the cache (no model call).
    shown: usize,
    cache_hits: u64,
    /// Answers with a suggestion that arrived after the next keystroke was sent.
    stale: usize,
    /// Pauses (a gap of 600 ms or more, and the end of the trace), and the median time from the
    /// last keystroke before one to its suggestion, in milliseconds.
    pauses: usize,
    pause_latency_ms: f64,
}

async fn model_calls_over_a_typing_trace(debounce_ms: u64) -> TraceRun {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("total += item.price * item.quantity;"));
    model.set_delay_ms(80);
    let client = Client::start(&server_bin(), rich_capabilities(), options(&model.base_url(), debounce_ms)).await;
    let uri = "file:///bench/trace.rs";
    client.open(uri, "rust", "fn sum(items: &[Item], limit: i64) -> i64 {\n    let mut total = 0;\n    \n}\n").await;
    let (mut line, mut col) = (2u32, 4u32);
    let mut pending = Vec::new();
    let mut sent = Vec::new();
    let keys = trace();
    for (version, (text, gap)) in keys.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*gap)).await;
        client.change(uri, 2 + version as i32, (line, col), (line, col), text).await;
        sent.push(Instant::now());
        if text.starts_with('\n') {
            line += 1;
            col = 4;
        } else {
            col += text.encode_utf16().count() as u32;
        }
        let rx = client.send_request("textDocument/inlineCompletion", inline_params(uri, line, col, false)).await.1;
        // The answer's arrival time, taken as it arrives.
        pending.push(tokio::spawn(async move {
            let resp = tokio::time::timeout(TIMEOUT, rx).await.ok().and_then(Result::ok);
            (Instant::now(), resp.is_some_and(|r| !items_text(&r).is_empty()))
        }));
    }
    let mut answers = Vec::new();
    for p in pending {
        answers.push(p.await.expect("answer task"));
    }
    let mut latencies = Vec::new();
    let (mut shown, mut stale, mut pauses) = (0, 0, 0);
    for (i, &(at, with_items)) in answers.iter().enumerate() {
        let next = keys.get(i + 1).map(|(_, gap)| *gap);
        shown += usize::from(with_items);
        stale += usize::from(with_items && sent.get(i + 1).is_some_and(|n| at > *n));
        if next.is_none_or(|gap| gap >= 600) {
            pauses += 1;
            if with_items {
                latencies.push(at.duration_since(sent[i]).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    let calls = model.requests().iter().filter(|r| r.path == "/v1/completions").count();
    let health = client.request("baton/health", json!(null)).await;
    let c = &health["result"]["counters"];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    TraceRun {
        keys: keys.len(),
        requests: n("requests"),
        calls,
        shown,
        cache_hits: n("cacheHits"),
        stale,
        pauses,
        pause_latency_ms: if latencies.is_empty() { f64::NAN } else { percentile(&latencies, 0.5) },
    }
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` / `cargo test --benches` probes.
    }
    // `cargo test --all-targets` (CI) runs harness=false benches too, without `--bench`: a
    // benchmark is not a test, so it runs only under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("inline_completion benchmark: skipped (run it with `cargo bench --bench inline_completion`)");
        return;
    }
    // `cargo bench --bench inline_completion -- a` (or `b`) runs one part.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| a == "a" || a == "b").collect();
    if only.is_empty() || only.iter().any(|a| a == "a") {
        server_time_on_large_files().await;
    }
    if !only.is_empty() && !only.iter().any(|a| a == "b") {
        return;
    }
    println!(
        "(b) model calls over a replayed typing trace (5 lines, human gaps, a request per keystroke, model 80 ms):"
    );
    for debounce in [0u64, 75] {
        let r = model_calls_over_a_typing_trace(debounce).await;
        let from_model = r.shown.saturating_sub(r.cache_hits as usize);
        println!(
            "    debounce_ms={debounce:>3} (adaptive): {} keystrokes, {} requests -> {} model calls started; {} suggestions shown ({} from the cache, {from_model} from a call); {} calls not shown; {} pauses; {} stale; pause to suggestion median {:.0} ms",
            r.keys,
            r.requests,
            r.calls,
            r.shown,
            r.cache_hits,
            r.calls.saturating_sub(from_model),
            r.pauses,
            r.stale,
            r.pause_latency_ms,
        );
    }
}
