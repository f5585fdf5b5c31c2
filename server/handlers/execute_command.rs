//! `workspace/executeCommand`: parse the command name once ([`Command`]) and its argument, then
//! run it: model edits (`baton.edit`, `baton.fix`: `model_edit.rs`), accepted suggestions
//! (`baton.accepted`, logged), and the task and pull request commands (`task_commands.rs`).

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tower_lsp_server::gen_lsp_types::*;
use tower_lsp_server::jsonrpc::Result;

use crate::lsp::convert;
use crate::lsp::error::invalid_params;
use crate::lsp::ext::{self, Command};
use crate::lsp::session::State;

/// Instructions offered when `baton.edit` arrives without one (editors that cannot prompt).
/// The model edit presets: the title a client shows (a `window/showMessageRequest` choice, or a
/// code action of its own for clients that cannot answer one) and the instruction the model gets.
pub(crate) const EDIT_PRESETS: [(&str, &str); 6] = [
    ("Fix bugs", "Fix the bugs in this code; keep its behaviour otherwise"),
    ("Simplify", "Simplify this code without changing what it does"),
    ("Add comments", "Add comments that explain why the code does what it does"),
    ("Add error handling", "Add error handling for the operations that can fail"),
    ("Write a unit test", "Keep this code and add a unit test for it after it, in the language's usual test style"),
    ("Document", "Add documentation comments in the language's convention"),
];

/// The instruction of the preset titled `title`, or `title` itself (a client's own words).
fn preset_instruction(title: &str) -> String {
    EDIT_PRESETS.iter().find(|(t, _)| *t == title).map_or(title, |(_, i)| i).to_owned()
}

/// Parses the command name once and runs it; an unknown name is InvalidParams naming the ones
/// Baton runs.
pub(crate) async fn handle(state: &State, params: ExecuteCommandParams) -> Result<Option<LspAny>> {
    let Some(command) = Command::parse(&params.command) else {
        let known: Vec<&str> = Command::ALL.map(Command::name).to_vec();
        return Err(invalid_params(format!("unknown command {}; Baton runs {}", params.command, known.join(", "))));
    };
    let arguments = params.arguments.as_deref().unwrap_or_default();
    match command {
        Command::Accepted => {
            let args: ext::AcceptedArgs = arg(arguments)?;
            tracing::info!(uri = %args.uri, length = args.length, "suggestion accepted");
            Ok(None)
        }
        Command::NesAccept | Command::NesDismiss => {
            let id: String = arg(arguments)?;
            let source = super::inline_edit::source_of(&id)
                .ok_or_else(|| invalid_params(format!("{command} takes `<source>:<id>`, got {id:?}")))?;
            if command == Command::NesAccept {
                state.conductor.nes.accepted(source);
                tracing::info!(id, "next edit accepted");
            } else {
                tracing::info!(id, "next edit dismissed");
            }
            Ok(None)
        }
        Command::Edit => {
            let args: ext::EditArgs = arg(arguments)?;
            let instruction = match args.instruction.filter(|i| !i.trim().is_empty()) {
                Some(i) => i,
                None => ask(state, "Baton: how should the model edit the selection?", &EDIT_PRESETS.map(|(t, _)| t))
                    .await
                    .map(|title| preset_instruction(&title))
                    .ok_or_else(|| invalid_params("baton.edit needs an instruction (argument `instruction`)"))?,
            };
            let result = super::model_edit::run(state, &args.uri, args.range, instruction).await.map(Some);
            say_errors(state, result).await
        }
        Command::Fix => {
            let args: ext::FixArgs = arg(arguments)?;
            let instruction = fix_instruction(&args.diagnostic);
            let result = super::model_edit::run(state, &args.uri, args.diagnostic.range, instruction).await.map(Some);
            say_errors(state, result).await
        }
        Command::TaskStart
        | Command::TaskList
        | Command::TaskShow
        | Command::TaskApprovePlan
        | Command::TaskResume
        | Command::TaskAnswer
        | Command::PrReview
        | Command::PrApply
        | Command::PrMerge
        | Command::PrRequestChanges
        | Command::PrDiscard => super::task_commands::handle(state, command, arguments).await.map(Some),
    }
}

/// Shows a failed model edit's error (the model is down, the document changed) with
/// `window/showMessage` to clients that cannot prompt (Helix 25.01 only logs a command's error).
async fn say_errors(state: &State, result: Result<Option<LspAny>>) -> Result<Option<LspAny>> {
    if let Err(e) = &result
        && !state.features().message_requests
    {
        state.client.show_message(MessageType::Error, format!("Baton: {}", e.message)).await;
    }
    result
}

/// The instruction for fixing a diagnostic, for a model edit or an agent.
pub(super) fn fix_instruction(d: &Diagnostic) -> String {
    let source = d.source.as_deref().unwrap_or("the compiler");
    format!("Fix this problem reported by {source}: {}", convert::message_text(&d.message))
}

/// The command's first argument as `T`. Errors: missing or malformed argument, unknown fields
/// included (InvalidParams).
pub(super) fn arg<T: DeserializeOwned>(arguments: &[Value]) -> Result<T> {
    let first = arguments.first().cloned().ok_or_else(|| invalid_params("missing command argument"))?;
    serde_json::from_value(first).map_err(|e| invalid_params(format!("bad command argument: {e}")))
}

/// Asks the user to pick one of `presets` with `window/showMessageRequest`; `None` when the
/// client answers nothing (dismissed, or it cannot ask).
pub(super) async fn ask(state: &State, question: &str, presets: &[&str]) -> Option<String> {
    let actions =
        presets.iter().map(|t| MessageActionItem { title: (*t).to_owned(), properties: HashMap::new() }).collect();
    state.client.show_message_request(MessageType::Info, question, Some(actions)).await.ok().flatten().map(|a| a.title)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tower_lsp_server::jsonrpc::ErrorCode;

    use super::*;

    #[test]
    fn a_misspelt_or_missing_argument_is_invalid_params_naming_it() {
        let error = arg::<ext::TaskIdArgs>(&[json!({ "id": 3, "feedbak": "smaller" })]).expect_err("typo");
        assert_eq!(error.code, ErrorCode::InvalidParams);
        assert_eq!(
            error.message,
            "bad command argument: unknown field `feedbak`, expected one of `id`, `feedback`, `answer`"
        );
        let error = arg::<ext::EditArgs>(&[]).expect_err("missing");
        assert_eq!((error.code, error.message.as_ref()), (ErrorCode::InvalidParams, "missing command argument"));
        let args = arg::<ext::TaskIdArgs>(&[json!({ "id": 3, "feedback": "smaller" })]).expect("valid");
        assert_eq!(args.feedback.as_deref(), Some("smaller"));
    }
}
