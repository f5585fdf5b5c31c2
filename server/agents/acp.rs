//! ACP agents: runs one prompt turn of any agent command that speaks the Agent Client Protocol,
//! with the agent's process spawned in the task's worktree, its file reads and writes confined to
//! the worktree, its permission requests answered by the profile's policy, and its progress
//! turned into [`AgentEvent`]s.
//!
//! The protocol itself (JSON-RPC framing and ids, the v1 message types, dispatching the agent's
//! requests and notifications) is the `agent-client-protocol` crate's client connection, pinned
//! exactly in Cargo.toml because the crate breaks its API in a new major every few weeks (the pin
//! also keeps its `unstable_end_turn_token_usage` feature, the token usage in a `session/prompt`
//! answer, from changing under Baton). Baton spawns the agent with tokio itself rather than through
//! the crate's `process` feature, whose spawn helper has no working-directory setting (the agent
//! must start inside the worktree) and brings its own async-process runtime. The child gets its own
//! process group, killed with everything it started when the turn ends, and its exit ends the turn
//! even while a grandchild keeps its stdout open. The connection runs over the child's piped
//! stdin/stdout as lines (the crate's `Lines` transport fed by a length-capped line codec), which
//! also lets stray non-JSON output be logged rather than answered with a JSON-RPC error.
//!
//! The crate turns on serde_json's `preserve_order` feature for the whole build, so JSON objects
//! Baton builds keep their insertion order; output whose bytes matter sorts its keys itself
//! (`lsp::ext::protocol_description`).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::v1::schema::{
    AuthMethod, AuthMethodId, AuthenticateRequest, CancelNotification, ClientCapabilities, ContentBlock,
    FileSystemCapabilities, Implementation, InitializeRequest, NewSessionRequest, NewSessionResponse,
    PermissionOptionKind, PromptRequest, ReadTextFileRequest, ReadTextFileResponse, RequestPermissionOutcome,
    RequestPermissionRequest, RequestPermissionResponse, SelectedPermissionOutcome, SessionId, SessionNotification,
    SessionUpdate, StopReason as AcpStopReason, TextContent, ToolCallStatus, Usage, WriteTextFileRequest,
    WriteTextFileResponse,
};
use agent_client_protocol::{self as acp, Agent, Client, ErrorCode, JsonRpcRequest, Lines};
use futures::{SinkExt, StreamExt};
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::oneshot;
use tokio_util::codec::{FramedRead, FramedWrite, LinesCodec, LinesCodecError};
use tokio_util::sync::CancellationToken;

use super::tools::resolve_in;
use super::{AgentError, AgentEvent, AgentOutcome, AskOption, PermissionPolicy, RunContext, StopReason};
use crate::process::read_tail;
use crate::text::first_line;

/// Longest JSON-RPC line accepted from an agent, in bytes.
const MAX_LINE_BYTES: usize = 16 << 20;
/// How long output written just before an agent's exit is still read.
const EXIT_DRAIN: Duration = Duration::from_millis(500);
/// How long the connection may take to flush its last messages (`session/cancel`) once the
/// turn has ended.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);
/// Bytes of the agent's stderr kept for crash reports.
const STDERR_TAIL_BYTES: usize = 4_000;
/// Longest step (a tool call's title), in characters.
const STEP_CHARS: usize = 120;
/// How often a run waiting for the user's answer tells the inactivity limit it is alive.
const ALIVE_WHILE_ASKING: Duration = Duration::from_secs(1);
/// Largest file served to `fs/read_text_file`, in bytes.
const MAX_READ_BYTES: u64 = 10 << 20;

