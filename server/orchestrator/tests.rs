//! Orchestrator tests: real git in temporary repositories, agents that are shell scripts, and
//! no sleeps in the tests themselves (they wait on task events with a timeout).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::broadcast::Receiver;

use super::*;
use crate::agents::{AgentKind, AgentProfile};
use crate::orchestrator::task::SignoffAction;
use baton_test_support::git::{git, git_repo};

const LIB: &str = "fn one() {}\nfn two() {}\nfn three() {}\n";

struct Fixture {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    data: PathBuf,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let repo = git_repo(&tmp.path().join("repo"), "Ada Lovelace", &[("lib.rs", LIB), ("README.md", "# demo\n")]);
    let data = tmp.path().join("data");
    Fixture { tmp, repo, data }
}

impl Fixture {
    /// A CLI agent profile running `body` as a shell script; `$1` is the prompt. It runs in the
    /// sandbox, which shows the test's folder (scripts, markers) read-only.
    fn agent(&self, name: &str, body: &str) -> AgentProfile {
        let script = self.tmp.path().join(format!("{name}.sh"));
        std::fs::write(&script, body).expect("write script");
        AgentProfile {
            name: name.to_owned(),
            kind: AgentKind::Cli,
            command: vec!["sh".to_owned(), script.to_string_lossy().into_owned(), "{prompt}".to_owned()],
            time_limit_ms: 60_000,
            read_only_paths: vec![self.tmp.path().to_string_lossy().into_owned()],
            ..AgentProfile::default()
        }
    }

    fn open(&self, agents: Vec<AgentProfile>, check: Option<&str>) -> Orchestrator {
        let config = Config { profiles: agents, check_command: check.map(str::to_owned), ..Config::default() };
        Orchestrator::open(&self.data, config, AgentRunners::default()).expect("open orchestrator")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.repo.join(name)).expect("read")
    }
}

/// Waits (at most 60 s) until task `id` is in `want`; panics with the task's error if it settles
/// in another state first.
async fn wait_for(orch: &Orchestrator, rx: &mut Receiver<TaskEvent>, id: TaskId, want: TaskState) -> Task {
    let wait = async {
        loop {
            let task = orch.show(id).expect("show").task;
            if task.state == want {
                return task;
            }
            assert!(task.state.is_working(), "task {id} is {} (error: {:?}), expected {want}", task.state, task.error);
            match rx.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), wait).await.expect("task reached the state in time")
}

/// How many tasks are in each group of states, as the status bar counts them.
fn counts(orch: &Orchestrator) -> Counts {
    let mut c = Counts::default();
    for t in orch.unfinished().expect("unfinished") {
        c.add(t.state);
    }
    c
}

const APPEND: &str = "printf 'fn added() {}\\n' >> lib.rs\necho \"Added fn added\"\n";

