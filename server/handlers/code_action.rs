//! `textDocument/codeAction`: offer model edits, delegation to a background agent (of a
//! selection, a diagnostic, or a TODO or FIXME in a comment), and the human actions on ready pull
//! requests where their changes land. Listing never waits on a model: the work happens when the
//! user picks one (`workspace/executeCommand`).

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tower_lsp_server::gen_lsp_types::*;

use crate::conductor::DocSnapshot;
use crate::lsp::documents;
use crate::lsp::ext::{self, EditArgs, FixArgs, TaskIdArgs, TaskStartArgs};
use crate::lsp::session::State;
use crate::lsp::workspace_edit::WorkspaceEditBuilder;
use crate::lsp::{convert, tasks};
use crate::orchestrator::{CheckResult, DiffStat, LineRange, Orchestrator, PullRequest, Task, TaskId, TaskState};
use crate::syntax::Syntax;
use crate::text::{Document, first_line};

/// Code action kind of the actions on a pull request.
pub(crate) const KIND_PR: &str = "refactor.baton.pr";
/// Code action kind of "delegate to a background agent".
const KIND_DELEGATE: &str = "refactor.baton.delegate";

/// Words that mark a comment as a task for later.
const TODO_MARKERS: &[&str] = &["TODO", "FIXME"];

/// Longest diagnostic message, TODO or plan in a title, in chars (with the ellipsis).
const TITLE_CHARS: usize = 60;

/// How long listing waits for the tree of the document's current text, when its parse is under
/// way: TODOs are found in the tree's comments. A typical reparse takes a millisecond; a parse
/// runs at most `syntax::PARSE_BUDGET`. Code actions are asked for by the user (or on a cursor
/// move), not on every keystroke, so the wait is longer than a completion's.
const ACTION_TREE_WAIT: Duration = Duration::from_millis(1000);

pub(crate) async fn handle(state: &Arc<State>, params: CodeActionParams) -> Option<Vec<CodeActionResponse>> {
    let uri = params.text_document.uri.as_ref().to_owned();
    let delegating = state.orchestrator().is_ok();
    let wait = if delegating { ACTION_TREE_WAIT } else { Duration::ZERO };
    let Some((snapshot, doc)) = documents::snapshot_with_tree(state, &uri, wait).await else {
        return Some(vec![]);
    };
    let range = params.range;
    let mut actions: Vec<CodeAction> = Vec::new();
    for d in &params.context.diagnostics {
        let message = first_line(convert::message_text(&d.message), TITLE_CHARS);
        let args = FixArgs { uri: uri.clone(), diagnostic: d.clone() };
        let title = format!("Baton: fix with the model: {message}");
        actions.push(action(title, CodeActionKind::QuickFix, ext::Command::Fix, &args, Some(d)));
    }
    let selection = range.start != range.end;
    if selection && state.features().message_requests {
        let args = EditArgs { uri: uri.clone(), range, instruction: None };
        let title = "Baton: edit selection with instruction…".to_owned();
        actions.push(action(title, CodeActionKind::RefactorRewrite, ext::Command::Edit, &args, None));
    } else if selection {
        // A client that cannot answer window/showMessageRequest (Helix 25.01) could not run the
        // action above: each preset is an action of its own, with its instruction.
        for (title, instruction) in super::execute_command::EDIT_PRESETS {
            let args = EditArgs { uri: uri.clone(), range, instruction: Some(instruction.to_owned()) };
            let title = format!("Baton: {}", title.to_lowercase());
            actions.push(action(title, CodeActionKind::RefactorRewrite, ext::Command::Edit, &args, None));
        }
    }

    if let Some(a) = next_edit(state, &uri, &snapshot, &doc, range).await {
        actions.push(a);
    }

    if delegating {
        let delegate = CodeActionKind::from(KIND_DELEGATE.to_owned());
        let start = |args: &TaskStartArgs, title: String, d: Option<&Diagnostic>| {
            action(title, delegate.clone(), ext::Command::TaskStart, args, d)
        };
        // Without a prompt the server asks for one; a client that cannot answer (Helix 25.01,
        // whose selection is never empty) would only get an error.
        let can_ask = state.features().message_requests;
        if selection && can_ask {
            let args = TaskStartArgs { uri: Some(uri.clone()), range: Some(range), ..Default::default() };
            actions.push(start(&args, "Baton: delegate to a background agent…".to_owned(), None));
        }
        for d in &params.context.diagnostics {
            let message = first_line(convert::message_text(&d.message), TITLE_CHARS);
            let args = TaskStartArgs { uri: Some(uri.clone()), diagnostic: Some(d.clone()), ..Default::default() };
            actions.push(start(&args, format!("Baton: delegate to a background agent: fix “{message}”"), Some(d)));
        }
        for todo in todos(&doc, snapshot.syntax.as_ref(), lines_of(range, &doc)) {
            let line = u32::try_from(todo.line).unwrap_or(u32::MAX);
            let whole_line = Range {
                start: Position { line, character: 0 },
                end: Position { line: line.saturating_add(1), character: 0 },
            };
            let title = format!("Baton: delegate to a background agent: “{}”", first_line(&todo.text, TITLE_CHARS));
            let args = TaskStartArgs {
                uri: Some(uri.clone()),
                range: Some(whole_line),
                prompt: Some(todo.text),
                ..Default::default()
            };
            actions.push(start(&args, title, None));
        }
        actions.extend(pull_request_actions(state, &uri, range, can_ask).await);
    }

    if let Some(only) = params.context.only.as_ref().filter(|o| !o.is_empty()) {
        actions.retain(|a| a.kind.as_ref().is_some_and(|k| only.iter().any(|o| kind_matches(o, k))));
    }
    Some(actions.into_iter().map(Into::into).collect())
}

