//! Orchestrator mode through the real binary: delegating from code actions and commands, task
//! progress and `baton/tasks`, pull request actions on the changed lines (review, apply, merge,
//! discard), the three agent kinds, and faults (crash, hang, server killed mid-task). Real git
//! repositories in temporary directories; agents are shell scripts, the ACP test agent, and the
//! built-in agent driven by the scripted model server.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};
use baton_test_support::git::{git, git_repo};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

pub(crate) const LIB: &str = "fn one() {}\n// TODO: add a function two\nfn three() {}\n";

/// A repository with `lib.rs` and a committed `baton.toml`, plus a task database beside it.
pub(crate) struct Repo {
    pub(crate) tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) data: PathBuf,
}

/// `agents`: (name, shell script body, extra TOML lines of the profile). `$1` is the prompt.
pub(crate) fn repo(agents: &[(&str, &str, &str)], extra_toml: &str) -> Repo {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut toml = String::new();
    for (name, body, extra) in agents {
        let script = tmp.path().join(format!("{name}.sh"));
        std::fs::write(&script, body).expect("script");
        let extra =
            if extra.contains("time_limit_ms") { extra.to_string() } else { format!("time_limit_ms = 60000\n{extra}") };
        // The sandbox hides /tmp: show it the test's folder (scripts, markers), read-only.
        let extra = if extra.contains("read_only_paths") {
            extra
        } else {
            format!("read_only_paths = [\"{}\"]\n{extra}", tmp.path().display())
        };
        toml.push_str(&format!(
            "[[agents]]\nname = \"{name}\"\nkind = \"cli\"\ncommand = [\"sh\", \"{}\", \"{{prompt}}\"]\n{extra}\n",
            script.display()
        ));
    }
    toml.push_str(extra_toml);
    let root = git_repo(&tmp.path().join("repo"), "Ada Lovelace", &[("lib.rs", LIB), ("baton.toml", &toml)]);
    let data = tmp.path().join("data");
    Repo { tmp, root, data }
}

impl Repo {
    pub(crate) fn uri(&self, file: &str) -> String {
        format!("file://{}", self.root.join(file).display())
    }

    pub(crate) async fn client(&self, options: Value) -> Client {
        let data = self.data.to_string_lossy().into_owned();
        Client::start_with(baton!(), rich_capabilities(), options, &[("BATON_DATA_DIR", &data)], Some(&self.root)).await
    }

    pub(crate) fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.root.join(file)).expect("read")
    }
}

/// Options that point the conductor at a port nothing listens on (these tests need no model).
pub(crate) fn no_model() -> Value {
    json!({ "provider": { "base_url": "http://127.0.0.1:9/v1", "max_retries": 0 } })
}

pub(crate) async fn command(client: &Client, command: &str, argument: Value) -> Value {
    client.request("workspace/executeCommand", json!({ "command": command, "arguments": [argument] })).await
}

pub(crate) async fn code_actions(client: &Client, uri: &str, line: u32) -> Vec<Value> {
    let resp = client
        .request(
            "textDocument/codeAction",
            json!({
                "textDocument": { "uri": uri },
                "range": { "start": { "line": line, "character": 0 }, "end": { "line": line, "character": 0 } },
                "context": { "diagnostics": [] },
            }),
        )
        .await;
    resp["result"].as_array().cloned().unwrap_or_default()
}

pub(crate) fn titles(actions: &[Value]) -> Vec<String> {
    actions.iter().filter_map(|a| a["title"].as_str().map(str::to_owned)).collect()
}

/// Runs the command of the action titled `title` (fails the test when there is none).
pub(crate) async fn run_action(client: &Client, actions: &[Value], title: &str) -> Value {
    let action = actions
        .iter()
        .find(|a| a["title"] == title)
        .unwrap_or_else(|| panic!("no action {title:?} in {:#?}", titles(actions)));
    let cmd = &action["command"];
    client
        .request("workspace/executeCommand", json!({ "command": cmd["command"], "arguments": cmd["arguments"] }))
        .await
}

