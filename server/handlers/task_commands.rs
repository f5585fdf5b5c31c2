//! The `baton.task.*` and `baton.pr.*` commands of `workspace/executeCommand`: delegate a task,
//! read tasks, and the human actions on a pull request. Applying goes through
//! `workspace/applyEdit` (undoable in the editor); every refusal is an LSP error naming why.

use std::path::Path;

use serde_json::{Value, json};
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};

use super::execute_command::arg;
use crate::conductor::edit;
use crate::lsp::error::{internal, invalid_params, invalid_request};
use crate::lsp::ext::{self, Command};
use crate::lsp::session::{ClientFeatures, State};
use crate::lsp::workspace_edit::{self, NoResourceOperations, WorkspaceEditBuilder};
use crate::lsp::{convert, tasks};
use crate::orchestrator::{Orchestrator, OrchestratorError, Task, TaskId, TaskState, review::FileChange};
use crate::text::{Document, Encoding};

/// Prompts offered when `baton.task.start` arrives without one.
const TASK_PRESETS: &[&str] = &["Write tests for this", "Fix the bugs in this", "Refactor this", "Document this"];
/// Follow-ups offered when `baton.pr.requestChanges` arrives without feedback.
const FEEDBACK_PRESETS: &[&str] =
    &["Fix the failing checks", "Add tests", "Make the change smaller", "Follow the code style"];
/// Most lines of a selection folded into a task's prompt.
const MAX_CONTEXT_LINES: usize = 200;

/// Runs one of the `baton.task.*` and `baton.pr.*` commands.
pub(crate) async fn handle(state: &State, command: Command, arguments: &[Value]) -> Result<Value> {
    let result = match command {
        // No argument at all (Helix's `:lsp-workspace-command`) still works: the server asks.
        Command::TaskStart if arguments.is_empty() => start(state, ext::TaskStartArgs::default()).await,
        Command::TaskStart => match arg(arguments) {
            Ok(args) => start(state, args).await,
            Err(e) => Err(e),
        },
        Command::TaskList => match arguments.first().filter(|a| !a.is_null()) {
            Some(_) => match arg(arguments) {
                Ok(args) => list(state, args).await,
                Err(e) => Err(e),
            },
            None => list(state, ext::TaskListArgs::default()).await,
        },
        Command::TaskShow => {
            with_id(state, command, arguments, |o, a| async move {
                let d = o.show(a.id).map_err(orch_error)?;
                serde_json::to_value(tasks::show_result(&d)).map_err(|e| internal(e.to_string()))
            })
            .await
        }
        Command::TaskApprovePlan => {
            with_id(state, command, arguments, |o, a| async move {
                o.approve_plan(a.id).map_err(orch_error)?;
                moved(a.id, TaskState::Queued)
            })
            .await
        }
        Command::TaskResume => {
            with_id(state, command, arguments, |o, a| async move {
                o.resume(a.id).map_err(orch_error)?;
                moved(a.id, TaskState::Queued)
            })
            .await
        }
        Command::TaskAnswer => {
            let args = task_id_args(state, command, arguments).await;
            answer(state, args).await
        }
        Command::PrReview => review(state, task_id_args(state, command, arguments).await).await,
        Command::PrApply => apply(state, task_id_args(state, command, arguments).await).await,
        Command::PrMerge => merge(state, task_id_args(state, command, arguments).await).await,
        Command::PrRequestChanges => request_changes(state, task_id_args(state, command, arguments).await).await,
        Command::PrDiscard => {
            with_id(state, command, arguments, |o, a| async move {
                o.discard(a.id).await.map_err(orch_error)?;
                moved(a.id, TaskState::Discarded)
            })
            .await
        }
        Command::Edit | Command::Fix | Command::Accepted | Command::NesAccept | Command::NesDismiss => {
            Err(internal(format!("{command} is not a task command")))
        }
    };
    if let Err(e) = &result
        && !state.features().message_requests
    {
        // Such clients (Helix 25.01) only log a command's error: say it where the user looks.
        state.client.show_message(MessageType::Error, format!("Baton: {}", e.message)).await;
    }
    result
}

/// The answer of a command that moved task `id` to `state`.
fn moved(id: TaskId, state: TaskState) -> Result<Value> {
    serde_json::to_value(ext::TaskStateResult { id, state }).map_err(|e| internal(e.to_string()))
}

