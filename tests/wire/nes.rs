//! Next edit suggestions over the wire (`textDocument/copilotInlineEdit`): the captured messages
//! of the public clients (tests/nes/fixtures: copilot-lsp and sidekick.nvim recorded from real
//! Neovim, copilot.el and the Copilot README built from their sources) replayed as they were
//! sent; stale versions; model predictions from the scripted model, superseded requests.

use std::time::Duration;

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, frame};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const METHOD: &str = "textDocument/copilotInlineEdit";

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nes/fixtures").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("read fixture")).expect("fixture is JSON")
}

/// `a` with `b`'s keys merged in, recursively.
fn merged(mut a: Value, b: &Value) -> Value {
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            let slot = a.entry(k.clone()).or_insert(Value::Null);
            *slot = if slot.is_object() && v.is_object() { merged(slot.take(), v) } else { v.clone() };
        }
    }
    a
}

/// Replays one fixture: its `initialize` capabilities and options (the model pointed at the
/// scripted server, model predictions off so the answer is the structural one), then its
/// messages in order, requests with the ids they were recorded with. Checks the answer to the
/// NES request against the fixture's and that every follow-up is taken.
async fn replay(name: &str) {
    let fx = fixture(name);
    let messages = fx["messages"].as_array().expect("messages");
    let init = messages.iter().find(|m| m["method"] == "initialize").expect("initialize");
    let model = ModelServer::start().await;
    let options = merged(
        init["params"]["initializationOptions"].clone(),
        &merged(openai_options(&model.base_url()), &json!({ "nes": { "model_predictions": false } })),
    );
    // The same settings as the user's config file too: copilot.el and copilot-lsp send a
    // `workspace/didChangeConfiguration` that replaces the editor's layer (initialization
    // options included), and what is left must not be Baton's default model URL, where a model
    // may really be listening on a developer's machine.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[provider]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"qwen2.5-coder-test\"\n\n[nes]\nmodel_predictions = false\n",
            model.base_url()
        ),
    )
    .expect("write config");
    let config = config.to_string_lossy().into_owned();
    let client = Client::start_with(
        baton!(),
        init["params"]["capabilities"].clone(),
        options,
        &[("BATON_CONFIG", &config)],
        None,
    )
    .await;
    // Neovim offers UTF-8 first; with NES on, UTF-16 is chosen (copilot-lsp sends it anyway).
    assert_eq!(client.initialize_result["capabilities"]["positionEncoding"], "utf-16", "{name}");
    let mut answered = false;
    let mut requests = 0;
    for m in messages {
        let method = m["method"].as_str().expect("method");
        if method == "initialize" || method == "initialized" {
            continue;
        }
        // The message as recorded, ids included (`synthesized` marks sync messages the fixture
        // built, not a JSON-RPC member).
        let mut m = m.clone();
        if let Some(o) = m.as_object_mut() {
            o.remove("synthesized");
        }
        client.send_raw(&frame(&serde_json::to_vec(&m).expect("serialize"))).await;
        let Some(id) = m.get("id") else { continue };
        let resp = client.stray(requests).await;
        requests += 1;
        assert_eq!(resp["id"], *id, "{name}: answers in order, ids as recorded");
        if method == METHOD {
            answered = true;
            let got = &resp["result"]["edits"];
            let want = &fx["response"]["result"]["edits"];
            assert_eq!(got.as_array().map(Vec::len), Some(1), "{name}: {resp}");
            for key in ["text", "range", "textDocument"] {
                assert_eq!(got[0][key], want[0][key], "{name}: {key} in {resp}");
            }
            assert_eq!(got[0]["command"]["command"], "baton.nes.accept");
            let arg = got[0]["command"]["arguments"][0].as_str().unwrap_or_default();
            assert!(arg.starts_with("structural:"), "{name}: {arg}");
        } else {
            assert_eq!(resp["result"], Value::Null, "{name}: {method} answered {resp}");
            assert!(resp.get("error").is_none(), "{name}: {resp}");
        }
    }
    assert!(answered, "{name}: the fixture has a NES request");
    // Still up after the follow-ups (copilot.el's accept is a notification): the next request
    // is answered, and with the suggestion taken there is nothing more to predict.
    let request = messages.iter().find(|m| m["method"] == METHOD).expect("request");
    let uri = request["params"]["textDocument"]["uri"].clone();
    let version = messages
        .iter()
        .filter(|m| m["method"] == "textDocument/didChange")
        .filter_map(|m| m["params"]["textDocument"]["version"].as_i64())
        .max()
        .expect("a change");
    let again = client
        .request(
            METHOD,
            json!({ "textDocument": { "uri": uri, "version": version }, "position": { "line": 2, "character": 16 } }),
        )
        .await;
    let at = messages.iter().position(|m| m["method"] == METHOD).unwrap_or(0);
    let taken = messages[at..].iter().any(|m| m["method"] == "textDocument/didChange");
    let left = again["result"]["edits"].as_array().map(Vec::len);
    assert_eq!(left, Some(if taken { 0 } else { 1 }), "{name}: {again}");
    // The accept, as a request (sidekick, the README) or a notification (copilot.el), reached
    // the command.
    if messages.iter().any(|m| m["method"] == "workspace/executeCommand") {
        let log = client.log();
        assert!(log.contains("next edit accepted"), "{name}: {log}");
    }
    client.shutdown().await;
}