/// Runs one ACP prompt turn: spawns `profile.command` in the task's confinement (the sandbox
/// unless the profile opts out; cwd = the worktree, piped stdio, its own process group; see
/// [`super::cli::spawn`]), then `initialize` (fs read/write offered unless `client_fs = false`; terminal only with
/// `client_terminal`),
/// `session/new` (cwd = the absolute worktree, no MCP servers) and `session/prompt` with the task
/// prompt (the profile's system prompt prepended). The agent's last message (its chunks after the
/// last tool call or plan) becomes the summary, earlier messages the log; tool
/// calls become [`AgentEvent::Step`]s, plans [`AgentEvent::Plan`], usage [`AgentEvent::Usage`].
/// `terminal/*` requests are declined (method not found). The agent's process group is killed
/// when the turn ends, whatever the outcome.
///
/// Errors: [`AgentError::Spawn`] when the command cannot start; [`AgentError::Sandbox`] when the
/// sandbox is required but cannot run; [`AgentError::Crashed`] (with
/// the end of its stderr) when the agent exits or closes stdout before answering the prompt;
/// [`AgentError::Protocol`] when it answers a request with an error or malformed result;
/// [`AgentError::Cancelled`] when `ctx.cancel` fires (`session/cancel` is sent first). The
/// profile's time limit is kept by the caller ([`super::run::with_time_limit`]).
pub(crate) async fn run(ctx: RunContext) -> Result<AgentOutcome, AgentError> {
    let profile = &ctx.profile;
    let command_line = profile.command.join(" ");
    if profile.command.is_empty() {
        return Err(AgentError::Spawn { command: command_line, reason: "the profile has no command".to_owned() });
    }
    let root = ctx
        .task
        .worktree
        .canonicalize()
        .map_err(|error| AgentError::Worktree { path: ctx.task.worktree.clone(), error })?;
    let (mut child, mut group) = super::cli::spawn(&ctx, &profile.command, Stdio::piped()).await?;
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(AgentError::Spawn { command: command_line, reason: "its stdio could not be piped".to_owned() });
    };
    tracing::debug!(task = ctx.task.id, command = %command_line, "ACP agent started");

    // The exit status and the stderr tail come from their own tasks, which hold nothing of the
    // run (a grandchild may keep stderr open after the run is over).
    let exit = Arc::new(Later::default());
    tokio::spawn({
        let exit = exit.clone();
        async move {
            exit.set(match child.wait().await {
                Ok(status) => status.to_string(),
                Err(e) => format!("an unknown status ({e})"),
            });
        }
    });
    let stderr_tail = Arc::new(Later::default());
    tokio::spawn({
        let tail = stderr_tail.clone();
        async move { tail.set(read_tail(stderr, STDERR_TAIL_BYTES).await.0) }
    });

    let run = Arc::new(Run {
        ctx: ctx.clone(),
        root,
        exit: exit.clone(),
        stderr_tail,
        turn: Mutex::new(TurnState::default()),
    });
    let outgoing = SinkExt::<String>::sink_map_err(FramedWrite::new(stdin, LinesCodec::new()), codec_error);
    let incoming = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES)).filter_map({
        let run = run.clone();
        move |line| futures::future::ready(run.incoming_line(line.map_err(codec_error)))
    });
    let (done_tx, mut done_rx) = oneshot::channel();
    let connection = Client
        .v1()
        .name(format!("baton task {}", ctx.task.id))
        .on_receive_notification(
            {
                let run = run.clone();
                async move |notification: SessionNotification, _cx| {
                    run.update(notification.update);
                    Ok(())
                }
            },
            acp::on_receive_notification!(),
        )
        .on_receive_request(
            {
                let run = run.clone();
                async move |request: RequestPermissionRequest, responder, _cx| {
                    responder.respond(run.permission(request).await)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let run = run.clone();
                async move |request: ReadTextFileRequest, responder, _cx| {
                    responder.respond_with_result(run.read(request).await)
                }
            },
            acp::on_receive_request!(),
        )
        .on_receive_request(
            {
                let run = run.clone();
                async move |request: WriteTextFileRequest, responder, _cx| {
                    responder.respond_with_result(run.write(request).await)
                }
            },
            acp::on_receive_request!(),
        )
        .connect_with(Lines::new(outgoing, incoming), {
            let run = run.clone();
            async move |cx: ConnectionTo<Agent>| {
                let _ = done_tx.send(run.turn_until_cancelled(&cx).await);
                Ok(())
            }
        });
    let mut connection = pin!(connection);
    let result = tokio::select! {
        outcome = &mut done_rx => {
            // Let the connection flush what the turn sent last (`session/cancel`).
            let ended = tokio::time::timeout(SHUTDOWN_GRACE, &mut connection).await;
            match outcome {
                Ok(outcome) => outcome,
                Err(_) => Err(run.connection_failed(ended.ok().and_then(Result::err)).await),
            }
        }
        ended = &mut connection => match done_rx.try_recv() {
            Ok(outcome) => outcome,
            Err(_) => Err(run.connection_failed(ended.err()).await),
        },
    };
    group.kill();
    let _ = exit.within(Duration::from_secs(5)).await;
    tracing::debug!(task = ctx.task.id, ok = result.is_ok(), "ACP agent finished");
    result
}

