//! ACP agents: runs one prompt turn of any agent command that speaks the Agent Client Protocol
//! (JSON-RPC 2.0, one message per line over the agent's stdio), with the agent's process spawned
//! in the task's worktree, its file reads and writes confined to the worktree, its permission
//! requests answered by the profile's policy, and its progress turned into [`AgentEvent`]s.
//!
//! The protocol is spoken directly with `serde_json` rather than through the
//! `agent-client-protocol` crate: that crate turns on serde_json's `preserve_order` feature for
//! the whole build (changing the key order of every JSON body Baton sends and snapshots) and
//! breaks its API every few weeks, while the client side needed here is a handful of methods.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, LinesCodec};

use super::sandbox::{ProcessGroup, read_tail};
use super::tools::resolve_in;
use super::{AgentError, AgentEvent, AgentOutcome, PermissionPolicy, RunContext, StopReason};

/// The ACP protocol version Baton speaks.
const PROTOCOL_VERSION: u64 = 1;
/// Longest JSON-RPC line accepted from an agent, in bytes.
const MAX_LINE_BYTES: usize = 16 << 20;
/// How long output written just before an agent's exit is still read.
const EXIT_DRAIN: Duration = Duration::from_millis(500);
/// Bytes of the agent's stderr kept for crash reports.
const STDERR_TAIL_BYTES: usize = 4_000;
/// Largest file served to `fs/read_text_file`, in bytes.
const MAX_READ_BYTES: u64 = 10 << 20;

/// JSON-RPC error codes.
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// Runs one ACP prompt turn: spawns `profile.command` (cwd = the worktree, `profile.env` added,
/// piped stdio, its own process group), then `initialize` (fs read/write offered, no terminal),
/// `session/new` (cwd = the absolute worktree, no MCP servers) and `session/prompt` with the task
/// prompt (the profile's system prompt prepended). Agent message chunks become the summary; tool
/// calls become [`AgentEvent::Step`]s, plans [`AgentEvent::Plan`], usage [`AgentEvent::Usage`].
/// The agent's process group is killed when the turn ends, whatever the outcome.
///
/// Errors: [`AgentError::Spawn`] when the command cannot start; [`AgentError::Crashed`] (with
/// the end of its stderr) when the agent exits or closes stdout before answering the prompt;
/// [`AgentError::Protocol`] when it answers a request with an error or malformed result;
/// [`AgentError::TimedOut`] past `profile.time_limit_ms` and [`AgentError::Cancelled`] when
/// `ctx.cancel` fires (both send `session/cancel` first).
pub async fn run(ctx: RunContext) -> Result<AgentOutcome, AgentError> {
    let profile = &ctx.profile;
    let command_line = profile.command.join(" ");
    let Some((program, args)) = profile.command.split_first() else {
        return Err(AgentError::Spawn {
            command: command_line,
            reason: "the profile has no command".to_owned(),
        });
    };
    let root = ctx.task.worktree.canonicalize().map_err(|e| {
        AgentError::Other(format!(
            "the worktree {} is not usable: {e}",
            ctx.task.worktree.display()
        ))
    })?;
    let mut child = Command::new(program)
        .args(args)
        .envs(&profile.env)
        .current_dir(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AgentError::Spawn {
            command: command_line.clone(),
            reason: e.to_string(),
        })?;
    let mut group = ProcessGroup::new(child.id());
    let (Some(stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(AgentError::Spawn {
            command: command_line,
            reason: "its stdio could not be piped".to_owned(),
        });
    };
    tracing::debug!(task = ctx.task.id, command = %command_line, "ACP agent started");
    let mut conn = Conn {
        ctx: &ctx,
        root,
        stdin,
        lines: FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES)),
        child,
        stderr: Some(tokio::spawn(async move {
            read_tail(stderr, STDERR_TAIL_BYTES).await.0
        })),
        exited: false,
        next_id: 0,
        session_id: None,
        summary: String::new(),
        tokens: 0,
        titles: HashMap::new(),
    };
    let ms = profile.time_limit_ms;
    let result = tokio::select! {
        outcome = tokio::time::timeout(Duration::from_millis(ms), conn.turn()) => {
            outcome.unwrap_or(Err(AgentError::TimedOut { ms }))
        }
        () = ctx.cancel.cancelled() => Err(AgentError::Cancelled),
    };
    if matches!(
        result,
        Err(AgentError::TimedOut { .. } | AgentError::Cancelled)
    ) && let Some(session_id) = conn.session_id.clone()
    {
        {
            let cancel = json!({"jsonrpc": "2.0", "method": "session/cancel",
                "params": {"sessionId": session_id}});
            let _ = tokio::time::timeout(Duration::from_millis(200), conn.send(&cancel)).await;
        }
    }
    group.kill();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn.child.wait()).await;
    tracing::debug!(
        task = ctx.task.id,
        ok = result.is_ok(),
        "ACP agent finished"
    );
    result
}

