//! `textDocument/codeAction`: offer model edits, delegation to a background agent, and the
//! human actions on ready pull requests where their changes land. Listing never waits on a
//! model: the work happens when the user picks one (`workspace/executeCommand`).

use serde_json::{Value, json};
use tower_lsp_server::gen_lsp_types::*;

use crate::lsp::ext;
use crate::lsp::session::State;
use crate::lsp::{convert, tasks};
use crate::orchestrator::{LineRange, Orchestrator, PullRequest, Task, TaskState};
use crate::text::first_line;

/// Code action kind of the actions on a pull request.
pub const KIND_PR: &str = "refactor.baton.pr";
/// Code action kind of "delegate to a background agent".
pub const KIND_DELEGATE: &str = "refactor.baton.delegate";

/// Words that mark a comment as a task for later.
const TODO_MARKERS: &[&str] = &["TODO", "FIXME"];

pub async fn handle(state: &State, params: CodeActionParams) -> Option<Vec<CodeActionResponse>> {
    let uri = params.text_document.uri.as_ref().to_owned();
    let Some((_, doc)) = state.snapshot(&uri) else {
        return Some(vec![]);
    };
    let mut actions: Vec<CodeAction> = Vec::new();
    for d in &params.context.diagnostics {
        let message = first_line(convert::message_text(&d.message), 60);
        actions.push(action(
            format!("Baton: fix with the model: {message}"),
            CodeActionKind::QuickFix,
            ext::Command::Fix,
            json!({ "uri": uri, "diagnostic": d }),
            Some(d),
        ));
    }
    let selection = params.range.start != params.range.end;
    if selection {
        actions.push(action(
            "Baton: edit selection with instruction…".to_owned(),
            CodeActionKind::RefactorRewrite,
            ext::Command::Edit,
            json!({ "uri": uri, "range": params.range }),
            None,
        ));
    }

    if state.orchestrator().is_ok() {
        let delegate = CodeActionKind::from(KIND_DELEGATE.to_owned());
        // Without a prompt the server asks for one; a client that cannot answer (Helix 25.01,
        // whose selection is never empty) would only get an error.
        let can_ask = state.features().message_requests;
        if selection && can_ask {
            actions.push(action(
                "Baton: delegate to a background agent…".to_owned(),
                delegate.clone(),
                ext::Command::TaskStart,
                json!({ "uri": uri, "range": params.range }),
                None,
            ));
        }
        for d in &params.context.diagnostics {
            let message = first_line(convert::message_text(&d.message), 60);
            actions.push(action(
                format!("Baton: delegate to a background agent: fix “{message}”"),
                delegate.clone(),
                ext::Command::TaskStart,
                json!({ "uri": uri, "diagnostic": d }),
                Some(d),
            ));
        }
        let last = (params.range.end.line as usize).min(doc.rope.len_lines().saturating_sub(1));
        for line in (params.range.start.line as usize)..=last.max(params.range.start.line as usize) {
            if line >= doc.rope.len_lines() {
                break;
            }
            let text = doc.rope.line(line).to_string();
            if let Some(todo) = todo_text(&text) {
                let range = Range {
                    start: Position { line: line as u32, character: 0 },
                    end: Position { line: line as u32 + 1, character: 0 },
                };
                actions.push(action(
                    format!("Baton: delegate to a background agent: “{}”", first_line(&todo, 60)),
                    delegate.clone(),
                    ext::Command::TaskStart,
                    json!({ "uri": uri, "range": range, "prompt": todo }),
                    None,
                ));
            }
        }
        actions.extend(pull_request_actions(state, &uri, params.range, can_ask).await);
    }

    if let Some(only) = params.context.only.as_ref().filter(|o| !o.is_empty()) {
        actions.retain(|a| a.kind.as_ref().is_some_and(|k| only.iter().any(|o| kind_matches(o, k))));
    }
    Some(actions.into_iter().map(Into::into).collect())
}

