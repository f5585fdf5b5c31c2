//! An agent's permission request with `permission = "ask"` and nobody attached to answer it
//! (issue 15): the task waits in `needs_input` until `baton task answer` or an editor that
//! connects later answers, or the permission timeout rejects it. And an ACP `session/prompt`
//! error reaches the task's result with the agent's own message and data. The real binary, the
//! ACP test agent (tests/fixtures/acp_agent.py) in the sandbox, real git.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use baton_test_support::client::TIMEOUT;
use baton_test_support::git::git;

/// How long a task gets to reach a state (the sandbox and Python start on a busy machine).
const TASK_TIMEOUT: Duration = Duration::from_secs(90);

fn python_missing() -> bool {
    std::process::Command::new("python3").arg("--version").output().is_err()
}

/// A repository whose `baton.toml` has the ACP test agent as `asking` with `permission =
/// "ask"` (the record it keeps of its session left out of the commit, so a refused write is a
/// task without changes), plus `extra` TOML.
fn repo(extra: &str) -> crate::tasks::Repo {
    repo_with("exclude = [\".acp-agent.json\"]\n", extra)
}

/// [`repo`] with `profile` TOML lines for the agent instead of its `exclude`.
fn repo_with(profile: &str, extra: &str) -> crate::tasks::Repo {
    let agent = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp_agent.py");
    let toml = format!(
        "[[agents]]\nname = \"asking\"\nkind = \"acp\"\ncommand = [\"python3\", \"{}\"]\nread_only_paths = [\"{}\"]\n\
         permission = \"ask\"\ntime_limit_ms = 120000\n{profile}\n[orchestrator]\ndefault_agent = \"asking\"\n{extra}",
        agent.display(),
        agent.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    crate::tasks::repo(&[], &toml)
}

fn baton_cmd(repo: &crate::tasks::Repo) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.current_dir(&repo.root)
        .env("BATON_DATA_DIR", &repo.data)
        .env("BATON_CONFIG", "/nonexistent/baton-config.toml")
        .stdin(Stdio::null());
    cmd
}