/// One agent process and the state of its turn.
struct Conn<'a> {
    ctx: &'a RunContext,
    /// The canonical worktree.
    root: PathBuf,
    stdin: ChildStdin,
    lines: FramedRead<ChildStdout, LinesCodec>,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    /// The agent process has exited (its status is kept by `child`).
    exited: bool,
    next_id: u64,
    session_id: Option<String>,
    /// Agent message chunks so far.
    summary: String,
    tokens: u64,
    /// Tool call titles by `toolCallId`, for status updates that omit the title.
    titles: HashMap<String, String>,
}

/// What one incoming line is.
enum Incoming {
    Response {
        id: Value,
        outcome: Result<Value, String>,
    },
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    Notification {
        method: String,
        params: Value,
    },
}

impl Conn<'_> {
    async fn turn(&mut self) -> Result<AgentOutcome, AgentError> {
        let init = self
            .call(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "clientCapabilities": {"fs": {"readTextFile": true, "writeTextFile": true}, "terminal": false},
                    "clientInfo": {"name": "baton", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        if let Some(version) = init.get("protocolVersion").and_then(Value::as_u64)
            && version != PROTOCOL_VERSION
        {
            {
                self.event(AgentEvent::Log(format!(
                    "the agent speaks ACP version {version}; Baton speaks {PROTOCOL_VERSION}"
                )));
            }
        }
        let session = self
            .call("session/new", json!({"cwd": self.root, "mcpServers": []}))
            .await?;
        let session_id = session
            .get("sessionId")
            .and_then(Value::as_str)
            .ok_or_else(|| AgentError::Protocol("session/new returned no sessionId".to_owned()))?
            .to_owned();
        self.session_id = Some(session_id.clone());
        let prompt = match &self.ctx.profile.system_prompt {
            Some(system) if !system.trim().is_empty() => {
                format!("{system}\n\n{}", self.ctx.task.prompt)
            }
            _ => self.ctx.task.prompt.clone(),
        };
        let answer = self
            .call(
                "session/prompt",
                json!({"sessionId": session_id, "prompt": [{"type": "text", "text": prompt}]}),
            )
            .await?;
        let stop_reason = match answer.get("stopReason").and_then(Value::as_str) {
            Some("end_turn") => StopReason::EndTurn,
            Some("max_tokens") => StopReason::MaxTokens,
            Some("max_turn_requests") => StopReason::MaxSteps,
            Some("refusal") => StopReason::Refusal,
            Some("cancelled") => StopReason::Cancelled,
            other => {
                return Err(AgentError::Protocol(format!(
                    "session/prompt answered without a known stopReason: {other:?}"
                )));
            }
        };
        if let Some(tokens) = usage_tokens(answer.get("usage")) {
            self.tokens = tokens;
            self.event(AgentEvent::Usage { tokens });
        }
        let summary = self.summary.trim();
        Ok(AgentOutcome {
            summary: if summary.is_empty() {
                "The agent ended its turn without a message.".to_owned()
            } else {
                summary.to_owned()
            },
            stop_reason,
            tokens: self.tokens,
        })
    }

    fn event(&self, event: AgentEvent) {
        let _ = self.ctx.events.send(event);
    }

    /// Sends a request and serves the agent's requests and notifications until its response.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, AgentError> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await?;
        loop {
            match self.next_message().await? {
                Incoming::Response { id: got, outcome } if got == json!(id) => {
                    return outcome.map_err(|e| {
                        AgentError::Protocol(format!(
                            "the agent answered {method} with an error: {e}"
                        ))
                    });
                }
                Incoming::Response { id: got, .. } => {
                    tracing::debug!(%got, "ignoring a response to an unknown request");
                }
                Incoming::Request { id, method, params } => {
                    let reply = match self.serve(&method, params).await {
                        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                        Err((code, message)) => {
                            json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
                        }
                    };
                    self.send(&reply).await?;
                }
                Incoming::Notification { method, params } => self.notified(&method, &params),
            }
        }
    }

    async fn send(&mut self, message: &Value) -> Result<(), AgentError> {
        let mut line = message.to_string();
        line.push('\n');
        let written = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        }
        .await;
        match written {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::debug!(error = %e, "cannot write to the agent");
                Err(self.crashed().await)
            }
        }
    }

    /// The next JSON-RPC message; lines that are not JSON-RPC are logged and skipped.
    async fn next_message(&mut self) -> Result<Incoming, AgentError> {
        loop {
            let next = if self.exited {
                // The process is gone: read what it wrote before exiting, then report it.
                tokio::time::timeout(EXIT_DRAIN, self.lines.next())
                    .await
                    .unwrap_or(None)
            } else {
                tokio::select! {
                    biased;
                    next = self.lines.next() => next,
                    _ = self.child.wait() => {
                        // A grandchild may hold stdout open; do not wait for its EOF.
                        self.exited = true;
                        continue;
                    }
                }
            };
            let line = match next {
                Some(Ok(line)) => line,
                Some(Err(e)) => {
                    return Err(AgentError::Protocol(format!("unreadable output: {e}")));
                }
                None => return Err(self.crashed().await),
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Ok(Value::Object(mut message)) = serde_json::from_str::<Value>(line) else {
                let text: String = line.chars().take(300).collect();
                self.event(AgentEvent::Log(format!("agent output: {text}")));
                continue;
            };
            let params = message.remove("params").unwrap_or(Value::Null);
            let method = message
                .get("method")
                .and_then(Value::as_str)
                .map(str::to_owned);
            return Ok(match (message.remove("id"), method) {
                (Some(id), Some(method)) => Incoming::Request { id, method, params },
                (None, Some(method)) => Incoming::Notification { method, params },
                (Some(id), None) => Incoming::Response {
                    id,
                    outcome: match message.remove("error") {
                        Some(error) => Err(error
                            .get("message")
                            .and_then(Value::as_str)
                            .map_or_else(|| error.to_string(), str::to_owned)),
                        None => Ok(message.remove("result").unwrap_or(Value::Null)),
                    },
                },
                (None, None) => continue,
            });
        }
    }

    /// The agent's stdout closed: waits for its exit and reports it with its stderr tail.
    async fn crashed(&mut self) -> AgentError {
        let status = match tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            Ok(Err(e)) => format!("an unknown status ({e})"),
            Err(_) => "its output closed".to_owned(),
        };
        let stderr_tail = match self.stderr.take() {
            Some(task) => tokio::time::timeout(Duration::from_secs(1), task)
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            None => String::new(),
        };
        AgentError::Crashed {
            status,
            stderr_tail: stderr_tail.trim().to_owned(),
        }
    }

    /// Answers one request from the agent: `Ok(result)` or `Err((code, message))`.
    async fn serve(&mut self, method: &str, params: Value) -> Result<Value, (i64, String)> {
        match method {
            "session/request_permission" => Ok(self.permission(&params).await),
            "fs/read_text_file" => {
                let path = self.path_param(&params)?;
                let size = tokio::fs::metadata(&path)
                    .await
                    .map_err(|e| {
                        (
                            INTERNAL_ERROR,
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?
                    .len();
                if size > MAX_READ_BYTES {
                    return Err((
                        INTERNAL_ERROR,
                        format!("{} is larger than {MAX_READ_BYTES} bytes", path.display()),
                    ));
                }
                let text = tokio::fs::read_to_string(&path).await.map_err(|e| {
                    (
                        INTERNAL_ERROR,
                        format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                let line = params.get("line").and_then(Value::as_u64);
                let limit = params.get("limit").and_then(Value::as_u64);
                let content = match (line, limit) {
                    (None, None) => text,
                    _ => {
                        let skip = line.unwrap_or(1).max(1) as usize - 1;
                        let take = limit.map_or(usize::MAX, |l| l as usize);
                        text.lines()
                            .skip(skip)
                            .take(take)
                            .collect::<Vec<_>>()
                            .join("\n")
                    }
                };
                Ok(json!({"content": content}))
            }
            "fs/write_text_file" => {
                let path = self.path_param(&params)?;
                let content = params
                    .get("content")
                    .and_then(Value::as_str)
                    .ok_or((INVALID_PARAMS, "content must be a string".to_owned()))?;
                let written = async {
                    if let Some(parent) = path.parent() {
                        tokio::fs::create_dir_all(parent).await?;
                    }
                    tokio::fs::write(&path, content).await
                }
                .await;
                written.map_err(|e| {
                    (
                        INTERNAL_ERROR,
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
                self.event(AgentEvent::Step(format!("write {}", self.relative(&path))));
                Ok(Value::Null)
            }
            other => Err((METHOD_NOT_FOUND, format!("Baton does not serve {other}"))),
        }
    }

    /// The `path` parameter, resolved inside the worktree (absolute, as ACP requires).
    fn path_param(&self, params: &Value) -> Result<PathBuf, (i64, String)> {
        let given = params
            .get("path")
            .and_then(Value::as_str)
            .ok_or((INVALID_PARAMS, "path must be a string".to_owned()))?;
        let path = Path::new(given);
        let relative = path
            .strip_prefix(&self.root)
            .or_else(|_| path.strip_prefix(&self.ctx.task.worktree))
            .map_err(|_| {
                (
                    INVALID_PARAMS,
                    format!(
                        "{given} is outside the task's worktree {}",
                        self.root.display()
                    ),
                )
            })?;
        let relative = relative.to_string_lossy();
        resolve_in(&self.root, &relative).map_err(|e| (INVALID_PARAMS, format!("{e:#}")))
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Answers `session/request_permission` by the profile's policy.
    async fn permission(&self, params: &Value) -> Value {
        let options: Vec<&Value> = params
            .get("options")
            .and_then(Value::as_array)
            .map(|o| o.iter().collect())
            .unwrap_or_default();
        let field = |o: &Value, key: &str| {
            o.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let of_kind = |kinds: &[&str]| {
            kinds
                .iter()
                .find_map(|kind| options.iter().find(|o| field(o, "kind") == *kind))
                .copied()
        };
        let title = params
            .pointer("/toolCall/title")
            .and_then(Value::as_str)
            .or_else(|| {
                params
                    .pointer("/toolCall/toolCallId")
                    .and_then(Value::as_str)
                    .and_then(|id| self.titles.get(id).map(String::as_str))
            })
            .unwrap_or("an action")
            .to_owned();
        let reject = || of_kind(&["reject_once", "reject_always"]);
        let chosen = match self.ctx.profile.permission {
            PermissionPolicy::Allow => of_kind(&["allow_once", "allow_always"]),
            PermissionPolicy::Reject => reject(),
            PermissionPolicy::Ask => {
                let names: Vec<String> = options.iter().map(|o| field(o, "name")).collect();
                let question = format!(
                    "Agent {} (task {}) asks permission: {title}",
                    self.ctx.profile.name, self.ctx.task.id
                );
                match self.ctx.asker.ask(question, names).await {
                    Some(answer) => options
                        .iter()
                        .find(|o| field(o, "name") == answer)
                        .copied()
                        .or_else(reject),
                    None => reject(),
                }
            }
        };
        match chosen {
            Some(option) => {
                self.event(AgentEvent::Log(format!(
                    "permission for {title}: {}",
                    field(option, "name")
                )));
                json!({"outcome": {"outcome": "selected", "optionId": option.get("optionId").cloned().unwrap_or(Value::Null)}})
            }
            None => {
                self.event(AgentEvent::Log(format!(
                    "permission for {title}: no matching option, cancelled"
                )));
                json!({"outcome": {"outcome": "cancelled"}})
            }
        }
    }

    /// Handles a notification from the agent (`session/update`; others are ignored).
    fn notified(&mut self, method: &str, params: &Value) {
        if method != "session/update" {
            tracing::debug!(method, "ignoring an agent notification");
            return;
        }
        let Some(update) = params.get("update") else {
            return;
        };
        let text = |pointer: &str| {
            update
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        match text("/sessionUpdate") {
            "agent_message_chunk" => {
                if text("/content/type") == "text" {
                    self.summary.push_str(text("/content/text"));
                }
            }
            "agent_thought_chunk" => {}
            "tool_call" => {
                let id = text("/toolCallId").to_owned();
                let title = match text("/title") {
                    "" => "tool call".to_owned(),
                    title => one_line(title),
                };
                self.titles.insert(id, title.clone());
                self.event(AgentEvent::Step(title));
            }
            "tool_call_update" => {
                let id = text("/toolCallId");
                if let Some(title) = update.get("title").and_then(Value::as_str) {
                    self.titles.insert(id.to_owned(), one_line(title));
                }
                let title = self
                    .titles
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| "tool call".to_owned());
                match text("/status") {
                    "" => {}
                    "completed" | "failed" => {
                        self.event(AgentEvent::Step(format!("{title}: {}", text("/status"))));
                    }
                    status => self.event(AgentEvent::Log(format!("{title}: {status}"))),
                }
            }
            "plan" => {
                let entries: Vec<String> = update
                    .get("entries")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|e| {
                        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                        format!("- [{}] {}", field("status"), field("content"))
                    })
                    .collect();
                self.event(AgentEvent::Plan(entries.join("\n")));
            }
            "usage_update" => {
                if let Some(tokens) = usage_tokens(Some(update)) {
                    self.tokens = tokens;
                    self.event(AgentEvent::Usage { tokens });
                }
            }
            other => tracing::trace!(update = other, "ignoring a session update"),
        }
    }
}

/// Tokens in an ACP usage object: `totalTokens`, or `inputTokens + outputTokens`, or `used`.
fn usage_tokens(usage: Option<&Value>) -> Option<u64> {
    let usage = usage?;
    let field = |k: &str| usage.get(k).and_then(Value::as_u64);
    field("totalTokens")
        .or_else(|| Some(field("inputTokens")? + field("outputTokens")?))
        .or_else(|| field("used"))
}

fn one_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(120).collect()
}

#[cfg(test)]
#[path = "acp_tests.rs"]
mod tests;