/// The actions on every ready pull request that changes this document at `range`, and
/// "Approve plan" for plan-first tasks started from it.
async fn pull_request_actions(state: &State, uri: &str, range: Range, can_ask: bool) -> Vec<CodeAction> {
    let Ok(orchestrator) = state.orchestrator() else { return vec![] };
    let Ok(all) = orchestrator.unfinished() else { return vec![] };
    // The repository root is canonical (git resolves symlinks); the client's path may not be. A
    // document that is not a file (`untitled:`) is in no pull request.
    let path = convert::file_path(uri).ok().map(|p| std::fs::canonicalize(&p).unwrap_or(p));
    let kind = CodeActionKind::from(KIND_PR.to_owned());
    let mut out = Vec::new();
    let mut hits: Vec<(Task, PullRequest)> = Vec::new();
    for task in all {
        if task.state == TaskState::AwaitingPlanApproval && task.context.get("uri").and_then(Value::as_str) == Some(uri)
        {
            out.push(action(
                format!(
                    "Baton task #{}: Approve plan: {}",
                    task.id,
                    first_line(task.plan.as_deref().unwrap_or(""), 60)
                ),
                kind.clone(),
                ext::Command::TaskApprovePlan,
                json!({ "id": task.id }),
                None,
            ));
            continue;
        }
        if task.state != TaskState::Ready {
            continue;
        }
        let Some(rel) = path.as_ref().and_then(|p| p.strip_prefix(&task.repo_root).ok()) else { continue };
        let rel = rel.to_string_lossy().replace('\\', "/");
        let Ok(Some(pr)) = orchestrator.pull_request(task.id) else { continue };
        let touches = pr.files.iter().any(|f| f.path == rel && f.ranges.iter().any(|r| lines_meet(r, range)));
        if touches || from_here(&task, uri, &rel, &pr, range) {
            hits.push((task, pr));
        }
    }
    if hits.is_empty() {
        return out;
    }
    let overlaps = orchestrator.conflicts_between_ready().unwrap_or_default();
    for (task, pr) in hits {
        let checks = tasks::check_word(pr.check);
        // Links out of the tree, binary files and executable bits are named where the user decides.
        let notes = crate::orchestrator::pr::notes_short(&pr.files).map(|n| format!("; {n}")).unwrap_or_default();
        let prefix =
            format!("Baton PR #{} (+{} -{}, checks {checks}{notes})", task.id, pr.stat.insertions, pr.stat.deletions);
        let others: Vec<String> = overlaps
            .iter()
            .filter_map(|o| match (o.first == task.id, o.second == task.id) {
                (true, _) => Some(o.second),
                (_, true) => Some(o.first),
                _ => None,
            })
            .map(|id| format!("#{id}"))
            .collect();
        let suffix = if others.is_empty() { String::new() } else { format!(" — overlaps PR {}", others.join(", ")) };
        let (branch, conflicts) = merge_outlook(state, &orchestrator, &task).await;
        let merge_note = if conflicts.is_empty() {
            String::new()
        } else {
            format!(" — would conflict in {}", conflicts.join(", "))
        };
        let id = json!({ "id": task.id });
        let entries: [(String, ext::Command); 5] = [
            (format!("{prefix}: Review{suffix}"), ext::Command::PrReview),
            (format!("{prefix}: Apply to working tree{suffix}"), ext::Command::PrApply),
            (format!("{prefix}: Merge into {branch}{merge_note}{suffix}"), ext::Command::PrMerge),
            (format!("{prefix}: Request changes…{suffix}"), ext::Command::PrRequestChanges),
            (format!("{prefix}: Discard{suffix}"), ext::Command::PrDiscard),
        ];
        for (title, command) in entries {
            // Request changes needs feedback, which only a client that can answer a question gives.
            if command == ext::Command::PrRequestChanges && !can_ask {
                continue;
            }
            out.push(action(title, kind.clone(), command, id.clone(), None));
        }
    }
    out
}

/// Whether the task was delegated from this document and its pull request changes no line of
/// it (new files only, say): then its actions are offered where it was asked for, on the
/// delegated range, or anywhere when the task carried none.
fn from_here(task: &Task, uri: &str, rel: &str, pr: &PullRequest, range: Range) -> bool {
    if task.context.get("uri").and_then(Value::as_str) != Some(uri) || pr.files.iter().any(|f| f.path == rel) {
        return false;
    }
    let asked: Option<Range> = task
        .context
        .get("range")
        .or_else(|| task.context.pointer("/diagnostic/range"))
        .and_then(|r| serde_json::from_value(r.clone()).ok());
    asked.is_none_or(|a| range.start.line <= a.end.line && range.end.line >= a.start.line)
}