/// Waits for a `baton/tasks` notification showing task `id` in `state`.
pub(crate) async fn wait_state(client: &Client, id: i64, state: &str) -> Value {
    client
        .wait_for("baton/tasks", |p| {
            p["tasks"].as_array().is_some_and(|t| t.iter().any(|t| t["id"] == id && t["state"] == state))
        })
        .await["params"]
        .clone()
}

pub(crate) async fn show(client: &Client, id: i64) -> Value {
    let resp = command(client, "baton.task.show", json!({ "id": id })).await;
    resp["result"].clone()
}

const EDIT_TODO: &str = "sed -i 's|// TODO: add a function two|fn two() {}|' lib.rs\necho \"Added fn two\"\n";

#[tokio::test]
async fn a_todo_becomes_a_task_whose_pull_request_is_applied_from_a_code_action() {
    let repo = repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;

    let actions = code_actions(&client, &uri, 1).await;
    let started = run_action(&client, &actions, "Baton: delegate to a background agent: “add a function two”").await;
    assert_eq!(started["result"]["id"], 1, "{started}");

    let tasks = wait_state(&client, 1, "ready").await;
    assert_eq!(tasks["awaitingReview"], 1);
    assert_eq!(tasks["running"], 0);
    assert_eq!(tasks["tasks"][0]["diffStat"], "+1 -1 in 1 file");
    assert_eq!(tasks["tasks"][0]["checks"], "none");
    assert_eq!(tasks["tasks"][0]["branch"], "baton/1-add-a-function-two", "named by the instruction, not its context");
    let prompt = show(&client, 1).await["task"]["prompt"].as_str().unwrap_or_default().to_owned();
    assert!(prompt.starts_with("add a function two\n\nThis is about lib.rs, lines 2-2:"), "{prompt}");

    // Work done progress: one token per task, begun, then ended when the task left its working states.
    let token = json!("baton/task/1");
    client.wait_for("window/workDoneProgress/create", |p| p["token"] == token).await;
    client
        .wait_for("$/progress", |p| {
            p["token"] == token && p["value"]["kind"] == "begin" && p["value"]["title"] == "Baton task #1"
        })
        .await;
    let end = client.wait_for("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").await;
    assert!(
        end["params"]["value"]["message"].as_str().unwrap_or_default().starts_with("ready: ready for review"),
        "{end}"
    );

    // The pull request's actions are offered on the line it changes, not elsewhere.
    let prefix = "Baton PR #1 (+1 -1, checks none)";
    assert!(!titles(&code_actions(&client, &uri, 0).await).iter().any(|t| t.starts_with(prefix)));
    let actions = code_actions(&client, &uri, 1).await;
    let pr_titles: Vec<String> = titles(&actions).into_iter().filter(|t| t.starts_with(prefix)).collect();
    assert_eq!(
        pr_titles,
        ["Review", "Apply to working tree", "Merge into main", "Request changes…", "Discard"]
            .map(|a| format!("{prefix}: {a}"))
    );

    let applied = run_action(&client, &actions, &format!("{prefix}: Apply to working tree")).await;
    assert_eq!(applied["result"]["applied"], true, "{applied}");
    let edit = client.wait_for("workspace/applyEdit", |_| true).await;
    assert_eq!(edit["params"]["label"], "Baton: apply PR #1");
    assert_eq!(
        edit["params"]["edit"]["documentChanges"],
        json!([{
            "textDocument": { "uri": uri, "version": 1 },
            "edits": [{ "range": { "start": { "line": 1, "character": 0 }, "end": { "line": 2, "character": 0 } }, "newText": "fn two() {}\n" }],
        }])
    );
    // The editor applies the edit to its buffer; the server never writes the user's file.
    assert_eq!(repo.read("lib.rs"), LIB);
    let details = show(&client, 1).await;
    assert_eq!(details["task"]["state"], "ready", "applying keeps the pull request open");
    assert_eq!(details["signoffs"][0]["action"], "applied");
    assert_eq!(details["signoffs"][0]["who"], "Ada Lovelace <ada@example.com>");
    assert!(
        details["log"].as_array().into_iter().flatten().any(|l| l["line"]
            .as_str()
            .is_some_and(|l| l.contains("applied to the working tree by Ada Lovelace <ada@example.com>"))),
        "{details}"
    );
    let tasks = client.wait_for("baton/tasks", |p| p["awaitingReview"] == 1).await;
    assert_eq!(tasks["params"]["running"], 0);
}

