//! Headless agent CLIs (`claude -p`, `codex exec`, `opencode run`, `aider --message`, ...): run
//! once per prompt from the profile's command template inside the task's worktree, in their own
//! process group, with their stdout read as text or as the agent's JSON event stream.

use std::collections::VecDeque;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use super::{AgentError, AgentEvent, AgentOutcome, OutputFormat, RunContext, StopReason};
use crate::process::{GroupRecord, ProcessGroup, read_tail};
use crate::text::first_line;

/// How many trailing stdout lines make the summary of a `text` agent.
const SUMMARY_LINES: usize = 20;
/// How much of stderr is kept for error messages, in bytes.
const STDERR_TAIL_BYTES: usize = 4096;
/// How long a JSON agent may take to exit after its end-of-turn event, in milliseconds.
const EXIT_GRACE_MS: u64 = 2_000;
/// Longest step message, in characters (with its `…` when cut).
const STEP_CHARS: usize = 120;

/// The command line from the profile's template: `{prompt}` in any argument becomes the prompt
/// (with the profile's system prompt in front). No shell is involved.
pub(crate) fn command_line(ctx: &RunContext) -> Vec<String> {
    let prompt = match &ctx.profile.system_prompt {
        Some(sp) if !sp.is_empty() => format!("{sp}\n\n{}", ctx.task.prompt),
        _ => ctx.task.prompt.clone(),
    };
    ctx.profile.command.iter().map(|a| a.replace("{prompt}", &prompt)).collect()
}

/// What a JSON line told us.
#[derive(Debug, Default, PartialEq)]
struct Parsed {
    step: Option<String>,
    message: Option<String>,
    tokens: Option<u64>,
    /// The structured end of the turn, with the final text when the agent gives one.
    end: Option<Result<Option<String>, String>>,
}

fn text_of_content(v: &Value) -> Option<String> {
    let parts: Vec<&str> = v.as_array()?.iter().filter_map(|c| c.get("text")?.as_str()).collect();
    (!parts.is_empty()).then(|| parts.join("\n"))
}

fn u(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Reads one stdout line of an agent speaking `format` (one of the JSON formats).
fn parse_line(format: OutputFormat, line: &str) -> Parsed {
    let mut p = Parsed::default();
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return p;
    };
    let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
    match format {
        OutputFormat::ClaudeJson => claude_event(ty, &v, &mut p),
        OutputFormat::CodexJson => codex_event(ty, &v, &mut p),
        OutputFormat::OpencodeJson => opencode_event(ty, &v, &mut p),
        OutputFormat::Text => {}
    }
    p
}

/// An event of Claude Code's `stream-json` output.
fn claude_event(ty: &str, v: &Value, p: &mut Parsed) {
    match ty {
        "assistant" => {
            let content = v.pointer("/message/content");
            if let Some(text) = content.and_then(text_of_content) {
                p.step = Some(text.clone());
                p.message = Some(text);
            } else if let Some(tool) =
                content.and_then(Value::as_array).and_then(|a| a.iter().find_map(|c| c.get("name")?.as_str()))
            {
                p.step = Some(format!("using {tool}"));
            }
        }
        "result" => {
            if let Some(usage) = v.get("usage") {
                p.tokens = Some(u(usage, "input_tokens") + u(usage, "output_tokens"));
            }
            let text = v.get("result").and_then(Value::as_str).map(str::to_owned);
            let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(false);
            p.end = Some(if is_error {
                Err(text.unwrap_or_else(|| "the agent reported an error".to_owned()))
            } else {
                Ok(text)
            });
            if let Some(cost) = v.get("total_cost_usd").and_then(Value::as_f64) {
                p.step = Some(format!("finished (cost ${cost:.4})"));
            }
        }
        _ => {}
    }
}

