//! `textDocument/copilotInlineEdit` (next edit suggestions, as Copilot's clients send it:
//! tests/nes/PROTOCOL.md) and its `textDocument/didShowInlineEdit`: parse, snapshot, call the
//! conductor (structural predictions off the transport, then the model's), convert. Nothing to
//! offer, NES off, a stale version or a failing model: `{"edits": []}`, never an error
//! (copilot-lsp shows every error).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tower_lsp_server::jsonrpc::Result;

use crate::conductor::DocSnapshot;
use crate::conductor::nes::{self, History, HistoryEdit, ModelRequest, Prediction, Source};
use crate::lsp::convert;
use crate::lsp::documents::{self, TREE_WAIT};
use crate::lsp::ext::{self, InlineEdit, InlineEditParams, InlineEditResult, VersionedDocument};
use crate::lsp::session::State;
use crate::text::Document;

pub(crate) async fn handle(state: &Arc<State>, params: InlineEditParams) -> Result<InlineEditResult> {
    let settings = state.settings();
    let config = settings.nes_config();
    if !config.enabled {
        return Ok(InlineEditResult::default());
    }
    let uri = params.text_document.uri;
    let version = params.text_document.version;
    state.conductor.nes.counters.requests.fetch_add(1, Ordering::Relaxed);
    let ticket = state.conductor.begin_nes(&uri);
    let Some((snapshot, doc)) = documents::snapshot_with_tree(state, &uri, TREE_WAIT).await else {
        tracing::debug!(uri, "next edit request for a document that is not open");
        return Ok(InlineEditResult::default());
    };
    if doc.version != version {
        tracing::debug!(uri, asked = version, current = doc.version, "stale next edit request");
        return Ok(InlineEditResult::default());
    }
    let encoding = state.encoding();
    let cursor = doc.char_at(convert::pos(params.position), encoding);
    let Some(history) = history_at(state, &uri, version) else { return Ok(InlineEditResult::default()) };
    let last = history.last().cloned();
    let structural = match &last {
        Some(last) if config.structural_predictions => structural(&snapshot, last, cursor).await,
        _ => Vec::new(),
    };
    // A secret file (`.env`, a key) never reaches a model.
    let secret = crate::secrets::is_secret_path(&convert::display_path(&uri), &settings.secrets.patterns);
    // The model is asked only when the structure predicts nothing: a structural prediction is
    // instant and usually right, and a local model takes seconds to rewrite a window.
    let mut model = Vec::new();
    if config.model_predictions && !secret && last.is_some() && structural.is_empty() {
        let provider = state.provider();
        let request =
            ModelRequest { ticket: &ticket, doc: &snapshot, history: &history, cursor, config, provider: &provider };
        match state.conductor.predict_model(request, || state.busy()).await {
            Ok(Some(p)) => {
                state.observe(Ok(()));
                model = p;
            }
            Ok(None) => return Ok(InlineEditResult::default()),
            Err(e) => {
                tracing::warn!(uri, "next edit prediction failed: {e}");
                state.observe(Err(&e));
            }
        }
    }
    let predictions = nes::merge(structural, model, last.map(|l| l.new_range()));
    // The document may have moved on while the model answered: its edits would land wrong.
    if state.docs.get(&uri).is_none_or(|d| d.doc.version != version) {
        return Ok(InlineEditResult::default());
    }
    let edits = predictions.iter().map(|p| to_wire(state, &uri, &doc, p)).collect();
    Ok(InlineEditResult { edits })
}

/// The edit history of `uri` while its text is still at `version` (read under the document's
/// lock, which `didChange` holds while it records and applies a change, so the two agree).
pub(crate) fn history_at(state: &State, uri: &str, version: i32) -> Option<History> {
    let open = state.docs.get(uri)?;
    (open.doc.version == version).then(|| state.conductor.nes.history(uri))
}

/// The structural predictions on `snapshot` after its newest edit `last`, computed on the
/// blocking pool (they may parse the text before the edit).
pub(crate) async fn structural(snapshot: &DocSnapshot, last: &HistoryEdit, cursor: usize) -> Vec<Prediction> {
    let (snap, last) = (snapshot.clone(), last.clone());
    tokio::task::spawn_blocking(move || nes::structural_predictions(&snap, &last, cursor)).await.unwrap_or_default()
}

/// The accept command of a prediction, with a fresh `<source>:<id>`.
pub(crate) fn accept_command(state: &State, p: &Prediction) -> tower_lsp_server::gen_lsp_types::Command {
    let id = format!("{}:{}", p.source.as_str(), state.conductor.nes.next_id());
    ext::Command::NesAccept.invocation("Accept next edit".to_owned(), &id)
}

fn to_wire(state: &State, uri: &str, doc: &Document, p: &Prediction) -> InlineEdit {
    InlineEdit {
        text: p.text.clone(),
        range: convert::range(doc, p.range.clone(), state.encoding()),
        text_document: VersionedDocument { uri: uri.to_owned(), version: doc.version },
        command: accept_command(state, p),
    }
}

/// `textDocument/didShowInlineEdit`: counted and logged, with the suggestion's id when the item
/// carries its command (`{"item": {"command": {"arguments": ["structural:3"]}}}`).
pub(crate) fn shown(state: &State, params: ext::DidShowInlineEditParams) {
    state.conductor.nes.counters.shown.fetch_add(1, Ordering::Relaxed);
    let id = params.item.pointer("/command/arguments/0").and_then(|v| v.as_str()).unwrap_or("");
    tracing::debug!(id, "next edit shown");
}

/// The source of a suggestion id (`structural:3`), if it names one.
pub(crate) fn source_of(id: &str) -> Option<Source> {
    Source::parse(id.split_once(':')?.0)
}
