//! Benchmark (not a test): `cargo bench --bench syntax`.
//!
//! (a) `wait`: how long a request on a small document waits while a pathological document is
//!     opened and then edited: the real `baton` binary over stdio, an inline completion (invoked)
//!     on the small document sent right after each `didOpen`/`didChange` of the other one, against
//!     a scripted model that answers at once. When `BATON_BASELINE_BIN` names another build of
//!     `baton` (for example main's), it runs the same scenarios side by side and prints the ratio:
//!
//!     git archive main | tar -x -C /tmp/baton-main
//!     (cd /tmp/baton-main && cargo build --release)
//!     BATON_BASELINE_BIN=/tmp/baton-main/target/release/baton cargo bench --bench syntax
//!
//! (b) `limits`: tree-sitter's own parse times (in process, no budget) on the kinds of text the
//!     size limits and the budget are about, and how far past its budget a parse stops.
//!
//! `cargo bench --bench syntax -- limits` (or `wait`) runs one part.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use baton::syntax;
use baton_test_support::baton;
use baton_test_support::client::{Client, inline_params, rich_capabilities};
use baton_test_support::documents::unterminated_string;
use baton_test_support::model_server::{ModelServer, Reply};
use ropey::Rope;
use serde_json::json;

/// A request not answered within this long is reported as "> LIMIT" and the run stops.
const LIMIT: Duration = Duration::from_secs(180);

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() { f64::NAN } else { s[s.len() / 2] }
}

/// About `bytes` of ordinary Rust: small documented functions.
fn rust_source(bytes: usize) -> String {
    let mut s = String::from("use std::collections::HashMap;\n\n");
    let mut n = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "/// Adds {n}.\npub fn add_{n}(map: &mut HashMap<String, i64>, value: i64) -> i64 {{\n    let entry = map.entry(\"k{n}\".to_owned()).or_insert(0);\n    *entry += value;\n    *entry\n}}\n\n"
        ));
        n += 1;
    }
    s
}

/// About `bytes` of minified JavaScript on one line, shaped like a bundler's output (a module
/// table of nested function expressions).
fn minified_js(bytes: usize) -> String {
    let mut s = String::from(
        "!function(e){var t={};function n(r){if(t[r])return t[r].exports;var o=t[r]={i:r,l:!1,exports:{}};return e[r].call(o.exports,o,o.exports,n),o.l=!0,o.exports}n(0)}([",
    );
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(&format!(
            "function(e,t,n){{\"use strict\";var r=n({i}),o=function(e){{return e&&e.__esModule?e:{{default:e}}}}(r);t.a{i}=function(e,t){{for(var n=0;n<e.length;n++)if(o.default(e[n],t))return{{k:\"v{i}\",n:n}};return null}}}},"
        ));
        i += 1;
    }
    s.push_str("function(){}]);");
    s
}

/// A pathological document and what the editor does with it.
struct Scenario {
    name: &'static str,
    uri: &'static str,
    language_id: &'static str,
    text: String,
    /// Keystrokes typed at the end of the first line after the open.
    keystrokes: usize,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "100 KB one-line Rust, unterminated string (issue 10)",
            uri: "file:///bench/unterminated.rs",
            language_id: "rust",
            text: unterminated_string(100_000, false),
            keystrokes: 5,
        },
        Scenario {
            name: "100 KB Rust in 1,400 lines, unterminated string",
            uri: "file:///bench/unterminated_lines.rs",
            language_id: "rust",
            text: unterminated_string(100_000, true),
            keystrokes: 5,
        },
        Scenario {
            name: "5 MB Rust",
            uri: "file:///bench/large.rs",
            language_id: "rust",
            text: rust_source(5_000_000),
            keystrokes: 5,
        },
        Scenario {
            name: "5 MB minified JavaScript",
            uri: "file:///bench/bundle.min.js",
            language_id: "javascript",
            text: minified_js(5_000_000),
            keystrokes: 3,
        },
        Scenario {
            name: "1 MB minified JS named .rs, languageId plaintext",
            uri: "file:///bench/bundle.rs",
            language_id: "plaintext",
            text: minified_js(1_000_000),
            keystrokes: 1,
        },
    ]
}

/// The small document's waits (ms): after the open, then after each keystroke. `None` when a
/// request was not answered within [`LIMIT`].
struct Waits {
    open: f64,
    keystrokes: Vec<f64>,
}

