//! One `didChange` is one user action for next edit suggestions: VS Code applies a workspace edit
//! (a rename of a word) as several content changes in one notification, and the history must
//! see the same edit as when the rename arrives as one change.

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, range};
use baton_test_support::model_server::ModelServer;
use baton_test_support::openai_options;

const METHOD: &str = "textDocument/copilotInlineEdit";
const TEXT: &str = "def scale(value, factor):\n    total = value * factor\n    return value + total\n";

async fn client(model: &ModelServer) -> Client {
    let mut options = openai_options(&model.base_url());
    options["nes"] = json!({ "model_predictions": false });
    let caps = json!({ "general": { "positionEncodings": ["utf-16"] } });
    Client::start(baton!(), caps, options).await
}

/// The edits answered after the rename `value` -> `amount` in the parameter list, with the
/// document's URI and the accept command's id left out (they differ between the documents).
async fn predicted(client: &Client, uri: &str, changes: Value) -> Vec<Value> {
    client.open(uri, "python", TEXT).await;
    client
        .notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": changes }),
        )
        .await;
    let resp = client
        .request(
            METHOD,
            json!({ "textDocument": { "uri": uri, "version": 2 }, "position": { "line": 0, "character": 16 } }),
        )
        .await;
    let edits = resp["result"]["edits"].as_array().cloned().unwrap_or_else(|| panic!("{resp}"));
    edits
        .into_iter()
        .map(|e| {
            assert_eq!(e["textDocument"]["uri"], uri, "{resp}");
            let arg = e["command"]["arguments"][0].as_str().unwrap_or_default();
            assert!(arg.starts_with("structural:"), "{resp}");
            json!({ "range": e["range"], "text": e["text"] })
        })
        .collect()
}

/// `value` -> `amount` as a minimal character diff, the way VS Code splits a workspace edit:
/// `e` -> `nt`, `l` -> `mo`, `v` deleted, last to first so each range holds in the text the
/// previous changes left.
#[tokio::test]
async fn a_rename_split_into_three_content_changes_predicts_like_one_change() {
    let model = ModelServer::start().await;
    let client = client(&model).await;
    let split = predicted(
        &client,
        "file:///p/split.py",
        json!([
            { "range": range((0, 14), (0, 15)), "rangeLength": 1, "text": "nt" },
            { "range": range((0, 12), (0, 13)), "rangeLength": 1, "text": "mo" },
            { "range": range((0, 10), (0, 11)), "rangeLength": 1, "text": "" },
        ]),
    )
    .await;
    let whole = predicted(
        &client,
        "file:///p/whole.py",
        json!([{ "range": range((0, 10), (0, 15)), "rangeLength": 5, "text": "amount" }]),
    )
    .await;
    assert_eq!(
        whole.first(),
        Some(&json!({ "range": range((1, 12), (1, 17)), "text": "amount" })),
        "one change: the next use is renamed first: {whole:?}"
    );
    assert_eq!(split, whole, "three changes in one didChange: the same prediction");
    assert!(model.requests().iter().all(|r| !r.path.ends_with("completions")), "no model call");
    client.shutdown().await;
}
