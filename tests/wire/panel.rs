//! The suggestions panel (issue 12): `baton/completionPanel` answers up to ten distinct
//! suggestions at a position, the usual one first, in the negotiated encoding, with work done
//! progress while the model works. The user asked and waits, so a failing model, a stale
//! document and a replaced request answer errors, and the server stays up.

use serde_json::{Value, json};

use baton_test_support::client::{Client, TIMEOUT, inline_params, range, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{baton, cursor, openai_options};

const URI: &str = "file:///work/project/src/lib.rs";
const FIXTURE: &str = "fn add(a: i32, b: i32) -> i32 {\n    $0\n}\n";
const FIM: &str = "/v1/completions";
const PANEL: &str = "baton/completionPanel";
/// JSON-RPC codes the LSP spec gives: ContentModified, RequestCancelled, InternalError,
/// InvalidParams.
const CONTENT_MODIFIED: i64 = -32801;
const REQUEST_CANCELLED: i64 = -32800;
const INTERNAL_ERROR: i64 = -32603;
const INVALID_PARAMS: i64 = -32602;

/// A client on `model` with the fixture open (version 1); the cursor.
async fn start(model: &ModelServer) -> (Client, u32, u32) {
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    (client, line, col)
}

fn params(line: u32, col: u32, count: Option<u32>) -> Value {
    let mut p = json!({ "textDocument": { "uri": URI, "version": 1 }, "position": { "line": line, "character": col } });
    if let Some(n) = count {
        p["count"] = json!(n);
    }
    p
}

fn texts(resp: &Value) -> Vec<String> {
    resp["result"]["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["insertText"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn model_calls(model: &ModelServer) -> usize {
    model.requests().iter().filter(|r| r.path == FIM).count()
}

#[tokio::test]
async fn the_panel_lists_the_asked_number_of_suggestions_in_order_with_progress() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    model.set_default_at(0.6, Reply::text("b + a"));
    model.set_default_at(0.8, Reply::text("a.wrapping_add(b)"));
    let (client, line, col) = start(&model).await;
    let resp = client.request(PANEL, params(line, col, Some(3))).await;
    assert_eq!(texts(&resp), ["a + b", "b + a", "a.wrapping_add(b)"], "the usual one first, then by temperature");
    assert_eq!(resp["result"]["version"], 1);
    for item in resp["result"]["items"].as_array().into_iter().flatten() {
        assert_eq!(item["range"], range((line, col), (line, col)));
        assert_eq!(item.as_object().map(|o| o.len()), Some(2), "plain items: insertText and range: {item}");
    }
    assert_eq!(model_calls(&model), 3, "one model call per suggestion asked for");
    // Progress on a token the server created (the client supports it), begun and ended.
    let created = client.wait_for("window/workDoneProgress/create", |p| p["token"].as_str().is_some()).await;
    let token = created["params"]["token"].clone();
    assert!(token.as_str().is_some_and(|t| t.starts_with("baton/panel/")), "{token}");
    client.wait_for("$/progress", |p| p["token"] == token && p["value"]["kind"] == "begin").await;
    client.wait_for("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").await;
}

#[tokio::test]
async fn a_client_token_carries_the_progress() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model).await;
    let mut p = params(line, col, Some(1));
    p["workDoneToken"] = json!("client-token-7");
    let resp = client.request(PANEL, p).await;
    assert_eq!(texts(&resp), ["a + b"], "{resp}");
    client.wait_for("$/progress", |p| p["token"] == "client-token-7" && p["value"]["kind"] == "begin").await;
    client.wait_for("$/progress", |p| p["token"] == "client-token-7" && p["value"]["kind"] == "end").await;
    let created = client.inbox().iter().filter(|m| m["method"] == "window/workDoneProgress/create").count();
    assert_eq!(created, 0, "no server token when the client gave one");
}

