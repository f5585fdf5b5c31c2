//! Several suggestions (issue 12, "Several suggestions"): an invoked inline completion request
//! gets up to `completion.suggestions` distinct items, the extra ones from model calls at higher
//! temperatures; an automatic one stays one item and one model call.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use baton_test_support::client::{Client, TIMEOUT, inline_params, items_text, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{baton, cursor, openai_options};

const URI: &str = "file:///work/project/src/lib.rs";
const FIXTURE: &str = "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n";
const FIM: &str = "/v1/completions";

/// A client on `model` with `completion.suggestions` = `n`, the fixture open; the cursor.
async fn start(model: &ModelServer, n: u32) -> (Client, u32, u32) {
    let mut options = openai_options(&model.base_url());
    options["completion"]["suggestions"] = json!(n);
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    (client, line, col)
}

fn temperatures(model: &ModelServer) -> Vec<f64> {
    model.requests().iter().filter(|r| r.path == FIM).filter_map(|r| r.body["temperature"].as_f64()).collect()
}

#[tokio::test]
async fn an_invoked_request_returns_three_distinct_suggestions() {
    let model = ModelServer::start().await;
    for text in ["a + b", "b + a", "a.wrapping_add(b)"] {
        model.push(Reply::text(text));
    }
    let (client, line, col) = start(&model, 3).await;
    let resp = client.request("textDocument/inlineCompletion", inline_params(URI, line, col, true)).await;
    let texts = items_text(&resp);
    assert_eq!(texts[0], "a + b", "the usual suggestion first");
    assert_eq!(
        texts.iter().cloned().collect::<BTreeSet<_>>(),
        ["a + b", "b + a", "a.wrapping_add(b)"].map(String::from).into(),
        "{resp}"
    );
    assert_eq!(texts.len(), 3);
    let items = resp["result"]["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        assert_eq!(item["range"], baton_test_support::client::range((line, col), (line, col)));
        assert_eq!(item["command"]["command"], "baton.accepted");
    }
    // The first at the configured temperature, the alternatives hotter, so they differ.
    let mut t = temperatures(&model);
    assert_eq!(t.len(), 3, "one model call per suggestion");
    assert!((t[0] - 0.1).abs() < 1e-6, "{t:?}");
    t.remove(0);
    t.sort_by(f64::total_cmp);
    assert!((t[0] - 0.6).abs() < 1e-6 && (t[1] - 0.8).abs() < 1e-6, "{t:?}");
}

#[tokio::test]
async fn an_automatic_request_returns_one_suggestion_from_one_model_call() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model, 3).await;
    let texts = client.inline(URI, line, col, false).await;
    assert_eq!(texts, ["a + b"]);
    assert_eq!(temperatures(&model).len(), 1, "the hot path makes one model call");
}

#[tokio::test]
async fn duplicates_and_empty_answers_are_dropped() {
    let model = ModelServer::start().await;
    // The first, then four alternatives: the same text (with trailing space), an empty answer,
    // a new one, and that new one again.
    for text in ["a + b", "a + b  ", "", "b + a", "b + a"] {
        model.push(Reply::text(text));
    }
    let (client, line, col) = start(&model, 5).await;
    let texts = client.inline(URI, line, col, true).await;
    assert_eq!(texts, ["a + b", "b + a"]);
    assert_eq!(temperatures(&model).len(), 5);
}

#[tokio::test]
async fn one_suggestion_turns_alternatives_off() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model, 1).await;
    assert_eq!(client.inline(URI, line, col, true).await, ["a + b"]);
    assert_eq!(temperatures(&model).len(), 1);
}

#[tokio::test]
async fn an_absurd_count_is_capped_at_ten() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model, 1_000_000).await;
    assert_eq!(client.inline(URI, line, col, true).await, ["a + b"], "all alike: one item");
    assert_eq!(temperatures(&model).len(), 10, "the first and nine alternatives");
}

#[tokio::test]
async fn a_newer_request_supersedes_the_alternatives() {
    let model = ModelServer::start().await;
    model.push(Reply::text("a + b"));
    model.set_default(Reply::Hang);
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(120_000);
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    let (_, first) = client.send_request("textDocument/inlineCompletion", inline_params(URI, line, col, true)).await;
    // The first suggestion and both alternatives' calls are out; the alternatives hang.
    model.wait_for_requests_to(FIM, 3, TIMEOUT).await;
    // A newer automatic request at the same place (answered from the cache) supersedes them.
    let newer = client.request("textDocument/inlineCompletion", inline_params(URI, line, col, false)).await;
    assert_eq!(items_text(&newer), ["a + b"]);
    let first: Value = tokio::time::timeout(TIMEOUT, first).await.expect("answered, not hung").expect("response");
    assert!(items_text(&first).len() <= 1, "no alternatives after supersession: {first}");
    assert_eq!(temperatures(&model).len(), 3, "the newer request made no model call");
}
