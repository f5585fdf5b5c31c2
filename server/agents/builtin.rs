//! Baton's built-in agent: a tool-calling loop over the configured model that works in the task's
//! worktree with the tools of [`super::tools`], bounded by steps, tokens, wall-clock time and
//! cancellation.

use super::sandbox::Mode;
use super::tools::{self, ToolName, Workspace};
use super::{AgentError, AgentEvent, AgentOutcome, RunContext, StopReason};
use crate::providers::{Provider, ToolChatRequest, ToolMessage};

/// Smallest request time limit for one model turn on the conductor's model, in milliseconds.
const MIN_TURN_TIMEOUT_MS: u64 = 300_000;

/// Longest line of a failed tool's output in the task log, in characters.
const LOG_CHARS: usize = 300;

/// Tokens the model may generate per turn.
const TURN_MAX_TOKENS: u32 = 4_096;

/// Said to a model that ends its turn before changing any file, once per run: small local
/// models often answer with a description or a stray JSON snippet instead of a tool call.
const NUDGE: &str = "You have not changed any file yet. Make the change now by calling the write_file or \
edit_file tool (as a tool call, not as text), then call finish with a one-line summary.";

const SYSTEM_PROMPT: &str = "You are a coding agent working in a git repository checked out in your \
working directory. Use the tools to inspect and change files and to run commands (no network). \
Paths are relative to the repository root. Work step by step; when the task is done, call the \
finish tool with a short summary of what you changed (or answer without calling a tool).";

const PLAN_PROMPT: &str = "Before changing anything, propose a short numbered plan for this task. \
Do not write code yet; answer with the plan only.";

/// Runs the built-in agent on `ctx.task` until the model answers without a tool call (its text is
/// the summary, [`StopReason::EndTurn`]), calls `finish` (its `summary`, `EndTurn`), or a limit
/// is hit: `profile.max_steps` model turns ([`StopReason::MaxSteps`]), `profile.max_tokens`
/// tokens used ([`StopReason::MaxTokens`]). Emits [`AgentEvent::Step`] per tool call and
/// [`AgentEvent::Usage`] (cumulative) after each model turn.
///
/// Commands run in `ctx.confinement` without network; tool output reaches the model with the
/// values of `ctx.secrets` redacted.
///
/// The profile's time limit is kept by the caller ([`super::run::with_time_limit`]).
///
/// Errors: [`AgentError::Cancelled`] when `ctx.cancel` fires (running commands are killed), [`AgentError::Provider`] when the model
/// request fails, [`AgentError::Sandbox`] when the sandbox is required but cannot run,
/// [`AgentError::Worktree`] when the worktree is unusable.
pub(crate) async fn run(ctx: RunContext) -> Result<AgentOutcome, AgentError> {
    if ctx.task.planning {
        let (summary, tokens) = cancellable(&ctx, plan_turn(&ctx)).await?;
        return Ok(AgentOutcome { summary, stop_reason: StopReason::EndTurn, tokens });
    }
    let mode = ctx.confinement.mode().await?;
    cancellable(&ctx, run_loop(&ctx, mode)).await
}

/// One model turn without tools that proposes a plan: the plan and the tokens it used.
async fn plan_turn(ctx: &RunContext) -> Result<(String, u64), AgentError> {
    let provider = provider(ctx)?;
    let answer = provider
        .chat_with_tools(ToolChatRequest {
            system: Some(system_prompt(ctx)),
            messages: vec![ToolMessage::User(format!("{}\n\n{PLAN_PROMPT}", ctx.task.prompt))],
            tools: Vec::new(),
            max_tokens: TURN_MAX_TOKENS,
            temperature: 0.2,
        })
        .await?;
    let tokens = answer.usage.total();
    let _ = ctx.events.send(AgentEvent::Usage { tokens });
    let plan = answer.text.trim().to_owned();
    let _ = ctx.events.send(AgentEvent::Plan(plan.clone()));
    Ok((plan, tokens))
}

/// Races `work` against the cancel token (which the time limit fires too:
/// [`super::run::with_time_limit`]).
async fn cancellable<T>(ctx: &RunContext, work: impl Future<Output = Result<T, AgentError>>) -> Result<T, AgentError> {
    tokio::select! {
        outcome = work => outcome,
        () = ctx.cancel.cancelled() => Err(AgentError::Cancelled),
    }
}

