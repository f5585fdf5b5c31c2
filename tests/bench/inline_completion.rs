//! Benchmark (not a test): `cargo bench --bench inline_completion`.
//!
//! (a) The server's own time per inline completion on a 10,000-line file: the real `baton`
//!     binary over stdio, each request preceded by a one-character `didChange` (so every request
//!     reparses incrementally and misses the cache), against a scripted model that answers at
//!     once. The scripted model's own round trip is measured separately and subtracted.
//! (b) Model calls over a replayed typing trace (keystrokes with human gaps; an automatic inline
//!     completion request after each, as VS Code sends them), against the scripted model.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::time::{Duration, Instant};

use baton_test_support::baton;
use baton_test_support::client::{Client, TIMEOUT, inline_params, rich_capabilities};
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

async fn server_time_on_a_large_file() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("value + 1"));
    let client = Client::start(baton!(), rich_capabilities(), options(&model.base_url(), 0)).await;
    let (text, targets) = large_rust_file();
    let lines = text.lines().count();
    let uri = "file:///bench/large.rs";
    client.open(uri, "rust", &text).await;
    let http = reqwest::Client::new();
    let mut model_rtt = Vec::new();
    for _ in 0..50 {
        let t = Instant::now();
        let r = http
            .post(format!("{}/v1/completions", model.base_url()))
            .json(&json!({ "model": "m", "prompt": "x".repeat(6000), "stream": true }))
            .send()
            .await
            .expect("model");
        let _ = r.bytes().await;
        model_rtt.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    model_rtt.sort_by(f64::total_cmp);
    let model_ms = percentile(&model_rtt, 0.5);

    let mut times = Vec::new();
    let rounds = 300;
    for i in 0..rounds {
        let line = targets[(i * 37) % targets.len()];
        client.change(uri, 2 + i as i32, (line, 4), (line, 4), "x").await;
        let t = Instant::now();
        let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, 5, true)).await;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(resp.get("error").is_none(), "{resp}");
        client.change(uri, 2 + i as i32, (line, 4), (line, 5), "").await;
    }
    times.sort_by(f64::total_cmp);
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!("(a) inline completion on a {lines}-line file, {rounds} requests (each after a didChange):");
    println!("    end to end over stdio: p50 {p50:.2} ms, p99 {p99:.2} ms");
    println!("    scripted model round trip (median, same prompt size): {model_ms:.2} ms");
    println!(
        "    server's own time (end to end minus the model's median): p50 {:.2} ms, p99 {:.2} ms",
        (p50 - model_ms).max(0.0),
        (p99 - model_ms).max(0.0)
    );
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

async fn model_calls_over_a_typing_trace(debounce_ms: u64) -> (usize, usize, u64, u64, u64) {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("total += item.price * item.quantity;"));
    model.set_delay_ms(80);
    let client = Client::start(baton!(), rich_capabilities(), options(&model.base_url(), debounce_ms)).await;
    let uri = "file:///bench/trace.rs";
    client.open(uri, "rust", "fn sum(items: &[Item], limit: i64) -> i64 {\n    let mut total = 0;\n    \n}\n").await;
    let (mut line, mut col) = (2u32, 4u32);
    let mut pending = Vec::new();
    let keys = trace();
    for (version, (text, gap)) in keys.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(*gap)).await;
        client.change(uri, 2 + version as i32, (line, col), (line, col), text).await;
        if text.starts_with('\n') {
            line += 1;
            col = 4;
        } else {
            col += text.encode_utf16().count() as u32;
        }
        pending
            .push(client.send_request("textDocument/inlineCompletion", inline_params(uri, line, col, false)).await.1);
    }
    for rx in pending {
        let _ = tokio::time::timeout(TIMEOUT, rx).await;
    }
    let calls = model.requests().iter().filter(|r| r.path == "/v1/completions").count();
    let health = client.request("baton/health", json!(null)).await;
    let c = &health["result"]["counters"];
    let n = |k: &str| c[k].as_u64().unwrap_or(0);
    (keys.len(), calls, n("cacheHits"), n("superseded"), n("requests"))
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
        server_time_on_a_large_file().await;
    }
    if !only.is_empty() && !only.iter().any(|a| a == "b") {
        return;
    }
    println!(
        "(b) model calls over a replayed typing trace (5 lines, human gaps, a request per keystroke, model 80 ms):"
    );
    for debounce in [0u64, 75] {
        let (keys, calls, hits, superseded, requests) = model_calls_over_a_typing_trace(debounce).await;
        println!(
            "    debounce_ms={debounce:>3} (adaptive): {keys} keystrokes, {requests} requests -> {calls} model calls, {hits} cache hits, {superseded} superseded"
        );
    }
}