/// "Baton: next edit at line N": the first structural next edit suggestion after the document's
/// newest edit (no model: listing never waits on one), as an edit with the accept command. For
/// clients without `textDocument/copilotInlineEdit` (Helix).
async fn next_edit(
    state: &State,
    uri: &str,
    snapshot: &DocSnapshot,
    doc: &Document,
    range: Range,
) -> Option<CodeAction> {
    if !state.settings().nes.enabled {
        return None;
    }
    let encoding = state.encoding();
    let cursor = doc.char_at(convert::pos(range.start), encoding);
    let history = super::inline_edit::history_at(state, uri, doc.version)?;
    let last = history.last()?;
    let first = super::inline_edit::structural(snapshot, last, cursor).await.into_iter().next()?;
    let edit_range = convert::range(doc, first.range.clone(), encoding);
    let mut edit = WorkspaceEditBuilder::new(&state.features());
    edit.edit(uri, Some(doc.version), vec![TextEdit { range: edit_range, new_text: first.text.clone() }]);
    Some(CodeAction {
        title: format!("Baton: next edit at line {}", edit_range.start.line + 1),
        kind: Some(CodeActionKind::RefactorRewrite),
        edit: Some(edit.finish()),
        command: Some(super::inline_edit::accept_command(state, &first)),
        ..Default::default()
    })
}

/// The lines a range touches that `doc` has (a range ending at column 0 of a line includes it:
/// the cursor is there). Empty when the range starts past the end.
fn lines_of(range: Range, doc: &Document) -> std::ops::Range<usize> {
    let lines = doc.rope.len_lines();
    let first = (range.start.line as usize).min(lines);
    let last = (range.end.line as usize).min(lines.saturating_sub(1)).max(first);
    first..(last + 1).min(lines)
}

/// A TODO or FIXME in a comment: its line and the text after the marker.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Todo {
    line: usize,
    text: String,
}