async fn with_id<F, Fut>(state: &State, command: Command, arguments: &[Value], f: F) -> Result<Value>
where
    F: FnOnce(std::sync::Arc<Orchestrator>, ext::TaskIdArgs) -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    let args = task_id_args(state, command, arguments).await?;
    f(state.orchestrator()?, args).await
}

/// The task a command names. With no argument at all (Helix's `:lsp-workspace-command`), the
/// user picks one of the workspace's tasks the command applies to with
/// `window/showMessageRequest`; a client that cannot answer one gets the only such task, or an
/// error naming them. `baton.pr.discard` always needs an explicit id from such a client.
async fn task_id_args(state: &State, command: Command, arguments: &[Value]) -> Result<ext::TaskIdArgs> {
    if !arguments.is_empty() {
        return arg(arguments);
    }
    let orchestrator = state.orchestrator()?;
    let repo = tasks::workspace_repo(state).await;
    let candidates: Vec<_> = orchestrator
        .unfinished()
        .map_err(orch_error)?
        .into_iter()
        .rev()
        .filter(|t| applies(command, t.state) && repo.as_ref().is_none_or(|r| *r == t.repo_root))
        .collect();
    if candidates.is_empty() {
        return Err(invalid_params(format!("there is no task {command} applies to")));
    }
    if !state.features().message_requests {
        if let [only] = candidates.as_slice()
            && command != Command::PrDiscard
        {
            return Ok(ext::TaskIdArgs { id: only.id, feedback: None, answer: None });
        }
        let names: Vec<String> = candidates.iter().map(task_label).collect();
        return Err(invalid_params(format!(
            "{command} needs a task id (argument `id`); candidates: {}. Or use the code actions on the changed lines.",
            names.join(", ")
        )));
    }
    let choices: Vec<String> = candidates.iter().take(8).map(task_label).collect();
    let presets: Vec<&str> = choices.iter().map(String::as_str).collect();
    let picked = ask(state, "Baton: which task?", &presets)
        .await
        .ok_or_else(|| invalid_params("this command needs a task (argument `id`)"))?;
    let id = picked_task(&picked).ok_or_else(|| invalid_params(format!("not a task: {picked}")))?;
    Ok(ext::TaskIdArgs { id, feedback: None, answer: None })
}

/// Whether `command` can act on a task in `state` (for picking one when none is named): the
/// task actions' one rule ([`tasks::allows`]).
fn applies(command: Command, state: TaskState) -> bool {
    ext::TaskActionId::ALL.into_iter().any(|a| a.command() == command && tasks::allows(state, a))
}

/// How a task is named in a choice or a message: `#3 Add a retry (ready)`.
fn task_label(task: &Task) -> String {
    format!("#{} {} ({})", task.id, tasks::title(&task.prompt), task.state)
}

/// The id in a choice made from [`task_label`]s.
fn picked_task(label: &str) -> Option<TaskId> {
    label.strip_prefix('#')?.split(' ').next()?.parse().ok()
}

async fn start(state: &State, args: ext::TaskStartArgs) -> Result<Value> {
    let orchestrator = state.orchestrator()?;
    let file = args
        .uri
        .as_deref()
        .map(convert::file_path)
        .transpose()
        .map_err(|e| invalid_params(format!("baton.task.start needs a file: {e}")))?;
    let root = state.root();
    let dir =
        file.as_deref().and_then(Path::parent).map(Path::to_path_buf).or(root).ok_or_else(|| {
            invalid_params("baton.task.start needs a `uri` or a workspace folder to find the repository")
        })?;
    let repo = Orchestrator::repo_root(&dir).await.map_err(orch_error)?;

    let instruction = match args.prompt.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => p.to_owned(),
        None => match &args.diagnostic {
            Some(d) => super::execute_command::fix_instruction(d),
            None => ask(state, "Baton: what should the background agent do?", TASK_PRESETS)
                .await
                .ok_or_else(|| invalid_params("baton.task.start needs a prompt (argument `prompt`)"))?,
        },
    };
    let prompt = with_editor_context(state, &instruction, &args, file.as_deref(), &repo);
    let context = json!({ "uri": args.uri, "range": args.range, "diagnostic": args.diagnostic });
    let id = orchestrator.start_task(&repo, &prompt, context, args.agent.as_deref()).await.map_err(orch_error)?;
    Ok(json!({ "id": id }))
}

