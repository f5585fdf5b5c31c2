//! One protocol answer for a task (issue 12): every task on the wire carries the actions its
//! state allows and its rendered details, camelCase; the merge commit's body is a clean summary;
//! `baton task list` shows the current repository's tasks, newest first.

use std::process::Command;

use serde_json::{Value, json};

use baton_test_support::git::git;

use crate::tasks::{LIB, command, no_model, repo, show, wait_state};

/// An agent that edits `lib.rs` and ends with a colored message naming its worktree's absolute path.
const NOISY: &str = "sed -i 's|// TODO: add a function two|fn two() {}|' lib.rs\nprintf '\\033[1mEdited %s/lib.rs\\033[0m\\n' \"$(pwd)\"\n";

/// Every object key in `v` that is not camelCase, with its path; `skip` names keys whose values
/// are not looked into.
fn snake_keys(v: &Value, path: &str, skip: &[&str], out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k.contains('_') {
                    out.push(format!("{path}.{k}"));
                }
                if !skip.contains(&k.as_str()) {
                    snake_keys(v, &format!("{path}.{k}"), skip, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| snake_keys(v, &format!("{path}[]"), skip, out)),
        _ => {}
    }
}

fn action_ids(task: &Value) -> Vec<String> {
    task["actions"].as_array().into_iter().flatten().filter_map(|a| a["id"].as_str().map(str::to_owned)).collect()
}

#[tokio::test]
async fn each_task_carries_its_actions_and_details_and_the_merge_message_is_clean() {
    let repo = repo(&[("noisy", NOISY, "")], "[orchestrator]\ndefault_agent = \"noisy\"\n");
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two", "uri": uri })).await;
    let id = started["result"]["id"].as_i64().expect("id");

    let tasks = wait_state(&client, id, "ready").await;
    let task = tasks["tasks"].as_array().and_then(|t| t.iter().find(|t| t["id"] == id)).cloned().expect("task");
    assert_eq!(action_ids(&task), ["review", "apply", "merge", "request-changes", "show", "discard"], "{task:#}");
    assert_eq!(
        task["actions"][2],
        json!({ "id": "merge", "title": "Merge into the current branch", "command": "baton.pr.merge" })
    );
    let details = task["details"].as_str().expect("details");
    assert!(details.starts_with(&format!("Task #{id}: Add two\nstate: ready   agent: noisy\n")), "{details}");
    assert!(details.contains("\nPull request: Add two\n  +1 -1 in 1 file; checks: none"), "{details}");
    assert!(details.contains("  lib.rs (lines 2)\n"), "{details}");

    let listed = command(&client, "baton.task.list", json!({})).await;
    assert_eq!(listed["result"][0]["actions"], task["actions"], "{listed}");

    let shown = show(&client, id).await;
    let mut snake = Vec::new();
    snake_keys(&shown, "", &[], &mut snake);
    assert_eq!(snake, Vec::<String>::new(), "no key is snake_case: {shown:#}");
    assert_eq!(shown["task"]["state"], "ready");
    assert_eq!(shown["task"]["repository"], repo.root.display().to_string());
    assert!(shown["task"]["createdMs"].as_i64().is_some_and(|ms| ms > 0), "{shown:#}");
    assert_eq!(action_ids(&shown["task"]), action_ids(&task));
    assert_eq!(shown["pullRequest"]["files"][0], json!({ "path": "lib.rs", "lines": [[2, 2]] }));
    assert_eq!(shown["pullRequest"]["diffStat"], "+1 -1 in 1 file");
    assert_eq!(shown["pullRequest"]["description"], "Edited lib.rs", "the agent's message, clean");
    assert_eq!(shown["pullRequest"]["insertions"], 1);
    assert!(shown["log"][0]["timeMs"].as_i64().is_some(), "{shown:#}");
    let full = shown["details"].as_str().expect("details");
    assert!(full.contains("\nLog:\n") && full.contains("  [queued] queued for agent noisy\n"), "{full}");

    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert!(merged["result"]["commit"].is_string(), "{merged}");
    let message = git(&repo.root, &["log", "-1", "--format=%B"]);
    assert_eq!(
        message.trim_end(),
        format!(
            "Merge task {id}: Add two\n\nEdited lib.rs\n\nBaton-Task: {id}\nBaton-Checks: none\nSigned-off-by: Ada Lovelace <ada@example.com>"
        ),
        "no worktree path, no escapes"
    );

    let after = show(&client, id).await;
    assert_eq!(after["task"]["state"], "merged");
    assert_eq!(action_ids(&after["task"]), ["show"], "a finished task can only be shown");
    assert_eq!(after["signoffs"][0]["action"], "merged");
    assert!(after["signoffs"][0]["whenMs"].as_i64().is_some() && after["signoffs"][0]["headCommit"].is_string());
    assert!(
        after["details"]
            .as_str()
            .is_some_and(|d| d.contains("\nSign-offs:\n  merged by Ada Lovelace <ada@example.com> at "))
    );
}

#[test]
fn task_list_shows_this_repositorys_tasks_newest_first_and_all_of_them_with_all() {
    let agent = "sed -i 's|fn one() {}|fn one() { 1 }|' lib.rs\n";
    let first = repo(&[("scripted", agent, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let second = repo(&[("scripted", agent, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let baton = |dir: &std::path::Path, args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_baton"))
            .args(args)
            .env("BATON_CONFIG", first.tmp.path().join("no-user-config.toml"))
            .env("BATON_DATA_DIR", &first.data)
            .current_dir(dir)
            .output()
            .expect("run baton");
        assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    baton(&first.root, &["task", "start", "First task"]);
    baton(&second.root, &["task", "start", "Elsewhere"]);
    baton(&first.root, &["task", "start", "Second task"]);
    let (a, b) = (first.root.display().to_string(), second.root.display().to_string());
    let w = a.len().max(b.len());
    let row = |id: u32, repo: &str, title: &str| {
        format!("{id:>4}  {:<22}  {:<10}  {repo:<w$}  {title}\n", "ready", "scripted")
    };
    let header = format!("{:>4}  {:<22}  {:<10}  {:<w$}  TITLE\n", "ID", "STATE", "AGENT", "REPOSITORY");
    let mine = baton(&first.root.join("."), &["task", "list"]);
    let w_mine = a.len();
    assert_eq!(
        mine,
        format!(
            "{:>4}  {:<22}  {:<10}  {:<w_mine$}  TITLE\n{:>4}  {:<22}  {:<10}  {a:<w_mine$}  Second task\n{:>4}  {:<22}  {:<10}  {a:<w_mine$}  First task\n",
            "ID", "STATE", "AGENT", "REPOSITORY", 3, "ready", "scripted", 1, "ready", "scripted"
        ),
        "this repository's tasks, newest first"
    );
    let every = baton(&first.root, &["task", "list", "--all"]);
    assert_eq!(
        every,
        format!("{header}{}{}{}", row(3, &a, "Second task"), row(2, &b, "Elsewhere"), row(1, &a, "First task"))
    );
    let outside = first.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).expect("mkdir");
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["task", "list"])
        .env("BATON_CONFIG", first.tmp.path().join("no-user-config.toml"))
        .env("BATON_DATA_DIR", &first.data)
        .current_dir(&outside)
        .output()
        .expect("run baton");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not in a git repository (baton task list --all lists every one)"), "{err}");
}
