//! `baton/completionPanel`: up to ten suggestions at a position, for a panel the client renders
//! (`:Baton panel`, VS Code's "Baton: Open Completions Panel"). The conductor's path of an
//! invoked inline completion (the usual suggestion, then alternatives at higher temperatures,
//! deduplicated), under a ticket of its own: ghost text requests and the panel never supersede
//! each other, a newer panel request for the same document does. Unlike ghost text, the user
//! asked and waits, so a failing model, a stale document or a replaced request answer an error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tower_lsp_server::gen_lsp_types::ProgressToken;
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Result};
use tower_lsp_server::{NotCancellable, OngoingProgress, Unbounded};

use crate::conductor::engine::MAX_SUGGESTIONS;
use crate::conductor::{CompletionError, CompletionRequest, Outcome};
use crate::lsp::convert;
use crate::lsp::documents::{self, TREE_WAIT};
use crate::lsp::error::{internal, invalid_params, invalid_request};
use crate::lsp::ext::{CompletionPanelParams, CompletionPanelResult, PanelItem};
use crate::lsp::session::State;

use super::suggest::Suggested;

/// Numbers the progress tokens this handler creates (`baton/panel/<n>`).
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// The conductor's ticket key of a document's panel requests, apart from its inline completion
/// requests' (the URI itself) and next edit requests': no URI has a NUL.
fn panel_key(uri: &str) -> String {
    format!("\0panel\0{uri}")
}

/// How many suggestions a request asks for: `count` within 1 to [`MAX_SUGGESTIONS`], which is
/// also the default.
pub(crate) fn wanted(count: Option<u32>) -> usize {
    count.map_or(MAX_SUGGESTIONS, |c| usize::try_from(c).unwrap_or(MAX_SUGGESTIONS).clamp(1, MAX_SUGGESTIONS))
}

fn content_modified(message: impl Into<String>) -> Error {
    Error { code: ErrorCode::ContentModified, message: message.into().into(), data: None }
}

pub(crate) async fn handle(state: &Arc<State>, params: CompletionPanelParams) -> Result<CompletionPanelResult> {
    let uri = params.text_document.uri;
    let settings = state.settings();
    if !settings.completion.enabled {
        return Err(invalid_request("inline completion is off (completion.enabled = false), so is the panel"));
    }
    let path = convert::display_path(&uri);
    // A secret file (`.env`, a key) never reaches a model, not even as the current document.
    if crate::secrets::is_secret_path(&path, &settings.secrets.patterns) {
        return Err(invalid_request(format!(
            "{path} matches the secret file patterns ([secrets] patterns); Baton never sends it to a model"
        )));
    }
    let count = wanted(params.count);
    let ticket = state.conductor.begin(&panel_key(&uri));
    let Some((snapshot, doc)) = documents::snapshot_with_tree(state, &uri, TREE_WAIT).await else {
        return Err(invalid_params(format!("{uri} is not open")));
    };
    if let Some(asked) = params.text_document.version
        && asked != doc.version
    {
        return Err(content_modified(format!(
            "the document is at version {}, not {asked}: ask for the panel again",
            doc.version
        )));
    }
    let encoding = state.encoding();
    let cursor = doc.char_at(convert::pos(params.position), encoding);
    let others = super::suggest::other_documents(state, &snapshot, cursor, &settings);
    let provider = state.provider();
    let request = CompletionRequest {
        ticket: &ticket,
        doc: &snapshot,
        cursor,
        others: &others,
        config: settings.completion_config(),
        provider: &provider,
        debounce: None,
    };

    let progress = begin_progress(state, params.work_done_token, count).await;
    let first = state.conductor.complete(request, || state.busy()).await;
    let texts = match first {
        Ok(Outcome::Suggestion(s)) => {
            if !s.cached {
                state.observe(Ok(()));
            }
            let more = state.conductor.alternatives(request, &s.text, count - 1, || state.busy()).await;
            Ok(Some((s, more)))
        }
        Ok(Outcome::Nothing(why)) => {
            state.observe(Ok(()));
            tracing::debug!(uri, why, "no suggestion for the panel");
            Ok(None)
        }
        Ok(Outcome::Superseded) => Err(Error {
            code: ErrorCode::RequestCancelled,
            message: "a newer panel request for this document replaced this one".into(),
            data: None,
        }),
        Err(CompletionError::Provider(e)) => {
            tracing::warn!(uri, "panel suggestions failed: {e}");
            state.observe(Err(&e));
            Err(internal(format!("the model failed: {e}")))
        }
    };
    if let Some(p) = progress {
        let message = match &texts {
            Ok(Some((_, more))) => format!("{} suggestion(s)", 1 + more.len()),
            Ok(None) => "no suggestion".to_owned(),
            Err(_) => "failed".to_owned(),
        };
        p.finish_with_message(message).await;
    }
    let Some((first, alternatives)) = texts? else {
        return Ok(CompletionPanelResult { version: doc.version, items: Vec::new() });
    };
    // Items computed on an older text would land in the wrong place.
    if state.docs.get(&uri).is_none_or(|d| d.doc.version != doc.version) {
        return Err(content_modified("the document changed while the model worked: ask for the panel again"));
    }
    let version = doc.version;
    let s = Suggested { text: first.text, cursor, replace: first.replace, doc, alternatives };
    let range = super::suggest::replaced_range(&s, encoding);
    let items =
        std::iter::once(s.text).chain(s.alternatives).map(|insert_text| PanelItem { insert_text, range }).collect();
    Ok(CompletionPanelResult { version, items })
}

/// A work done progress while the model works: on the client's token when the request carries
/// one, else on one the server creates when the client supports them.
async fn begin_progress(
    state: &State,
    token: Option<ProgressToken>,
    count: usize,
) -> Option<OngoingProgress<Unbounded, NotCancellable>> {
    let token = match token {
        Some(t) => t,
        None if state.features().work_done_progress => {
            let t = ProgressToken::String(format!("baton/panel/{}", NEXT_TOKEN.fetch_add(1, Ordering::Relaxed)));
            state.client.create_work_done_progress(t.clone()).await.ok()?;
            t
        }
        None => return None,
    };
    let message = format!("asking the model for up to {count} suggestion(s)");
    Some(state.client.progress(token, "Baton").with_message(message).begin().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_one_to_ten_and_ten_by_default() {
        assert_eq!(wanted(None), 10);
        assert_eq!(wanted(Some(0)), 1);
        assert_eq!(wanted(Some(3)), 3);
        assert_eq!(wanted(Some(10)), 10);
        assert_eq!(wanted(Some(u32::MAX)), 10);
    }
}