#[tokio::test]
async fn merge_refuses_a_dirty_tree_and_a_predicted_conflict_then_merges_with_a_sign_off() {
    let agent = "sed -i 's|fn one() {}|fn one() { agent() }|' lib.rs\necho \"Changed one\"\n";
    let repo = repo(&[("scripted", agent, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Make one call agent", "uri": uri })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "ready").await;

    let dirty = "fn one() { mine() }\n";
    std::fs::write(repo.root.join("lib.rs"), dirty).expect("write");
    let refused = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert_eq!(
        refused["error"]["message"], "refusing to merge: the working tree has uncommitted changes in lib.rs",
        "{refused}"
    );
    assert_eq!(repo.read("lib.rs"), dirty, "the user's file is untouched");

    git(&repo.root, &["commit", "-q", "-am", "user change"]);
    let head = git(&repo.root, &["rev-parse", "HEAD"]);
    let merge_title = format!("Baton PR #{id} (+1 -1, checks none): Merge into main — would conflict in lib.rs");
    assert!(titles(&code_actions(&client, &uri, 0).await).contains(&merge_title), "conflict predicted in the title");
    let refused = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert_eq!(refused["error"]["message"], "refusing to merge: it would conflict in lib.rs", "{refused}");
    assert_eq!(git(&repo.root, &["rev-parse", "HEAD"]), head);
    assert_eq!(repo.read("lib.rs"), dirty);

    git(&repo.root, &["reset", "-q", "--hard", "HEAD~1"]);
    let merged = command(&client, "baton.pr.merge", json!({ "id": id })).await;
    assert_eq!(merged["result"]["signedOffBy"], "Ada Lovelace <ada@example.com>", "{merged}");
    let message = git(&repo.root, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Signed-off-by: Ada Lovelace <ada@example.com>"), "{message}");
    assert!(message.contains(&format!("Baton-Task: {id}")), "{message}");
    assert!(repo.read("lib.rs").starts_with("fn one() { agent() }\n"));
    let details = show(&client, id).await;
    assert_eq!(details["task"]["state"], "merged");
    assert_eq!(details["signoffs"][0]["action"], "merged");
    assert_eq!(details["signoffs"][0]["checks"], "none");
}

#[tokio::test]
async fn the_built_in_agent_writes_a_new_file_which_apply_creates() {
    let model = ModelServer::start().await;
    model.push(Reply::tool_call("write_file", json!({ "path": "two.rs", "content": "fn two() {}\n" })));
    model.push(Reply::text("Wrote two.rs."));
    let repo = repo(&[], "");
    let client = repo.client(openai_options(&model.base_url())).await;
    let lib = repo.uri("lib.rs");
    client.open(&lib, "rust", LIB).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two.rs", "uri": lib })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "ready").await;
    // Only a new file: the actions are offered in the document the task was delegated from.
    let offered = titles(&code_actions(&client, &lib, 2).await);
    assert!(offered.contains(&format!("Baton PR #{id} (+1 -0, checks none): Apply to working tree")), "{offered:#?}");
    let details = show(&client, id).await;
    assert_eq!(details["task"]["agent"], "builtin");
    assert_eq!(details["pullRequest"]["description"], "Wrote two.rs.");
    assert_eq!(details["pullRequest"]["files"][0]["path"], "two.rs");

    let applied = command(&client, "baton.pr.apply", json!({ "id": id })).await;
    assert_eq!(applied["result"]["applied"], true, "{applied}");
    let edit = client.wait_for("workspace/applyEdit", |_| true).await;
    let two = repo.uri("two.rs");
    assert_eq!(
        edit["params"]["edit"]["documentChanges"],
        json!([
            { "kind": "create", "uri": two },
            { "textDocument": { "uri": two, "version": null }, "edits": [{ "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 0, "character": 0 } }, "newText": "fn two() {}\n" }] },
        ])
    );
}

#[tokio::test]
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
async fn an_acp_agent_works_in_the_worktree_and_its_updates_become_progress() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; the ACP test agent needs it");
        return;
    }
    let agent = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp_agent.py");
    // The sandbox shows the agent's folder only when bound in.
    let toml = format!(
        "[[agents]]\nname = \"acp\"\nkind = \"acp\"\ncommand = [\"python3\", \"{}\"]\nread_only_paths = [\"{}\"]\n",
        agent.display(),
        agent.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let repo = repo(&[], &toml);
    let client = repo.client(no_model()).await;
    let started = command(
        &client,
        "baton.task.start",
        json!({ "prompt": "Write notes", "uri": repo.uri("lib.rs"), "agent": "acp" }),
    )
    .await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "ready").await;
    let token = json!(format!("baton/task/{id}"));
    // The task's progress runs in its own task on the server: its reports are all sent once it ends.
    client.wait_for("$/progress", |p| p["token"] == token && p["value"]["kind"] == "end").await;
    let reports: Vec<String> = client
        .inbox()
        .iter()
        .filter(|m| {
            m["method"] == "$/progress" && m["params"]["token"] == token && m["params"]["value"]["kind"] == "report"
        })
        .filter_map(|m| m["params"]["value"]["message"].as_str().map(str::to_owned))
        .collect();
    assert!(reports.len() >= 3, "progress reports from the agent's session/update: {reports:?}");
    let details = show(&client, id).await;
    let files: Vec<&str> =
        details["pullRequest"]["files"].as_array().into_iter().flatten().filter_map(|f| f["path"].as_str()).collect();
    assert!(files.contains(&"notes.txt"), "{files:?}");
    assert!(!repo.root.join("notes.txt").exists(), "the agent never writes the user's tree");
}

#[tokio::test]
async fn crashing_and_hanging_agents_fail_their_tasks_and_the_server_stays_up() {
    let repo = repo(
        &[("crasher", "echo boom >&2\nexit 3\n", ""), ("sleeper", "exec sleep 600\n", "time_limit_ms = 1500\n")],
        "",
    );
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    let a = command(&client, "baton.task.start", json!({ "prompt": "crash", "uri": uri, "agent": "crasher" })).await;
    let b = command(&client, "baton.task.start", json!({ "prompt": "hang", "uri": uri, "agent": "sleeper" })).await;
    let (a, b) = (a["result"]["id"].as_i64().expect("id"), b["result"]["id"].as_i64().expect("id"));
    let tasks = client.wait_for("baton/tasks", |p| p["failed"] == 2).await;
    assert_eq!(tasks["params"]["running"], 0);
    let crashed = show(&client, a).await["task"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(crashed.contains("exited with") && crashed.contains("boom"), "{crashed}");
    let hung = show(&client, b).await["task"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(hung.contains("time limit of 1500 ms"), "{hung}");

    let unknown = command(&client, "baton.pr.merge", json!({ "id": 99 })).await;
    assert_eq!(unknown["error"]["message"], "there is no task 99");
    let wrong = command(&client, "baton.pr.merge", json!({ "id": a })).await;
    assert!(
        wrong["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("is failed; merging needs a task that is ready"),
        "{wrong}"
    );
    let bad_agent = command(&client, "baton.task.start", json!({ "prompt": "x", "uri": uri, "agent": "nobody" })).await;
    assert!(
        bad_agent["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("there is no agent profile named \"nobody\""),
        "{bad_agent}"
    );
    let health = client.request("baton/health", Value::Null).await;
    assert!(health.get("result").is_some(), "the server still answers: {health}");
}

#[tokio::test]
async fn a_server_killed_mid_task_leaves_it_interrupted_with_its_worktree_and_resume_finishes_it() {
    // The first run records its pid and hangs; the run after a resume does the work.
    let tmp_marker = "$(dirname \"$0\")";
    let agent = format!(
        "if [ -f {tmp_marker}/resumed ]; then {EDIT_TODO}exit 0; fi\necho $$ > {tmp_marker}/agent.pid\nexec sleep 600\n"
    );
    let repo = repo(&[("slow", &agent, "")], "[orchestrator]\ndefault_agent = \"slow\"\n");
    let client = repo.client(no_model()).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two", "uri": repo.uri("lib.rs") })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "running").await;
    client.kill().await;

    let client = repo.client(no_model()).await;
    wait_state(&client, id, "interrupted").await;
    let task = show(&client, id).await["task"].clone();
    let worktree = PathBuf::from(task["worktree"].as_str().expect("worktree"));
    let branch = task["branch"].as_str().expect("branch").to_owned();
    assert!(worktree.join("lib.rs").exists(), "worktree kept");
    assert!(git(&repo.root, &["branch", "--list", &branch]).contains(&branch), "branch kept");
    if let Ok(pid) = std::fs::read_to_string(repo.tmp.path().join("agent.pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }

    std::fs::write(repo.tmp.path().join("resumed"), "").expect("marker");
    let resumed = command(&client, "baton.task.resume", json!({ "id": id })).await;
    assert!(resumed.get("error").is_none(), "{resumed}");
    wait_state(&client, id, "ready").await;
    assert_eq!(show(&client, id).await["pullRequest"]["insertions"], 1);
}

#[tokio::test]
async fn overlapping_pull_requests_say_so_and_review_opens_the_diff_in_another_editor_too() {
    let repo = repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let first = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    first.open(&uri, "rust", LIB).await;
    for prompt in ["Add two", "Add two again"] {
        command(&first, "baton.task.start", json!({ "prompt": prompt, "uri": uri })).await;
    }
    first.wait_for("baton/tasks", |p| p["awaitingReview"] == 2).await;
    let listed = command(&first, "baton.task.list", json!({})).await;
    let ids: Vec<i64> = listed["result"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2], "{listed}");
    // Another repository's task in the same database is listed only with `all`.
    let other = self::repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let data = repo.data.to_string_lossy().into_owned();
    let out = Command::new(baton!())
        .args(["task", "start", "Elsewhere"])
        .env("BATON_DATA_DIR", &data)
        .env("BATON_CONFIG", repo.tmp.path().join("none.toml"))
        .current_dir(&other.root)
        .output()
        .expect("baton task start");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mine = command(&first, "baton.task.list", json!({})).await;
    assert_eq!(mine["result"].as_array().map(Vec::len), Some(2), "{mine}");
    let every = command(&first, "baton.task.list", json!({ "all": true })).await;
    assert_eq!(every["result"].as_array().map(Vec::len), Some(3), "{every}");
    // A second editor on the same repository sees the same tasks.
    let second = repo.client(no_model()).await;
    second.wait_for("baton/tasks", |p| p["awaitingReview"] == 2).await;
    second.open(&uri, "rust", LIB).await;
    let all = titles(&code_actions(&second, &uri, 1).await);
    assert!(all.contains(&"Baton PR #1 (+1 -1, checks none): Review — overlaps PR #2".to_owned()), "{all:#?}");
    assert!(all.contains(&"Baton PR #2 (+1 -1, checks none): Review — overlaps PR #1".to_owned()), "{all:#?}");

    let review = command(&second, "baton.pr.review", json!({ "id": 1 })).await;
    let diff_uri = review["result"]["uri"].as_str().expect("uri").to_owned();
    assert_eq!(review["result"]["shown"], true);
    let shown = second.wait_for("window/showDocument", |_| true).await;
    assert_eq!(shown["params"]["uri"], diff_uri);
    let diff = std::fs::read_to_string(diff_uri.trim_start_matches("file://")).expect("diff file");
    assert!(diff.contains("-// TODO: add a function two\n+fn two() {}\n"), "{diff}");

    let discarded = command(&second, "baton.pr.discard", json!({ "id": 2 })).await;
    assert!(discarded.get("error").is_none(), "{discarded}");
    let tasks = first.wait_for("baton/tasks", |p| p["awaitingReview"] == 1).await;
    assert_eq!(tasks["params"]["tasks"][0]["id"], 1);
    assert!(!git(&repo.root, &["branch", "--list"]).contains("baton/2-"), "discard removes the branch");
}

#[tokio::test]
async fn a_plan_first_task_waits_for_approval_and_requested_changes_run_the_agent_again() {
    let agent = format!(
        "case \"$1\" in *'numbered plan'*) echo '1. replace the TODO'; exit 0;; esac\n\
         case \"$1\" in *'Review feedback'*) echo '// reviewed' >> lib.rs; echo 'Marked reviewed'; exit 0;; esac\n{EDIT_TODO}"
    );
    let repo = repo(&[("planner", &agent, "plan_first = true\n")], "[orchestrator]\ndefault_agent = \"planner\"\n");
    let client = repo.client(no_model()).await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two", "uri": uri })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    let tasks = wait_state(&client, id, "awaiting_plan_approval").await;
    assert_eq!(tasks["awaitingPlanApproval"], 1);
    assert_eq!(repo.read("lib.rs"), LIB);

    let actions = code_actions(&client, &uri, 0).await;
    let approved = run_action(&client, &actions, &format!("Baton task #{id}: Approve plan: 1. replace the TODO")).await;
    assert!(approved.get("error").is_none(), "{approved}");
    wait_state(&client, id, "ready").await;

    let asked = command(&client, "baton.pr.requestChanges", json!({ "id": id, "feedback": "Mark it reviewed" })).await;
    assert!(asked.get("error").is_none(), "{asked}");
    client
        .wait_for("baton/tasks", |p| {
            p["tasks"].as_array().is_some_and(|t| {
                t.iter().any(|t| t["id"] == id && t["state"] == "ready" && t["diffStat"] == "+2 -1 in 1 file")
            })
        })
        .await;
    let details = show(&client, id).await;
    assert_eq!(details["pullRequest"]["description"], "Marked reviewed");
    let branch = details["task"]["branch"].as_str().expect("branch");
    let commits = git(&repo.root, &["rev-list", "--count", &format!("main..{branch}")]);
    assert_eq!(commits.trim(), "2", "the follow-up is a second commit on the same branch");
}

#[test]
fn the_shell_starts_lists_shows_and_collects_tasks_in_the_database_editors_share() {
    let repo = repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let baton = |args: &[&str]| {
        let out = Command::new(baton!())
            .args(args)
            .env("BATON_CONFIG", repo.tmp.path().join("no-user-config.toml"))
            .env("BATON_DATA_DIR", &repo.data)
            .current_dir(&repo.root)
            .output()
            .expect("run baton");
        assert!(out.status.success(), "baton {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let started = baton(&["task", "start", "Add two"]);
    assert!(
        started.starts_with("Task #1: Add two\nstate: ready   agent: scripted\nbranch: baton/1-add-two\n"),
        "{started}"
    );
    assert!(started.contains("\nPull request: Add two\n  +1 -1 in 1 file; checks: none"), "{started}");
    let listed = baton(&["task", "list"]);
    assert!(listed.ends_with(&format!("{}  Add two\n", repo.root.display())), "{listed}");
    let shown = baton(&["task", "show", "1"]);
    assert!(shown.contains("\nLog:\n") && shown.contains("[ready] ready for review"), "{shown}");
    let orphan = repo.data.join("worktrees").join("leftover").join("7-gone");
    std::fs::create_dir_all(&orphan).expect("mkdir");
    let collected = baton(&["task", "gc"]);
    assert!(collected.starts_with("removed 1 orphan worktree(s)\n"), "{collected}");
    assert!(!orphan.exists());
}

#[tokio::test]
async fn commands_without_arguments_ask_which_task_and_what_to_do() {
    let repo = repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let client = repo.client(no_model()).await;
    let run = |command: &'static str| client.request("workspace/executeCommand", json!({ "command": command }));
    *client.message_answer.lock().expect("answer") = Some("Document this".to_owned());
    let started = run("baton.task.start").await;
    assert_eq!(started["result"]["id"], 1, "{started}");
    let asked = client
        .wait_for("window/showMessageRequest", |p| p["message"] == "Baton: what should the background agent do?")
        .await;
    assert_eq!(asked["params"]["actions"][0]["title"], "Write tests for this");
    wait_state(&client, 1, "ready").await;
    assert!(show(&client, 1).await["task"]["prompt"].as_str().is_some_and(|p| p.starts_with("Document this")));

    *client.message_answer.lock().expect("answer") = Some("#1 Document this (ready)".to_owned());
    let merged = run("baton.pr.merge").await;
    assert_eq!(merged["result"]["signedOffBy"], "Ada Lovelace <ada@example.com>", "{merged}");
    *client.message_answer.lock().expect("answer") = None;
    let nothing = run("baton.pr.discard").await;
    assert_eq!(nothing["error"]["message"], "there is no task baton.pr.discard applies to", "{nothing}");
}

#[tokio::test]
async fn a_client_that_cannot_answer_questions_gets_messages_and_the_only_candidate() {
    let repo = repo(&[("scripted", EDIT_TODO, "")], "[orchestrator]\ndefault_agent = \"scripted\"\n");
    let data = repo.data.to_string_lossy().into_owned();
    // Like Helix 25.01: no showMessage, showDocument or baton capabilities.
    let client = Client::start_with(
        baton!(),
        baton_test_support::client::plain_capabilities(),
        no_model(),
        &[("BATON_DATA_DIR", &data)],
        Some(&repo.root),
    )
    .await;
    let uri = repo.uri("lib.rs");
    client.open(&uri, "rust", LIB).await;
    command(&client, "baton.task.start", json!({ "prompt": "Add two", "uri": uri })).await;
    let ready = client
        .wait_for("window/showMessage", |p| {
            p["message"].as_str().is_some_and(|m| m.starts_with("Baton PR #1 ready for review"))
        })
        .await;
    assert!(
        ready["params"]["message"]
            .as_str()
            .unwrap_or_default()
            .ends_with("its actions are code actions on the changed lines")
    );

    let resp = client
        .request(
            "textDocument/codeAction",
            json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 1, "character": 0 }, "end": { "line": 1, "character": 1 } }, "context": { "diagnostics": [] } }),
        )
        .await;
    let offered = titles(resp["result"].as_array().map(Vec::as_slice).unwrap_or_default());
    assert!(offered.contains(&"Baton PR #1 (+1 -1, checks none): Merge into main".to_owned()), "{offered:#?}");
    assert!(
        !offered.iter().any(|t| t.contains("Request changes") || t == "Baton: delegate to a background agent…"),
        "{offered:#?}"
    );

    let run = |command: &'static str| client.request("workspace/executeCommand", json!({ "command": command }));
    let refused = run("baton.pr.discard").await;
    let why = refused["error"]["message"].as_str().unwrap_or_default().to_owned();
    assert_eq!(
        why,
        "baton.pr.discard needs a task id (argument `id`); candidates: #1 Add two (ready). Or use the code actions on the changed lines."
    );
    client.wait_for("window/showMessage", |p| p["type"] == 1 && p["message"] == format!("Baton: {why}")).await;
    let reviewed = run("baton.pr.review").await;
    assert_eq!(reviewed["result"]["shown"], true, "showDocument is sent though not declared: {reviewed}");
    let merged = run("baton.pr.merge").await;
    assert_eq!(merged["result"]["signedOffBy"], "Ada Lovelace <ada@example.com>", "the only ready PR: {merged}");
}

#[tokio::test]
async fn a_client_that_refuses_a_progress_token_is_asked_once_per_run() {
    let chatty = format!("for i in 1 2 3 4 5 6 7 8; do echo \"step $i\"; done\n{EDIT_TODO}");
    let repo = repo(&[("chatty", &chatty, "")], "[orchestrator]\ndefault_agent = \"chatty\"\n");
    let client = repo.client(no_model()).await;
    *client.refuse_progress.lock().expect("refuse") = true;
    let started = command(&client, "baton.task.start", json!({ "prompt": "Add two", "uri": repo.uri("lib.rs") })).await;
    let id = started["result"]["id"].as_i64().expect("id");
    wait_state(&client, id, "ready").await;
    let details = show(&client, id).await;
    let steps = details["log"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["line"].as_str().is_some_and(|l| l.contains("step ")))
        .count();
    assert_eq!(steps, 8, "the agent's steps were logged");
    let asked = client.inbox().iter().filter(|m| m["method"] == "window/workDoneProgress/create").count();
    assert_eq!(asked, 1, "one progress token asked for, not one per step");
    assert!(!client.inbox().iter().any(|m| m["method"] == "$/progress"), "no progress on a refused token");
}