/// A value one background task sets once and others await.
#[derive(Default)]
struct Later {
    value: OnceLock<String>,
    done: CancellationToken,
}

impl Later {
    fn set(&self, value: String) {
        let _ = self.value.set(value);
        self.done.cancel();
    }

    /// The value, if it is set within `limit`.
    async fn within(&self, limit: Duration) -> Option<String> {
        tokio::time::timeout(limit, self.done.cancelled()).await.ok()?;
        self.value.get().cloned()
    }
}

/// One agent run, shared by the turn and the handlers of the agent's requests.
struct Run {
    ctx: RunContext,
    /// The canonical worktree.
    root: PathBuf,
    /// The agent process's exit status, once it has exited.
    exit: Arc<Later>,
    /// The end of the agent's stderr, once it is closed.
    stderr_tail: Arc<Later>,
    turn: Mutex<TurnState>,
}

#[derive(Default)]
struct TurnState {
    session_id: Option<SessionId>,
    /// The chunks of the agent's latest message: a tool call or plan between chunks ends a
    /// message, so the summary is the final message, not every notice of the turn.
    summary: String,
    /// A tool call or plan came after the summary's chunks: the next chunk starts a new message.
    message_ended: bool,
    /// The `messageId` of the summary's chunks, when the agent sends one (a new id is a new
    /// message).
    message_id: Option<String>,
    tokens: u64,
    /// Tool call titles by tool call id, for status updates that omit the title.
    titles: HashMap<String, String>,
    /// What the agent's `authMethods` say (names and descriptions), for a login refusal.
    auth_hint: String,
}