#[tokio::test]
async fn agent_work_becomes_a_ready_pr_and_merging_it_signs_off() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], Some("grep -q added lib.rs && echo checks-ok"));
    let mut rx = orch.subscribe();
    let id = orch
        .start_task(&f.repo, "Add a function", serde_json::json!({"file": "lib.rs"}), Some("script"))
        .await
        .expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    assert_eq!(task.branch.as_deref(), Some("baton/1-add-a-function"));
    assert_eq!(task.summary.as_deref(), Some("Added fn added"));
    let worktree = task.worktree.clone().expect("worktree");
    assert!(worktree.starts_with(&f.data), "{}", worktree.display());
    let pr = orch.show(id).expect("show").pull_request.expect("pr");
    expect_test::expect![[r#"
        DiffStat { files_changed: 1, insertions: 1, deletions: 0 } [ChangedFile { path: "lib.rs", ranges: [LineRange { old_start: 3, old_count: 0, new_start: 4, new_count: 1 }], notes: [] }] Pass "checks-ok\n""#]]
    .assert_eq(&format!("{:?} {:?} {:?} {:?}", pr.stat, pr.files, pr.check, pr.check_output));
    assert_eq!(
        git(&worktree, &["log", "-1", "--format=%an <%ae> / %cn"]).trim(),
        "Baton agent script <ada@example.com> / Ada Lovelace"
    );
    assert!(orch.diff(id).await.expect("diff").contains("+fn added() {}"));
    assert_eq!(counts(&orch).awaiting_review, 1);

    let merged = orch.merge(id).await.expect("merge");
    assert_eq!(merged.signed_off_by, "Ada Lovelace <ada@example.com>");
    let message = git(&f.repo, &["log", "-1", "--format=%B"]);
    assert!(message.contains("Signed-off-by: Ada Lovelace <ada@example.com>"), "{message}");
    assert!(f.read("lib.rs").ends_with("fn added() {}\n"));
    let details = orch.show(id).expect("show");
    assert_eq!(details.task.state, TaskState::Merged);
    assert_eq!(details.signoffs.len(), 1);
    assert_eq!(details.signoffs[0].action, SignoffAction::Merged);
    assert_eq!(details.signoffs[0].head_commit, pr.head_commit);
    assert_eq!(details.signoffs[0].checks, CheckResult::Pass);
    assert!(!worktree.exists(), "worktree removed after merge");
}

#[tokio::test]
async fn failing_checks_are_recorded_with_their_output_tail() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], Some("echo 'test result: FAILED'; exit 1"));
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("script")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let pr = orch.show(id).expect("show").pull_request.expect("pr");
    assert_eq!(pr.check, CheckResult::Fail);
    assert_eq!(pr.check_output, "test result: FAILED\n");
}

#[tokio::test]
async fn merge_is_refused_on_a_dirty_tree_and_on_a_predicted_conflict_leaving_files_alone() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", "sed -i 's/fn one() {}/fn one() { agent() }/' lib.rs\n")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Change one", serde_json::Value::Null, Some("script")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;

    std::fs::write(f.repo.join("README.md"), "# mine\n").expect("write");
    let err = orch.merge(id).await.expect_err("dirty");
    expect_test::expect!["refusing to merge: the working tree has uncommitted changes in README.md"]
        .assert_eq(&err.to_string());
    assert_eq!(f.read("README.md"), "# mine\n");
    assert_eq!(f.read("lib.rs"), LIB);
    git(&f.repo, &["checkout", "README.md"]);

    let user_lib = LIB.replace("fn one() {}", "fn one() { user() }");
    std::fs::write(f.repo.join("lib.rs"), &user_lib).expect("write");
    git(&f.repo, &["commit", "-qam", "user change"]);
    let head = git(&f.repo, &["rev-parse", "HEAD"]);
    assert_eq!(orch.predict_conflicts(id).await.expect("predict"), ["lib.rs"]);
    let err = orch.merge(id).await.expect_err("conflict");
    expect_test::expect!["refusing to merge: it would conflict in lib.rs"].assert_eq(&err.to_string());
    assert_eq!(f.read("lib.rs"), user_lib);
    assert_eq!(git(&f.repo, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&f.repo, &["status", "--porcelain"]), "");
    assert_eq!(orch.show(id).expect("show").task.state, TaskState::Ready);
}