/// The instruction followed by where it applies (see [`task_prompt`]). The text of a secret file
/// never goes into a prompt: the agent gets its path and lines only.
fn with_editor_context(
    state: &State,
    instruction: &str,
    args: &ext::TaskStartArgs,
    file: Option<&Path>,
    repo: &Path,
) -> String {
    let Some(file) = file else { return instruction.to_owned() };
    let rel = file.strip_prefix(repo).unwrap_or(file).display().to_string();
    let secret = crate::secrets::is_secret_path(&rel, &state.settings().secrets.patterns);
    let doc = args.uri.as_deref().filter(|_| !secret).and_then(|u| state.snapshot(u)).map(|(_, d)| d);
    let range = args.range.or(args.diagnostic.as_ref().map(|d| d.range));
    task_prompt(instruction, &rel, range, doc.as_ref(), args.diagnostic.as_ref())
}

/// The instruction followed by where it applies: the file `rel` (relative to the repository; the
/// agent's worktree has the same layout), the lines of `range` and their text from `doc` (at most
/// [`MAX_CONTEXT_LINES`]; a range ending at column 0 of a later line stops before that line), and
/// the diagnostic.
fn task_prompt(
    instruction: &str,
    rel: &str,
    range: Option<Range>,
    doc: Option<&Document>,
    diagnostic: Option<&Diagnostic>,
) -> String {
    let mut prompt = instruction.to_owned();
    match (range, doc) {
        (Some(r), Some(doc)) => {
            let end_line = if r.end.character == 0 && r.end.line > r.start.line { r.end.line - 1 } else { r.end.line };
            let (first, last) = (r.start.line as usize, (end_line as usize).max(r.start.line as usize));
            let lines = doc.rope.len_lines();
            let last_line = last.min(first + MAX_CONTEXT_LINES).min(lines.saturating_sub(1));
            let start = doc.rope.line_to_char(first.min(lines));
            let end = doc.rope.line_to_char((last_line + 1).min(lines));
            let text = doc.rope.slice(start..end.max(start)).to_string();
            prompt.push_str(&format!(
                "\n\nThis is about {rel}, lines {}-{}:\n```{}\n{}\n```",
                first + 1,
                last + 1,
                doc.language_id,
                text.trim_end_matches('\n')
            ));
        }
        (Some(r), None) => {
            prompt.push_str(&format!("\n\nThis is about {rel}, lines {}-{}.", r.start.line + 1, r.end.line + 1))
        }
        (None, _) => prompt.push_str(&format!("\n\nThis is about {rel}.")),
    }
    if let Some(d) = diagnostic {
        prompt.push_str(&format!(
            "\nDiagnostic ({}): {}",
            d.source.as_deref().unwrap_or("compiler"),
            convert::message_text(&d.message)
        ));
    }
    prompt
}

/// The tasks of the workspace's repository, or of every repository with `{"all": true}`.
async fn list(state: &State, args: ext::TaskListArgs) -> Result<Value> {
    let orchestrator = state.orchestrator()?;
    let repo = if args.all { None } else { tasks::workspace_repo(state).await };
    let tasks = orchestrator.list().map_err(orch_error)?;
    let summaries: Vec<ext::TaskSummary> = tasks
        .iter()
        .filter(|t| repo.as_ref().is_none_or(|r| *r == t.repo_root))
        .map(|t| tasks::summary(&orchestrator, t, None))
        .collect();
    serde_json::to_value(summaries).map_err(|e| internal(e.to_string()))
}

async fn review(state: &State, args: Result<ext::TaskIdArgs>) -> Result<Value> {
    let args = args?;
    let orchestrator = state.orchestrator()?;
    let diff = orchestrator.diff(args.id).await.map_err(orch_error)?;
    let dir = orchestrator.data_dir().join("reviews");
    let path = dir.join(format!("task-{}.diff", args.id));
    let written = async {
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(&path, diff).await
    };
    written.await.map_err(|e| internal(format!("cannot write the review file {}: {e}", path.display())))?;
    let uri = convert::file_uri(&path).map_err(|e| internal(e.to_string()))?;
    // Sent even to clients that do not declare showDocument (Helix 25.01 handles it anyway);
    // an error just means it was not shown.
    let shown = state
        .client
        .show_document(ShowDocumentParams {
            uri: Uri::from(uri.as_str()),
            external: Some(false),
            take_focus: Some(true),
            selection: None,
        })
        .await
        .unwrap_or(false);
    Ok(json!({ "uri": uri, "shown": shown }))
}