#[tokio::test]
async fn the_count_is_capped_at_ten_and_ten_by_default() {
    let model = ModelServer::start().await;
    for (t, text) in [(0.1, "a"), (0.6, "b"), (0.8, "c"), (1.0, "d")] {
        model.set_default_at(t, Reply::text(text));
    }
    let (client, line, col) = start(&model).await;
    let resp = client.request(PANEL, params(line, col, Some(1_000_000))).await;
    assert_eq!(model_calls(&model), 10, "capped at ten model calls: {resp}");
    assert_eq!(texts(&resp), ["a", "b", "c", "d"], "the seven answers at 1.0 are one suggestion");
    let resp = client.request(PANEL, params(line, col, None)).await;
    assert_eq!(model_calls(&model) - 10, 9, "ten by default, the first from the cache: {resp}");
    assert_eq!(texts(&resp), ["a", "b", "c", "d"]);
    let resp = client.request(PANEL, params(line, col, Some(0))).await;
    assert_eq!(texts(&resp), ["a"], "zero counts as one");
}

#[tokio::test]
async fn duplicates_and_empty_answers_are_dropped() {
    let model = ModelServer::start().await;
    // The first, then four others: the same text with trailing space, an empty answer, a new one
    // and that new one again.
    for text in ["a + b", "a + b  ", "", "b + a", "b + a"] {
        model.push(Reply::text(text));
    }
    let (client, line, col) = start(&model).await;
    let resp = client.request(PANEL, params(line, col, Some(5))).await;
    assert_eq!(texts(&resp), ["a + b", "b + a"], "{resp}");
    assert_eq!(model_calls(&model), 5);
}

#[tokio::test]
async fn a_stale_version_is_refused_before_asking_the_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model).await;
    client.change(URI, 2, (line, col), (line, col), "let x = 1;").await;
    let resp = client.request(PANEL, params(line, col, Some(3))).await;
    assert_eq!(resp["error"]["code"], CONTENT_MODIFIED, "{resp}");
    assert!(resp["error"]["message"].as_str().is_some_and(|m| m.contains("version 2, not 1")), "{resp}");
    assert_eq!(model_calls(&model), 0);
}

#[tokio::test]
async fn a_change_while_the_model_works_is_content_modified() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    model.set_delay_ms(1_500);
    let (client, line, col) = start(&model).await;
    let (_, answer) = client.send_request(PANEL, params(line, col, Some(1))).await;
    model.wait_for_requests_to(FIM, 1, TIMEOUT).await;
    client.change(URI, 2, (line, col), (line, col), "// typed meanwhile").await;
    let resp = tokio::time::timeout(TIMEOUT, answer).await.expect("answered").expect("response");
    assert_eq!(resp["error"]["code"], CONTENT_MODIFIED, "{resp}");
}

#[tokio::test]
async fn a_failing_model_answers_an_lsp_error_and_the_server_stays_up() {
    let model = ModelServer::start().await;
    model.push(Reply::status(500, "model exploded"));
    model.set_default(Reply::text("a + b"));
    let (client, line, col) = start(&model).await;
    let resp = client.request(PANEL, params(line, col, Some(3))).await;
    assert_eq!(resp["error"]["code"], INTERNAL_ERROR, "{resp}");
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("the model failed") && message.contains("500"), "{message}");
    // The same session answers the next request.
    let resp = client.request(PANEL, params(line, col, Some(1))).await;
    assert_eq!(texts(&resp), ["a + b"], "{resp}");
}

#[tokio::test]
async fn an_alternative_that_fails_loses_only_itself() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    model.set_default_at(0.6, Reply::status(500, "hot model exploded"));
    model.set_default_at(0.8, Reply::text("b + a"));
    let (client, line, col) = start(&model).await;
    let resp = client.request(PANEL, params(line, col, Some(3))).await;
    assert_eq!(texts(&resp), ["a + b", "b + a"], "{resp}");
}