/// An event of `codex exec --json`.
fn codex_event(ty: &str, v: &Value, p: &mut Parsed) {
    match ty {
        "item.completed" | "item.started" => {
            let item = v.get("item").unwrap_or(&Value::Null);
            let kind = item.get("type").and_then(Value::as_str).unwrap_or("");
            match kind {
                "agent_message" => {
                    if let Some(t) = item.get("text").and_then(Value::as_str) {
                        p.step = Some(t.to_owned());
                        p.message = Some(t.to_owned());
                    }
                }
                "command_execution" => {
                    if let Some(c) = item.get("command").and_then(Value::as_str) {
                        p.step = Some(format!("running {c}"));
                    }
                }
                "file_change" => p.step = Some("editing files".to_owned()),
                _ => {}
            }
        }
        "turn.completed" => {
            if let Some(usage) = v.get("usage") {
                p.tokens = Some(u(usage, "input_tokens") + u(usage, "output_tokens"));
            }
            p.end = Some(Ok(None));
        }
        "turn.failed" | "error" => {
            let msg = v
                .pointer("/error/message")
                .or_else(|| v.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("the agent reported an error");
            p.end = Some(Err(msg.to_owned()));
        }
        _ => {}
    }
}

/// An event of `opencode run --format json`.
fn opencode_event(ty: &str, v: &Value, p: &mut Parsed) {
    match ty {
        "text" => {
            if let Some(t) = v.pointer("/part/text").and_then(Value::as_str) {
                p.step = Some(t.to_owned());
                p.message = Some(t.to_owned());
            }
        }
        "tool_use" => {
            if let Some(t) = v.pointer("/part/tool").and_then(Value::as_str) {
                p.step = Some(format!("using {t}"));
            }
        }
        "step_finish" => {
            if let Some(t) = v.pointer("/part/tokens") {
                p.tokens = Some(u(t, "input") + u(t, "output"));
            }
        }
        "error" => {
            let msg = v.pointer("/error/data/message").or_else(|| v.pointer("/error/message"));
            p.end = Some(Err(msg.and_then(Value::as_str).unwrap_or("the agent reported an error").to_owned()));
        }
        _ => {}
    }
}

/// The next stdout line; once the process has exited, waits at most 2000 ms for it (output
/// held open by an escaped descendant ends the read).
async fn next_line(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    exited: bool,
) -> std::io::Result<Option<String>> {
    if !exited {
        return lines.next_line().await;
    }
    tokio::time::timeout(Duration::from_millis(EXIT_GRACE_MS), lines.next_line()).await.unwrap_or(Ok(None))
}

/// Starts an agent process (`cli` or `acp`) for `ctx`: `argv` in the task's confinement (the
/// sandbox unless the profile opts out) with the profile's network, `stdin` as given, stdout and
/// stderr piped, in its own process group. Reports the group as [`AgentEvent::Process`] so the
/// orchestrator records it.
///
/// Errors: [`AgentError::Sandbox`] when the sandbox is required but cannot run,
/// [`AgentError::Spawn`] when the program is missing or cannot start.
pub(crate) async fn spawn(
    ctx: &RunContext,
    argv: &[String],
    stdin: Stdio,
) -> Result<(Child, ProcessGroup), AgentError> {
    let mode = ctx.confinement.mode().await?;
    let program = argv.first().cloned().unwrap_or_default();
    ctx.confinement.locate(mode, &program).map_err(|reason| AgentError::Spawn { command: program.clone(), reason })?;
    let mut command =
        ctx.confinement.command(mode, argv, ctx.confinement.network).ok_or_else(|| AgentError::Spawn {
            command: String::new(),
            reason: format!("agent profile {:?} has an empty command", ctx.profile.name),
        })?;
    command.stdin(stdin);
    let child = command.spawn().map_err(|e| AgentError::Spawn { command: program.clone(), reason: e.to_string() })?;
    let group = ProcessGroup::new(child.id());
    if let Some(record) = child.id().and_then(GroupRecord::of) {
        let _ = ctx.events.send(AgentEvent::Process(Some(record)));
    }
    Ok((child, group))
}

/// Runs a headless agent CLI for one task: cwd is the worktree, stdin is closed, stdout and
/// stderr are piped, in the task's confinement ([`spawn`]); its process group is killed whole
/// on cancellation (and when this future is dropped, e.g. at the orchestrator's time limit).
///
/// Each stdout line is sent as a short [`AgentEvent::Step`] (the JSON formats' raw lines, and
/// text lines the step shortened, also as [`AgentEvent::Log`]). For
/// `text` output the process exit ends the turn and the last 20 lines are the summary; for the
/// JSON formats the structured end-of-turn event does (then the group is killed if the process
/// does not exit within 2000 ms).
///
/// Errors: [`AgentError::Spawn`] (empty template, missing program), [`AgentError::Sandbox`],
/// [`AgentError::Crashed`] (non-zero exit, with the stderr tail), [`AgentError::Cancelled`],
/// [`AgentError::Reported`] (the agent reported an error in its JSON stream),
/// [`AgentError::Wait`].
pub(crate) async fn run(ctx: RunContext) -> Result<AgentOutcome, AgentError> {
    let argv = command_line(&ctx);
    let Some(program) = argv.first() else {
        return Err(AgentError::Spawn {
            command: String::new(),
            reason: format!("agent profile {:?} has an empty command", ctx.profile.name),
        });
    };
    let (mut child, mut group) = spawn(&ctx, &argv, Stdio::null()).await?;
    tracing::debug!(agent = %ctx.profile.name, program = %program, "agent CLI started");

    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(AgentError::Spawn { command: program.clone(), reason: "its output could not be piped".to_owned() });
    };
    let stderr_task = tokio::spawn(async move { read_tail(stderr, STDERR_TAIL_BYTES).await.0 });

    let format = ctx.profile.output;
    let json = format != OutputFormat::Text;
    let mut lines = BufReader::new(stdout).lines();
    let mut last_lines: VecDeque<String> = VecDeque::new();
    let mut last_message: Option<String> = None;
    let mut tokens = 0u64;
    let mut end: Option<Result<Option<String>, String>> = None;
    // The process exit, raced against stdout: a process that exits while something it started
    // (outside its group) still holds stdout open must not keep the turn going.
    let mut exited: Option<std::process::ExitStatus> = None;
    loop {
        let line = tokio::select! {
            _ = ctx.cancel.cancelled() => {
                group.kill();
                let _ = child.wait().await;
                return Err(AgentError::Cancelled);
            }
            st = child.wait(), if exited.is_none() => {
                exited = Some(st.map_err(AgentError::Wait)?);
                // Children it left behind in its group go with it; their output is still read.
                group.kill();
                continue;
            }
            line = next_line(&mut lines, exited.is_some()) => line,
        };
        let line = match line {
            Ok(Some(l)) => l,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(error = %e, "agent stdout is not text; stopping to read it");
                break;
            }
        };
        if json {
            let _ = ctx.events.send(AgentEvent::Log(line.clone()));
            let p = parse_line(format, &line);
            if let Some(s) = p.step {
                let _ = ctx.events.send(AgentEvent::Step(first_line(&s, STEP_CHARS)));
            }
            if let Some(m) = p.message {
                last_message = Some(m);
            }
            if let Some(t) = p.tokens {
                tokens = tokens.max(t);
                let _ = ctx.events.send(AgentEvent::Usage { tokens });
            }
            if p.end.is_some() {
                end = p.end;
                break;
            }
        } else {
            // A step is also logged (by the orchestrator): log the line itself only when the
            // step had to shorten it.
            let step = first_line(&line, STEP_CHARS);
            if step != line.trim() {
                let _ = ctx.events.send(AgentEvent::Log(line.clone()));
            }
            if !line.trim().is_empty() {
                let _ = ctx.events.send(AgentEvent::Step(step));
            }
            last_lines.push_back(line);
            if last_lines.len() > SUMMARY_LINES {
                last_lines.pop_front();
            }
        }
    }

    let status = if end.is_some() {
        // The turn is over: give the process a moment to exit, then stop its whole group.
        let st = tokio::time::timeout(Duration::from_millis(EXIT_GRACE_MS), child.wait()).await;
        group.kill();
        match st {
            Ok(Ok(st)) => Some(st),
            _ => {
                let _ = child.wait().await;
                None
            }
        }
    } else if let Some(st) = exited {
        Some(st)
    } else {
        let st = tokio::select! {
            _ = ctx.cancel.cancelled() => {
                group.kill();
                let _ = child.wait().await;
                return Err(AgentError::Cancelled);
            }
            st = child.wait() => st,
        };
        // Children the agent left behind go with its group.
        group.kill();
        Some(st.map_err(AgentError::Wait)?)
    };
    let stderr_tail = tokio::time::timeout(Duration::from_millis(EXIT_GRACE_MS), stderr_task)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();

    match end {
        Some(Err(message)) => Err(AgentError::Reported(message)),
        Some(Ok(text)) => Ok(AgentOutcome {
            summary: text.or(last_message).unwrap_or_default().trim().to_owned(),
            stop_reason: StopReason::EndTurn,
            tokens,
        }),
        None => {
            if let Some(st) = status
                && !st.success()
            {
                return Err(AgentError::Crashed { status: st.to_string(), stderr_tail: stderr_tail.trim().to_owned() });
            }
            if json && last_message.is_none() && format != OutputFormat::OpencodeJson {
                tracing::debug!(format = format.as_str(), "agent exited without its end-of-turn event");
            }
            let summary = match last_message {
                Some(m) => m,
                None => last_lines.into_iter().collect::<Vec<_>>().join("\n"),
            };
            Ok(AgentOutcome { summary: summary.trim().to_owned(), stop_reason: StopReason::EndTurn, tokens })
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use tokio::sync::mpsc;

    use super::*;
    use crate::agents::testing::run_context;
    use crate::agents::{AgentKind, AgentProfile};

    fn ctx(
        dir: &Path,
        command: Vec<String>,
        output: OutputFormat,
    ) -> (RunContext, mpsc::UnboundedReceiver<AgentEvent>) {
        let profile = AgentProfile {
            name: "script".to_owned(),
            kind: AgentKind::Cli,
            command,
            output,
            ..AgentProfile::default()
        };
        run_context(dir, "do it", profile)
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".to_owned(), "-c".to_owned(), script.to_owned(), "agent".to_owned(), "{prompt}".to_owned()]
    }

    #[tokio::test]
    async fn text_agent_summary_is_its_last_lines_and_prompt_is_an_argument() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ctx, mut rx) = ctx(dir.path(), sh("echo \"got: $1\"; echo done > out.txt; echo bye"), OutputFormat::Text);
        let out = run(ctx).await.expect("run");
        assert_eq!(out.summary, "got: do it\nbye");
        assert!(dir.path().join("out.txt").exists());
        let mut steps = Vec::new();
        while let Ok(e) = rx.try_recv() {
            match e {
                AgentEvent::Step(l) => steps.push(l),
                AgentEvent::Log(l) => panic!("a short text line is a step only, not also a log line: {l}"),
                _ => {}
            }
        }
        assert_eq!(steps, ["got: do it", "bye"]);
    }

    #[tokio::test]
    async fn claude_stream_json_result_ends_the_turn() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = r#"echo '{"type":"system","subtype":"init"}'