/// Merges a pull request. A client that cannot prompt (Helix 25.01) neither reloads files that
/// changed on disk nor shows a command's result: it is told, and each open buffer that showed
/// a merged file as it was on disk gets the merged text (`workspace/applyEdit`; the buffer then
/// matches the file).
async fn merge(state: &State, args: Result<ext::TaskIdArgs>) -> Result<Value> {
    let args = args?;
    let orchestrator = state.orchestrator()?;
    let tell = !state.features().message_requests;
    let before = if tell { open_files_on_disk(state, &orchestrator, args.id) } else { Vec::new() };
    let m = orchestrator.merge(args.id).await.map_err(orch_error)?;
    if tell {
        let refreshed = refresh_buffers(state, args.id, &before).await;
        let buffers = match refreshed {
            0 => String::new(),
            1 => "; the open buffer now shows the merged file".to_owned(),
            n => format!("; the {n} open buffers now show the merged files"),
        };
        let commit: String = m.commit.chars().take(12).collect();
        let message =
            format!("Baton: merged PR #{} as {commit} (Signed-off-by: {}){buffers}", args.id, m.signed_off_by);
        state.client.show_message(MessageType::Info, message).await;
    }
    Ok(json!({ "commit": m.commit, "signedOffBy": m.signed_off_by }))
}

/// The open documents among task `id`'s changed files whose text is the file's on disk: (URI,
/// path, that text).
fn open_files_on_disk(
    state: &State,
    orchestrator: &Orchestrator,
    id: TaskId,
) -> Vec<(String, std::path::PathBuf, String)> {
    let Ok(details) = orchestrator.show(id) else { return Vec::new() };
    let Some(pr) = details.pull_request else { return Vec::new() };
    let mut out = Vec::new();
    for f in &pr.files {
        let path = details.task.repo_root.join(&f.path);
        let Ok(uri) = convert::file_uri(&path) else { continue };
        let Some((_, doc)) = state.snapshot(&uri) else { continue };
        if let Ok(text) = std::fs::read_to_string(&path)
            && doc.rope == text.as_str()
        {
            out.push((uri, path, text));
        }
    }
    out
}

/// Sends the merged text of `files` (from [`open_files_on_disk`]) to the buffers still showing
/// the text from before; returns how many were updated.
async fn refresh_buffers(state: &State, id: TaskId, files: &[(String, std::path::PathBuf, String)]) -> usize {
    let mut builder = WorkspaceEditBuilder::new(&state.features());
    let mut count = 0;
    for (uri, path, old) in files {
        let Some((_, doc)) = state.snapshot(uri) else { continue };
        let Ok(new) = std::fs::read_to_string(path) else { continue };
        if doc.rope != old.as_str() || new == *old {
            continue;
        }
        let edits = convert::text_edits(&doc, 0, edit::minimal_edits(old, &new), state.encoding());
        builder.edit(uri, Some(doc.version), edits);
        count += 1;
    }
    if count == 0 {
        return 0;
    }
    match workspace_edit::send(&state.client, format!("Baton: PR #{id} merged"), builder.finish()).await {
        Ok(r) if r.applied => count,
        other => {
            tracing::info!(?other, "the editor did not take the merged text");
            0
        }
    }
}

async fn request_changes(state: &State, args: Result<ext::TaskIdArgs>) -> Result<Value> {
    let args = args?;
    let orchestrator = state.orchestrator()?;
    let feedback = match args.feedback.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
        Some(f) => f.to_owned(),
        None => ask(state, &format!("Baton: what should change in PR #{}?", args.id), FEEDBACK_PRESETS)
            .await
            .ok_or_else(|| invalid_params("baton.pr.requestChanges needs feedback (argument `feedback`)"))?,
    };
    orchestrator.request_changes(args.id, &feedback).map_err(orch_error)?;
    moved(args.id, TaskState::Queued)
}

