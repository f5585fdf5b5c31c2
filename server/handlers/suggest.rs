//! The path shared by `textDocument/inlineCompletion` and the `textDocument/completion`
//! fallback: snapshot the document, run the conductor, record the outcome for the status bar.

use std::sync::Arc;
use std::time::Instant;

use crate::conductor::context::{Recent, Source};
use crate::conductor::engine::MAX_SUGGESTIONS;
use crate::conductor::{CompletionRequest, DocSnapshot, Excerpt, Outcome};
use crate::lsp::documents::TreeStamp;
use crate::lsp::session::State;
use crate::lsp::{convert, ext};
use crate::step_marks::{self, Step};
use crate::text::{Document, Pos};

/// A suggestion ready to convert into the client's shape.
pub(crate) struct Suggested {
    pub(crate) text: String,
    /// Cursor as a char index into `doc`.
    pub(crate) cursor: usize,
    /// Chars after the cursor the text replaces (a tail of closing brackets and quotes).
    pub(crate) replace: usize,
    /// The document the suggestion was computed on.
    pub(crate) doc: Document,
    /// Other suggestions at the same cursor, replacing the same `replace` chars, when asked for
    /// ([`Several::Alternatives`]); never equal to `text` or to each other.
    pub(crate) alternatives: Vec<String>,
}

/// How many suggestions a request wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Several {
    /// The usual one.
    One,
    /// When the request was invoked (the user asked), up to `completion.suggestions`.
    Alternatives,
}

/// Computes a suggestion at `position` in `uri`, and with [`Several::Alternatives`] on an
/// `invoked` request up to `completion.suggestions - 1` alternatives
/// ([`crate::conductor::Conductor::alternatives`]; automatic requests make one model call at
/// most). `None` when there is nothing to suggest, the request was superseded, or the model
/// failed (the status reports why).
pub(crate) async fn suggest(
    state: &Arc<State>,
    uri: &str,
    position: Pos,
    invoked: bool,
    several: Several,
) -> Option<Suggested> {
    let started = Instant::now();
    let settings = state.settings();
    if !settings.completion.enabled {
        return None;
    }
    // A secret file (`.env`, a key) never reaches a model, not even as the current document.
    // An open document keeps its path: decoding the URI again cost ~15 µs a request.
    let path = state.docs.get(uri).map_or_else(|| convert::display_path(uri), |entry| entry.path.clone());
    if crate::secrets::is_secret_path(&path, &settings.secrets.patterns) {
        tracing::debug!(uri, "no suggestion in a secret file");
        return None;
    }
    let ticket = state.conductor.begin(uri);
    let Some((snapshot, doc)) =
        crate::lsp::documents::snapshot_following(state, uri, crate::lsp::documents::TREE_WAIT).await
    else {
        tracing::debug!(uri, "completion for a document that is not open");
        return None;
    };
    step_marks::mark(Step::Snapshot);
    // Read with the snapshot (no await between): whether the document's tree moved on since.
    let stamp = state.docs.get(uri).map(|entry| entry.tree_stamp());
    let encoding = state.encoding();
    let cursor = doc.char_at(position, encoding);
    let others = other_documents(state, &snapshot, cursor, &settings);
    let provider = state.provider();
    let config = settings.completion_config();
    let debounce = (!invoked).then(|| state.conductor.debounce(uri, &config));
    let request = CompletionRequest {
        ticket: &ticket,
        doc: &snapshot,
        cursor,
        others: &others,
        config,
        provider: &provider,
        debounce,
    };
    let result = state.conductor.complete(request, || state.busy()).await;
    let elapsed_us = started.elapsed().as_micros();
    let suggested = match result {
        Ok(Outcome::Suggestion(s)) => {
            if !s.cached {
                state.observe(Ok(()));
            }
            tracing::debug!(uri, elapsed_us, cached = s.cached, len = s.text.len(), "suggestion");
            let more = config.suggestions.clamp(1, MAX_SUGGESTIONS) - 1;
            let alternatives = if invoked && several == Several::Alternatives && more > 0 {
                let found = state.conductor.alternatives(request, &s.text, more, || state.busy()).await;
                tracing::debug!(uri, asked = more, found = found.len(), "alternatives");
                found
            } else {
                Vec::new()
            };
            Some(Suggested { text: s.text, cursor, replace: s.replace, doc, alternatives })
        }
        Ok(Outcome::Superseded) => {
            tracing::trace!(uri, elapsed_us, "superseded");
            None
        }
        Ok(Outcome::Nothing(why)) => {
            state.observe(Ok(()));
            tracing::debug!(uri, elapsed_us, why, "no suggestion");
            None
        }
        Err(crate::conductor::CompletionError::Provider(e)) => {
            tracing::warn!(uri, elapsed_us, "completion failed: {e}");
            state.observe(Err(&e));
            None
        }
    };
    release(state, uri, snapshot, stamp);
    suggested
}

