//! Clients that cannot answer `window/showMessageRequest` (Helix 25.01), issue 12 item 5: the
//! model edit presets as code actions of their own with progress, errors and merges said with
//! `window/showMessage`, and the merged text sent to the open buffers.

use serde_json::{Value, json};

use crate::tasks::{LIB, code_actions, no_model, repo, titles};
use baton_test_support::baton;
use baton_test_support::client::{Client, plain_capabilities, range};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const URI: &str = "file:///p/src/math.rs";
const TEXT: &str = "// math\nfn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\nfn main() {}\n";
const FIXED: &str = "```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n";

/// Helix 25.01's relevant capabilities: work done progress, no showMessage (it cannot answer
/// a request with choices), no baton extensions.
fn helix() -> Value {
    let mut caps = plain_capabilities();
    caps["window"] = json!({ "workDoneProgress": true });
    caps
}

async fn selection_actions(client: &Client) -> Vec<Value> {
    let resp = client
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": URI }, "range": range((1, 0), (3, 1)), "context": { "diagnostics": [] } }),
        )
        .await;
    resp["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_presets_are_code_actions_that_run_with_progress_and_never_ask() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text(FIXED));
    let client = Client::start(baton!(), helix(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let actions = selection_actions(&client).await;
    assert_eq!(
        titles(&actions),
        [
            "Baton: fix bugs",
            "Baton: simplify",
            "Baton: add comments",
            "Baton: add error handling",
            "Baton: write a unit test",
            "Baton: document",
        ],
        "no 'edit selection with instruction…', which this client could not answer"
    );
    let simplify = &actions[1]["command"];
    let resp = client
        .request(
            "workspace/executeCommand",
            json!({ "command": simplify["command"], "arguments": simplify["arguments"] }),
        )
        .await;
    assert_eq!(resp["result"]["applied"], true, "{resp}");
    let sent = model.requests().into_iter().find(|r| r.method == "POST").expect("a model request");
    assert!(sent.body.to_string().contains("Simplify this code without changing what it does"), "{}", sent.body);
    client.wait_for("$/progress", |p| p["value"]["kind"] == "begin").await;
    client.wait_for("$/progress", |p| p["value"]["kind"] == "end" && p["value"]["message"] == "edit ready").await;
    assert!(client.inbox().iter().all(|m| m["method"] != "window/showMessageRequest"), "never asked");
}

#[tokio::test]
async fn a_model_that_is_down_is_said_where_the_user_looks() {
    let client = Client::start(baton!(), helix(), no_model()).await;
    client.open(URI, "rust", TEXT).await;
    let actions = selection_actions(&client).await;
    let fix = &actions[0]["command"];
    let resp = client
        .request("workspace/executeCommand", json!({ "command": fix["command"], "arguments": fix["arguments"] }))
        .await;
    let why = resp["error"]["message"].as_str().expect("an error").to_owned();
    let shown = client.wait_for("window/showMessage", |p| p["type"] == 1).await;
    assert_eq!(shown["params"]["message"], format!("Baton: {why}"));
}

#[tokio::test]
async fn a_merge_is_said_and_the_open_buffer_gets_the_merged_text() {
    let agent = "sed -i 's|// TODO: add a function two|fn two() {}|' lib.rs\n";
    let repo = repo(&[("scripted", agent, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let data = repo.data.to_string_lossy().into_owned();
    let client =
        Client::start_with(baton!(), helix(), no_model(), &[("BATON_DATA_DIR", &data)], Some(&repo.root)).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;
    client
        .request(
            "workspace/executeCommand",
            json!({ "command": "baton.task.start", "arguments": [{ "prompt": "Add two", "uri": uri }] }),
        )
        .await;
    client
        .wait_for("window/showMessage", |p| p["message"].as_str().is_some_and(|m| m.starts_with("Baton PR #1 ready")))
        .await;
    let merge = code_actions(&client, &uri, 1).await;
    let title = titles(&merge).into_iter().find(|t| t.contains(": Merge into main")).expect("the merge action");
    let merged = crate::tasks::run_action(&client, &merge, &title).await;
    let commit = merged["result"]["commit"].as_str().expect("merged").to_owned();
    let shown = client
        .wait_for("window/showMessage", |p| {
            p["type"] == 3 && p["message"].as_str().is_some_and(|m| m.starts_with("Baton: merged"))
        })
        .await;
    assert_eq!(
        shown["params"]["message"],
        format!(
            "Baton: merged PR #1 as {} (Signed-off-by: Ada Lovelace <ada@example.com>); the open buffer now shows the merged file",
            &commit[..12]
        )
    );
    let edit = client.wait_for("workspace/applyEdit", |p| p["label"] == "Baton: PR #1 merged").await;
    let changes = &edit["params"]["edit"]["changes"][&uri];
    assert_eq!(changes, &json!([{ "range": range((1, 0), (2, 0)), "newText": "fn two() {}\n" }]), "{edit}");
}