async fn apply(state: &State, args: Result<ext::TaskIdArgs>) -> Result<Value> {
    let args = args?;
    let orchestrator = state.orchestrator()?;
    let changes = orchestrator.apply(args.id).await.map_err(orch_error)?;
    let edit = workspace_edit(state, &changes)?;
    let label = format!("Baton: apply PR #{}", args.id);
    let applied = workspace_edit::send(&state.client, label, edit)
        .await
        .map_err(|e| invalid_request(format!("the editor did not apply the pull request: {}", e.message)))?;
    if !applied.applied {
        let why = applied.failure_reason.unwrap_or_else(|| "it was rejected".to_owned());
        return Err(invalid_request(format!("the editor did not apply PR #{}: {why}", args.id)));
    }
    orchestrator.mark_applied(args.id).await.map_err(orch_error)?;
    Ok(json!({ "applied": true, "files": changes.len() }))
}

/// [`pull_request_edit`] for this session's client and open documents.
fn workspace_edit(state: &State, changes: &[FileChange]) -> Result<WorkspaceEdit> {
    pull_request_edit(&state.features(), state.encoding(), |uri| state.snapshot(uri).map(|(_, d)| d), changes)
}

/// The edits that turn each file's current text into the pull request's, one entry per file and
/// never fewer: a file that cannot be carried fails the whole edit. Open documents (`open`: the
/// editor's document at a URI) are edited where the editor has them (refused when the buffer
/// differs from the file on disk, so unsaved work is never overwritten); new and deleted files
/// need resource operations. Positions are in `encoding`. Errors: InvalidRequest naming the file.
fn pull_request_edit(
    features: &ClientFeatures,
    encoding: Encoding,
    open: impl Fn(&str) -> Option<Document>,
    changes: &[FileChange],
) -> Result<WorkspaceEdit> {
    let mut builder = WorkspaceEditBuilder::new(features);
    for change in changes {
        let uri = exact_file_uri(&change.path)?;
        let shown = change.path.display();
        let carried = match (&change.old_content, &change.new_content) {
            (Some(old), Some(new)) => {
                let open = open(&uri);
                if let Some(doc) = &open
                    && doc.rope != old.as_str()
                {
                    return Err(invalid_request(format!(
                        "refusing to apply: {shown} has unsaved changes in the editor (save or revert them, or merge instead)"
                    )));
                }
                let version = open.as_ref().map(|d| d.version);
                let doc = open.unwrap_or_else(|| Document::new(old, 0, ""));
                builder.edit(&uri, version, convert::text_edits(&doc, 0, edit::minimal_edits(old, new), encoding));
                Ok(())
            }
            (None, Some(new)) => builder.create(&uri, new.clone()),
            (Some(_), None) => builder.delete(&uri),
            (None, None) => Ok(()),
        };
        carried.map_err(|NoResourceOperations| {
            invalid_request(format!(
                "refusing to apply: the pull request creates or deletes {shown}, which this editor cannot do through workspace/applyEdit; merge it instead"
            ))
        })?;
    }
    Ok(builder.finish())
}

/// The URI of a pull request's file, or an error naming the file: applying an edit to another
/// file than the pull request's would be worse than none.
fn exact_file_uri(path: &Path) -> Result<String> {
    convert::file_uri(path).map_err(|e| match e {
        convert::UriError::NotExact { .. } => invalid_request(format!(
            "refusing to apply: no file URI names {} exactly; nothing was applied (merge instead)",
            path.display()
        )),
        other => internal(other.to_string()),
    })
}

/// Asks the user when the client can answer; `None` otherwise (Helix 25.01 shows no choices).
/// `baton.task.answer`: records `allow` or `reject` for a task in `needs_input`; without an
/// `answer` the user picks one with `window/showMessageRequest` (showing the agent's question).
async fn answer(state: &State, args: Result<ext::TaskIdArgs>) -> Result<Value> {
    let args = args?;
    let orchestrator = state.orchestrator()?;
    let answer = match args.answer {
        Some(a) => a,
        None => {
            let task = orchestrator.show(args.id).map_err(orch_error)?.task;
            if task.state != TaskState::NeedsInput {
                return Err(orch_error(OrchestratorError::WrongState {
                    id: args.id,
                    state: task.state,
                    action: "answering",
                    needed: TaskState::NeedsInput.as_str().to_owned(),
                }));
            }
            let question = task.question.unwrap_or_else(|| "the agent asks permission".to_owned());
            ask(state, &format!("Baton: {question}"), &["allow", "reject"]).await.ok_or_else(|| {
                invalid_params("baton.task.answer needs an answer (argument `answer`: \"allow\" or \"reject\")")
            })?
        }
    };
    orchestrator.answer(args.id, &answer).map_err(orch_error)?;
    moved(args.id, TaskState::NeedsInput)
}

