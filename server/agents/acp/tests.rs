//! ACP runs against `tests/fixtures/acp_agent.py`, a small agent speaking the real protocol.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::agents::testing::{drain, run_context};
use crate::agents::{AgentKind, AgentProfile, AskOption, Asker};

/// The real Python interpreter (not a version-manager shim), or `None` to skip.
fn python() -> Option<String> {
    let output = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    let path = String::from_utf8(output.stdout).ok()?.trim().to_owned();
    (output.status.success() && !path.is_empty()).then_some(path)
}

struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    worktree: PathBuf,
    ctx: RunContext,
    events: UnboundedReceiver<AgentEvent>,
}

#[allow(clippy::print_stderr)]
fn setup(prompt: &str, permission: PermissionPolicy) -> Option<Setup> {
    let Some(python) = python() else {
        eprintln!("SKIPPED: python3 is not installed; the ACP test agent needs it");
        return None;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp_agent.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let worktree = root.join("wt");
    std::fs::create_dir_all(&worktree).expect("worktree");
    let profile = AgentProfile {
        name: "acp-test".to_owned(),
        kind: AgentKind::Acp,
        command: vec![python.clone(), script.display().to_string()],
        permission,
        time_limit_ms: 20_000,
        ..AgentProfile::default()
    };
    let (mut ctx, events) = run_context(&worktree, prompt, profile);
    // The interpreter may live under the home folder (pyenv), which the sandbox hides.
    let real = PathBuf::from(&python).canonicalize().unwrap_or_else(|_| PathBuf::from(&python));
    let bound = &mut ctx.confinement.read_only_paths;
    bound.extend(real.parent().and_then(Path::parent).map(|p| p.display().to_string()));
    bound.extend(script.parent().map(|p| p.display().to_string()));
    Some(Setup { _dir: dir, root, worktree, ctx, events })
}

fn agent_record(worktree: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(worktree.join(".acp-agent.json")).expect("agent record");
    serde_json::from_str(&text).expect("json")
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_turn_writes_inside_the_worktree_only_and_reports_progress() {
    let Some(mut s) = setup("Write some notes.", PermissionPolicy::Allow) else {
        return;
    };
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.stop_reason, StopReason::EndTurn);
    // "Hello " came before the plan and the tool call: the final message is what follows them.
    assert_eq!(outcome.summary, "chose allow-once; inside ok=True; outside refused=True; read back=True");
    assert_eq!(outcome.tokens, 12);
    assert_eq!(std::fs::read_to_string(s.worktree.join("notes.txt")).expect("notes"), "written by acp");
    assert_eq!(entries(&s.root), ["wt"]);
    let record = agent_record(&s.worktree);
    assert_eq!(record["cwd"], s.worktree.display().to_string());
    assert_eq!(record["new"]["mcpServers"], serde_json::json!([]));
    let caps = &record["init"]["clientCapabilities"];
    assert_eq!(caps["fs"]["readTextFile"], true);
    assert_eq!(caps["fs"]["writeTextFile"], true);
    assert_eq!(caps["terminal"], false);
    let events = drain(&mut s.events);
    for expected in [
        AgentEvent::Step("Write notes.txt".to_owned()),
        AgentEvent::Step("write notes.txt".to_owned()),
        AgentEvent::Step("Write notes.txt: completed".to_owned()),
        AgentEvent::Plan("- [in_progress] Write notes".to_owned()),
        AgentEvent::Usage { tokens: 12 },
    ] {
        assert!(events.contains(&expected), "{expected:?} missing from {events:?}");
    }
    // The earlier message is kept in the log, not lost.
    assert!(events.iter().any(|e| matches!(e, AgentEvent::Log(l) if l.starts_with("agent said: Hello"))), "{events:?}");
}

#[tokio::test]
async fn reject_policy_rejects() {
    let Some(s) = setup("Write some notes.", PermissionPolicy::Reject) else {
        return;
    };
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "permission denied (reject-once)");
    assert!(!s.worktree.join("notes.txt").exists());
}

/// Answers every question with a fixed option name and records the questions.
struct Answering {
    answer: Option<String>,
    asked: Mutex<Vec<(String, Vec<String>)>>,
}