/// Lets go of a request's snapshot. When the document's tree moved on while the request ran (a
/// reparse replaced it while the model worked, or a change edited a copy of its root), the
/// snapshot may hold the last reference to the old root, whose free walks its children (a
/// thousand in a 10,000-line module, ~0.2 ms): that happens on the blocking pool, not before
/// the answer is written.
fn release(state: &State, uri: &str, snapshot: DocSnapshot, stamp: Option<TreeStamp>) {
    if snapshot.syntax.is_some() && state.docs.get(uri).map(|entry| entry.tree_stamp()) != stamp {
        crate::lsp::documents::free_later(snapshot);
    }
}

/// Cross-file context for a suggestion at `cursor` in `doc` ([`crate::conductor::context`]):
/// snippets and definitions from the other open documents of its language (the most recently
/// edited, [`Recent`]) and the recently edited closed ones, within
/// `completion.cross_file_tokens`; none on a line not yet begun
/// ([`crate::conductor::context::offered_at`]). Never from a file matching the
/// secret patterns, nor their lines that assign a literal to a secret-sounding name.
pub(super) fn other_documents(
    state: &State,
    doc: &DocSnapshot,
    cursor: usize,
    settings: &crate::config::Settings,
) -> Vec<Excerpt> {
    let c = &settings.completion;
    if !c.other_documents || c.cross_file_tokens == 0 || !crate::conductor::context::offered_at(&doc.rope, cursor) {
        return Vec::new();
    }
    let patterns = &settings.secrets.patterns;
    let context = &state.conductor.context;
    // Only the most recently edited few are read: pick them before copying out of any. (The
    // context's lock is taken inside the documents map's, the order `didChange` takes them in.)
    let mut recent = Recent::default();
    for entry in state.docs.iter() {
        if entry.key() == &doc.key || entry.doc.language_id != doc.language_id {
            continue;
        }
        // The path is matched against the secret patterns only when the document would be kept.
        let edited = context.edited_at(entry.key());
        if recent.takes(edited) && !crate::secrets::is_secret_path(&entry.path, patterns) {
            recent.offer(edited, entry.key());
        }
    }
    let mut sources = Vec::new();
    for key in recent.keys() {
        // Closed (or reopened as another language) since: left out.
        let Some(entry) = state.docs.get(&key).filter(|e| e.doc.language_id == doc.language_id) else {
            continue;
        };
        sources.push(Source {
            path: entry.path.clone(),
            version: entry.doc.version,
            language_id: entry.doc.language_id.clone(),
            rope: entry.doc.rope.clone(),
            syntax: entry.syntax(),
            key,
        });
    }
    for s in state.conductor.context.recent_closed(&doc.language_id) {
        if s.key != doc.key && !crate::secrets::is_secret_path(&s.path, patterns) && !state.docs.contains_key(&s.key) {
            sources.push(s);
        }
    }
    let budget = c.cross_file_tokens as usize * crate::conductor::fim::BYTES_PER_TOKEN;
    state.conductor.context.gather(doc, cursor, sources, budget).excerpts
}

/// The client range the suggestion replaces, in the document's encoding: from the cursor over the
/// closing tail it replaces (LSP 3.18 lets an inline completion's range cover text after the
/// cursor on its line), else empty at the cursor.
pub(crate) fn replaced_range(s: &Suggested, encoding: crate::text::Encoding) -> tower_lsp_server::gen_lsp_types::Range {
    let end = (s.cursor + s.replace).min(s.doc.rope.len_chars());
    convert::range(&s.doc, s.cursor..end, encoding)
}

/// The command the client runs when the user accepts `text` as a suggestion in `uri`.
pub(super) fn accepted_command(uri: &str, text: &str) -> tower_lsp_server::gen_lsp_types::Command {
    let length = u32::try_from(crate::text::Encoding::Utf16.len_of(text)).unwrap_or(u32::MAX);
    ext::Command::Accepted
        .invocation("Baton: suggestion accepted".to_owned(), &ext::AcceptedArgs { uri: uri.to_owned(), length })
}
