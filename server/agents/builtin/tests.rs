//! The built-in agent against the scripted model server speaking real tool-call wire formats, in
//! temporary worktrees.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::*;
use crate::agents::AgentProfile;
use crate::agents::sandbox::{Mode, availability};
use crate::agents::testing::{drain, run_context, steps};
use crate::providers::{ProviderConfig, ProviderKind};

use baton_test_support::model_server::{ModelServer, Reply};

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    _root: tempfile::TempDir,
    /// Holds the worktree; files outside the worktree but inside this folder must never appear.
    root: PathBuf,
    worktree: PathBuf,
    ctx: RunContext,
    events: UnboundedReceiver<AgentEvent>,
}

fn setup(kind: ProviderKind, server: &ModelServer) -> Setup {
    setup_in(kind, server, std::env::temp_dir())
}

fn setup_in(kind: ProviderKind, server: &ModelServer, parent: PathBuf) -> Setup {
    let dir = tempfile::tempdir_in(parent).expect("tempdir");
    let root = dir.path().canonicalize().expect("canonical");
    let worktree = root.join("wt");
    std::fs::create_dir_all(&worktree).expect("worktree");
    let base_url = match kind {
        ProviderKind::Openai | ProviderKind::Anthropic => format!("{}/v1", server.base_url()),
        ProviderKind::Ollama | ProviderKind::Llamacpp => server.base_url(),
    };
    let profile = AgentProfile { time_limit_ms: 20_000, ..AgentProfile::default() };
    let (mut ctx, events) = run_context(&worktree, "Do the task.", profile);
    ctx.default_model = ProviderConfig {
        kind,
        base_url,
        model: "test-model".to_owned(),
        timeout_ms: 10_000,
        max_retries: 0,
        ..ProviderConfig::default()
    };
    Setup { _root: dir, root, worktree, ctx, events }
}