#[tokio::test]
async fn copilot_lsp_as_recorded_from_neovim_gets_the_rename_follow_up() {
    replay("nvim-copilot-lsp.json").await;
}

#[tokio::test]
async fn sidekick_as_recorded_from_neovim_gets_the_rename_follow_up_and_its_accept_is_answered() {
    replay("nvim-sidekick.json").await;
}

#[tokio::test]
async fn copilot_el_gets_the_rename_follow_up_and_its_accept_notification_is_taken() {
    replay("emacs-copilot-el.json").await;
}

#[tokio::test]
async fn the_copilot_readme_request_gets_the_rename_follow_up() {
    replay("readme-copilot-language-server.json").await;
}

const URI: &str = "file:///p/nes.py";
const TEXT: &str = "def area(width, height):\n    return width * height\n\n\nprint(area(2, 3))\n";

async fn client_with(model: &ModelServer, nes: Value) -> Client {
    let options = merged(openai_options(&model.base_url()), &json!({ "nes": nes }));
    let caps = json!({ "general": { "positionEncodings": ["utf-8", "utf-16"] } });
    Client::start(baton!(), caps, options).await
}

fn params(version: i32, line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": URI, "version": version }, "position": { "line": line, "character": character } })
}

#[tokio::test]
async fn a_stale_version_an_unknown_document_and_nes_off_answer_no_edits() {
    let model = ModelServer::start().await;
    let client = client_with(&model, json!({ "model_predictions": false })).await;
    client.open(URI, "python", TEXT).await;
    client.change(URI, 2, (0, 9), (0, 14), "w").await;
    let stale = client.request(METHOD, params(1, 0, 10)).await;
    assert_eq!(stale["result"], json!({ "edits": [] }), "{stale}");
    let unknown = client
        .request(METHOD, json!({ "textDocument": { "uri": "file:///p/other.py", "version": 2 }, "position": { "line": 0, "character": 0 } }))
        .await;
    assert_eq!(unknown["result"], json!({ "edits": [] }), "{unknown}");
    let current = client.request(METHOD, params(2, 0, 10)).await;
    assert_eq!(current["result"]["edits"][0]["text"], "w", "{current}");
    // Malformed params are an error, not a crash.
    let bad = client.request(METHOD, json!({ "textDocument": { "uri": URI } })).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    client.shutdown().await;

    let off = client_with(&model, json!({ "enabled": false })).await;
    assert_eq!(
        off.initialize_result["capabilities"]["positionEncoding"], "utf-8",
        "NES off: the client's first choice"
    );
    off.open(URI, "python", TEXT).await;
    off.change(URI, 2, (0, 9), (0, 14), "w").await;
    let resp = off.request(METHOD, params(2, 0, 10)).await;
    assert_eq!(resp["result"], json!({ "edits": [] }), "{resp}");
    assert!(model.requests().iter().all(|r| !r.path.ends_with("completions")), "no model call for NES");
    off.shutdown().await;
}

#[tokio::test]
async fn a_parameter_added_is_passed_at_the_call_and_accepting_it_is_taken() {
    let model = ModelServer::start().await;
    let client = client_with(&model, json!({ "model_predictions": false })).await;
    client.open(URI, "python", TEXT).await;
    client.change(URI, 2, (0, 22), (0, 22), ", depth").await;
    let resp = client.request(METHOD, params(2, 0, 29)).await;
    let edit = &resp["result"]["edits"][0];
    assert_eq!(edit["text"], ", depth", "{resp}");
    assert_eq!(
        edit["range"],
        json!({ "start": { "line": 4, "character": 15 }, "end": { "line": 4, "character": 15 } })
    );
    let accept = client.request("workspace/executeCommand", edit["command"].clone()).await;
    assert_eq!(accept["result"], Value::Null, "{accept}");
    let bad = client
        .request("workspace/executeCommand", json!({ "command": "baton.nes.accept", "arguments": ["nothing"] }))
        .await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    client.shutdown().await;
}

