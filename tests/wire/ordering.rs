//! The ordering guardrails (lsp.md, tower-lsp #284): didChange is never reordered or held up by
//! slow requests, and $/cancelRequest cancels.

use serde_json::json;

use baton_test_support::baton;
use baton_test_support::client::{Client, TIMEOUT, inline_params, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

#[tokio::test]
async fn many_changes_with_slow_completions_in_flight_stay_in_order() {
    let model = ModelServer::start().await;
    model.set_default(Reply::Hang);
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(120_000);
    let client = Client::start(baton!(), rich_capabilities(), options).await;

    // Eight completions that hang at the model, one per document so none supersedes another:
    // more than tower-lsp's default concurrency of 4.
    let mut hanging = Vec::new();
    for i in 0..8 {
        let uri = format!("file:///p/slow{i}.rs");
        client.open(&uri, "rust", "fn f() {\n    \n}\n").await;
        hanging.push(client.send_request("textDocument/inlineCompletion", inline_params(&uri, 1, 4, true)).await);
    }
    // Completions only: the server's reachability check (`GET /v1/models`) also reaches the model.
    model.wait_for_requests_to("/v1/completions", 8, TIMEOUT).await;

    let uri = "file:///p/typed.rs";
    client.open(uri, "rust", "fn main() {\n    let s = \"\";\n}\n").await;
    let typed = "the quick brown fox jumps over";
    for (i, c) in typed.chars().enumerate() {
        let col = 13 + i as u32;
        client.change(uri, 2 + i as i32, (1, col), (1, col), &c.to_string()).await;
    }
    model.set_default(Reply::text("x"));
    // Answered while eight requests still hang: didChange and this request were not queued
    // behind them.
    client.inline(uri, 1, 13 + typed.len() as u32, true).await;
    let req = model.requests().into_iter().rev().find(|r| r.path == "/v1/completions").expect("request");
    let prompt = req.body["prompt"].as_str().unwrap_or_default();
    assert!(prompt.contains("let s = \"the quick brown fox jumps over<|fim_suffix|>\";"), "{prompt}");

    // $/cancelRequest cancels one of the hanging requests with RequestCancelled (-32800).
    let (id, rx) = hanging.remove(0);
    client.notify("$/cancelRequest", json!({ "id": id })).await;
    let resp = tokio::time::timeout(TIMEOUT, rx).await.expect("answered after cancel").expect("response");
    assert_eq!(resp["error"]["code"], -32800, "{resp}");
}

/// Helix 25.01, accepting a completion item over typed text, once sent the insertion (version 7)
/// before the deletion of the typed text (version 6). The server puts them back in version order:
/// the text the model sees, and a later change's positions, are the user's.
#[tokio::test]
async fn a_change_sent_after_a_newer_version_is_applied_in_version_order() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("x"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///p/orders.py";
    client.open(uri, "python", "def checkout(items):\n    total = \n    return total\n").await;
    client.change(uri, 5, (1, 12), (1, 12), "co").await;
    client.change(uri, 7, (1, 12), (1, 12), "compute_total(items)").await;
    client.change(uri, 6, (1, 12), (1, 14), "").await;
    client.change(uri, 8, (1, 32), (1, 32), " + 1").await;
    client.inline(uri, 1, 36, true).await;
    let req = model.requests().into_iter().rev().find(|r| r.path == "/v1/completions").expect("request");
    let prompt = req.body["prompt"].as_str().unwrap_or_default();
    assert!(prompt.contains("    total = compute_total(items) + 1<|fim_suffix|>\n    return total"), "{prompt}");
}