/// The first TODO or FIXME of each of `lines` that stands as a word inside a comment of the
/// document's tree. Without a tree of its current text (none yet within the wait, a language
/// Baton does not parse, a document over the syntax limits) there are none: the text alone cannot
/// tell a comment from a string or `price * TODO_COUNT`.
fn todos(doc: &Document, syntax: Option<&Syntax>, lines: std::ops::Range<usize>) -> Vec<Todo> {
    let Some(syntax) = syntax else { return vec![] };
    let rope = &doc.rope;
    let mut out = Vec::new();
    for line in lines {
        let text = rope.line(line).to_string();
        let line_start = rope.line_to_byte(line);
        let mut marks: Vec<(usize, &str)> =
            TODO_MARKERS.iter().flat_map(|m| text.match_indices(m)).filter(|(at, m)| is_word(&text, *at, m)).collect();
        marks.sort_unstable();
        let found = marks.into_iter().find_map(|(at, marker)| {
            let comment = syntax.comment_at(rope, line_start + at)?;
            // The rest of this line inside the comment: a block comment may end on it or go on.
            let end = comment.bytes.end.saturating_sub(line_start).min(text.len());
            let after = text.get(at + marker.len()..end)?;
            Some(todo_text(after, &text))
        });
        if let Some(text) = found {
            out.push(Todo { line, text });
        }
    }
    out
}

/// Whether `word` at byte `at` of `line` stands alone: no letter, digit or `_` touches it.
fn is_word(line: &str, at: usize, word: &str) -> bool {
    let joins = |c: char| c.is_alphanumeric() || c == '_';
    !line[..at].ends_with(joins) && !line[at + word.len()..].starts_with(joins)
}

/// A TODO's prompt: what follows its marker (`TODO(ada): x`, `TODO: x`, `FIXME x */` give `x`),
/// or the whole line when nothing does.
fn todo_text(after: &str, line: &str) -> String {
    let text = after.trim_start_matches(['(', ')', ':', ' ']).trim_end_matches(['*', '/', ' ', '\n', '\r']).trim();
    let text = text.split_once("):").map_or(text, |(_, t)| t.trim());
    if text.is_empty() { line.trim().to_owned() } else { text.to_owned() }
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
            let plan = first_line(task.plan.as_deref().unwrap_or(""), TITLE_CHARS);
            let title = format!("Baton task #{}: Approve plan: {plan}", task.id);
            let args = TaskIdArgs { id: task.id, feedback: None, answer: None };
            out.push(action(title, kind.clone(), ext::Command::TaskApprovePlan, &args, None));
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
        let (branch, conflicts) = merge_outlook(state, &orchestrator, &task).await;
        let outlook = PrOutlook {
            id: task.id,
            stat: pr.stat,
            check: pr.check,
            // Links out of the tree, binary files and executable bits are named where the user decides.
            notes: crate::orchestrator::pr::notes_short(&pr.files),
            overlaps: overlaps
                .iter()
                .filter_map(|o| match (o.first == task.id, o.second == task.id) {
                    (true, _) => Some(o.second),
                    (_, true) => Some(o.first),
                    _ => None,
                })
                .collect(),
            branch,
            conflicts,
        };
        let args = TaskIdArgs { id: task.id, feedback: None, answer: None };
        for (title, command) in pr_entries(&outlook, can_ask) {
            out.push(action(title, kind.clone(), command, &args, None));
        }
    }
    out
}

/// What the titles of a ready pull request's actions say.
#[derive(Debug, Clone)]
struct PrOutlook {
    id: TaskId,
    stat: DiffStat,
    check: CheckResult,
    /// `pr::notes_short`: links out of the tree, binary files, executable bits.
    notes: Option<String>,
    /// Other ready pull requests that change the same files.
    overlaps: Vec<TaskId>,
    /// The user's current branch, which Merge merges into.
    branch: String,
    /// Files a merge would conflict in.
    conflicts: Vec<String>,
}