/// `baton task <args>` to its end.
async fn task(repo: &crate::tasks::Repo, args: &[&str]) -> Output {
    let run = baton_cmd(repo).arg("task").args(args).output();
    tokio::time::timeout(TIMEOUT, run).await.expect("baton task in time").expect("baton task runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `baton task start <prompt>` running in the background, its progress lines read as they come.
struct Start {
    child: Child,
    progress: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    seen: Vec<String>,
}

impl Start {
    fn spawn(repo: &crate::tasks::Repo, prompt: &str) -> Start {
        let mut child = baton_cmd(repo)
            .args(["task", "start", prompt])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("baton task start");
        let stderr = child.stderr.take().expect("stderr");
        Start { child, progress: BufReader::new(stderr).lines(), seen: Vec::new() }
    }

    /// Reads progress until a line contains `want`; returns it.
    async fn until(&mut self, want: &str) -> String {
        let found = tokio::time::timeout(TASK_TIMEOUT, async {
            while let Ok(Some(line)) = self.progress.next_line().await {
                self.seen.push(line.clone());
                if line.contains(want) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no progress line with {want:?}; saw:\n{}", self.seen.join("\n")),
        }
    }

    /// The rest of the progress and the result `baton task start` prints.
    async fn finish(mut self) -> (String, String) {
        let rest = tokio::time::timeout(TASK_TIMEOUT, async {
            let mut rest = Vec::new();
            while let Ok(Some(line)) = self.progress.next_line().await {
                rest.push(line);
            }
            rest
        })
        .await
        .unwrap_or_else(|_| panic!("baton task start did not end; saw:\n{}", self.seen.join("\n")));
        let out = tokio::time::timeout(TIMEOUT, self.child.wait_with_output()).await.expect("exit").expect("output");
        self.seen.extend(rest);
        (text(&out.stdout), self.seen.join("\n"))
    }
}

/// The id in `task 7 started`.
fn started_id(line: &str) -> i64 {
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no id in {line:?}"))
}

fn list_line(list: &str, id: i64) -> String {
    list.lines()
        .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
        .unwrap_or_else(|| panic!("task {id} not in\n{list}"))
        .to_owned()
}

fn branch_file(root: &Path, branch: &str, file: &str) -> String {
    git(root, &["show", &format!("{branch}:{file}")])
}

/// Allowed from the shell: the task waits in `needs_input` (visible in `baton task list` and
/// `show` with the agent's question) and goes on when `baton task answer` (another process on
/// the same database) allows it; it ends `ready` with the agent's file. Hostile answers first:
/// a word that is not an answer, an unknown task, and (at the end) a task that no longer waits
/// are refused with a clear error, and nothing changes.
#[tokio::test]
async fn a_permission_request_waits_in_needs_input_until_baton_task_answer_allows_it() {
    if python_missing() {
        return;
    }
    let repo = repo("");
    let mut start = Start::spawn(&repo, "Write some notes");
    let id = started_id(&start.until("started").await);
    let asked = start.until("[needs_input]").await;
    assert!(asked.contains("asks permission: Write notes.txt"), "{asked}");
    assert!(asked.contains("allow (Allow once) or reject (Reject)"), "{asked}");

    let list = text(&task(&repo, &["list"]).await.stdout);
    assert!(list_line(&list, id).contains("needs_input"), "{list}");
    let shown = text(&task(&repo, &["show", &id.to_string()]).await.stdout);
    assert!(shown.contains("question: Agent asking") && shown.contains("Write notes.txt"), "{shown}");

    // Hostile answers: refused, and the task still waits.
    let bad = task(&repo, &["answer", &id.to_string(), "yes please"]).await;
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("\"yes please\" is not an answer; answer allow or reject"), "{bad:?}");
    let unknown = task(&repo, &["answer", "999999", "allow"]).await;
    assert!(!unknown.status.success());
    assert!(text(&unknown.stderr).contains("there is no task 999999"), "{unknown:?}");
    let list = text(&task(&repo, &["list"]).await.stdout);
    assert!(list_line(&list, id).contains("needs_input"), "{list}");

    let answered = task(&repo, &["answer", &id.to_string(), "ALLOW"]).await;
    assert!(answered.status.success(), "{answered:?}");
    assert_eq!(text(&answered.stdout), format!("task {id}: answered allow; the agent goes on\n"));
    let (out, progress) = start.finish().await;
    assert!(out.contains("state: ready"), "{out}\n{progress}");
    assert!(progress.contains("[running] answered: allow"), "{progress}");
    let branch = out.lines().find_map(|l| l.strip_prefix("branch: ")).expect("branch").trim().to_owned();
    assert_eq!(branch_file(&repo.root, &branch, "notes.txt"), "written by acp");
    assert!(!repo.root.join("notes.txt").exists(), "the user's checkout is untouched");

    // A task that no longer waits takes no answer.
    let late = task(&repo, &["answer", &id.to_string(), "reject"]).await;
    assert!(!late.status.success());
    assert!(
        text(&late.stderr).contains(&format!("task {id} is ready; answering needs a task that is needs_input")),
        "{late:?}"
    );
    let shown = text(&task(&repo, &["show", &id.to_string()]).await.stdout);
    assert!(shown.contains("state: ready") && !shown.contains("question:"), "{shown}");
}

/// An editor that connects after the question was asked sees it (`baton/tasks`: state,
/// message, the `answer` action) and rejects it with `baton.task.answer`; the agent gets the
/// refusal and the task fails saying why.
#[tokio::test]
async fn an_editor_connecting_later_sees_the_question_and_rejects_it() {
    if python_missing() {
        return;
    }
    let repo = repo("");
    let mut start = Start::spawn(&repo, "Write some notes");
    let id = started_id(&start.until("started").await);
    start.until("[needs_input]").await;

    let client = repo.client(crate::tasks::no_model()).await;
    let tasks = crate::tasks::wait_state(&client, id, "needs_input").await;
    let summary = tasks["tasks"].as_array().and_then(|t| t.iter().find(|t| t["id"] == id)).cloned().expect("task");
    let message = summary["message"].as_str().unwrap_or_default();
    assert!(message.contains("asks permission: Write notes.txt"), "{summary}");
    let answer = summary["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["id"] == "answer"))
        .cloned()
        .unwrap_or_else(|| panic!("no answer action in {summary}"));
    assert_eq!(answer["command"], "baton.task.answer");
    assert!(answer["title"].as_str().is_some_and(|t| !t.is_empty()), "{answer}");

    // Hostile: a malformed answer is an error and changes nothing.
    let bad = crate::tasks::command(&client, "baton.task.answer", json!({ "id": id, "answer": "maybe" })).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    assert!(bad["error"]["message"].as_str().is_some_and(|m| m.contains("not an answer")), "{bad}");

    let answered = crate::tasks::command(&client, "baton.task.answer", json!({ "id": id, "answer": "reject" })).await;
    assert_eq!(answered["result"], json!({ "id": id, "state": "needs_input" }), "{answered}");
    let (out, progress) = start.finish().await;
    assert!(out.contains("state: failed"), "{out}\n{progress}");
    assert!(out.contains("the agent made no changes") && out.contains("permission denied (reject-once)"), "{out}");
    crate::tasks::wait_state(&client, id, "failed").await;
    client.shutdown().await;
}

/// Nobody answers: at `orchestrator.permission_timeout_ms` the request is rejected, the agent
/// goes on without it, and the task's result says the request went unanswered. The wait is
/// longer than the inactivity limit, which must not stop an agent waiting for the user.
#[tokio::test]
async fn an_unanswered_permission_request_is_rejected_at_the_timeout_and_the_result_says_so() {
    if python_missing() {
        return;
    }
    let repo = repo("permission_timeout_ms = 4000\ninactivity_timeout_ms = 1500\n");
    let start = Start::spawn(&repo, "Write some notes");
    let (out, progress) = start.finish().await;
    assert!(progress.contains("[needs_input]"), "{progress}");
    assert!(out.contains("state: failed"), "{out}\n{progress}");
    assert!(
        out.contains("the agent's permission request got no answer within 4000 ms and was rejected"),
        "{out}\n{progress}"
    );
    assert!(!out.contains("no output and no tool call"), "{out}");
    assert!(out.contains("the agent made no changes"), "{out}");
}

/// The agent goes on after the timeout's refusal and still changes something (here the record
/// of its session): the pull request's description tells the reviewer the request went
/// unanswered.
#[tokio::test]
async fn a_ready_pull_request_says_that_a_permission_request_went_unanswered() {
    if python_missing() {
        return;
    }
    let repo = repo_with("", "permission_timeout_ms = 1000\n");
    let (out, progress) = Start::spawn(&repo, "Write some notes").finish().await;
    assert!(out.contains("state: ready"), "{out}\n{progress}");
    assert!(
        out.contains(
            "Note: the agent's permission request got no answer within 1000 ms and was rejected (Agent asking"
        ),
        "{out}"
    );
}

/// An agent whose prompt turn fails with a JSON-RPC error carrying data (its model API's
/// refusal): the task's error has the message and the data on one line, not "broke its
/// protocol" cut at the data's first `{`.
#[tokio::test]
async fn a_failed_prompt_turn_is_reported_with_the_agents_message_and_data() {
    if python_missing() {
        return;
    }
    let repo = repo("");
    let start = Start::spawn(&repo, "please fail the prompt");
    let (out, progress) = start.finish().await;
    assert!(out.contains("state: failed"), "{out}\n{progress}");
    let error = out.lines().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error in {out}"));
    assert_eq!(
        error,
        "error: the agent's turn failed: Internal error (-32603): {\"details\":\"429 Too Many Requests: rate limit \
         reached for model m1\",\"retry\":false} (its last message: \"Calling the model\")"
    );
    assert!(!out.contains("broke its protocol"), "{out}");
}

/// An editor that can ask (`window/showMessageRequest`) is asked at once by the server running
/// the task; its choice goes to the agent, and the task still showed `needs_input` meanwhile.
#[tokio::test]
async fn the_attached_editor_is_asked_and_its_choice_reaches_the_agent() {
    if python_missing() {
        return;
    }
    let repo = repo("");
    let client = repo.client(crate::tasks::no_model()).await;
    *client.message_answer.lock().expect("answer") = Some("Allow once".to_owned());
    let started = crate::tasks::command(
        &client,
        "baton.task.start",
        json!({ "prompt": "Write some notes", "uri": repo.uri("lib.rs") }),
    )
    .await;
    let id = started["result"]["id"].as_i64().unwrap_or_else(|| panic!("{started}"));
    crate::tasks::wait_state(&client, id, "ready").await;
    let asked = client.wait_for("window/showMessageRequest", |_| true).await;
    let message = asked["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("asks permission: Write notes.txt"), "{asked}");
    let titles: Vec<&str> = asked["params"]["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(titles, ["Allow once", "Always allow", "Reject"]);
    let details = crate::tasks::show(&client, id).await;
    let log = details["log"].as_array().cloned().unwrap_or_default();
    let lines: Vec<&str> = log.iter().filter_map(|l| l["line"].as_str()).collect();
    assert!(lines.iter().any(|l| l.starts_with("[needs_input]")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("answered in the editor: Allow once")), "{lines:#?}");
    let branch = details["task"]["branch"].as_str().expect("branch").to_owned();
    assert_eq!(branch_file(&repo.root, &branch, "notes.txt"), "written by acp");
    client.shutdown().await;
}