impl Asker for Answering {
    fn ask(&self, question: String, options: Vec<AskOption>) -> BoxFuture<'static, Option<String>> {
        assert_eq!(options.iter().map(|o| o.allow).collect::<Vec<_>>(), [true, true, false]);
        let names = options.into_iter().map(|o| o.name).collect();
        self.asked.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((question, names));
        let answer = self.answer.clone();
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn ask_policy_asks_the_user() {
    for (answer, expected) in [
        (Some("Always allow"), "chose allow-always"),
        (Some("Reject"), "permission denied (reject-once)"),
        (None, "permission denied (reject-once)"),
    ] {
        let Some(mut s) = setup("Write some notes.", PermissionPolicy::Ask) else {
            return;
        };
        let asker = Arc::new(Answering { answer: answer.map(str::to_owned), asked: Mutex::new(Vec::new()) });
        s.ctx.asker = asker.clone();
        let outcome = run(s.ctx.clone()).await.expect("run");
        assert!(outcome.summary.contains(expected), "{answer:?}: {}", outcome.summary);
        let asked = asker.asked.lock().expect("asked").clone();
        assert_eq!(asked.len(), 1);
        assert!(asked[0].0.contains("Write notes.txt"), "{}", asked[0].0);
        assert_eq!(asked[0].1, ["Allow once", "Always allow", "Reject"]);
    }
}

#[tokio::test]
async fn a_crash_mid_turn_is_reported_with_stderr() {
    let Some(s) = setup("please crash now", PermissionPolicy::Allow) else {
        return;
    };
    let error = run(s.ctx.clone()).await.expect_err("crash");
    match error {
        AgentError::Crashed { status, stderr_tail } => {
            assert!(status.contains('3'), "{status}");
            assert!(stderr_tail.contains("agent blew up: boom"), "{stderr_tail}");
        }
        other => panic!("expected Crashed, got {other}"),
    }
}

#[tokio::test]
async fn a_hanging_agent_times_out_and_is_killed() {
    let Some(mut s) = setup("hang please", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.profile.time_limit_ms = 500;
    let error = crate::agents::run::with_time_limit(s.ctx.clone(), run).await.expect_err("timeout");
    assert!(matches!(error, AgentError::TimedOut { ms: 500 }), "{error}");
    assert!(agent_record(&s.worktree)["pid"].is_u64(), "the agent started");
    // Its pid is the sandbox's own; from here, nothing may still work in the worktree.
    let left = crate::process::residents_after_exit(&s.worktree).await;
    assert!(left.is_empty(), "still running in the worktree: {left:?}");
}

#[tokio::test]
async fn cancel_ends_the_turn() {
    let Some(mut s) = setup("hang please", PermissionPolicy::Allow) else {
        return;
    };
    let cancel = s.ctx.cancel.clone();
    let handle = tokio::spawn(run(s.ctx.clone()));
    // Cancel as soon as the agent shows life (its first chunk goes into the summary, so wait for
    // nothing and cancel right away: whichever phase the run is in, it must end as Cancelled).
    cancel.cancel();
    let error = handle.await.expect("join").expect_err("cancelled");
    assert!(matches!(error, AgentError::Cancelled), "{error}");
    assert!(drain(&mut s.events).iter().all(|e| !matches!(e, AgentEvent::Usage { .. })));
}

#[tokio::test]
async fn a_missing_command_is_a_spawn_error() {
    let Some(mut s) = setup("x", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.profile.command = vec!["/nonexistent/agent-binary".to_owned()];
    let error = run(s.ctx.clone()).await.expect_err("spawn");
    assert!(matches!(error, AgentError::Spawn { .. }), "{error}");
}

#[tokio::test]
async fn an_agent_exiting_while_a_grandchild_holds_its_stdout_is_a_crash_and_both_are_killed() {
    let Some(s) = setup("leave an orphan", PermissionPolicy::Allow) else {
        return;
    };
    let started = std::time::Instant::now();
    let error = run(s.ctx.clone()).await.expect_err("crash");
    // Not the 20 s time limit: the agent's exit ends the turn although its stdout stays open.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    match error {
        AgentError::Crashed { status, stderr_tail } => {
            assert!(status.contains('4'), "{status}");
            assert!(stderr_tail.contains("orphan holds stdout"), "{stderr_tail}");
        }
        other => panic!("expected Crashed, got {other}"),
    }
    assert!(s.worktree.join(".acp-grandchild.pid").exists(), "the grandchild started");
    let left = crate::process::residents_after_exit(&s.worktree).await;
    assert!(left.is_empty(), "still running in the worktree: {left:?}");
}

#[tokio::test]
async fn terminals_are_declined_and_stray_output_is_logged() {
    let Some(mut s) = setup("use a terminal", PermissionPolicy::Allow) else {
        return;
    };
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "terminal refused=True");
    assert_eq!(outcome.tokens, 0);
    let events = drain(&mut s.events);
    let expected = AgentEvent::Log("agent output: booting the terminal, not JSON".to_owned());
    assert!(events.contains(&expected), "{events:?}");
}

#[tokio::test]
async fn without_client_fs_the_capability_is_not_offered_nor_served() {
    let Some(mut s) = setup("Write some notes.", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.profile.client_fs = false;
    let outcome = run(s.ctx.clone()).await.expect("run");
    // The agent's fs/write_text_file and fs/read_text_file get "method not found": nothing written.
    assert_eq!(outcome.summary, "chose allow-once; inside ok=False; outside refused=True; read back=False");
    assert!(!s.worktree.join("notes.txt").exists());
    let caps = &agent_record(&s.worktree)["init"]["clientCapabilities"];
    assert_eq!(caps["fs"]["readTextFile"], false);
    assert_eq!(caps["fs"]["writeTextFile"], false);
    assert_eq!(caps["terminal"], false);
}

#[tokio::test]
async fn the_summary_is_the_last_message_by_message_id() {
    let Some(mut s) = setup("notice", PermissionPolicy::Allow) else {
        return;
    };
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "The answer. Done.");
    let events = drain(&mut s.events);
    assert!(events.contains(&AgentEvent::Log("agent said: Info: a notice".to_owned())), "{events:?}");
}

fn auth_log(worktree: &Path) -> Vec<String> {
    std::fs::read_to_string(worktree.join(".acp-auth.log")).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// The agent advertises a terminal login and an API-key method naming `ACP_TEST_KEY`; with the
/// key in its environment Baton authenticates with the key method (never the terminal one, whose
/// words name the same variable) and the turn goes on.
#[tokio::test]
async fn an_api_key_login_the_agent_can_run_itself_is_offered_and_the_turn_goes_on() {
    let Some(mut s) = setup("Write some notes.", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.confinement.env.insert("ACP_TEST_AUTH".to_owned(), "key".to_owned());
    s.ctx.confinement.env.insert("ACP_TEST_KEY".to_owned(), "k-123".to_owned());
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert!(outcome.summary.contains("inside ok=True"), "{}", outcome.summary);
    assert_eq!(auth_log(&s.worktree), ["test-api-key"]);
    let logs: Vec<String> = drain(&mut s.events)
        .into_iter()
        .filter_map(|e| match e {
            AgentEvent::Log(l) => Some(l),
            _ => None,
        })
        .collect();
    assert!(logs.iter().any(|l| l.contains("authenticating with its `test-api-key` method")), "{logs:?}");
}

/// Without the key nothing names a variable the agent has: no `authenticate`, `needs login`
/// with the agent's own words.
#[tokio::test]
async fn without_the_key_no_login_is_attempted_and_the_hint_is_the_agents() {
    let Some(mut s) = setup("Write some notes.", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.confinement.env.insert("ACP_TEST_AUTH".to_owned(), "key".to_owned());
    let err = run(s.ctx.clone()).await.expect_err("needs a login");
    let AgentError::NeedsLogin { hint } = err else { panic!("{err:?}") };
    assert!(hint.contains("Requires setting the `ACP_TEST_KEY` environment variable"), "{hint}");
    assert!(auth_log(&s.worktree).is_empty());
}

/// A configured method is tried once; the agent's refusal is in the hint. A configured terminal
/// login or a method the agent does not offer is never sent.
#[tokio::test]
async fn a_configured_auth_method_is_tried_once_and_its_failure_is_named() {
    let Some(mut s) = setup("Write some notes.", PermissionPolicy::Allow) else {
        return;
    };
    s.ctx.confinement.env.insert("ACP_TEST_AUTH".to_owned(), "key".to_owned());
    s.ctx.profile.auth_method = Some("copilot-login".to_owned());
    let err = run(s.ctx.clone()).await.expect_err("needs a login");
    let AgentError::NeedsLogin { hint } = err else { panic!("{err:?}") };
    assert!(
        hint.ends_with("(authenticating with `copilot-login` failed: login failed: no credentials (-32000))"),
        "{hint}"
    );
    assert_eq!(auth_log(&s.worktree), ["copilot-login"]);

    for (configured, words) in [
        ("tui-login", "is a terminal login, which only a person can run"),
        ("browser", "is not one the agent offers; it offers `tui-login`, `test-api-key`, `copilot-login`"),
    ] {
        std::fs::remove_file(s.worktree.join(".acp-auth.log")).ok();
        s.ctx.profile.auth_method = Some(configured.to_owned());
        let err = run(s.ctx.clone()).await.expect_err("needs a login");
        let AgentError::NeedsLogin { hint } = err else { panic!("{err:?}") };
        assert!(hint.contains(words), "{hint}");
        assert!(auth_log(&s.worktree).is_empty(), "{configured}");
    }
}

#[test]
fn variable_names_are_capitals_with_an_underscore() {
    let text = "Requires `OPENAI_API_KEY` or CODEX_API_KEY; see the CLI API docs, _X_, A_, 9_X and GEMINI2_KEY.";
    assert_eq!(variable_names(text).collect::<Vec<_>>(), ["OPENAI_API_KEY", "CODEX_API_KEY", "GEMINI2_KEY"]);
}