impl Run {
    fn state(&self) -> MutexGuard<'_, TurnState> {
        self.turn.lock()
    }

    fn event(&self, event: AgentEvent) {
        let _ = self.ctx.events.send(event);
    }

    /// The turn, ended by the run's cancellation (the time limit cancels it too:
    /// [`super::run::with_time_limit`]), which sends `session/cancel` when a session exists.
    async fn turn_until_cancelled(&self, cx: &ConnectionTo<Agent>) -> Result<AgentOutcome, AgentError> {
        let result = tokio::select! {
            outcome = self.turn_until_exit(cx) => outcome,
            () = self.ctx.cancel.cancelled() => Err(AgentError::Cancelled),
        };
        if matches!(result, Err(AgentError::Cancelled)) {
            let session_id = self.state().session_id.clone();
            if let Some(session_id) = session_id
                && let Err(e) = cx.send_notification(CancelNotification::new(session_id))
            {
                tracing::debug!(error = %e, "cannot send session/cancel");
            }
        }
        result
    }

    /// The turn, or a crash report when the agent process exits without finishing it. A
    /// grandchild may hold stdout open after the agent exits, so its end of file is not waited
    /// for: what the agent wrote before exiting is still read for [`EXIT_DRAIN`].
    async fn turn_until_exit(&self, cx: &ConnectionTo<Agent>) -> Result<AgentOutcome, AgentError> {
        let mut turn = pin!(self.turn(cx));
        tokio::select! {
            biased;
            outcome = &mut turn => outcome,
            () = self.exit.done.cancelled() => {
                match tokio::time::timeout(EXIT_DRAIN, &mut turn).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(self.crashed().await),
                }
            }
        }
    }

    async fn turn(&self, cx: &ConnectionTo<Agent>) -> Result<AgentOutcome, AgentError> {
        let capabilities = ClientCapabilities::new()
            .fs(FileSystemCapabilities::new()
                .read_text_file(self.ctx.profile.client_fs)
                .write_text_file(self.ctx.profile.client_fs))
            .terminal(self.ctx.profile.client_terminal);
        let init = self
            .call(
                cx,
                InitializeRequest::new(ProtocolVersion::V1)
                    .client_capabilities(capabilities)
                    .client_info(Implementation::new("baton", env!("CARGO_PKG_VERSION"))),
            )
            .await?;
        if init.protocol_version != ProtocolVersion::V1 {
            self.event(AgentEvent::Log(format!(
                "the agent speaks ACP version {}; Baton speaks {}",
                init.protocol_version,
                ProtocolVersion::V1
            )));
        }
        self.state().auth_hint = auth_hint(&init.auth_methods);
        let session = self.new_session(cx, &init.auth_methods).await?;
        self.state().session_id = Some(session.session_id.clone());
        let prompt = match &self.ctx.profile.system_prompt {
            Some(system) if !system.trim().is_empty() => {
                format!("{system}\n\n{}", self.ctx.task.prompt)
            }
            _ => self.ctx.task.prompt.clone(),
        };
        let answer = self
            .call(cx, PromptRequest::new(session.session_id, vec![ContentBlock::Text(TextContent::new(prompt))]))
            .await?;
        let stop_reason = match answer.stop_reason {
            AcpStopReason::EndTurn => StopReason::EndTurn,
            AcpStopReason::MaxTokens => StopReason::MaxTokens,
            AcpStopReason::MaxTurnRequests => StopReason::MaxSteps,
            AcpStopReason::Refusal => StopReason::Refusal,
            AcpStopReason::Cancelled => StopReason::Cancelled,
            other => {
                return Err(AgentError::Protocol(format!(
                    "session/prompt answered with a stopReason Baton does not know: {other:?}"
                )));
            }
        };
        if let Some(usage) = &answer.usage {
            let tokens = total_tokens(usage);
            self.state().tokens = tokens;
            self.event(AgentEvent::Usage { tokens });
        }
        let state = self.state();
        let summary = state.summary.trim();
        Ok(AgentOutcome {
            summary: if summary.is_empty() {
                "The agent ended its turn without a message.".to_owned()
            } else {
                summary.to_owned()
            },
            stop_reason,
            tokens: state.tokens,
        })
    }

    /// `session/new`. When the agent answers `auth_required` and one of its `authMethods` can
    /// run without a person ([`auth_method_to_try`]), one `authenticate` with it, then
    /// `session/new` again.
    ///
    /// Errors: as [`Self::call`]; [`AgentError::NeedsLogin`] names the method tried and why it
    /// did not help.
    async fn new_session(
        &self,
        cx: &ConnectionTo<Agent>,
        methods: &[AuthMethod],
    ) -> Result<NewSessionResponse, AgentError> {
        let request = || NewSessionRequest::new(self.root.clone()).mcp_servers(Vec::new());
        let hint = match self.call(cx, request()).await {
            Err(AgentError::NeedsLogin { hint }) => hint,
            other => return other,
        };
        let confinement = &self.ctx.confinement;
        let id = match auth_method_to_try(methods, self.ctx.profile.auth_method.as_deref(), |name| {
            confinement.has_variable(name)
        }) {
            Ok(Some(id)) => id,
            Ok(None) => return Err(AgentError::NeedsLogin { hint }),
            Err(why) => return Err(AgentError::NeedsLogin { hint: format!("{hint} ({why})") }),
        };
        self.event(AgentEvent::Log(format!("the agent needs a login: authenticating with its `{id}` method")));
        match cx.send_request(AuthenticateRequest::new(id.clone())).block_task().await {
            Ok(_) => {}
            Err(e) if acp::is_incoming_transport_closed(&e) || acp::is_connection_terminated(&e) => {
                return Err(self.crashed().await);
            }
            Err(e) => {
                let words = error_words(&e);
                return Err(AgentError::NeedsLogin {
                    hint: format!("{hint} (authenticating with `{id}` failed: {words})"),
                });
            }
        }
        self.call(cx, request()).await.map_err(|e| match e {
            AgentError::NeedsLogin { hint } => {
                AgentError::NeedsLogin { hint: format!("{hint} (authenticating with `{id}` did not help)") }
            }
            other => other,
        })
    }

    /// Sends a request and waits for its response (the agent's requests are served meanwhile).
    async fn call<Req: JsonRpcRequest>(
        &self,
        cx: &ConnectionTo<Agent>,
        request: Req,
    ) -> Result<Req::Response, AgentError> {
        let method = request.method().to_owned();
        match cx.send_request(request).block_task().await {
            Ok(response) => Ok(response),
            Err(e) if acp::is_incoming_transport_closed(&e) || acp::is_connection_terminated(&e) => {
                Err(self.crashed().await)
            }
            Err(e) if is_auth_required(&e) => {
                let mut hint = self.state().auth_hint.clone();
                if hint.is_empty() {
                    hint = super::presets::find(&self.ctx.profile.name)
                        .and_then(|p| p.info.auth_hint.clone())
                        .unwrap_or_else(|| format!("{} (the agent named no way to log in)", e.message));
                }
                Err(AgentError::NeedsLogin { hint })
            }
            // The prompt turn failing is the agent's own failure (its model API refused, a tool
            // broke), not a protocol error: say what it said, on one line.
            Err(e) if method == "session/prompt" => {
                let last = first_line(self.state().summary.trim(), 300);
                let last = if last.is_empty() { String::new() } else { format!(" (its last message: {last:?})") };
                Err(AgentError::Reported(format!("the agent's turn failed: {}{last}", error_words(&e))))
            }
            Err(e) => {
                Err(AgentError::Protocol(format!("the agent answered {method} with an error: {}", error_words(&e))))
            }
        }
    }

    /// Why the connection ended before the turn did: the agent's exit (a write to a dead agent
    /// fails too), or what broke the connection while the agent runs.
    async fn connection_failed(&self, error: Option<acp::Error>) -> AgentError {
        match error {
            Some(e)
                if !acp::is_incoming_transport_closed(&e)
                    && !acp::is_connection_terminated(&e)
                    && self.exit.within(EXIT_DRAIN).await.is_none() =>
            {
                AgentError::Protocol(format!("the connection to the agent failed: {e}"))
            }
            _ => self.crashed().await,
        }
    }

    /// The agent's output closed: waits for its exit and reports it with its stderr tail.
    async fn crashed(&self) -> AgentError {
        let status = self.exit.within(Duration::from_secs(2)).await.unwrap_or_else(|| "its output closed".to_owned());
        let stderr_tail = self.stderr_tail.within(Duration::from_secs(1)).await.unwrap_or_default();
        AgentError::Crashed { status, stderr_tail: stderr_tail.trim().to_owned() }
    }

    /// Filters what the agent writes to stdout before the connection parses it: blank lines are
    /// skipped, and lines that are not JSON objects are logged and skipped.
    fn incoming_line(&self, line: io::Result<String>) -> Option<io::Result<String>> {
        let line = match line {
            Ok(line) => line,
            Err(e) => return Some(Err(e)),
        };
        let text = line.trim();
        if text.is_empty() {
            return None;
        }
        if text.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
            return Some(Ok(line));
        }
        let shown: String = text.chars().take(300).collect();
        self.event(AgentEvent::Log(format!("agent output: {shown}")));
        None
    }

    /// Handles a `session/update` notification.
    fn update(&self, update: SessionUpdate) {
        let event = {
            let mut state = self.state();
            match update {
                SessionUpdate::AgentMessageChunk(chunk) => {
                    let ContentBlock::Text(text) = chunk.content else { return };
                    let id = chunk.message_id.map(|m| m.to_string());
                    if id.is_some() && id != state.message_id {
                        state.message_ended = !state.summary.is_empty();
                        state.message_id = id;
                    }
                    let mut earlier = None;
                    if state.message_ended {
                        state.message_ended = false;
                        earlier = Some(std::mem::take(&mut state.summary));
                    }
                    state.summary.push_str(&text.text);
                    Some(
                        earlier.filter(|m| !m.trim().is_empty()).map_or(AgentEvent::Alive, |m| {
                            AgentEvent::Log(format!("agent said: {}", first_line(&m, 300)))
                        }),
                    )
                }
                SessionUpdate::ToolCall(call) => {
                    state.message_ended = !state.summary.is_empty();
                    let title = if call.title.is_empty() {
                        "tool call".to_owned()
                    } else {
                        first_line(&call.title, STEP_CHARS)
                    };
                    state.titles.insert(call.tool_call_id.to_string(), title.clone());
                    Some(AgentEvent::Step(title))
                }
                SessionUpdate::ToolCallUpdate(update) => {
                    state.message_ended = !state.summary.is_empty();
                    let id = update.tool_call_id.to_string();
                    if let Some(title) = &update.fields.title {
                        state.titles.insert(id.clone(), first_line(title, STEP_CHARS));
                    }
                    let title = state.titles.get(&id).cloned().unwrap_or_else(|| "tool call".to_owned());
                    update.fields.status.map(|status| {
                        let name = wire_name(&status);
                        match status {
                            ToolCallStatus::Completed | ToolCallStatus::Failed => {
                                AgentEvent::Step(format!("{title}: {name}"))
                            }
                            _ => AgentEvent::Log(format!("{title}: {name}")),
                        }
                    })
                }
                SessionUpdate::Plan(plan) => {
                    state.message_ended = !state.summary.is_empty();
                    let entries: Vec<String> =
                        plan.entries.iter().map(|e| format!("- [{}] {}", wire_name(&e.status), e.content)).collect();
                    Some(AgentEvent::Plan(entries.join("\n")))
                }
                SessionUpdate::UsageUpdate(usage) => {
                    state.tokens = usage.used;
                    Some(AgentEvent::Usage { tokens: usage.used })
                }
                other => {
                    tracing::trace!(update = ?other, "ignoring a session update");
                    None
                }
            }
        };
        if let Some(event) = event {
            self.event(event);
        }
    }

    /// Answers `session/request_permission` by the profile's policy.
    async fn permission(&self, request: RequestPermissionRequest) -> RequestPermissionResponse {
        let options = &request.options;
        let of_kind =
            |kinds: &[PermissionOptionKind]| kinds.iter().find_map(|kind| options.iter().find(|o| o.kind == *kind));
        let reject = || of_kind(&[PermissionOptionKind::RejectOnce, PermissionOptionKind::RejectAlways]);
        let title = request.tool_call.fields.title.clone().unwrap_or_else(|| {
            self.state()
                .titles
                .get(&request.tool_call.tool_call_id.to_string())
                .cloned()
                .unwrap_or_else(|| "an action".to_owned())
        });
        let chosen = match self.ctx.profile.permission {
            PermissionPolicy::Allow => of_kind(&[PermissionOptionKind::AllowOnce, PermissionOptionKind::AllowAlways]),
            PermissionPolicy::Reject => reject(),
            PermissionPolicy::Ask => {
                let choices: Vec<AskOption> = options
                    .iter()
                    .map(|o| AskOption {
                        name: o.name.clone(),
                        allow: matches!(o.kind, PermissionOptionKind::AllowOnce | PermissionOptionKind::AllowAlways),
                    })
                    .collect();
                let question =
                    format!("Agent {} (task {}) asks permission: {title}", self.ctx.profile.name, self.ctx.task.id);
                let mut asked = pin!(self.ctx.asker.ask(question, choices));
                // Waiting for the user is not the agent idling: the inactivity limit must not
                // stop it meanwhile (the overall time limit still holds).
                let mut alive = tokio::time::interval(ALIVE_WHILE_ASKING);
                let answer = loop {
                    tokio::select! {
                        answer = &mut asked => break answer,
                        _ = alive.tick() => self.event(AgentEvent::Alive),
                    }
                };
                match answer {
                    Some(answer) => options.iter().find(|o| o.name == answer).or_else(reject),
                    None => reject(),
                }
            }
        };
        let outcome = match chosen {
            Some(option) => {
                self.event(AgentEvent::Log(format!("permission for {title}: {}", option.name)));
                RequestPermissionOutcome::Selected(SelectedPermissionOutcome::new(option.option_id.clone()))
            }
            None => {
                self.event(AgentEvent::Log(format!("permission for {title}: no matching option, cancelled")));
                RequestPermissionOutcome::Cancelled
            }
        };
        RequestPermissionResponse::new(outcome)
    }

    /// With `client_fs = false` the capability was not offered: its methods are not found.
    fn fs_offered(&self) -> Result<(), acp::Error> {
        if self.ctx.profile.client_fs { Ok(()) } else { Err(acp::Error::method_not_found()) }
    }

    /// Serves `fs/read_text_file` inside the worktree (at most [`MAX_READ_BYTES`]).
    async fn read(&self, request: ReadTextFileRequest) -> Result<ReadTextFileResponse, acp::Error> {
        self.fs_offered()?;
        let path = self.resolve(&request.path)?;
        let cannot =
            |e: io::Error| acp::Error::new(ErrorCode::INTERNAL_ERROR, format!("cannot read {}: {e}", path.display()));
        let size = tokio::fs::metadata(&path).await.map_err(cannot)?.len();
        if size > MAX_READ_BYTES {
            return Err(acp::Error::new(
                ErrorCode::INTERNAL_ERROR,
                format!("{} is larger than {MAX_READ_BYTES} bytes", path.display()),
            ));
        }
        let text = tokio::fs::read_to_string(&path).await.map_err(cannot)?;
        let content = match (request.line, request.limit) {
            (None, None) => text,
            (line, limit) => {
                let skip = line.unwrap_or(1).max(1) as usize - 1;
                let take = limit.map_or(usize::MAX, |l| l as usize);
                text.lines().skip(skip).take(take).collect::<Vec<_>>().join("\n")
            }
        };
        Ok(ReadTextFileResponse::new(content))
    }

    /// Serves `fs/write_text_file` inside the worktree (creating missing directories), never
    /// inside its `.git`.
    async fn write(&self, request: WriteTextFileRequest) -> Result<WriteTextFileResponse, acp::Error> {
        self.fs_offered()?;
        let path = self.resolve(&request.path)?;
        if path
            .strip_prefix(&self.root)
            .is_ok_and(|rel| rel.components().next().is_some_and(|c| c.as_os_str() == ".git"))
        {
            return Err(acp::Error::new(ErrorCode::INVALID_PARAMS, "writing inside .git is not allowed".to_owned()));
        }
        let written = async {
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(&path, &request.content).await
        }
        .await;
        written
            .map_err(|e| acp::Error::new(ErrorCode::INTERNAL_ERROR, format!("cannot write {}: {e}", path.display())))?;
        self.event(AgentEvent::Step(format!("write {}", self.relative(&path))));
        Ok(WriteTextFileResponse::new())
    }

    /// A path from the agent (absolute, as ACP requires), resolved inside the worktree.
    fn resolve(&self, path: &Path) -> Result<PathBuf, acp::Error> {
        let relative =
            path.strip_prefix(&self.root).or_else(|_| path.strip_prefix(&self.ctx.task.worktree)).map_err(|_| {
                acp::Error::new(
                    ErrorCode::INVALID_PARAMS,
                    format!("{} is outside the task's worktree {}", path.display(), self.root.display()),
                )
            })?;
        resolve_in(&self.root, &relative.to_string_lossy())
            .map_err(|e| acp::Error::new(ErrorCode::INVALID_PARAMS, format!("{e:#}")))
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// Tokens in an ACP usage report: `totalTokens`, or `inputTokens + outputTokens` when the total
/// is missing.
fn total_tokens(usage: &Usage) -> u64 {
    if usage.total_tokens > 0 { usage.total_tokens } else { usage.input_tokens + usage.output_tokens }
}

/// The wire name of a protocol enum value (`in_progress`, `completed`, ...).
fn wire_name<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => "unknown".to_owned(),
    }
}