/// The window the model sees is the whole (short) document; it answers it rewritten. The model
/// is asked only when no structural prediction is found.
#[tokio::test]
async fn the_model_is_asked_when_the_structure_predicts_nothing_and_its_window_becomes_edits() {
    let model = ModelServer::start().await;
    let rewritten = "def area(width, height):\n    return width * height\n\n\nprint(area(2, 3))  # six\n";
    model.set_default(Reply::text(rewritten));
    // The window rewrite (a Qwen model gets the analogy prompt by default: tests/wire/nes_analogy.rs).
    let client = client_with(&model, json!({ "debounce_ms": 0, "model_prompt": "window" })).await;
    let completions = || model.requests().into_iter().filter(|r| r.path == "/v1/completions").collect::<Vec<_>>();
    client.open(URI, "python", TEXT).await;
    // A rename: structural, no model call.
    client.change(URI, 2, (0, 9), (0, 14), "w").await;
    let resp = client.request(METHOD, params(2, 0, 10)).await;
    let arg = resp["result"]["edits"][0]["command"]["arguments"][0].as_str().unwrap_or_default().to_owned();
    assert!(arg.starts_with("structural:"), "{resp}");
    assert!(completions().is_empty(), "no model call when the structure predicts");
    // Undone, then a change the structure says nothing about: the model's rewrite.
    client.change(URI, 3, (0, 9), (0, 10), "width").await;
    client.change(URI, 4, (3, 0), (3, 0), "# area\n").await;
    let text_now = "def area(width, height):\n    return width * height\n\n# area\n\nprint(area(2, 3))\n";
    let rewritten = text_now.replace("print(area(2, 3))", "print(area(2, 3))  # six");
    model.set_default(Reply::text(rewritten));
    let resp = client.request(METHOD, params(4, 4, 0)).await;
    let edits = resp["result"]["edits"].as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 1, "{resp}");
    assert_eq!(edits[0]["text"], "  # six");
    assert_eq!(
        edits[0]["range"],
        json!({ "start": { "line": 5, "character": 17 }, "end": { "line": 5, "character": 17 } })
    );
    let arg = edits[0]["command"]["arguments"][0].as_str().unwrap_or_default();
    assert!(arg.starts_with("model:"), "{resp}");
    let asked = completions();
    assert_eq!(asked.len(), 1);
    let prompt = asked[0].body["prompt"].as_str().unwrap_or_default().to_owned();
    assert!(prompt.contains("original:\n\nupdated:\n# area\n"), "{prompt}");
    assert!(prompt.ends_with("<|file_sep|>updated/p/nes.py\n"), "{prompt}");
    // Asked again on the same text: the answer comes from the cache.
    let again = client.request(METHOD, params(4, 4, 0)).await;
    assert_eq!(again["result"]["edits"].as_array().map(Vec::len), Some(1), "{again}");
    assert_eq!(completions().len(), 1, "the second answer came from the cache");
    client.shutdown().await;
}

#[tokio::test]
async fn a_newer_request_supersedes_one_waiting_on_the_model_and_a_failing_model_answers_empty() {
    let model = ModelServer::start().await;
    model.set_default(Reply::Hang);
    let client = client_with(&model, json!({ "debounce_ms": 0, "model_prompt": "window" })).await;
    client.open(URI, "python", "x = 1\n").await;
    client.change(URI, 2, (0, 4), (0, 5), "2").await;
    let (_, first) = client.send_request(METHOD, params(2, 0, 5)).await;
    model.wait_for_requests(1, Duration::from_secs(20)).await;
    model.set_default(Reply::status(500, "boom"));
    let second = client
        .request(
            METHOD,
            json!({ "textDocument": { "uri": URI, "version": 2 }, "position": { "line": 0, "character": 4 } }),
        )
        .await;
    let first = tokio::time::timeout(Duration::from_secs(20), first).await.expect("first answered").expect("answer");
    assert_eq!(first["result"], json!({ "edits": [] }), "superseded: {first}");
    assert_eq!(second["result"], json!({ "edits": [] }), "model failed: {second}");
    client.shutdown().await;
}

/// Helix has no next edit request: the first structural prediction is a code action.
#[tokio::test]
async fn a_helix_like_client_gets_the_next_edit_as_a_code_action() {
    let model = ModelServer::start().await;
    let options = merged(openai_options(&model.base_url()), &json!({ "nes": { "model_predictions": false } }));
    let client = Client::start(baton!(), baton_test_support::client::plain_capabilities(), options).await;
    client.open(URI, "python", TEXT).await;
    let ask = |line: u32| json!({ "textDocument": { "uri": URI }, "range": baton_test_support::client::range((line, 0), (line, 0)), "context": { "diagnostics": [] } });
    let before = client.request("textDocument/codeAction", ask(0)).await;
    let titles = |r: &Value| -> Vec<String> {
        r["result"].as_array().into_iter().flatten().filter_map(|a| a["title"].as_str().map(str::to_owned)).collect()
    };
    assert!(!titles(&before).iter().any(|t| t.contains("next edit")), "no edit yet: {before}");
    client.change(URI, 2, (0, 9), (0, 14), "w").await;
    let resp = client.request("textDocument/codeAction", ask(0)).await;
    let action = resp["result"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["title"] == "Baton: next edit at line 2")
        .unwrap_or_else(|| panic!("{resp}"));
    let edits = &action["edit"]["changes"][URI];
    assert_eq!(
        *edits,
        json!([{ "range": { "start": { "line": 1, "character": 11 }, "end": { "line": 1, "character": 16 } }, "newText": "w" }]),
        "{action}"
    );
    assert_eq!(action["command"]["command"], "baton.nes.accept");
    client.shutdown().await;
}
