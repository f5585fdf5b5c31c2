//! Inline completion and its completion-item fallback, each provider's wire format end to end,
//! the FIM prompt, the cache, supersession and the parse-quality check.

use expect_test::expect;
use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, plain_capabilities, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{cursor, openai_options};

const URI: &str = "file:///work/project/src/lib.rs";

const FIXTURE: &str = "use std::collections::HashMap;\n\nfn add(a: i32, b: i32) -> i32 {\n    $0\n}\n";

#[tokio::test]
async fn inline_completion_sends_a_qwen_fim_prompt_and_returns_the_middle() {
    let model = ModelServer::start().await;
    model.push(Reply::text("a + b\n}\n\nfn other() {}"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    let resp = client
        .request("textDocument/inlineCompletion", baton_test_support::client::inline_params(URI, line, col, true))
        .await;
    let item = &resp["result"]["items"][0];
    assert_eq!(item["insertText"], "a + b", "cut before the closer the suffix already has");
    assert_eq!(item["range"], baton_test_support::client::range((line, col), (line, col)));
    assert_eq!(item["command"]["command"], "baton.accepted");
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("a FIM request");
    expect![[r#"
        <|fim_prefix|>use std::collections::HashMap;

        fn add(a: i32, b: i32) -> i32 {
            <|fim_suffix|>
        }
        <|fim_middle|>"#]]
    .assert_eq(req.body["prompt"].as_str().unwrap_or_default());
    assert_eq!(req.body["model"], "qwen2.5-coder-test");
    assert_eq!(req.body["stream"], true);
    assert!(req.body["stop"].as_array().is_some_and(|s| s.contains(&json!("<|endoftext|>"))));
}

#[tokio::test]
async fn clients_with_inline_completion_get_no_duplicate_menu_items() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    let resp = client
        .request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": col } }),
        )
        .await;
    assert_eq!(resp["result"], Value::Null);
    assert!(model.requests().iter().all(|r| r.path != "/v1/completions"), "no model call for it");
}

#[tokio::test]
async fn clients_without_inline_completion_get_an_item_that_replaces_the_word() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("ute_total(items)"));
    let client = Client::start(baton!(), plain_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor("fn main() {\n    let t = comp$0;\n}\n");
    client.open(URI, "rust", &text).await;
    let resp = client
        .request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": URI }, "position": { "line": line, "character": col }, "context": { "triggerKind": 1 } }),
        )
        .await;
    assert_eq!(resp["result"]["isIncomplete"], true);
    let item = &resp["result"]["items"][0];
    assert_eq!(item["textEdit"]["newText"], "compute_total(items)");
    assert_eq!(item["textEdit"]["range"], baton_test_support::client::range((1, 12), (1, 16)), "replaces `comp`");
    assert_eq!(item["filterText"], "compute_total(items)");
    assert_eq!(item["labelDetails"]["description"], "Baton");
}

/// (kind, base path suffix, the route a FIM request must hit, a field that must be in its body)
const PROVIDERS: &[(&str, &str, &str, &str)] = &[
    ("anthropic", "/v1", "/v1/messages", "system"),
    ("ollama", "", "/api/generate", "suffix"),
    ("llamacpp", "", "/infill", "input_suffix"),
];

#[tokio::test]
async fn every_provider_kind_serves_inline_completion_over_its_wire_format() {
    for (kind, suffix, route, field) in PROVIDERS {
        let model = ModelServer::start().await;
        model.set_default(Reply::text("a * b"));
        let options = json!({
            "provider": { "kind": kind, "base_url": format!("{}{suffix}", model.base_url()), "model": "m", "max_retries": 0 },
            "completion": { "debounce_ms": 10 },
        });
        let client = Client::start(baton!(), rich_capabilities(), options).await;
        let (text, line, col) = cursor(FIXTURE);
        client.open(URI, "rust", &text).await;
        let items = client.inline(URI, line, col, true).await;
        assert_eq!(items, vec!["a * b".to_owned()], "{kind}");
        let req =
            model.requests().into_iter().find(|r| r.path == *route).unwrap_or_else(|| panic!("{kind} used {route}"));
        assert!(req.body.get(field).is_some(), "{kind}: {field} in {}", req.body);
    }
}

#[tokio::test]
async fn typing_through_a_suggestion_costs_no_model_call() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("compute(a, b)"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    assert_eq!(client.inline(URI, line, col, false).await, vec!["compute(a, b)".to_owned()]);
    let calls = model.requests().iter().filter(|r| r.path == "/v1/completions").count();
    let mut typed = 0;
    for (version, c) in (2..).zip(["c", "o", "m", "p"]) {
        client.change(URI, version, (line, col + typed), (line, col + typed), c).await;
        typed += 1;
        let rest = client.inline(URI, line, col + typed, false).await;
        assert_eq!(rest, vec!["compute(a, b)"[typed as usize..].to_owned()]);
    }
    assert_eq!(model.requests().iter().filter(|r| r.path == "/v1/completions").count(), calls, "all from the cache");
    let health = client.request("baton/health", json!(null)).await;
    assert_eq!(health["result"]["counters"]["cacheHits"], 4);
}

#[tokio::test]
async fn superseded_requests_are_all_answered_and_only_the_last_reaches_the_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a - b"));
    let mut options = openai_options(&model.base_url());
    options["completion"] = json!({ "debounce_ms": 300, "max_debounce_ms": 300 });
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    let mut receivers = Vec::new();
    for _ in 0..5 {
        receivers.push(
            client
                .send_request(
                    "textDocument/inlineCompletion",
                    baton_test_support::client::inline_params(URI, line, col, false),
                )
                .await
                .1,
        );
    }
    let mut answers = Vec::new();
    for rx in receivers {
        let resp =
            tokio::time::timeout(baton_test_support::client::TIMEOUT, rx).await.expect("answered").expect("response");
        answers.push(baton_test_support::client::items_text(&resp));
    }
    assert_eq!(answers[..4], vec![Vec::<String>::new(); 4], "superseded ones answer empty");
    assert_eq!(answers[4], vec!["a - b".to_owned()]);
    assert_eq!(model.requests().iter().filter(|r| r.path == "/v1/completions").count(), 1);
}

#[tokio::test]
async fn a_suggestion_that_breaks_the_parse_is_dropped() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("let x = [1, 2;"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let (text, line, col) = cursor(FIXTURE);
    client.open(URI, "rust", &text).await;
    assert_eq!(client.inline(URI, line, col, true).await, Vec::<String>::new());
    let health = client.request("baton/health", json!(null)).await;
    assert_eq!(health["result"]["counters"]["discardedParse"], 1);
}

#[tokio::test]
async fn other_open_documents_are_offered_as_context() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("helper()"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open("file:///work/project/src/util.rs", "rust", "pub fn helper() -> i32 { 7 }\n").await;
    client.open("file:///work/project/notes.md", "markdown", "# not code\n").await;
    // On a begun line: an empty one gets no other document (tests/wire/context.rs).
    let (text, line, col) =
        cursor("use std::collections::HashMap;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + $0\n}\n");
    client.open(URI, "rust", &text).await;
    client.inline(URI, line, col, true).await;
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("request");
    let prompt = req.body["prompt"].as_str().unwrap_or_default();
    assert!(prompt.starts_with("<|fim_prefix|>// Path: /work/project/src/util.rs\npub fn helper() -> i32 { 7 }\n// Path: /work/project/src/lib.rs\n"), "{prompt}");
    assert!(!prompt.contains("not code"), "other languages are left out");
}