fn codec_error(e: LinesCodecError) -> io::Error {
    match e {
        LinesCodecError::Io(e) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other),
    }
}

#[cfg(test)]
mod tests;

/// Longest error `data` kept in a task's error, in characters.
const ERROR_DATA_CHARS: usize = 1_000;

/// A JSON-RPC error on one line: its message and code, then its `data` (a string as is, else
/// compact JSON, at most [`ERROR_DATA_CHARS`] characters; the crate's own `Display` prints data
/// pretty, over many lines, which a one-line error cuts at its first `{`).
fn error_words(e: &acp::Error) -> String {
    let code = i32::from(e.code);
    let message = if e.message.trim().is_empty() { "an error".to_owned() } else { e.message.trim().to_owned() };
    let data = match &e.data {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Some(other) => other.to_string(),
    };
    if data.is_empty() {
        return format!("{message} ({code})");
    }
    let mut data: String = data.chars().take(ERROR_DATA_CHARS).collect();
    if data.chars().count() == ERROR_DATA_CHARS {
        data.push('…');
    }
    format!("{message} ({code}): {data}")
}

/// ACP's `auth_required` (-32000), or an agent that says so in words with another code.
fn is_auth_required(e: &acp::Error) -> bool {
    e.code == ErrorCode::AUTH_REQUIRED || e.message.to_lowercase().contains("authentication required")
}