/// The current branch of the task's repository and the files merging the pull request into it
/// would conflict in (`git merge-tree`, cached per task and HEAD commit).
async fn merge_outlook(state: &State, orchestrator: &Orchestrator, task: &Task) -> (String, Vec<String>) {
    let Ok((branch, head)) = Orchestrator::head(&task.repo_root).await else {
        return ("the current branch".to_owned(), vec![]);
    };
    let key = (task.id, head);
    if let Some(hit) = state.merge_predictions.get(&key).map(|c| c.clone()) {
        return (branch, hit);
    }
    let conflicts = orchestrator.predict_conflicts(task.id).await.unwrap_or_default();
    state.merge_predictions.insert(key, conflicts.clone());
    (branch, conflicts)
}

/// Whether a hunk's lines in the user's file (the base side) meet the requested range. An
/// insertion (no base lines) counts the lines on both sides of where it goes.
fn lines_meet(r: &LineRange, range: Range) -> bool {
    let (first, last) = if r.old_count == 0 {
        (r.old_start.saturating_sub(1), r.old_start)
    } else {
        (r.old_start.saturating_sub(1), r.old_start.saturating_sub(1) + r.old_count - 1)
    };
    range.start.line <= last && range.end.line >= first
}

/// The text after a TODO or FIXME marker in a comment on `line`, if any.
fn todo_text(line: &str) -> Option<String> {
    for marker in TODO_MARKERS {
        let Some(at) = line.find(marker) else { continue };
        let before = &line[..at];
        let in_comment = ["//", "#", "/*", "--", ";", "*"].iter().any(|c| before.contains(c));
        let after = &line[at + marker.len()..];
        let boundary =
            !before.ends_with(|c: char| c.is_alphanumeric()) && !after.starts_with(|c: char| c.is_alphanumeric());
        if in_comment && boundary {
            let text =
                after.trim_start_matches(['(', ')', ':', ' ']).trim_end_matches(['*', '/', ' ', '\n', '\r']).trim();
            let text = text.split_once("):").map_or(text, |(_, t)| t.trim());
            return Some(if text.is_empty() { line.trim().to_owned() } else { text.to_owned() });
        }
    }
    None
}

fn kind_matches(only: &CodeActionKind, kind: &CodeActionKind) -> bool {
    let (o, k) = (only.as_str(), kind.as_str());
    k == o || k.starts_with(&format!("{o}."))
}

fn action(
    title: String,
    kind: CodeActionKind,
    command: ext::Command,
    argument: Value,
    diagnostic: Option<&Diagnostic>,
) -> CodeAction {
    CodeAction {
        title: title.clone(),
        kind: Some(kind),
        diagnostics: diagnostic.map(|d| vec![d.clone()]),
        command: Some(command.invocation(title, &argument)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_comments_are_found_in_each_comment_style() {
        let cases = [
            ("    // TODO: handle the empty case\n", Some("handle the empty case")),
            ("# FIXME(ada): retry on timeout\n", Some("retry on timeout")),
            ("/* TODO add tests */\n", Some("add tests")),
            ("let todo = TODOS;\n", None),
            ("let s = \"TODO\";\n", None),
        ];
        for (line, want) in cases {
            assert_eq!(todo_text(line).as_deref(), want, "{line:?}");
        }
    }

    #[test]
    fn hunks_meet_ranges_on_their_base_lines() {
        let changed = LineRange { old_start: 3, old_count: 2, new_start: 3, new_count: 1 };
        let insert = LineRange { old_start: 5, old_count: 0, new_start: 6, new_count: 2 };
        let at = |line| Range { start: Position { line, character: 0 }, end: Position { line, character: 0 } };
        assert_eq!([1, 2, 3, 4].map(|l| lines_meet(&changed, at(l))), [false, true, true, false]);
        assert_eq!([3, 4, 5, 6].map(|l| lines_meet(&insert, at(l))), [false, true, true, false]);
    }
}