/// The tool results the agent sent back in request `body`, in any of the wire formats.
fn tool_results(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for message in body["messages"].as_array().into_iter().flatten() {
        if message["role"] == "tool" {
            out.push(message["content"].as_str().unwrap_or_default().to_owned());
        }
        for block in message["content"].as_array().into_iter().flatten() {
            if block["type"] == "tool_result" {
                out.push(block["content"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn write_then_run_then_answer_in_each_wire_format() {
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic, ProviderKind::Ollama] {
        let server = ModelServer::start().await;
        server.push(Reply::tool_call("write_file", json!({"path": "src/hello.txt", "content": "hi there"})));
        server.push(Reply::tool_call("run_command", json!({"command": "cat src/hello.txt > out.txt && echo ran"})));
        server.push(Reply::text("Wrote and checked hello.txt."));
        let mut s = setup(kind, &server);
        let outcome = run(s.ctx.clone()).await.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(outcome.summary, "Wrote and checked hello.txt.", "{kind:?}");
        assert_eq!(outcome.stop_reason, StopReason::EndTurn);
        assert_eq!(outcome.tokens, 45);
        let read = |p: &str| std::fs::read_to_string(s.worktree.join(p)).expect(p);
        assert_eq!(read("src/hello.txt"), "hi there");
        assert_eq!(read("out.txt"), "hi there");
        let events = drain(&mut s.events);
        let steps = steps(&events);
        assert!(steps.contains(&"write_file src/hello.txt".to_owned()), "{steps:?}");
        assert!(steps.iter().any(|s| s.starts_with("run_command cat")), "{steps:?}");
        assert!(events.contains(&AgentEvent::Usage { tokens: 45 }));
        let requests = server.requests();
        assert_eq!(requests.len(), 3);
        let results = tool_results(&requests[2].body);
        assert!(results[1].starts_with("exit code 0"), "{kind:?} {results:?}");
        assert!(results[1].contains("ran"), "{results:?}");
    }
}

#[tokio::test]
async fn a_non_unique_edit_is_an_error_the_model_sees_and_the_loop_goes_on() {
    let server = ModelServer::start().await;
    server.push(Reply::tool_call("edit_file", json!({"path": "a.txt", "old_string": "x", "new_string": "y"})));
    server.push(Reply::tool_call("edit_file", json!({"path": "a.txt", "old_string": "x\nx\nz", "new_string": "done"})));
    server.push(Reply::text("Edited."));
    let s = setup(ProviderKind::Anthropic, &server);
    std::fs::write(s.worktree.join("a.txt"), "x\nx\nz\n").expect("seed");
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Edited.");
    let requests = server.requests();
    let first = &requests[1].body["messages"][2]["content"][0];
    assert_eq!(first["type"], "tool_result");
    assert_eq!(first["is_error"], true);
    assert!(first["content"].as_str().unwrap_or_default().contains("occurs 2 times"), "{first}");
    assert_eq!(std::fs::read_to_string(s.worktree.join("a.txt")).expect("a"), "done\n");
}

#[tokio::test]
async fn paths_outside_the_worktree_are_refused() {
    let server = ModelServer::start().await;
    let s = setup(ProviderKind::Openai, &server);
    std::os::unix::fs::symlink(&s.root, s.worktree.join("link")).expect("symlink");
    let outside_abs = s.root.join("abs.txt");
    server.push(Reply::ToolCalls(vec![
        ("write_file".to_owned(), json!({"path": "../x.txt", "content": "no"})),
        ("write_file".to_owned(), json!({"path": outside_abs, "content": "no"})),
        ("write_file".to_owned(), json!({"path": "link/y.txt", "content": "no"})),
        ("edit_file".to_owned(), json!({"path": "/etc/passwd", "old_string": "root", "new_string": "x"})),
        ("read_file".to_owned(), json!({"path": "link/wt/../abs.txt"})),
        ("list_files".to_owned(), json!({"path": "link"})),
        ("write_file".to_owned(), json!({"path": "./ok/inside.txt", "content": "yes"})),
    ]));
    server.push(Reply::text("Tried."));
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Tried.");
    let results = tool_results(&server.requests()[1].body);
    assert_eq!(results.len(), 7);
    for result in &results[..6] {
        assert!(result.starts_with("error:"), "{results:?}");
    }
    assert!(results[0].contains("`..` is not allowed"), "{}", results[0]);
    assert!(results[1].contains("absolute path"), "{}", results[1]);
    assert!(results[2].contains("outside the repository"), "{}", results[2]);
    assert!(results[6].starts_with("wrote 3 bytes"), "{}", results[6]);
    let mut outside: Vec<_> = std::fs::read_dir(&s.root)
        .expect("root")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    outside.sort();
    assert_eq!(outside, ["wt"]);
    assert!(s.worktree.join("ok/inside.txt").exists());
}

#[tokio::test]
async fn listing_and_search_see_the_project_as_git_does_and_skip_build_output() {
    let server = ModelServer::start().await;
    server.push(Reply::ToolCalls(vec![
        ("list_files".to_owned(), json!({"recursive": true})),
        ("search".to_owned(), json!({"pattern": "needle"})),
        ("list_files".to_owned(), json!({"path": "target"})),
    ]));
    // Nothing changed: the agent is nudged once, then its answer ends the run.
    server.push(Reply::text("Looked."));
    server.push(Reply::text("Looked."));
    let s = setup(ProviderKind::Openai, &server);
    // A git worktree has a `.git` file; the .gitignore applies inside a repository only.
    std::fs::write(s.worktree.join(".git"), "gitdir: /nowhere\n").expect("dotgit");
    std::fs::write(s.worktree.join(".gitignore"), "ignored.txt\nbuild/\n").expect("gitignore");
    for (path, text) in [
        ("src/a.rs", "// needle\n"),
        (".github/ci.yml", "needle: 1\n"),
        ("ignored.txt", "needle\n"),
        ("build/b.rs", "needle\n"),
        ("target/debug/x.rs", "needle\n"),
        ("node_modules/m/index.js", "needle\n"),
        ("sub/.git/config", "needle\n"),
    ] {
        let file = s.worktree.join(path);
        std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
        std::fs::write(file, text).expect("write");
    }
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Looked.");
    let results = tool_results(&server.requests()[1].body);
    expect_test::expect![[r#"
        .git
        .github/
        .github/ci.yml
        .gitignore
        src/
        src/a.rs
        sub/"#]]
    .assert_eq(&results[0]);
    assert_eq!(results[1], ".github/ci.yml:1: needle: 1\nsrc/a.rs:1: // needle");
    // Asked for by name, a skipped folder is still listed.
    assert_eq!(results[2], "target/debug/");
}

#[tokio::test]
async fn max_steps_and_max_tokens_stop_the_loop() {
    let server = ModelServer::start().await;
    server.set_default(Reply::tool_call("list_files", json!({})));
    let mut s = setup(ProviderKind::Openai, &server);
    s.ctx.profile.max_steps = 3;
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.stop_reason, StopReason::MaxSteps);
    assert_eq!(server.requests().len(), 3);

    let server = ModelServer::start().await;
    server.set_default(Reply::tool_call("list_files", json!({})));
    let mut s = setup(ProviderKind::Ollama, &server);
    s.ctx.profile.max_tokens = 20;
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.stop_reason, StopReason::MaxTokens);
    assert_eq!(outcome.tokens, 30);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn tool_calls_written_as_json_text_run_and_finish_ends_the_run() {
    let server = ModelServer::start().await;
    server.push(Reply::text(
        "<tool_call>\n{\"name\": \"write_file\", \"arguments\": {\"path\": \"n.txt\", \"content\": \"1\"}}\n</tool_call>",
    ));
    server.push(Reply::text("```json\n{\"name\": \"finish\", \"arguments\": {\"summary\": \"Created n.txt\"}}\n```"));
    let s = setup(ProviderKind::Llamacpp, &server);
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Created n.txt");
    assert_eq!(outcome.stop_reason, StopReason::EndTurn);
    assert_eq!(std::fs::read_to_string(s.worktree.join("n.txt")).expect("n"), "1");
}

#[tokio::test]
async fn a_hanging_model_times_out() {
    let server = ModelServer::start().await;
    server.push(Reply::Hang);
    let mut s = setup(ProviderKind::Openai, &server);
    s.ctx.profile.time_limit_ms = 300;
    let error = crate::agents::run::with_time_limit(s.ctx.clone(), run).await.expect_err("timeout");
    assert!(matches!(error, AgentError::TimedOut { ms: 300 }), "{error}");
}

#[tokio::test]
async fn cancel_stops_a_running_command() {
    let server = ModelServer::start().await;
    server.push(Reply::tool_call("run_command", json!({"command": "sleep 30"})));
    let mut s = setup(ProviderKind::Openai, &server);
    let cancel = s.ctx.cancel.clone();
    let started = std::time::Instant::now();
    let handle = tokio::spawn(run(s.ctx.clone()));
    loop {
        match tokio::time::timeout(WAIT, s.events.recv()).await {
            Ok(Some(AgentEvent::Step(step))) if step == "run_command sleep 30" => break,
            Ok(Some(_)) => {}
            other => panic!("no run_command step: {other:?}"),
        }
    }
    cancel.cancel();
    let error = handle.await.expect("join").expect_err("cancelled");
    assert!(matches!(error, AgentError::Cancelled), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn plan_asks_without_tools() {
    let server = ModelServer::start().await;
    server.push(Reply::text("1. Read\n2. Edit"));
    let mut s = setup(ProviderKind::Anthropic, &server);
    s.ctx.task.planning = true;
    let plan = run(s.ctx.clone()).await.expect("plan").summary;
    assert_eq!(plan, "1. Read\n2. Edit");
    assert!(drain(&mut s.events).contains(&AgentEvent::Plan(plan)));
    assert!(server.requests()[0].body.get("tools").is_none());
}

/// Where sandbox tests put their worktrees: outside /tmp, so a write to the folder next to the
/// worktree would hit the real disk if the sandbox leaked (inside it, that folder is part of a
/// private, empty tmpfs).
fn outside_tmp() -> PathBuf {
    let var_tmp = Path::new("/var/tmp");
    if var_tmp.is_dir() { var_tmp.to_path_buf() } else { std::env::temp_dir() }
}

#[tokio::test]
#[allow(clippy::print_stderr)]
async fn bwrap_keeps_writes_inside_the_worktree_and_network_off() {
    if availability().await.is_err() {
        eprintln!(
            "SKIPPED bwrap_keeps_writes_inside_the_worktree_and_network_off: bwrap is missing or \
             user namespaces are off (apt-get install bubblewrap)"
        );
        return;
    }
    let server = ModelServer::start().await;
    let s = setup_in(ProviderKind::Openai, &server, outside_tmp());
    let outside = s.root.join("escaped.txt");
    let port = server.base_url().rsplit(':').next().unwrap_or_default().to_owned();
    server.push(Reply::ToolCalls(vec![
        ("run_command".to_owned(), json!({"command": format!("echo no > {}", outside.display())})),
        ("run_command".to_owned(), json!({"command": "echo yes > inside.txt"})),
        (
            "run_command".to_owned(),
            json!({"argv": ["python3", "-c", format!(
                "import socket\ntry:\n socket.create_connection(('127.0.0.1', {port}), 2); print('NET_ON')\nexcept OSError: print('NET_OFF')"
            )]}),
        ),
    ]));
    server.push(Reply::text("Done."));
    run(s.ctx.clone()).await.expect("run");
    let results = tool_results(&server.requests()[1].body);
    assert!(!outside.exists(), "a sandboxed command wrote outside the worktree: {results:?}");
    assert_eq!(std::fs::read_to_string(s.worktree.join("inside.txt")).expect("inside"), "yes\n");
    assert!(results[2].contains("NET_OFF"), "{results:?}");
}

#[tokio::test]
async fn unsandboxed_commands_run_and_the_user_is_told() {
    let server = ModelServer::start().await;
    server.push(Reply::tool_call("run_command", json!({"argv": ["sh", "-c", "echo plain > p.txt"]})));
    server.push(Reply::text("Ran."));
    let mut s = setup(ProviderKind::Openai, &server);
    let outcome = cancellable(&s.ctx, run_loop(&s.ctx, Mode::Unsandboxed)).await.expect("run");
    assert_eq!(outcome.summary, "Ran.");
    assert_eq!(std::fs::read_to_string(s.worktree.join("p.txt")).expect("p"), "plain\n");
    let events = drain(&mut s.events);
    let told = |e: &AgentEvent| match e {
        AgentEvent::Log(text) | AgentEvent::Step(text) => text.contains("without a sandbox"),
        _ => false,
    };
    // One step: the orchestrator shows it as progress and writes it to the task log.
    assert_eq!(events.iter().filter(|e| told(e)).count(), 1, "{events:?}");
}

#[tokio::test]
async fn a_model_that_answers_in_prose_before_changing_anything_is_nudged_once() {
    let server = ModelServer::start().await;
    server.push(Reply::text("```json\n{\"name\": \"multiply\", \"arguments\": {\"a\": 5}}\n```"));
    server.push(Reply::tool_call(
        "write_file",
        json!({"path": "calc.py", "content": "def multiply(a, b):\n    return a * b\n"}),
    ));
    server.push(Reply::text("Added multiply."));
    let mut s = setup(ProviderKind::Openai, &server);
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Added multiply.");
    assert!(std::fs::read_to_string(s.worktree.join("calc.py")).expect("calc").contains("a * b"));
    let nudge = &server.requests()[1].body;
    let last = nudge["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
    assert_eq!(last["role"], "user");
    assert!(last["content"].as_str().unwrap_or_default().starts_with("You have not changed any file yet."), "{last}");
    assert!(
        steps(&drain(&mut s.events)).contains(&"no file changed yet: asking the model to use its tools".to_owned())
    );

    // Once only: a second prose answer ends the run.
    let server = ModelServer::start().await;
    server.push(Reply::text("I would add it."));
    server.push(Reply::text("Still prose."));
    let s = setup(ProviderKind::Openai, &server);
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "Still prose.");
    assert_eq!(server.requests().iter().filter(|r| r.method == "POST").count(), 2);
}

#[tokio::test]
async fn a_planning_run_offers_no_tools_and_returns_the_plan() {
    let server = ModelServer::start().await;
    server.push(Reply::text("1. Add multiply\n2. Test it"));
    let mut s = setup(ProviderKind::Openai, &server);
    s.ctx.task.planning = true;
    let outcome = run(s.ctx.clone()).await.expect("run");
    assert_eq!(outcome.summary, "1. Add multiply\n2. Test it");
    assert_eq!(outcome.tokens, 15);
    let body = &server.requests()[0].body;
    assert!(body.get("tools").is_none_or(|t| t.as_array().is_none_or(Vec::is_empty)), "{body}");
    assert!(drain(&mut s.events).iter().any(|e| matches!(e, AgentEvent::Plan(p) if p.starts_with("1. Add"))));
}