/// The auth method Baton passes to `authenticate` after an `auth_required` (ACP "Initialization"
/// and `authenticate`): the profile's `auth_method` when the agent offers it, else the first
/// method the agent runs itself whose id, name or description names an environment variable
/// (`GEMINI_API_KEY`: capitals and digits with an underscore) that `has_variable` says the agent's
/// process has. `terminal` methods are never passed (the spec forbids it; a person runs them).
///
/// Errors: the words for the user when the configured method is not offered or is a terminal
/// login.
fn auth_method_to_try(
    methods: &[AuthMethod],
    configured: Option<&str>,
    has_variable: impl Fn(&str) -> bool,
) -> Result<Option<AuthMethodId>, String> {
    if let Some(configured) = configured {
        return match methods.iter().find(|m| &*m.id().0 == configured) {
            Some(AuthMethod::Agent(m)) => Ok(Some(m.id.clone())),
            Some(_) => {
                Err(format!("`auth_method = \"{configured}\"` is a terminal login, which only a person can run"))
            }
            None => {
                let offered: Vec<String> = methods.iter().map(|m| format!("`{}`", m.id())).collect();
                let offered = if offered.is_empty() { "none".to_owned() } else { offered.join(", ") };
                Err(format!("`auth_method = \"{configured}\"` is not one the agent offers; it offers {offered}"))
            }
        };
    }
    Ok(methods.iter().find_map(|m| match m {
        AuthMethod::Agent(agent) => {
            let words = [&*agent.id.0, &agent.name, agent.description.as_deref().unwrap_or_default()];
            words.iter().flat_map(|w| variable_names(w)).any(&has_variable).then(|| agent.id.clone())
        }
        _ => None,
    }))
}

/// Words in `text` shaped like environment variable names: capitals and digits with at least
/// one underscore inside (`OPENAI_API_KEY`, not `API` or `CLI`).
fn variable_names(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')).filter(|w| {
        let inner = w.trim_matches('_');
        inner.len() == w.len() && inner.contains('_') && inner.starts_with(|c: char| c.is_ascii_uppercase())
    })
}

/// The agent's `authMethods` as one line: "Log in with Copilot CLI: Run `copilot login` in the
/// terminal". Read as JSON so every method type (agent, terminal, env var) gives its words.
fn auth_hint(methods: &[agent_client_protocol::v1::schema::AuthMethod]) -> String {
    let methods = serde_json::to_value(methods).unwrap_or_default();
    let words: Vec<String> = methods
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            let name = m.get("name").and_then(serde_json::Value::as_str).unwrap_or_default().trim();
            let description = m.get("description").and_then(serde_json::Value::as_str).unwrap_or_default().trim();
            match (name.is_empty(), description.is_empty()) {
                (true, true) => None,
                (false, true) => Some(name.to_owned()),
                (true, false) => Some(description.to_owned()),
                (false, false) => Some(format!("{name}: {description}")),
            }
        })
        .collect();
    words.join("; ")
}
