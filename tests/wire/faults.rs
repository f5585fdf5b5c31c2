//! Model faults: 500s, hangs, dropped connections, malformed and slow SSE. The server stays up,
//! answers every request, and the status reports the error.

use serde_json::json;

use crate::support::client::{Client, rich_capabilities};
use crate::support::model_server::{ModelServer, Reply};
use crate::support::{cursor, openai_options};

const URI: &str = "file:///p/src/lib.rs";

async fn setup(timeout_ms: u64) -> (ModelServer, Client, u32, u32) {
    let model = ModelServer::start().await;
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(timeout_ms);
    options["provider"]["max_retries"] = json!(1);
    options["provider"]["retry_base_ms"] = json!(10);
    let client = Client::start(rich_capabilities(), options).await;
    client.wait_for("baton/status", |p| p["state"] == "idle").await;
    let (text, line, col) = cursor("fn f() -> i32 {\n    $0\n}\n");
    client.open(URI, "rust", &text).await;
    (model, client, line, col)
}

/// After a fault, a good answer works again and the status returns to idle.
async fn recovers(model: &ModelServer, client: &mut Client, line: u32, col: u32) {
    assert!(client.is_running());
    model.push(Reply::text("42"));
    assert_eq!(client.inline(URI, line, col, true).await, vec!["42".to_owned()]);
    client.wait_for("baton/status", |p| p["state"] == "idle").await;
}

#[tokio::test]
async fn http_500_after_retries_reports_an_error() {
    let (model, mut client, line, col) = setup(5000).await;
    model.push(Reply::status(500, "model exploded"));
    model.push(Reply::status(500, "model exploded"));
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "error").await;
    assert!(s["params"]["message"].as_str().unwrap_or_default().contains("HTTP 500"), "{s}");
    assert_eq!(model.requests().iter().filter(|r| r.path == "/v1/completions").count(), 2, "retried once");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn a_hanging_model_times_out_and_reports_unreachable() {
    let (model, mut client, line, col) = setup(300).await;
    model.push(Reply::Hang);
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "unreachable").await;
    assert!(s["params"]["message"].as_str().unwrap_or_default().contains("300 ms"), "{s}");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn a_dropped_connection_mid_stream_reports_an_error() {
    let (model, mut client, line, col) = setup(5000).await;
    model.push(Reply::DropAfter("4".into()));
    assert!(client.inline(URI, line, col, true).await.is_empty());
    client.wait_for("baton/status", |p| p["state"] == "error").await;
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn malformed_sse_reports_an_error() {
    let (model, mut client, line, col) = setup(5000).await;
    model.push(Reply::MalformedSse);
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "error").await;
    assert!(s["params"]["message"].as_str().unwrap_or_default().contains("cannot read"), "{s}");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn very_slow_sse_still_completes() {
    let (model, client, line, col) = setup(10_000).await;
    model.push(Reply::Slow { text: "1 + 2 + 3".into(), chunk_delay_ms: 40 });
    assert_eq!(client.inline(URI, line, col, true).await, vec!["1 + 2 + 3".to_owned()]);
    client.wait_for("baton/status", |p| p["state"] == "idle").await;
}

#[tokio::test]
async fn garbage_from_the_client_gets_errors_not_a_crash() {
    let (_model, mut client, line, col) = setup(5000).await;
    let resp = client.request("textDocument/inlineCompletion", json!({ "bogus": true })).await;
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
    let resp =
        client.request("workspace/executeCommand", json!({ "command": "baton.edit", "arguments": [{"uri": 3}] })).await;
    assert_eq!(resp["error"]["code"], -32602, "{resp}");
    let resp = client.request("workspace/executeCommand", json!({ "command": "nope" })).await;
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("unknown command"));
    // A change to a document that was never opened, then a completion for it.
    client.change("file:///never/opened.rs", 2, (0, 0), (0, 0), "x").await;
    assert!(client.inline("file:///never/opened.rs", 0, 1, true).await.is_empty());
    assert!(client.is_running());
    let _ = (line, col);
}