#[tokio::test]
async fn apply_returns_new_contents_and_refuses_a_diverged_file() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("script")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let changes = orch.apply(id).await.expect("apply");
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, f.repo.join("lib.rs"));
    assert_eq!(changes[0].old_content.as_deref(), Some(LIB));
    assert_eq!(changes[0].new_content.as_deref(), Some(format!("{LIB}fn added() {{}}\n").as_str()));

    std::fs::write(f.repo.join("lib.rs"), "fn mine() {}\n").expect("write");
    let err = orch.apply(id).await.expect_err("diverged");
    expect_test::expect![
        "refusing to apply: lib.rs changed since the task started (merge instead, or discard your change)"
    ]
    .assert_eq(&err.to_string());
    assert_eq!(f.read("lib.rs"), "fn mine() {}\n");

    std::fs::write(f.repo.join("lib.rs"), LIB).expect("write");
    orch.mark_applied(id).await.expect("mark applied");
    let details = orch.show(id).expect("show");
    assert_eq!(details.task.state, TaskState::Ready, "applying keeps the pull request open");
    assert_eq!(details.signoffs[0].action, SignoffAction::Applied);
    assert!(details.task.worktree.as_deref().is_some_and(Path::exists), "worktree kept");
    // Once the edit is in the file, applying again is refused as such; merging still works.
    std::fs::write(f.repo.join("lib.rs"), changes[0].new_content.as_deref().unwrap_or("")).expect("write");
    let err = orch.apply(id).await.expect_err("already applied");
    expect_test::expect![
        "pull request #1 is already applied to the working tree (undo it to apply again, or merge or discard it)"
    ]
    .assert_eq(&err.to_string());
    std::fs::write(f.repo.join("lib.rs"), LIB).expect("write");
    orch.merge(id).await.expect("merge after apply");
    assert_eq!(orch.show(id).expect("show").task.state, TaskState::Merged);
}

#[tokio::test]
async fn discard_removes_worktree_and_branch() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let (worktree, branch) = (task.worktree.expect("worktree"), task.branch.expect("branch"));
    assert!(worktree.exists());
    orch.discard(id).await.expect("discard");
    assert!(!worktree.exists());
    assert_eq!(git(&f.repo, &["branch", "--list", &branch]), "");
    assert_eq!(orch.show(id).expect("show").task.state, TaskState::Discarded);
    assert!(orch.discard(id).await.is_err(), "discarding twice is refused");
}

#[tokio::test]
async fn a_crashing_agent_fails_the_task_with_its_stderr_tail() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", "echo starting\necho 'error: model not found' >&2\nexit 2\n")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Do it", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    expect_test::expect!["the agent exited with exit status: 2 before finishing: error: model not found"]
        .assert_eq(task.error.as_deref().unwrap_or(""));
    assert_eq!(counts(&orch).failed, 1);
}