echo '{"type":"assistant","message":{"content":[{"type":"text","text":"Working on it"}]}}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"Added the function","usage":{"input_tokens":100,"output_tokens":20},"total_cost_usd":0.01}'
sleep 30"#;
        let (ctx, mut rx) = ctx(dir.path(), sh(script), OutputFormat::ClaudeJson);
        let out = tokio::time::timeout(Duration::from_secs(10), run(ctx)).await.expect("in time").expect("run");
        assert_eq!(out.summary, "Added the function");
        assert_eq!(out.tokens, 120);
        let mut steps = Vec::new();
        while let Ok(e) = rx.try_recv() {
            if let AgentEvent::Step(s) = e {
                steps.push(s);
            }
        }
        expect_test::expect![[r#"["Working on it", "finished (cost $0.0100)"]"#]].assert_eq(&format!("{steps:?}"));
    }

    #[tokio::test]
    async fn codex_jsonl_turn_completed_carries_usage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let script = r#"echo '{"type":"item.completed","item":{"type":"agent_message","text":"Fixed it"}}'
echo '{"type":"turn.completed","usage":{"input_tokens":7,"output_tokens":3}}'"#;
        let (ctx, _rx) = ctx(dir.path(), sh(script), OutputFormat::CodexJson);
        let out = run(ctx).await.expect("run");
        assert_eq!((out.summary.as_str(), out.tokens), ("Fixed it", 10));
    }

    #[tokio::test]
    async fn non_zero_exit_is_a_crash_with_the_stderr_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ctx, _rx) = ctx(dir.path(), sh("echo working; echo 'model not found' >&2; exit 3"), OutputFormat::Text);
        let err = run(ctx).await.expect_err("crash");
        expect_test::expect!["the agent exited with exit status: 3 before finishing: model not found"]
            .assert_eq(&err.to_string());
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ctx, _rx) = ctx(dir.path(), vec!["/nonexistent/agent".to_owned()], OutputFormat::Text);
        assert!(matches!(run(ctx).await, Err(AgentError::Spawn { .. })));
    }

    #[tokio::test]
    async fn a_text_agent_ends_at_its_exit_even_if_an_escaped_child_holds_stdout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("pid");
        // `setsid` puts the child outside the agent's process group, as a daemon would be. Only an
        // unsandboxed agent can do that: a sandboxed one's processes all die with its sandbox.
        let script = format!("echo working\nsetsid sleep 30 &\necho $! > {}\necho finished\n", pid_file.display());
        let (mut ctx, _rx) = ctx(dir.path(), sh(&script), OutputFormat::Text);
        ctx.confinement.sandbox = false;
        let out = tokio::time::timeout(Duration::from_secs(20), run(ctx)).await.expect("ends at exit").expect("run");
        assert_eq!(out.summary, "working\nfinished");
        if let Ok(pid) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = pid.trim().parse::<u32>()
        {
            crate::process::kill_group(pid);
        }
    }
}