/// Runs `scenario` on `program`. Before each of its requests the small document is edited too,
/// so every request is a real one (a reparse of it, a model call), never a cached answer.
async fn waits(program: &Path, scenario: &Scenario) -> Option<Waits> {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("1"));
    let options = json!({
        "provider": { "kind": "openai", "base_url": format!("{}/v1", model.base_url()), "model": "qwen2.5-coder", "max_retries": 0 },
        "completion": { "debounce_ms": 0, "max_debounce_ms": 0 },
    });
    let client = Client::start_with(program, rich_capabilities(), options, &[], None).await;
    let small = "file:///bench/small.rs";
    client.open(small, "rust", "fn main() {\n    let x = \n}\n").await;
    // Warm: the small document is parsed and the model connection is open.
    client.request("textDocument/inlineCompletion", inline_params(small, 1, 12, true)).await;

    let line_len = scenario.text.lines().next().map_or(0, |l| l.encode_utf16().count()) as u32;
    let mut all = Vec::new();
    for step in 0..=scenario.keystrokes {
        if step == 0 {
            client.open(scenario.uri, scenario.language_id, &scenario.text).await;
        } else {
            let col = line_len + step as u32 - 1;
            client.change(scenario.uri, 1 + step as i32, (0, col), (0, col), "a").await;
        }
        let col = 12 + step as u32;
        client.change(small, 2 + step as i32, (1, col), (1, col), "y").await;
        let t = Instant::now();
        let (_, rx) =
            client.send_request("textDocument/inlineCompletion", inline_params(small, 1, col + 1, true)).await;
        match tokio::time::timeout(LIMIT, rx).await {
            Ok(Ok(resp)) => assert!(resp.get("error").is_none(), "{resp}"),
            _ => {
                client.kill().await;
                return None;
            }
        }
        all.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    client.kill().await;
    let calls = model.requests().iter().filter(|r| r.path == "/v1/completions").count();
    assert_eq!(calls, scenario.keystrokes + 2, "every request reached the model");
    Some(Waits { open: all[0], keystrokes: all[1..].to_vec() })
}

fn show(label: &str, w: &Option<Waits>) {
    match w {
        Some(w) => {
            let max = w.keystrokes.iter().copied().fold(0.0, f64::max);
            println!("    {label:<11} {:>10.1} ms {:>12.1} ms {:>10.1} ms", w.open, median(&w.keystrokes), max);
        }
        None => println!("    {label:<11} not answered within {} s", LIMIT.as_secs()),
    }
}

async fn wait_part() {
    let this = baton!().to_path_buf();
    let baseline = std::env::var_os("BATON_BASELINE_BIN").map(PathBuf::from);
    println!("(a) how long a request on a small document waits while another document is opened, then edited");
    println!("    (one inline completion on the small document after the didOpen and after each keystroke;");
    println!("    the small document is edited before each, the model answers at once)");
    if baseline.is_none() {
        println!("    BATON_BASELINE_BIN is not set: this build only (see the header of tests/bench/syntax.rs)");
    }
    for scenario in scenarios() {
        println!("  {} ({} bytes, {} keystrokes):", scenario.name, scenario.text.len(), scenario.keystrokes);
        println!("    {:<11} {:>13} {:>15} {:>13}", "", "after open", "keystroke p50", "keystroke max");
        let base = match &baseline {
            Some(b) => Some(waits(b, &scenario).await),
            None => None,
        };
        let ours = waits(&this, &scenario).await;
        if let Some(base) = &base {
            show("baseline", base);
        }
        show("this build", &ours);
        if let (Some(Some(b)), Some(o)) = (&base, &ours) {
            println!(
                "    {:<11} {:>12.0}x {:>14.0}x",
                "ratio",
                b.open / o.open,
                median(&b.keystrokes) / median(&o.keystrokes)
            );
        }
    }
}

fn time_parse(language: &'static syntax::Language, text: &str) -> (f64, &'static str) {
    let rope = Rope::from_str(text);
    let t = Instant::now();
    let r = syntax::parse_within(language, &rope, None, Duration::from_secs(60), &AtomicBool::new(false));
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    (ms, if r.is_ok() { "parsed" } else { "over 60 s" })
}