async fn ask(state: &State, question: &str, presets: &[&str]) -> Option<String> {
    if !state.features().message_requests {
        return None;
    }
    super::execute_command::ask(state, question, presets).await
}

/// An orchestrator refusal or failure as an LSP error: refusals (wrong state, dirty tree,
/// conflicts, divergence, unknown agent) are the request's fault, the rest internal.
fn orch_error(e: OrchestratorError) -> Error {
    let code = match &e {
        OrchestratorError::Store(crate::orchestrator::StoreError::NoTask(_)) => ErrorCode::InvalidParams,
        OrchestratorError::UnknownAgent { .. } => ErrorCode::InvalidParams,
        OrchestratorError::WrongState { .. }
        | OrchestratorError::NoPullRequest(_)
        | OrchestratorError::DirtyTree(_)
        | OrchestratorError::Conflicts(_)
        | OrchestratorError::Diverged { .. }
        | OrchestratorError::CannotApply { .. }
        | OrchestratorError::AlreadyApplied(_) => ErrorCode::InvalidRequest,
        OrchestratorError::BadAnswer(_) => ErrorCode::InvalidParams,
        _ => ErrorCode::InternalError,
    };
    Error { code, message: e.to_string().into(), data: None }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use baton_test_support::Fixture;

    /// The prompt for the fixture's selection in `lib.rs`, with the document's text or without.
    fn check(fixture: &str, with_text: bool, diagnostic: Option<&str>, expect: Expect) {
        let f = Fixture::parse(fixture);
        let doc = Document::new(&f.text, 1, "rust");
        let ((l0, c0), (l1, c1)) = f.line_cols();
        let range = Range { start: Position { line: l0, character: c0 }, end: Position { line: l1, character: c1 } };
        let diagnostic = diagnostic.map(|m| Diagnostic {
            range,
            message: Message::String(m.to_owned()),
            source: Some("rustc".to_owned()),
            ..Default::default()
        });
        let prompt =
            task_prompt("Add a test", "src/lib.rs", Some(range), with_text.then_some(&doc), diagnostic.as_ref());
        expect.assert_eq(&prompt);
    }

    #[test]
    fn a_selection_of_whole_lines_stops_before_the_line_it_ends_at() {
        check(
            "fn a() {}\n$0fn b() {\n    1\n}\n$0fn c() {}\n",
            true,
            None,
            expect![[r#"
                Add a test

                This is about src/lib.rs, lines 2-4:
                ```rust
                fn b() {
                    1
                }
                ```"#]],
        );
    }

    #[test]
    fn a_secret_file_gives_its_lines_but_not_its_text() {
        check(
            "KEY=$0x$0\n",
            false,
            Some("unused"),
            expect![[r#"
                Add a test

                This is about src/lib.rs, lines 1-1.
                Diagnostic (rustc): unused"#]],
        );
    }

    #[test]
    fn a_picked_label_names_its_task_and_each_command_its_states() {
        assert_eq!(picked_task("#12 Add a retry (ready)"), Some(12));
        assert_eq!(picked_task("12 Add a retry"), None);
        assert_eq!(picked_task("#x (ready)"), None);
        let states = |c: Command| {
            TaskState::ALL.into_iter().filter(|s| applies(c, *s)).map(TaskState::as_str).collect::<Vec<_>>()
        };
        assert_eq!(states(Command::PrMerge), ["ready"]);
        assert_eq!(states(Command::TaskApprovePlan), ["awaiting_plan_approval"]);
        assert_eq!(states(Command::TaskResume), ["failed", "interrupted", "needs_login"]);
        assert_eq!(states(Command::TaskAnswer), ["needs_input"]);
        assert_eq!(states(Command::PrDiscard).len(), 10, "every state but merged, applied, discarded");
    }

    /// A pull request's change of `path` from `old` to `new` (`None`: no such file), carried for a
    /// client with `features` in `encoding`, `open` being the editor's text of the file if open.
    fn carry(
        features: ClientFeatures,
        encoding: Encoding,
        open: Option<&str>,
        changes: &[(&str, Option<&str>, Option<&str>)],
    ) -> String {
        let changes: Vec<FileChange> = changes
            .iter()
            .map(|(path, old, new)| FileChange {
                path: path.into(),
                old_content: old.map(str::to_owned),
                new_content: new.map(str::to_owned),
            })
            .collect();
        let open = |uri: &str| open.filter(|_| uri == "file:///p/lib.rs").map(|text| Document::new(text, 7, "rust"));
        match pull_request_edit(&features, encoding, open, &changes) {
            Ok(edit) => {
                let mut edit = serde_json::to_value(edit).unwrap_or_default();
                edit.sort_all_objects();
                serde_json::to_string(&edit).unwrap_or_default()
            }
            Err(e) => format!("{:?}: {}", e.code, e.message),
        }
    }

    fn features(document_changes: bool, create_delete_files: bool) -> ClientFeatures {
        ClientFeatures { document_changes, create_delete_files, ..Default::default() }
    }

    #[test]
    fn a_changed_file_becomes_its_minimal_edits_in_the_negotiated_encoding() {
        let old = "fn a() {}\nlet s = \"😀\";";
        let change = [("/p/lib.rs", Some(old), Some("fn a() {}\nlet s = \"😀!\";"))];
        // Closed: no version. Edits are whole lines; the last has no line break, so its end is a
        // column: 13 UTF-16 code units (the emoji is two), 15 bytes (it is four).
        expect![[r#"{"documentChanges":[{"edits":[{"newText":"let s = \"😀!\";","range":{"end":{"character":13,"line":1},"start":{"character":0,"line":1}}}],"textDocument":{"uri":"file:///p/lib.rs","version":null}}]}"#]]
        .assert_eq(&carry(features(true, true), Encoding::Utf16, None, &change));
        // Open with the same text: the editor's version; columns in bytes for a UTF-8 client.
        expect![[r#"{"documentChanges":[{"edits":[{"newText":"let s = \"😀!\";","range":{"end":{"character":15,"line":1},"start":{"character":0,"line":1}}}],"textDocument":{"uri":"file:///p/lib.rs","version":7}}]}"#]]
        .assert_eq(&carry(features(true, true), Encoding::Utf8, Some(old), &change));
        // Without documentChanges: the changes map.
        expect![[r#"{"changes":{"file:///p/lib.rs":[{"newText":"let s = \"😀!\";","range":{"end":{"character":13,"line":1},"start":{"character":0,"line":1}}}]}}"#]]
        .assert_eq(&carry(features(false, false), Encoding::Utf16, None, &change));
    }

    #[test]
    fn unsaved_work_and_files_the_client_cannot_create_refuse_the_whole_edit() {
        let change = [("/p/lib.rs", Some("fn a() {}\n"), Some("fn a() { 1 }\n"))];
        expect!["InvalidRequest: refusing to apply: /p/lib.rs has unsaved changes in the editor (save or revert them, or merge instead)"]
            .assert_eq(&carry(features(true, true), Encoding::Utf16, Some("fn a() { 2 }\n"), &change));
        let new_and_changed = [("/p/new.rs", None, Some("fn new() {}\n")), change[0]];
        expect!["InvalidRequest: refusing to apply: the pull request creates or deletes /p/new.rs, which this editor cannot do through workspace/applyEdit; merge it instead"]
            .assert_eq(&carry(features(true, false), Encoding::Utf16, None, &new_and_changed));
        expect![[r#"{"documentChanges":[{"kind":"create","uri":"file:///p/new.rs"},{"edits":[{"newText":"fn new() {}\n","range":{"end":{"character":0,"line":0},"start":{"character":0,"line":0}}}],"textDocument":{"uri":"file:///p/new.rs","version":null}},{"kind":"delete","uri":"file:///p/old.rs"}]}"#]]
        .assert_eq(&carry(
            features(true, true),
            Encoding::Utf16,
            None,
            &[("/p/new.rs", None, Some("fn new() {}\n")), ("/p/old.rs", Some("x\n"), None)],
        ));
    }

    #[test]
    fn without_a_range_the_file_alone() {
        let prompt = task_prompt("Document it", "README.md", None, None, None);
        assert_eq!(prompt, "Document it\n\nThis is about README.md.");
    }
}