/// The titles and commands of the actions on a ready pull request. Request changes needs
/// feedback, which only a client that can answer a question gives.
fn pr_entries(o: &PrOutlook, can_ask: bool) -> Vec<(String, ext::Command)> {
    let checks = tasks::check_word(o.check);
    let notes = o.notes.as_ref().map(|n| format!("; {n}")).unwrap_or_default();
    let prefix = format!("Baton PR #{} (+{} -{}, checks {checks}{notes})", o.id, o.stat.insertions, o.stat.deletions);
    let others: Vec<String> = o.overlaps.iter().map(|id| format!("#{id}")).collect();
    let suffix = if others.is_empty() { String::new() } else { format!(" — overlaps PR {}", others.join(", ")) };
    let merge_note = if o.conflicts.is_empty() {
        String::new()
    } else {
        format!(" — would conflict in {}", o.conflicts.join(", "))
    };
    let branch = &o.branch;
    let mut entries = vec![
        (format!("{prefix}: Review{suffix}"), ext::Command::PrReview),
        (format!("{prefix}: Apply to working tree{suffix}"), ext::Command::PrApply),
        (format!("{prefix}: Merge into {branch}{merge_note}{suffix}"), ext::Command::PrMerge),
        (format!("{prefix}: Request changes…{suffix}"), ext::Command::PrRequestChanges),
        (format!("{prefix}: Discard{suffix}"), ext::Command::PrDiscard),
    ];
    entries.retain(|(_, command)| can_ask || *command != ext::Command::PrRequestChanges);
    entries
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

fn kind_matches(only: &CodeActionKind, kind: &CodeActionKind) -> bool {
    let (o, k) = (only.as_str(), kind.as_str());
    k == o || k.starts_with(&format!("{o}."))
}

fn action(
    title: String,
    kind: CodeActionKind,
    command: ext::Command,
    argument: &impl Serialize,
    diagnostic: Option<&Diagnostic>,
) -> CodeAction {
    CodeAction {
        title: title.clone(),
        kind: Some(kind),
        diagnostics: diagnostic.map(|d| vec![d.clone()]),
        command: Some(command.invocation(title, argument)),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;
    use crate::syntax::language_for;
    use baton_test_support::Fixture;

    /// The TODOs found on the lines of the fixture's cursor or selection, in `language`, with a
    /// tree of the text or `without_tree`.
    fn check_todos(language: &str, fixture: &str, expect: Expect) {
        let f = Fixture::parse(fixture);
        let doc = Document::new(&f.text, 1, language);
        let syntax = language_for(language, "").and_then(|l| Syntax::parse(l, &doc.rope));
        let ((l0, c0), (l1, c1)) = f.line_cols();
        let range = Range { start: Position { line: l0, character: c0 }, end: Position { line: l1, character: c1 } };
        let found = todos(&doc, syntax.as_ref(), lines_of(range, &doc));
        let shown: Vec<String> = found.iter().map(|t| format!("{}: {}", t.line, t.text)).collect();
        expect.assert_eq(&shown.join("\n"));
    }

    #[test]
    fn todo_comments_are_found_in_each_comment_style() {
        check_todos("rust", "fn f() {\n    // TODO: handle the$0 empty case\n}\n", expect!["1: handle the empty case"]);
        check_todos("python", "$0# FIXME(ada): retry on timeout\n", expect!["0: retry on timeout"]);
        check_todos("javascript", "/* TODO add tests */$0\n", expect!["0: add tests"]);
        check_todos("go", "func f() {} // TODO$0\n", expect!["0: func f() {} // TODO"]);
        // A block comment that goes on past the line gives the rest of the line.
        check_todos("typescript", "/*\n * TODO: split this$0\n * later\n */\n", expect!["1: split this"]);
    }

    #[test]
    fn todo_outside_a_comment_offers_nothing() {
        check_todos("rust", "let todo = TODOS;$0\n", expect![""]);
        check_todos("rust", "let s = \"TODO\";$0\n", expect![""]);
        check_todos("rust", "let total = price * TODO_COUNT;$0 // sum\n", expect![""]);
        check_todos("python", "total = price * TODO_COUNT  # TODOS and FIXMEs$0\n", expect![""]);
        // A marker in a string comes before the one in the comment: the comment's is taken.
        check_todos("rust", "f(\"TODO\"); // FIXME: quote$0\n", expect!["0: quote"]);
    }

    #[test]
    fn each_line_of_a_selection_offers_its_first_todo() {
        check_todos(
            "rust",
            "$0// TODO: one FIXME: not this\nfn f() {}\n// FIXME two\n$0// TODO: past the selection\n",
            expect![[r#"
                0: one FIXME: not this
                2: two
                3: past the selection"#]],
        );
    }

    /// Without a tree of the text (a language Baton does not parse, a document over the syntax
    /// limits, a parse not finished within the wait) no TODO is offered: the text alone cannot
    /// tell a comment from `price * TODO_COUNT`.
    #[test]
    fn without_a_tree_no_todo_is_offered() {
        check_todos("plaintext", "// TODO: looks like a comment$0\n", expect![""]);
        let over_limit = format!("// TODO: long$0\n// {}\n", "x".repeat(crate::syntax::MAX_LINE_BYTES));
        check_todos("rust", &over_limit, expect![""]);
    }

    #[test]
    fn a_range_past_the_end_has_no_lines() {
        let doc = Document::new("a\nb", 1, "rust");
        let at =
            |line| Range { start: Position { line, character: 0 }, end: Position { line: line + 5, character: 0 } };
        assert_eq!(lines_of(at(0), &doc), 0..2);
        assert_eq!(lines_of(at(1), &doc), 1..2);
        assert!(lines_of(at(2), &doc).is_empty());
    }

    #[test]
    fn pull_request_titles_say_what_the_user_decides_on() {
        let mut outlook = PrOutlook {
            id: 7,
            stat: DiffStat { files_changed: 2, insertions: 12, deletions: 3 },
            check: CheckResult::Fail,
            notes: None,
            overlaps: vec![],
            branch: "main".to_owned(),
            conflicts: vec![],
        };
        let show = |o: &PrOutlook, can_ask| {
            pr_entries(o, can_ask).iter().map(|(t, c)| format!("{c}  {t}")).collect::<Vec<_>>().join("\n")
        };
        expect![[r#"
            baton.pr.review  Baton PR #7 (+12 -3, checks fail): Review
            baton.pr.apply  Baton PR #7 (+12 -3, checks fail): Apply to working tree
            baton.pr.merge  Baton PR #7 (+12 -3, checks fail): Merge into main
            baton.pr.requestChanges  Baton PR #7 (+12 -3, checks fail): Request changes…
            baton.pr.discard  Baton PR #7 (+12 -3, checks fail): Discard"#]]
        .assert_eq(&show(&outlook, true));
        outlook.notes = Some("binary: logo.png".to_owned());
        outlook.overlaps = vec![3, 9];
        outlook.conflicts = vec!["lib.rs".to_owned()];
        outlook.check = CheckResult::None;
        expect![[r#"
            baton.pr.review  Baton PR #7 (+12 -3, checks none; binary: logo.png): Review — overlaps PR #3, #9
            baton.pr.apply  Baton PR #7 (+12 -3, checks none; binary: logo.png): Apply to working tree — overlaps PR #3, #9
            baton.pr.merge  Baton PR #7 (+12 -3, checks none; binary: logo.png): Merge into main — would conflict in lib.rs — overlaps PR #3, #9
            baton.pr.discard  Baton PR #7 (+12 -3, checks none; binary: logo.png): Discard — overlaps PR #3, #9"#]]
        .assert_eq(&show(&outlook, false));
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
