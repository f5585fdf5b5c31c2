//! `baton/taskFiles` and `baton/taskFile`: a pull request file by file for an editor's diff
//! view, each side's text read by the object id git lists for that exact path, never by a path
//! or revision the client sends.

use serde_json::json;

use crate::tasks::{LIB, command, no_model, repo, wait_state};

const AGENT: &str = "sed -i 's|// TODO: add a function two|fn two() {}|' lib.rs\nprintf 'pub fn extra() {}\\n' > extra.rs\necho \"Added fn two\"\n";

#[tokio::test]
async fn each_side_of_each_changed_file_and_nothing_else() {
    let repo = repo(&[("edit", AGENT, "")], "[orchestrator]\ndefault_agent = \"edit\"\n");
    let client = repo.client(no_model()).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two" })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "ready").await;

    let files = client.request("baton/taskFiles", json!({ "taskId": id })).await;
    assert_eq!(
        files["result"]["files"],
        json!([{ "path": "extra.rs", "status": "added" }, { "path": "lib.rs", "status": "modified" }]),
        "{files}"
    );
    let text = |path: &str, side: &str| {
        let client = &client;
        let params = json!({ "taskId": id, "path": path, "side": side });
        async move { client.request("baton/taskFile", params).await }
    };
    assert_eq!(text("lib.rs", "base").await["result"]["text"], LIB);
    assert_eq!(text("lib.rs", "head").await["result"]["text"], "fn one() {}\nfn two() {}\nfn three() {}\n");
    assert_eq!(text("extra.rs", "base").await["result"]["text"], json!(null), "added: no base side");
    assert_eq!(text("extra.rs", "head").await["result"]["text"], "pub fn extra() {}\n");

    // Hostile paths: a file the pull request does not change (baton.toml is in the repository),
    // outside the repository, a revision, an option. Each is refused; the server stays up.
    for path in
        ["baton.toml", "../../../../etc/passwd", "/etc/passwd", "HEAD:lib.rs", "--output=/tmp/x", "./lib.rs", ""]
    {
        let resp = text(path, "head").await;
        assert_eq!(resp["error"]["code"], -32602, "{path:?}: {resp}");
        assert!(resp["error"]["message"].as_str().unwrap_or_default().contains("does not change"), "{resp}");
    }
    let bad_side =
        client.request("baton/taskFile", json!({ "taskId": id, "path": "lib.rs", "side": "worktree" })).await;
    assert_eq!(bad_side["error"]["code"], -32602, "{bad_side}");
    let no_task = client.request("baton/taskFiles", json!({ "taskId": 999 })).await;
    assert_eq!(no_task["error"]["code"], -32602, "{no_task}");
    // Still serving.
    assert_eq!(text("lib.rs", "base").await["result"]["text"], LIB);
}