#[tokio::test]
async fn ghost_text_requests_do_not_cancel_the_panel() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    model.set_delay_ms(1_000);
    let (client, line, col) = start(&model).await;
    let (_, panel) = client.send_request(PANEL, params(line, col, Some(1))).await;
    model.wait_for_requests_to(FIM, 1, TIMEOUT).await;
    // The user goes on typing in the document: an automatic ghost text request.
    let ghost = client.request("textDocument/inlineCompletion", inline_params(URI, 0, 0, false)).await;
    assert!(ghost.get("result").is_some(), "{ghost}");
    let resp = tokio::time::timeout(TIMEOUT, panel).await.expect("answered").expect("response");
    assert_eq!(texts(&resp), ["a + b"], "{resp}");
}

#[tokio::test]
async fn a_newer_panel_request_cancels_the_older_one() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    model.set_delay_ms(1_000);
    let (client, line, col) = start(&model).await;
    let (_, older) = client.send_request(PANEL, params(line, col, Some(1))).await;
    model.wait_for_requests_to(FIM, 1, TIMEOUT).await;
    let newer = client.request(PANEL, params(line, col, Some(1))).await;
    assert_eq!(texts(&newer), ["a + b"], "{newer}");
    let older = tokio::time::timeout(TIMEOUT, older).await.expect("answered").expect("response");
    assert_eq!(older["error"]["code"], REQUEST_CANCELLED, "{older}");
}

#[tokio::test]
async fn ranges_are_in_the_negotiated_encoding_and_cover_a_closing_tail() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("1, 2)"));
    let caps = json!({ "general": { "positionEncodings": ["utf-8"] }, "window": { "workDoneProgress": false } });
    let client = Client::start(baton!(), caps, openai_options(&model.base_url())).await;
    let uri = "file:///work/project/src/main.rs";
    // `    let s = f("😀", ` is 22 bytes before the cursor (😀 is four), the rest of the line `)`.
    let text = "fn main() {\n    let s = f(\"😀\", )\n}\n";
    client.open(uri, "rust", text).await;
    let p = json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 22 }, "count": 1 });
    let resp = client.request(PANEL, p).await;
    let item = &resp["result"]["items"][0];
    assert_eq!(item["insertText"], "1, 2)", "{resp}");
    assert_eq!(item["range"], range((1, 22), (1, 23)), "UTF-8 bytes, over the `)`");
    let prompt = model.requests().into_iter().find(|r| r.path == FIM).map(|r| r.body["prompt"].clone());
    assert!(prompt.and_then(|p| p.as_str().map(|p| p.contains("f(\"😀\", <|fim_suffix|>"))).unwrap_or(false));
    assert!(client.inbox().iter().all(|m| m["method"] != "window/workDoneProgress/create"), "no progress asked");
}

#[tokio::test]
async fn bad_params_and_closed_documents_are_refused() {
    let model = ModelServer::start().await;
    let (client, line, col) = start(&model).await;
    let unknown = json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": col }, "n": 3 });
    assert_eq!(client.request(PANEL, unknown).await["error"]["code"], INVALID_PARAMS);
    let negative = json!({ "textDocument": { "uri": URI }, "position": { "line": 0, "character": 0 }, "count": -1 });
    assert_eq!(client.request(PANEL, negative).await["error"]["code"], INVALID_PARAMS);
    let closed = json!({ "textDocument": { "uri": "file:///nowhere.rs" }, "position": { "line": 0, "character": 0 } });
    let resp = client.request(PANEL, closed).await;
    assert_eq!(resp["error"]["code"], INVALID_PARAMS);
    assert!(resp["error"]["message"].as_str().is_some_and(|m| m.contains("is not open")), "{resp}");
    assert_eq!(model_calls(&model), 0);
}

#[tokio::test]
async fn a_secret_file_never_reaches_the_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("SECRET=1"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///work/project/.env";
    client.open(uri, "sh", "TOKEN=\n").await;
    let p = json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": 6 } });
    let resp = client.request(PANEL, p).await;
    assert!(resp["error"]["message"].as_str().is_some_and(|m| m.contains("secret")), "{resp}");
    assert_eq!(model_calls(&model), 0);
}
