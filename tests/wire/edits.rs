//! Model edits as code actions and commands: listing never waits on the model; the edit comes
//! back as an undoable workspace/applyEdit (annotated for confirmation where supported), with
//! work done progress.

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, plain_capabilities, range, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const URI: &str = "file:///p/src/math.rs";
const TEXT: &str = "// math\nfn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n\nfn main() {}\n";
const FIXED: &str = "Here you go:\n```rust\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n```\n";

fn diagnostic() -> Value {
    json!({ "range": range((2, 4), (2, 9)), "message": "wrong operator: add should add", "source": "review", "severity": 1 })
}

#[tokio::test]
async fn code_actions_are_listed_without_waiting_on_a_hanging_model() {
    let model = ModelServer::start().await;
    model.set_default(Reply::Hang);
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let resp = client
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": URI }, "range": range((1, 0), (3, 1)), "context": { "diagnostics": [diagnostic()] } }),
        )
        .await;
    let titles: Vec<&str> =
        resp["result"].as_array().expect("actions").iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(
        titles,
        [
            "Baton: fix with the model: wrong operator: add should add",
            "Baton: edit selection with instruction…",
            "Baton: delegate to a background agent…",
            "Baton: delegate to a background agent: fix “wrong operator: add should add”",
        ]
    );
    assert_eq!(resp["result"][0]["kind"], "quickfix");
    assert_eq!(resp["result"][1]["command"]["command"], "baton.edit");
    assert!(model.requests().iter().all(|r| r.method != "POST"), "no model call to list actions");
}

#[tokio::test]
async fn edit_selection_applies_minimal_labelled_edits_without_confirmation_with_progress() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text(FIXED));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let resp = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "baton.edit", "arguments": [{ "uri": URI, "range": range((1, 0), (3, 1)), "instruction": "make add add" }] }),
        )
        .await;
    assert_eq!(resp["result"]["applied"], true, "{resp}");
    let apply = client.wait_for("workspace/applyEdit", |_| true).await;
    let edit = &apply["params"]["edit"];
    assert_eq!(edit["documentChanges"][0]["textDocument"], json!({ "uri": URI, "version": 1 }));
    assert_eq!(
        edit["documentChanges"][0]["edits"],
        json!([{ "range": range((2, 0), (3, 0)), "newText": "    a + b\n", "annotationId": "baton" }]),
        "only the changed line"
    );
    // A label, never a confirmation: VS Code would open a Refactor Preview with the change unticked.
    assert_eq!(edit["changeAnnotations"]["baton"]["label"], "Baton: make add add");
    assert!(edit["changeAnnotations"]["baton"].get("needsConfirmation").is_none(), "{edit}");
    assert_eq!(apply["params"]["label"], "Baton: make add add");
    client.wait_for("window/workDoneProgress/create", |_| true).await;
    client.wait_for("$/progress", |p| p["value"]["kind"] == "begin").await;
    client.wait_for("$/progress", |p| p["value"]["kind"] == "end").await;
    let chat = model.requests().into_iter().find(|r| r.path == "/v1/chat/completions").expect("chat request");
    let user = chat.body["messages"][1]["content"].as_str().unwrap_or_default();
    assert!(user.contains("<EDIT>\nfn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n</EDIT>"), "{user}");
    assert!(user.contains("Instruction: make add add"), "{user}");
}

#[tokio::test]
async fn fix_diagnostic_uses_its_message_and_plain_clients_get_a_changes_map() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text(FIXED));
    let client = Client::start(baton!(), plain_capabilities(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let resp = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "baton.fix", "arguments": [{ "uri": URI, "diagnostic": diagnostic() }] }),
        )
        .await;
    assert_eq!(resp["result"]["applied"], true, "{resp}");
    let apply = client.wait_for("workspace/applyEdit", |_| true).await;
    // The diagnostic's line alone is rewritten; the model's extra lines are diffed away.
    let changes = &apply["params"]["edit"]["changes"][URI];
    assert!(changes.is_array(), "{apply}");
    let chat = model.requests().into_iter().find(|r| r.path == "/v1/chat/completions").expect("chat request");
    assert!(chat.body.to_string().contains("reported by review: wrong operator: add should add"));
}

#[tokio::test]
async fn an_edit_without_instruction_asks_and_a_rejected_edit_is_reported() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text(FIXED));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let args = json!({ "command": "baton.edit", "arguments": [{ "uri": URI, "range": range((1, 0), (3, 1)) }] });
    // Nobody answers: a clear error, no model call.
    let resp = client.request("workspace/executeCommand", args.clone()).await;
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("needs an instruction"), "{resp}");
    assert!(model.requests().iter().all(|r| r.path != "/v1/chat/completions"));
    // The user picks a preset, then rejects the edit in the editor.
    *client.message_answer.lock().expect("answer") = Some("Simplify".into());
    *client.apply_edits.lock().expect("apply") = false;
    let resp = client.request("workspace/executeCommand", args).await;
    assert_eq!(resp["result"]["applied"], false, "{resp}");
    let chat = model.requests().into_iter().find(|r| r.path == "/v1/chat/completions").expect("chat request");
    assert!(chat.body.to_string().contains("Instruction: Simplify"));
}

#[tokio::test]
async fn a_failing_model_makes_the_command_fail_with_its_reason() {
    let model = ModelServer::start().await;
    model.set_default(Reply::status(400, "context too long"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    let resp = client
        .request(
            "workspace/executeCommand",
            json!({ "command": "baton.edit", "arguments": [{ "uri": URI, "range": range((1, 0), (3, 1)), "instruction": "x" }] }),
        )
        .await;
    assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("context too long"), "{resp}");
    client.wait_for("baton/status", |p| p["state"] == "error").await;
}
