//! Model faults: 500s, hangs, dropped connections, malformed and slow SSE, answers that never
//! end. The server stays up, answers every request, reads a bounded amount of what the model
//! sends, and the status says what happened in words that fit (slow is not unreachable).

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{cursor, openai_options};

const URI: &str = "file:///p/src/lib.rs";

async fn setup(timeout_ms: u64) -> (ModelServer, Client, u32, u32) {
    setup_with(timeout_ms, json!({})).await
}

/// [`setup`] with `completion` settings merged in.
async fn setup_with(timeout_ms: u64, completion: Value) -> (ModelServer, Client, u32, u32) {
    let model = ModelServer::start().await;
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(timeout_ms);
    options["provider"]["max_retries"] = json!(1);
    options["provider"]["retry_base_ms"] = json!(10);
    if let (Some(target), Some(extra)) = (options["completion"].as_object_mut(), completion.as_object()) {
        target.extend(extra.clone());
    }
    let client = Client::start(baton!(), rich_capabilities(), options).await;
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
async fn a_model_that_accepts_but_does_not_answer_in_time_is_slow_not_unreachable() {
    let (model, mut client, line, col) = setup(300).await;
    model.push(Reply::Hang);
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "slow").await;
    let message = s["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("300 ms") && message.contains("accepted the connection"), "{s}");
    assert!(message.contains("provider.timeout_ms"), "advice that fits: {s}");
    assert!(!message.contains("Start a model server"), "no advice to start a server that is there: {s}");
    assert!(client.inbox().iter().all(|m| m["params"]["state"] != "unreachable"), "never called unreachable");
    recovers(&model, &mut client, line, col).await;
}

// ---- Bounded reads: answers that never end are cut at a cap and the request is answered ----
// Each reply below never ends: without its cap, Baton would read until the provider timeout
// (15 s here) and report "slow"; with it, the request ends at once with what the cap allows.

#[tokio::test]
async fn an_error_body_that_never_ends_is_cut_and_reported() {
    let (model, mut client, line, col) = setup(15_000).await;
    model.push(Reply::EndlessStatus(500));
    model.push(Reply::EndlessStatus(500));
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "error").await;
    assert!(s["params"]["message"].as_str().unwrap_or_default().contains("HTTP 500"), "{s}");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn a_line_that_never_ends_is_cut_at_the_line_cap() {
    let (model, mut client, line, col) = setup(15_000).await;
    model.push(Reply::EndlessLine);
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "error").await;
    let message = s["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("line longer than 1048576 bytes"), "names the cap: {s}");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn an_event_that_never_ends_is_cut_at_the_event_cap() {
    let (model, mut client, line, col) = setup(15_000).await;
    model.push(Reply::EndlessEvent);
    assert!(client.inline(URI, line, col, true).await.is_empty());
    let s = client.wait_for("baton/status", |p| p["state"] == "error").await;
    let message = s["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("an event longer than 1048576 bytes"), "names the cap: {s}");
    recovers(&model, &mut client, line, col).await;
}

#[tokio::test]
async fn an_answer_past_max_tokens_stops_at_max_tokens_worth_of_text() {
    // 4 tokens at 16 bytes a token (providers::limits::MAX_BYTES_PER_TOKEN): 64 bytes.
    let (model, client, line, col) = setup_with(15_000, json!({ "max_tokens": 4 })).await;
    model.push(Reply::Endless("ab".to_owned()));
    assert_eq!(client.inline(URI, line, col, true).await, vec!["ab".repeat(32)]);
    client.wait_for("baton/status", |p| p["state"] == "idle").await;
}

// ---- Health: answered at once, refreshed in the background, recovers on its own ----

#[tokio::test]
async fn health_answers_with_what_it_knows_while_a_check_hangs() {
    let model = ModelServer::start().await;
    // The check at startup and any later one hang; the provider would wait 60 s for each.
    model.push_for("/v1/models", Reply::Hang);
    model.push_for("/v1/models", Reply::Hang);
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(60_000);
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    model.wait_for_requests(1, baton_test_support::client::TIMEOUT).await;
    // Answered long before the hung check could end (the client gives up after 20 s).
    let health = client.request("baton/health", json!(null)).await;
    let result = &health["result"];
    assert_eq!(result["checking"], true, "{health}");
    assert_eq!(result["state"], "unknown", "{health}");
    assert!(result["message"].as_str().unwrap_or_default().contains("not checked yet"), "{health}");
    assert_eq!(model.requests().iter().filter(|r| r.path == "/v1/models").count(), 1, "joined the running check");
}

#[tokio::test]
async fn health_reports_slow_for_a_model_that_accepts_but_does_not_answer() {
    let model = ModelServer::start().await;
    model.push_for("/v1/models", Reply::Hang);
    let mut options = openai_options(&model.base_url());
    options["provider"]["timeout_ms"] = json!(300);
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    client.wait_for("baton/status", |p| p["state"] == "slow").await;
    model.push_for("/v1/models", Reply::Hang);
    let health = client.request("baton/health", json!(null)).await;
    assert_eq!(health["result"]["state"], "slow", "{health}");
    assert_eq!(health["result"]["reachable"], true, "{health}");
}

#[tokio::test]
async fn status_recovers_when_the_model_comes_back_without_any_request() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let options = json!({ "provider": { "base_url": format!("http://127.0.0.1:{port}/v1"), "max_retries": 0 } });
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    let s = client.wait_for("baton/status", |p| p["state"] == "unreachable").await;
    assert!(s["params"]["message"].as_str().unwrap_or_default().contains("Start a model server"), "{s}");
    let seen = client.inbox().len();
    let model = ModelServer::start_on(port).await;
    // No completion, no health request: the background re-check finds the server.
    client.wait_for_after(seen, "baton/status", |p| p["state"] == "idle").await;
    let requests = model.requests();
    assert!(!requests.is_empty() && requests.iter().all(|r| r.path == "/v1/models"), "only checks: {requests:?}");
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