/// The profile's model, or the conductor's with its request time limit raised to
/// [`MIN_TURN_TIMEOUT_MS`] (that one is tuned for completions; a whole tool turn of a local model
/// takes longer, and the run's own time limit still bounds everything).
fn provider(ctx: &RunContext) -> Result<Provider, AgentError> {
    let config = match &ctx.profile.model {
        Some(model) => model.clone(),
        None => {
            let mut config = ctx.default_model.clone();
            config.timeout_ms = config.timeout_ms.max(MIN_TURN_TIMEOUT_MS);
            config
        }
    };
    Ok(Provider::new(config)?)
}

fn system_prompt(ctx: &RunContext) -> String {
    match &ctx.profile.system_prompt {
        Some(extra) if !extra.trim().is_empty() => format!("{SYSTEM_PROMPT}\n\n{extra}"),
        _ => SYSTEM_PROMPT.to_owned(),
    }
}

async fn run_loop(ctx: &RunContext, mode: Mode) -> Result<AgentOutcome, AgentError> {
    let provider = provider(ctx)?;
    if mode == Mode::Unsandboxed {
        let note = "commands run without a sandbox (the agent profile sets sandbox = false)";
        tracing::info!(task = ctx.task.id, "{note}");
        // A step: it reaches the progress report and the task log.
        let _ = ctx.events.send(AgentEvent::Step(note.to_owned()));
    }
    let workspace = Workspace::new(&ctx.confinement, mode, ctx.secrets.clone(), ctx.cancel.clone())?;
    let profile = &ctx.profile;
    let specs = tools::specs();
    let mut messages = vec![ToolMessage::User(ctx.task.prompt.clone())];
    let mut tokens = 0u64;
    let mut last_text = String::new();
    // Whether a file-changing tool succeeded, and whether the model was nudged to use one.
    let (mut changed, mut nudged) = (false, false);
    for step in 0..profile.max_steps {
        let answer = provider
            .chat_with_tools(ToolChatRequest {
                system: Some(system_prompt(ctx)),
                messages: messages.clone(),
                tools: specs.clone(),
                max_tokens: TURN_MAX_TOKENS,
                temperature: 0.2,
            })
            .await?;
        tokens += answer.usage.total();
        let _ = ctx.events.send(AgentEvent::Usage { tokens });
        tracing::debug!(task = ctx.task.id, step, calls = answer.tool_calls.len(), tokens, "model turn");
        if answer.tool_calls.is_empty() && !changed && !nudged {
            nudged = true;
            let _ =
                ctx.events.send(AgentEvent::Step("no file changed yet: asking the model to use its tools".to_owned()));
            messages.push(ToolMessage::Assistant { text: answer.text.clone(), tool_calls: Vec::new() });
            messages.push(ToolMessage::User(NUDGE.to_owned()));
            continue;
        }
        if answer.tool_calls.is_empty() {
            return Ok(AgentOutcome {
                summary: answer.text.trim().to_owned(),
                stop_reason: StopReason::EndTurn,
                tokens,
            });
        }
        if !answer.text.trim().is_empty() {
            last_text = answer.text.trim().to_owned();
            let _ = ctx.events.send(AgentEvent::Log(last_text.clone()));
        }
        messages.push(ToolMessage::Assistant { text: answer.text.clone(), tool_calls: answer.tool_calls.clone() });
        for call in &answer.tool_calls {
            let _ = ctx.events.send(AgentEvent::Step(Workspace::describe(call)));
            let tool = ToolName::parse(&call.name);
            if tool == Some(ToolName::Finish) {
                let summary = call
                    .arguments
                    .get("summary")
                    .and_then(|s| s.as_str())
                    .map_or_else(|| last_text.clone(), str::to_owned);
                return Ok(AgentOutcome { summary, stop_reason: StopReason::EndTurn, tokens });
            }
            let output = workspace.execute(call).await;
            changed |= !output.is_error && tool.is_some_and(ToolName::changes_files);
            if output.is_error {
                let first = crate::text::first_line(&output.content, LOG_CHARS);
                let _ = ctx.events.send(AgentEvent::Log(format!("{} failed: {first}", call.name)));
            }
            messages.push(ToolMessage::ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: output.content,
                is_error: output.is_error,
            });
        }
        if tokens >= profile.max_tokens {
            return Ok(AgentOutcome {
                summary: stopped_summary(&last_text, "the token limit"),
                stop_reason: StopReason::MaxTokens,
                tokens,
            });
        }
    }
    Ok(AgentOutcome {
        summary: stopped_summary(&last_text, "the step limit"),
        stop_reason: StopReason::MaxSteps,
        tokens,
    })
}

fn stopped_summary(last_text: &str, limit: &str) -> String {
    if last_text.is_empty() {
        format!("Stopped at {limit} before the agent finished.")
    } else {
        format!("Stopped at {limit} before the agent finished. Last note: {last_text}")
    }
}

#[cfg(test)]
mod tests;