#[tokio::test]
async fn an_agent_that_makes_no_change_fails_naming_its_last_message_and_stop_reason() {
    let f = fixture();
    let orch =
        f.open(vec![f.agent("script", "echo looking around\necho 'I was not allowed to write hello.txt'\n")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Do it", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    expect_test::expect![[r#"the agent made no changes (it stopped with end_turn; its last message: "I was not allowed to write hello.txt")"#]]
        .assert_eq(task.error.as_deref().unwrap_or(""));
}

#[tokio::test]
async fn kinds_without_a_runner_fail_clearly_and_unknown_profiles_are_refused() {
    let f = fixture();
    let orch = f.open(vec![], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Do it", serde_json::Value::Null, None).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    expect_test::expect![[r#"no runner for built-in agents is available in this build (agent profile "builtin")"#]]
        .assert_eq(task.error.as_deref().unwrap_or(""));
    let err = orch.start_task(&f.repo, "x", serde_json::Value::Null, Some("nope")).await.expect_err("unknown");
    expect_test::expect![[r#"there is no agent profile named "nope" (known: builtin)"#]].assert_eq(&err.to_string());
}

/// Waits (up to 20 s) until a process named `name` works in `dir` (the agent itself, not the
/// sandbox still setting up); returns the pids of every process working there then.
async fn residents_of(dir: &Path, name: &str) -> Vec<u32> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = crate::process::residents(dir);
        if found.iter().any(|r| r.name == name) {
            return found.iter().map(|r| r.pid).collect();
        }
        assert!(std::time::Instant::now() < deadline, "no {name} started in {}: {found:?}", dir.display());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 30 s: a loaded machine delays the 1 s poll and the kill) until none of `pids`
/// runs; fails naming those left, with their `/proc/<pid>/stat` (state, parent, group, session).
async fn assert_gone(pids: &[u32]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| crate::process::pid_alive(*p, None)).collect();
        if left.is_empty() {
            return;
        }
        let stats: Vec<String> =
            left.iter().map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default()).collect();
        assert!(std::time::Instant::now() < deadline, "still running: {stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_silent_agent_is_stopped_at_its_inactivity_limit_and_a_busy_one_is_not() {
    let f = fixture();
    let mut quiet = f.agent("quiet", "echo thinking\nsleep 1000 &\nwait\n");
    quiet.inactivity_timeout_ms = Some(2_000);
    // Busy for longer than the inactivity limit, with output more often than it.
    let mut busy = f
        .agent("busy", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo step $i; sleep 0.25; done\necho done > out.txt\n");
    busy.inactivity_timeout_ms = Some(2_000);
    let orch = f.open(vec![quiet, busy], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Think", serde_json::Value::Null, Some("quiet")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    expect_test::expect!["the agent showed no output and no tool call for 2000 ms and was stopped"]
        .assert_eq(task.error.as_deref().unwrap_or(""));
    let left = crate::process::residents_after_exit(&task.worktree.expect("worktree")).await;
    assert!(left.is_empty(), "the agent's processes still run: {left:?}");
    let id = orch.start_task(&f.repo, "Work", serde_json::Value::Null, Some("busy")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    assert_eq!(task.error, None);
}

#[tokio::test]
async fn a_hanging_agent_is_killed_at_its_time_limit() {
    let f = fixture();
    let mut agent = f.agent("hang", "sleep 1000 &\nwait\n");
    agent.time_limit_ms = 500;
    let orch = f.open(vec![agent], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Hang", serde_json::Value::Null, Some("hang")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    expect_test::expect!["the agent ran past its time limit of 500 ms and was stopped"]
        .assert_eq(task.error.as_deref().unwrap_or(""));
    let left = crate::process::residents_after_exit(&task.worktree.expect("worktree")).await;
    assert!(left.is_empty(), "the agent's processes still run: {left:?}");
}

fn waiting_agent(f: &Fixture, name: &str) -> AgentProfile {
    // Waits until the test creates a file named after the prompt, then edits.
    let dir = f.tmp.path().display();
    f.agent(
        name,
        &format!("while [ ! -f \"{dir}/$1\" ]; do sleep 0.02; done\necho \"// $1\" >> lib.rs\necho done $1\n"),
    )
}

#[tokio::test]
async fn a_restarted_server_marks_running_tasks_interrupted_and_keeps_their_work() {
    let f = fixture();
    let orch = f.open(vec![waiting_agent(&f, "wait")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "go-restart", serde_json::Value::Null, Some("wait")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Running).await;
    drop(orch);
    let orch = f.open(vec![waiting_agent(&f, "wait")], None);
    let task_now = orch.show(id).expect("show").task;
    assert_eq!(task_now.state, TaskState::Interrupted);
    let worktree = task.worktree.expect("worktree");
    assert!(worktree.join("lib.rs").exists(), "worktree kept");
    let branch = task.branch.expect("branch");
    // `+`: checked out in another worktree.
    assert_eq!(git(&f.repo, &["branch", "--list", &branch]).trim(), format!("+ {branch}"));

    // Resuming runs it again in the same worktree.
    let mut rx = orch.subscribe();
    std::fs::write(f.path("go-restart"), "").expect("write");
    orch.resume(id).expect("resume");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    assert_eq!(task.worktree.as_deref(), Some(worktree.as_path()));
}

#[tokio::test]
async fn two_servers_share_the_database_without_interrupting_each_other() {
    let f = fixture();
    let a = f.open(vec![waiting_agent(&f, "wait")], None);
    let b = f.open(vec![waiting_agent(&f, "wait")], None);
    let mut rx = a.subscribe();
    let id = a.start_task(&f.repo, "go-shared", serde_json::Value::Null, Some("wait")).await.expect("start");
    wait_for(&a, &mut rx, id, TaskState::Running).await;
    // A third server starting now must not take the running task for an orphan.
    let c = f.open(vec![], None);
    assert_eq!(c.show(id).expect("show").task.state, TaskState::Running);
    assert_eq!(counts(&b).running, 1);
    std::fs::write(f.path("go-shared"), "").expect("write");
    wait_for(&a, &mut rx, id, TaskState::Ready).await;
    let seen = b.list().expect("list");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, TaskState::Ready);
    assert!(b.show(id).expect("show").pull_request.is_some());
}

#[tokio::test]
async fn worktreeinclude_copies_ignored_files_and_setup_runs_in_the_worktree() {
    let f = fixture();
    std::fs::write(f.repo.join(".gitignore"), ".env\n").expect("write");
    std::fs::write(f.repo.join(".worktreeinclude"), "# secrets for the dev server\n.env\n").expect("write");
    git(&f.repo, &["add", "-A"]);
    git(&f.repo, &["commit", "-qm", "ignore .env"]);
    std::fs::write(f.repo.join(".env"), "SECRET=1\n").expect("write");
    // The setup leaves its working directory for the agent, which checks it is its own.
    let agent = "grep -q SECRET=1 .env || exit 9\n[ \"$(cat .setup-ran)\" = \"$(pwd)\" ] || exit 8\nrm .setup-ran\n";
    let settings = Config {
        profiles: vec![f.agent("script", &format!("{agent}{APPEND}"))],
        setup_command: Some("pwd > .setup-ran".to_owned()),
        ..Config::default()
    };
    let orch = Orchestrator::open(&f.data, settings, AgentRunners::default()).expect("open");
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Use the env", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let worktree = task.worktree.expect("worktree");
    assert_eq!(std::fs::read_to_string(worktree.join(".env")).expect("copied"), "SECRET=1\n");
    let pr = orch.show(id).expect("show").pull_request.expect("pr");
    assert_eq!(pr.files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["lib.rs"], ".env is not committed");
}

#[tokio::test]
async fn a_concurrency_cap_of_one_runs_tasks_one_after_the_other_and_overlaps_are_found() {
    let f = fixture();
    let mut agent = waiting_agent(&f, "solo");
    agent.max_concurrent = 1;
    let orch = f.open(vec![agent], None);
    let mut rx = orch.subscribe();
    let first = orch.start_task(&f.repo, "go-first", serde_json::Value::Null, Some("solo")).await.expect("start");
    let second = orch.start_task(&f.repo, "go-second", serde_json::Value::Null, Some("solo")).await.expect("start");
    let running = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let ev = rx.recv().await.expect("event");
            if ev.state == TaskState::Running {
                return ev.task_id;
            }
        }
    })
    .await
    .expect("one task runs");
    let (now, next) = if running == first { (first, second) } else { (second, first) };
    assert_eq!(orch.show(next).expect("show").task.state, TaskState::Queued);
    let counts = counts(&orch);
    assert_eq!((counts.running, counts.queued), (1, 1));
    let name = |id| if id == first { "go-first" } else { "go-second" };
    std::fs::write(f.path(name(now)), "").expect("write");
    wait_for(&orch, &mut rx, now, TaskState::Ready).await;
    wait_for(&orch, &mut rx, next, TaskState::Running).await;
    std::fs::write(f.path(name(next)), "").expect("write");
    wait_for(&orch, &mut rx, next, TaskState::Ready).await;

    let overlaps = orch.conflicts_between_ready().expect("overlaps");
    assert_eq!(overlaps.len(), 1);
    assert_eq!(overlaps[0].files, ["lib.rs"]);
}

#[tokio::test]
async fn gc_removes_orphan_worktrees_only() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let orphan = worktree::worktrees_dir(&f.data, &task.repo_root).join("99-orphan");
    git(&f.repo, &["worktree", "add", "-q", "-b", "baton/99-orphan", &orphan.to_string_lossy()]);
    // A live task's folder whose path is not recorded yet (another server still creating it).
    let creating = worktree::worktrees_dir(&f.data, &task.repo_root).join(format!("{id}-being-created"));
    std::fs::create_dir_all(&creating).expect("mkdir");
    let removed = orch.gc().await.expect("gc");
    assert_eq!(removed, std::slice::from_ref(&orphan));
    assert!(creating.exists(), "a folder named for a live task stays");
    assert!(!orphan.exists());
    assert!(task.worktree.expect("worktree").exists(), "a live task's worktree stays");
    assert!(!git(&f.repo, &["worktree", "list"]).contains("99-orphan"));
}

#[tokio::test]
async fn plan_first_waits_for_approval_then_works() {
    let f = fixture();
    let mut agent = f.agent(
        "planner",
        &format!("case \"$1\" in *'numbered plan'*) echo '1. add fn added'; exit 0;; esac\n{APPEND}"),
    );
    agent.plan_first = true;
    let orch = f.open(vec![agent], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("planner")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::AwaitingPlanApproval).await;
    assert_eq!(task.plan.as_deref(), Some("1. add fn added"));
    orch.approve_plan(id).expect("approve");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
}

#[tokio::test]
async fn request_changes_runs_the_agent_again_on_the_same_branch() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", APPEND)], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("script")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let before = orch.show(id).expect("show").pull_request.expect("pr");
    // The worktree folder went away meanwhile: the run re-creates it from the branch.
    let worktree = orch.show(id).expect("show").task.worktree.expect("worktree");
    git(&f.repo, &["worktree", "remove", "--force", &worktree.to_string_lossy()]);
    orch.request_changes(id, "add another one").expect("request changes");
    let task = wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    assert!(task.prompt.ends_with("add another one"));
    let after = orch.show(id).expect("show").pull_request.expect("pr");
    assert_eq!(after.base_commit, before.base_commit);
    assert_ne!(after.head_commit, before.head_commit);
    assert_eq!(after.stat.insertions, 2);
}

#[tokio::test]
async fn a_task_discarded_by_another_server_stops_its_agent() {
    let f = fixture();
    let agent = f.agent("hang", "sleep 1000 &\nwait\n");
    let a = f.open(vec![agent.clone()], None);
    let b = f.open(vec![agent], None);
    let mut rx = a.subscribe();
    let id = a.start_task(&f.repo, "Hang", serde_json::Value::Null, Some("hang")).await.expect("start");
    let task = wait_for(&a, &mut rx, id, TaskState::Running).await;
    let pids = residents_of(&task.worktree.expect("worktree"), "sleep").await;
    b.discard(id).await.expect("discard from the other server");
    assert_eq!(a.show(id).expect("show").task.state, TaskState::Discarded);
    // The first server notices within a poll and kills the agent's process group.
    assert_gone(&pids).await;
    assert_eq!(a.show(id).expect("show").task.state, TaskState::Discarded);
}

/// Discarded while its sandbox is still starting (the first milliseconds, before bubblewrap's
/// child has tied its life to its parent's), the agent must not run on out of Baton's reach:
/// once the task's process group is gone, no process runs the agent's script. A race, so tried
/// several times.
#[tokio::test]
async fn a_task_discarded_while_its_sandbox_starts_leaves_no_process_behind() {
    let f = fixture();
    let agent = f.agent("hang", "sleep 1000 &\nwait\n");
    let script = f.path("hang.sh").to_string_lossy().into_owned();
    let a = f.open(vec![agent.clone()], None);
    let b = f.open(vec![agent], None);
    let mut rx = a.subscribe();
    for attempt in 0..10 {
        let id = a.start_task(&f.repo, "Hang", serde_json::Value::Null, Some("hang")).await.expect("start");
        let task = wait_for(&a, &mut rx, id, TaskState::Running).await;
        let worktree = task.worktree.expect("worktree");
        // The first process in the worktree: the sandbox starting, not yet the agent.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while crate::process::residents(&worktree).is_empty() {
            assert!(std::time::Instant::now() < deadline, "nothing started in {}", worktree.display());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        b.discard(id).await.expect("discard from the other server");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = processes_running(&script);
            if left.is_empty() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "attempt {attempt}: still running the agent: {left:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Live processes whose command line mentions `needle`, with their `/proc/<pid>/stat`.
fn processes_running(needle: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&pid| crate::process::pid_alive(pid, None))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn files_an_agent_keeps_for_itself_stay_out_of_the_commit() {
    let f = fixture();
    let agent = AgentProfile {
        exclude: vec![".aider*".to_owned()],
        ..f.agent(
            "aiderish",
            &format!("echo history > .aider.chat.history.md\nmkdir .aider.tags.cache.v4 && echo x > .aider.tags.cache.v4/cache.db\n{APPEND}"),
        )
    };
    let orch = f.open(vec![agent], None);
    let mut rx = orch.subscribe();
    let id =
        orch.start_task(&f.repo, "Add a function", serde_json::Value::Null, Some("aiderish")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let pr = orch.pull_request(id).expect("db").expect("pr");
    let files: Vec<&str> = pr.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(files, ["lib.rs"]);
}

#[tokio::test]
async fn a_change_above_the_total_limit_fails_naming_its_size_and_writes_no_object() {
    let f = fixture();
    let agent =
        f.agent("two", "head -c 600 /dev/zero | tr '\\0' a > a.txt\nhead -c 700 /dev/zero | tr '\\0' b > b.txt\n");
    let mut settings = Config { profiles: vec![agent], ..Config::default() };
    settings.limits.change_bytes = 1000;
    let orch = Orchestrator::open(&f.data, settings, AgentRunners::default()).expect("open");
    let objects = || git(&f.repo, &["count-objects", "-v"]);
    let before = objects();
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Two files", serde_json::Value::Null, Some("two")).await.expect("start");
    let wait = async {
        loop {
            let task = orch.show(id).expect("show").task;
            if task.state == TaskState::Failed {
                return task;
            }
            let _ = rx.recv().await;
        }
    };
    let task = tokio::time::timeout(Duration::from_secs(60), wait).await.expect("failed in time");
    expect_test::expect!["the agent's work was not committed: the agent's change is too large, nothing was committed: 2 file(s) add up to 1.3 kB and the limit is 1.0 kB per change (orchestrator.max_change_bytes); the largest: b.txt 700 bytes, a.txt 600 bytes"]
        .assert_eq(task.error.as_deref().unwrap_or(""));
    assert_eq!(objects(), before);
}

#[tokio::test]
async fn apply_refuses_content_that_is_not_utf8_as_a_whole() {
    let f = fixture();
    let orch = f.open(vec![f.agent("latin", "printf 'caf\\351\\n' > README.md\nprintf 'ok\\n' >> lib.rs\n")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Latin", serde_json::Value::Null, Some("latin")).await.expect("start");
    wait_for(&orch, &mut rx, id, TaskState::Ready).await;
    let pr = orch.show(id).expect("show").pull_request.expect("pr");
    assert!(pr.description.contains("- binary file: README.md"), "{}", pr.description);
    let err = orch.apply(id).await.expect_err("refused");
    expect_test::expect!["refusing to apply: README.md is not UTF-8 text, which an edit cannot carry; nothing was applied (merge instead)"]
        .assert_eq(&err.to_string());
}

/// A task row as a server that is gone left it: running, owned by a pid that cannot exist.
fn orphan(store: &Store, f: &Fixture, prompt: &str, owner: &str) -> TaskId {
    let id = store.insert_task(&f.repo, prompt, &serde_json::Value::Null, "gone", owner).expect("insert");
    store.set_state(id, TaskState::Preparing).expect("preparing");
    store.set_state(id, TaskState::Running).expect("running");
    id
}

/// Waits (up to 20 s) for an event putting task `id` in `state`; returns its message.
async fn event_for(rx: &mut Receiver<TaskEvent>, id: TaskId, state: TaskState) -> String {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(ev) if ev.task_id == id && ev.state == state => return ev.message,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait).await.expect("the event in time")
}

const DEAD_OWNER: &str = "4294967295:1:1";

#[tokio::test]
async fn recovery_kills_the_group_a_dead_server_left_running_but_never_a_reused_pid() {
    let f = fixture();
    let store = Store::open(&worktree::db_path(&f.data)).expect("store");
    let spawn_group = || {
        tokio::process::Command::new("sleep")
            .arg("600")
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sleep")
    };
    let mut left = spawn_group();
    let left_record = crate::process::GroupRecord::of(left.id().expect("pid")).expect("record");
    let a = orphan(&store, &f, "left running", DEAD_OWNER);
    store.set_process(a, Some(left_record)).expect("record");
    // Another task's record names a pid a different process now has (another start time).
    let mut bystander = spawn_group();
    let reused = crate::process::GroupRecord::of(bystander.id().expect("pid")).expect("record");
    let b = orphan(&store, &f, "pid reused", DEAD_OWNER);
    store
        .set_process(b, Some(crate::process::GroupRecord { start_time: reused.start_time + 1, ..reused }))
        .expect("record");

    let orch = f.open(vec![], None);
    for id in [a, b] {
        let task = orch.show(id).expect("show").task;
        assert_eq!((task.state, task.process), (TaskState::Interrupted, None), "task {id}");
    }
    let status = tokio::time::timeout(Duration::from_secs(10), left.wait()).await.expect("killed").expect("wait");
    assert!(!status.success(), "{status}");
    assert!(bystander.try_wait().expect("try_wait").is_none(), "a process that reused the pid was killed");
}

#[tokio::test]
async fn a_running_server_interrupts_a_dead_servers_task_within_a_poll() {
    let f = fixture();
    let orch = f.open(vec![], None);
    let mut rx = orch.subscribe();
    let store = Store::open(&worktree::db_path(&f.data)).expect("store");
    let id = orphan(&store, &f, "orphaned later", DEAD_OWNER);
    let message = event_for(&mut rx, id, TaskState::Interrupted).await;
    assert_eq!(message, "interrupted: the server running this task stopped");
    assert_eq!(orch.show(id).expect("show").task.state, TaskState::Interrupted);
}

#[tokio::test]
async fn a_task_of_this_server_that_no_pipeline_runs_ends_failed() {
    let f = fixture();
    let orch = f.open(vec![], None);
    let mut rx = orch.subscribe();
    let store = Store::open(&worktree::db_path(&f.data)).expect("store");
    // Owned by this live server, working, but nothing runs it (its pipeline ended unrecorded).
    let id = orphan(&store, &f, "stranded", &orch.inner.owner);
    let message = event_for(&mut rx, id, TaskState::Failed).await;
    assert_eq!(message, "the task stopped without recording its result");
    let task = orch.show(id).expect("show").task;
    assert_eq!((task.state, task.error.as_deref()), (TaskState::Failed, Some(message.as_str())));
}

#[tokio::test]
async fn resume_refuses_while_a_process_still_works_in_the_worktree() {
    let f = fixture();
    let orch = f.open(vec![f.agent("script", "exit 3\n")], None);
    let mut rx = orch.subscribe();
    let id = orch.start_task(&f.repo, "Fail", serde_json::Value::Null, Some("script")).await.expect("start");
    let task = wait_for(&orch, &mut rx, id, TaskState::Failed).await;
    let worktree = task.worktree.expect("worktree");
    let mut lingering = tokio::process::Command::new("sleep")
        .arg("600")
        .current_dir(&worktree)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let pid = lingering.id().expect("pid");
    let err = orch.resume(id).expect_err("refused");
    assert_eq!(
        err.to_string(),
        format!(
            "refusing to run task {id} again: sleep (pid {pid}) still running in its worktree {}; stop it first",
            worktree.display()
        )
    );
    assert_eq!(orch.show(id).expect("show").task.state, TaskState::Failed);
    lingering.kill().await.expect("kill");
    orch.resume(id).expect("resumed once nothing runs there");
}