fn limits_part() {
    let rust = syntax::language_for("rust", "").expect("rust grammar");
    let js = syntax::language_for("javascript", "").expect("javascript grammar");
    println!("(b) tree-sitter's own parse time, from scratch, no budget (in process):");
    let mut cases: Vec<(String, &'static syntax::Language, String)> = Vec::new();
    for kb in [25, 50, 100] {
        cases.push((
            format!("one-line Rust, unterminated string, {kb} KB"),
            rust,
            unterminated_string(kb * 1000, false),
        ));
    }
    cases.push(("Rust in lines, unterminated string, 100 KB".into(), rust, unterminated_string(100_000, true)));
    for mb in [1, 2, 4, 8] {
        cases.push((format!("ordinary Rust, {mb} MB"), rust, rust_source(mb * 1_000_000)));
    }
    for mb in [1, 2, 4, 8] {
        cases.push((format!("minified JavaScript (one line), {mb} MB"), js, minified_js(mb * 1_000_000)));
    }
    cases.push(("minified JavaScript parsed as Rust, 1 MB".into(), rust, minified_js(1_000_000)));
    cases.push(("minified JavaScript parsed as Rust, 2 MB".into(), rust, minified_js(2_000_000)));
    for (name, language, text) in &cases {
        let (ms, outcome) = time_parse(language, text);
        println!("    {name:<48} {ms:>9.1} ms ({outcome})");
    }
    println!("    one keystroke (an `a` at the end of the first line), incremental reparse, no budget:");
    let keystroke_cases = [
        ("one-line Rust, unterminated string, 100 KB", rust, unterminated_string(100_000, false)),
        ("ordinary Rust, 1 MB", rust, rust_source(1_000_000)),
        ("ordinary Rust, 2 MB", rust, rust_source(2_000_000)),
        ("minified JavaScript (one line), 1 MB", js, minified_js(1_000_000)),
    ];
    for (name, language, text) in &keystroke_cases {
        let ms = time_keystroke(language, text);
        println!("    {name:<48} {ms:>9.1} ms");
    }
    let rope = Rope::from_str(&rust_source(2_000_000));
    let t = Instant::now();
    let _ = syntax::check_limits(&rope);
    println!("    size-limit scan of 2 MB: {:.2} ms", t.elapsed().as_secs_f64() * 1000.0);

    println!("    a parse given a budget stops this long after it (median of 9):");
    for (name, text) in [
        ("one-line unterminated string, 200 KB", unterminated_string(200_000, false)),
        ("ordinary Rust, 8 MB", rust_source(8_000_000)),
    ] {
        let rope = Rope::from_str(&text);
        for budget_ms in [20u64, 1000] {
            let budget = Duration::from_millis(budget_ms);
            let over: Vec<f64> = (0..9)
                .map(|_| {
                    let t = Instant::now();
                    let r = syntax::parse_within(rust, &rope, None, budget, &AtomicBool::new(false));
                    assert!(r.is_err(), "{name} finished within {budget_ms} ms: pick a larger text");
                    (t.elapsed().as_secs_f64() - budget.as_secs_f64()) * 1000.0
                })
                .collect();
            println!("      {name:<40} budget {budget_ms:>3} ms: {:>6.2} ms over", median(&over));
        }
    }
}

/// Parses `text`, types an `a` at the end of its first line, and times the incremental reparse.
fn time_keystroke(language: &'static syntax::Language, text: &str) -> f64 {
    let mut doc = baton::text::Document::new(text, 1, "");
    let never = AtomicBool::new(false);
    let mut tree =
        syntax::parse_within(language, &doc.rope, None, Duration::from_secs(60), &never).expect("first parse");
    let end = doc.rope.line(0).len_chars() - usize::from(text.contains('\n'));
    let pos = doc.pos_at(end, baton::text::Encoding::Utf32);
    let edit = doc.apply_change(Some((pos, pos)), "a", baton::text::Encoding::Utf32);
    syntax::edit_tree(&mut tree, &edit);
    let t = Instant::now();
    let _ = syntax::parse_within(language, &doc.rope, Some(&tree), Duration::from_secs(60), &never);
    t.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    // `cargo test --all-targets` runs harness=false benches too, without `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        println!("syntax benchmark: skipped (run it with `cargo bench --bench syntax`)");
        return;
    }
    let only: Vec<String> = std::env::args().skip(1).filter(|a| a == "wait" || a == "limits").collect();
    if only.is_empty() || only.iter().any(|a| a == "limits") {
        limits_part();
    }
    if only.is_empty() || only.iter().any(|a| a == "wait") {
        wait_part().await;
    }
}
