//! `baton.toml` edits apply without a restart (issue 12, item 6): polled by the server for
//! clients that cannot watch files, watched by the client when it registers
//! `workspace/didChangeWatchedFiles`; an invalid file keeps the settings in force and says so.

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};

/// Options with no model server and no model name: the project file's model shows through.
fn options() -> Value {
    json!({ "provider": { "base_url": "http://127.0.0.1:9/v1", "max_retries": 0 } })
}

fn project(model: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    std::fs::write(root.join("baton.toml"), format!("[provider]\nmodel = \"{model}\"\n")).expect("write");
    (tmp, root)
}

async fn health_model(client: &Client) -> Value {
    client.request("baton/health", json!(null)).await["result"]["model"].clone()
}

/// Waits for a `window/showMessage` after the first `skip` messages whose text contains `text`.
async fn message(client: &Client, skip: usize, text: &str) -> Value {
    client.wait_for_after(skip, "window/showMessage", |p| p["message"].as_str().is_some_and(|m| m.contains(text))).await
        ["params"]
        .clone()
}

#[tokio::test]
async fn an_edited_baton_toml_applies_and_an_invalid_one_keeps_the_settings_in_force() {
    let (_tmp, root) = project("first-model");
    let client = Client::start_with(baton!(), rich_capabilities(), options(), &[], Some(&root)).await;
    client.wait_for("baton/status", |p| p["model"] == "first-model").await;

    let seen = client.inbox().len();
    std::fs::write(root.join("baton.toml"), "[provider]\nmodel = \"second-model\"\n").expect("write");
    client.wait_for_after(seen, "baton/status", |p| p["model"] == "second-model").await;
    assert_eq!(message(&client, seen, "settings reloaded").await["type"], 3, "an info message");

    let seen = client.inbox().len();
    std::fs::write(root.join("baton.toml"), "[provider\nmodel = ").expect("write");
    let shown = message(&client, seen, "is invalid; keeping the previous settings").await;
    assert_eq!(shown["type"], 2, "a warning: {shown}");
    assert!(shown["message"].as_str().is_some_and(|m| m.contains("baton.toml")), "names the file: {shown}");
    assert_eq!(health_model(&client).await, "second-model");

    let seen = client.inbox().len();
    std::fs::write(root.join("baton.toml"), "[provider]\nmodel = 5\n").expect("write");
    message(&client, seen, "is invalid; keeping the previous settings").await;
    assert_eq!(health_model(&client).await, "second-model", "a file that does not fit is not half-applied");

    let seen = client.inbox().len();
    std::fs::remove_file(root.join("baton.toml")).expect("remove");
    message(&client, seen, "settings reloaded").await;
    assert_ne!(health_model(&client).await, "second-model", "a removed file no longer counts");
}

#[tokio::test]
async fn a_client_that_watches_files_is_asked_to_and_its_events_reload_the_file() {
    let (_tmp, root) = project("first-model");
    let mut caps = rich_capabilities();
    caps["workspace"]["didChangeWatchedFiles"] = json!({ "dynamicRegistration": true });
    let client = Client::start_with(baton!(), caps, options(), &[], Some(&root)).await;
    let registered = client.wait_for("client/registerCapability", |_| true).await;
    let registration = &registered["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    assert_eq!(registration["registerOptions"]["watchers"], json!([{ "globPattern": "**/baton.toml" }]));

    let seen = client.inbox().len();
    let file = root.join("baton.toml");
    std::fs::write(&file, "[provider]\nmodel = \"watched-model\"\n").expect("write");
    let uri = format!("file://{}", file.display());
    client.notify("workspace/didChangeWatchedFiles", json!({ "changes": [{ "uri": uri, "type": 2 }] })).await;
    client.wait_for_after(seen, "baton/status", |p| p["model"] == "watched-model").await;
    // Events about other files change nothing and do not break the server.
    let other = format!("file://{}", root.join("Cargo.toml").display());
    client
        .notify(
            "workspace/didChangeWatchedFiles",
            json!({ "changes": [{ "uri": other, "type": 1 }, { "uri": "untitled:x", "type": 1 }] }),
        )
        .await;
    assert_eq!(health_model(&client).await, "watched-model");
}
