//! Model next edits by analogy (`nes.model_prompt = "analogy"`, the default for a Qwen on a
//! completion endpoint): the candidate lines' one-line diff prompts on `/v1/completions` as the
//! model server receives them, answers kept only when they change their line like the user's
//! edit, prose and run-on answers dropped, a newer request superseding the candidates' calls.

use std::time::Duration;

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::Client;
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const METHOD: &str = "textDocument/copilotInlineEdit";
const URI: &str = "file:///p/contact.py";
const TEXT: &str = "class Contact:\n    def __init__(self, name, email, city):\n        self.name = name\n        self.email = email\n        self.city = city\n";

async fn client(model: &ModelServer) -> Client {
    let mut options = openai_options(&model.base_url());
    options["nes"] = json!({ "debounce_ms": 0, "structural_predictions": false });
    Client::start(baton!(), json!({ "general": { "positionEncodings": ["utf-16"] } }), options).await
}

fn params(version: i32) -> Value {
    json!({ "textDocument": { "uri": URI, "version": version }, "position": { "line": 2, "character": 32 } })
}

fn completions(model: &ModelServer) -> Vec<Value> {
    model.requests().into_iter().filter(|r| r.path == "/v1/completions").map(|r| r.body).collect()
}

#[tokio::test]
async fn an_appended_call_is_predicted_on_the_line_of_the_same_shape_and_prose_is_dropped() {
    let model = ModelServer::start().await;
    // The nearest candidate (the email line): right, but running on past its line. The next
    // (the city line): prose.
    model.push(Reply::text("        self.email = email.strip()\n-        self.city = city\n+"));
    model.push(Reply::text("Sure! Here is the updated line."));
    let client = client(&model).await;
    client.open(URI, "python", TEXT).await;
    client.change(URI, 2, (2, 24), (2, 24), ".strip()").await;
    let resp = client.request(METHOD, params(2)).await;
    let edits = resp["result"]["edits"].as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 1, "{resp}");
    assert_eq!(edits[0]["text"], ".strip()");
    assert_eq!(
        edits[0]["range"],
        json!({ "start": { "line": 3, "character": 26 }, "end": { "line": 3, "character": 26 } })
    );
    let arg = edits[0]["command"]["arguments"][0].as_str().unwrap_or_default();
    assert!(arg.starts_with("model:"), "{resp}");

    let asked = completions(&model);
    assert_eq!(asked.len(), 2, "one call per candidate: {asked:?}");
    assert_eq!(
        asked[0]["prompt"],
        "<|file_sep|>p/contact.py.diff\n-        self.name = name\n+        self.name = name.strip()\n-        self.email = email\n+"
    );
    assert_eq!(asked[1]["prompt"].as_str().map(|p| p.ends_with("-        self.city = city\n+")), Some(true));
    assert_eq!(asked[0]["stop"][0], "\n");
    assert_eq!(asked[0]["temperature"], 0.0);
    assert!(asked[0]["max_tokens"].as_u64().is_some_and(|n| n < 100), "{}", asked[0]);

    // Asked again on the same text: both answers come from the cache.
    let again = client.request(METHOD, params(2)).await;
    assert_eq!(again["result"]["edits"][0]["text"], ".strip()", "{again}");
    assert_eq!(completions(&model).len(), 2, "cached");
    client.shutdown().await;
}

#[tokio::test]
async fn answers_that_change_the_line_otherwise_are_dropped_and_nothing_like_it_asks_no_model() {
    let model = ModelServer::start().await;
    // The email line answered with the user's own line, the city line renamed: neither is the edit.
    model.push(Reply::text("        self.name = name.strip()"));
    model.push(Reply::text("        self.town = town"));
    let client = client(&model).await;
    client.open(URI, "python", TEXT).await;
    client.change(URI, 2, (2, 24), (2, 24), ".strip()").await;
    let resp = client.request(METHOD, params(2)).await;
    assert_eq!(resp["result"], json!({ "edits": [] }), "{resp}");
    assert_eq!(completions(&model).len(), 2);

    // A change spanning lines has no line to compare with: no candidates, no model call.
    client.change(URI, 3, (0, 14), (0, 14), "\n    \"\"\"A contact.\"\"\"").await;
    let resp = client.request(METHOD, params(3)).await;
    assert_eq!(resp["result"], json!({ "edits": [] }), "{resp}");
    assert_eq!(completions(&model).len(), 2, "no model call");
    client.shutdown().await;
}

#[tokio::test]
async fn a_newer_request_supersedes_the_candidates_waiting_on_the_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::Hang);
    let client = client(&model).await;
    client.open(URI, "python", TEXT).await;
    client.change(URI, 2, (2, 24), (2, 24), ".strip()").await;
    let (_, first) = client.send_request(METHOD, params(2)).await;
    model.wait_for_requests_to("/v1/completions", 1, Duration::from_secs(20)).await;
    model.set_default(Reply::status(500, "boom"));
    let second = client.request(METHOD, params(2)).await;
    let first = tokio::time::timeout(Duration::from_secs(20), first).await.expect("first answered").expect("answer");
    assert_eq!(first["result"], json!({ "edits": [] }), "superseded: {first}");
    assert_eq!(second["result"], json!({ "edits": [] }), "model failed: {second}");
    client.shutdown().await;
}
