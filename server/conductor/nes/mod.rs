//! Next edit suggestions (NES): after the user changes a document, the edit they will make next,
//! anywhere in it. Owns the per-document edit history, the structural predictor (no model), the
//! model predictors (lines rewritten by analogy with the user's edit, or a window rewritten), and
//! how they are merged. Plain data: char indices
//! into ropes, no LSP.

pub(crate) mod analogy;
pub(crate) mod history;
pub(crate) mod model;
pub(crate) mod structural;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dashmap::DashMap;
use parking_lot::Mutex;
use ropey::Rope;

pub(crate) use history::{History, HistoryEdit, Touched};

use super::{Conductor, DocSnapshot};
use crate::providers::{Provider, ProviderError};
use crate::syntax::{self, Syntax};

/// Predictions kept in one answer.
pub(crate) const MAX_PREDICTIONS: usize = 16;

/// Where a prediction came from; its wire name prefixes the accept command's argument
/// (`structural:7`), as tests/nes/PROTOCOL.md proposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    Structural,
    Model,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Structural => "structural",
            Self::Model => "model",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "structural" => Some(Self::Structural),
            "model" => Some(Self::Model),
            _ => None,
        }
    }
}

/// One predicted edit: replace the chars `range` of the current text with `text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prediction {
    pub(crate) range: Range<usize>,
    pub(crate) text: String,
    pub(crate) source: Source,
}

/// What NES reads from the settings (`nes.*`; `config.rs` translates them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct NesConfig {
    /// Answer `textDocument/copilotInlineEdit` at all.
    pub(crate) enabled: bool,
    /// Ask the model too (structural predictions need none).
    pub(crate) model_predictions: bool,
    /// Offer the structural predictions.
    pub(crate) structural_predictions: bool,
    /// Lines of the window the model rewrites (centred on the cursor).
    pub(crate) window_lines: u32,
    /// Upper bound on the model's answer, in tokens.
    pub(crate) max_tokens: u32,
    /// Wait after the last change before asking the model, in milliseconds (a newer request
    /// supersedes a waiting one).
    pub(crate) debounce_ms: u64,
    /// How the model is asked.
    pub(crate) model_prompt: ModelPrompt,
}

/// How the model predicts (`nes.model_prompt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ModelPrompt {
    /// `analogy` where the provider takes raw completion prompts and the model is a Qwen (small
    /// local code models), `window` otherwise.
    #[default]
    Auto,
    /// Lines like the user's edited one, each rewritten as the user rewrote theirs
    /// ([`analogy`]); a raw completion prompt (not for Anthropic, which then gets `window`).
    Analogy,
    /// The window of lines around the cursor rewritten ([`model`]).
    Window,
}

impl Default for NesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            model_predictions: true,
            structural_predictions: true,
            window_lines: 21,
            max_tokens: 512,
            debounce_ms: 50,
            model_prompt: ModelPrompt::Auto,
        }
    }
}

/// NES state shared by every request: each open document's edit history, the suggestions
/// handed out (by id, for the shown and accepted signals) and counters.
#[derive(Debug, Default)]
pub(crate) struct Nes {
    histories: DashMap<String, History>,
    next_id: AtomicU64,
    /// The model's recent answers by a hash of their prompt, newest last.
    cache: Mutex<std::collections::VecDeque<(u64, String)>>,
    pub(crate) counters: NesCounters,
}

/// Model answers kept for reuse (asking again after a shown suggestion costs no model call).
const CACHE_SIZE: usize = 32;

/// Counters for logs and the benchmark.
#[derive(Debug, Default)]
pub(crate) struct NesCounters {
    pub(crate) requests: AtomicU64,
    pub(crate) shown: AtomicU64,
    pub(crate) accepted_structural: AtomicU64,
    pub(crate) accepted_model: AtomicU64,
}

impl Nes {
    /// Records one `didChange` notification of `doc` as one edit: `before` and `after` the text
    /// before and after its changes, `touched` what they touched (`None`: one of them replaced
    /// the whole text, which clears the history).
    pub(crate) fn record(&self, doc: &str, before: &Rope, after: &Rope, touched: Option<&Touched>, version: i32) {
        let mut h = self.histories.entry(doc.to_owned()).or_default();
        match touched {
            Some(t) => h.record_action(before, after, t, version, Instant::now()),
            None => h.clear(),
        }
    }

    /// A copy of `doc`'s history.
    pub(crate) fn history(&self, doc: &str) -> History {
        self.histories.get(doc).map(|h| h.clone()).unwrap_or_default()
    }

    /// Forgets a closed document.
    pub(crate) fn forget(&self, doc: &str) {
        self.histories.remove(doc);
    }

    /// A fresh id for a suggestion.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts an accepted suggestion of `source`.
    pub(crate) fn accepted(&self, source: Source) {
        let c = match source {
            Source::Structural => &self.counters.accepted_structural,
            Source::Model => &self.counters.accepted_model,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// The structural predictions after `last` on `doc` (no model): on the snapshot's tree, or on a
/// parse of its text when it has none yet (within the parse budget). Blocking work: call it off
/// the transport.
pub(crate) fn structural_predictions(doc: &DocSnapshot, last: &HistoryEdit, cursor: usize) -> Vec<Prediction> {
    let parsed;
    let syntax = match &doc.syntax {
        Some(s) => s,
        None => {
            let Some(language) = syntax::language_for(&doc.language_id, &doc.path) else { return Vec::new() };
            let Some(s) = Syntax::parse(language, &doc.rope) else { return Vec::new() };
            parsed = s;
            &parsed
        }
    };
    structural::predict(syntax.language, &doc.rope, &syntax.tree, last, cursor)
}

/// One model prediction request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModelRequest<'a> {
    pub(crate) ticket: &'a super::engine::Ticket,
    pub(crate) doc: &'a DocSnapshot,
    pub(crate) history: &'a History,
    /// The cursor, a char index into `doc.rope`.
    pub(crate) cursor: usize,
    pub(crate) config: NesConfig,
    pub(crate) provider: &'a Provider,
}

impl Conductor {
    /// The model's predictions for `request`, as `nes.model_prompt` picks: lines rewritten by
    /// analogy with the user's edit, or its window rewritten, diffed. `Ok(None)` when a
    /// newer next edit request for the document superseded this one (during the debounce or the
    /// model call, which is then dropped); answers are cached by prompt. `on_model_call` runs
    /// when (and only when) the model is asked; what it returns lives until the answer is in.
    ///
    /// Errors: [`ProviderError`] when the model request fails.
    pub(crate) async fn predict_model<G>(
        &self,
        request: ModelRequest<'_>,
        on_model_call: impl FnOnce() -> G,
    ) -> Result<Option<Vec<Prediction>>, ProviderError> {
        let family = model::Family::of(request.provider.config().kind, &request.provider.config().model);
        let analogy = match request.config.model_prompt {
            ModelPrompt::Window => false,
            ModelPrompt::Analogy => request.provider.config().kind != crate::providers::ProviderKind::Anthropic,
            ModelPrompt::Auto => family == model::Family::Qwen,
        };
        if analogy {
            return self.predict_by_analogy(request, family, on_model_call).await;
        }
        let ModelRequest { ticket, doc, history, cursor, config, provider } = request;
        let window = model::window(&doc.rope, cursor, config.window_lines);
        let language = syntax::language_for(&doc.language_id, &doc.path)
            .map_or(doc.language_id.as_str(), |l| l.info.name.as_str());
        let edits: Vec<HistoryEdit> = history.edits().cloned().collect();
        let generate = model::prompt(family, &doc.path, language, &doc.rope, &edits, &window, &config);
        let key = prompt_key(&generate);
        let raw = match self.nes.cached(key) {
            Some(raw) => raw,
            None => {
                let debounce = std::time::Duration::from_millis(config.debounce_ms);
                let asked = self.run_current(ticket, debounce, async {
                    let _in_flight = on_model_call();
                    model::ask(provider, generate, &window).await
                });
                let Some(raw) = asked.await else { return Ok(None) };
                let raw = raw?;
                self.nes.remember(key, &raw);
                raw
            }
        };
        let Some(new) = model::rewritten(family, &raw, &window) else { return Ok(Some(Vec::new())) };
        Ok(Some(model::predictions(&window, &new)))
    }

    /// [`Conductor::predict_model`] by analogy ([`analogy`]): the user's newest edit as a line
    /// edit, its candidate lines within half the window of it, one model call per candidate
    /// not cached yet (all of them under one debounce and supersede), the answers that change
    /// their line like the user's edit, nearest candidate first.
    async fn predict_by_analogy<G>(
        &self,
        request: ModelRequest<'_>,
        family: model::Family,
        on_model_call: impl FnOnce() -> G,
    ) -> Result<Option<Vec<Prediction>>, ProviderError> {
        let ModelRequest { ticket, doc, history, config, provider, .. } = request;
        let Some(edit) = history.last().and_then(|last| analogy::line_edit(&doc.rope, last)) else {
            return Ok(Some(Vec::new()));
        };
        let radius = (config.window_lines as usize).div_ceil(2);
        let mut asks = Vec::new();
        for line in analogy::candidates(&doc.rope, &edit, radius) {
            let Some(text) = analogy::line_text(&doc.rope, line) else { continue };
            let generate = analogy::prompt(family, &doc.path, &edit, &text, config.max_tokens);
            let key = prompt_key(&generate);
            let cached = self.nes.cached(key);
            asks.push((line, text, generate, key, cached));
        }
        if asks.iter().any(|a| a.4.is_none()) {
            let debounce = std::time::Duration::from_millis(config.debounce_ms);
            let asked = self.run_current(ticket, debounce, async {
                let _in_flight = on_model_call();
                for ask in asks.iter_mut().filter(|a| a.4.is_none()) {
                    let raw = analogy::ask(provider, ask.2.clone()).await?;
                    self.nes.remember(ask.3, &raw);
                    ask.4 = Some(raw);
                }
                Ok::<_, ProviderError>(())
            });
            let Some(done) = asked.await else { return Ok(None) };
            done?;
        }
        let predictions = asks
            .iter()
            .flat_map(|(line, text, _, _, raw)| {
                raw.as_deref().map(|raw| analogy::predictions(&doc.rope, *line, text, raw, &edit)).unwrap_or_default()
            })
            .collect();
        Ok(Some(predictions))
    }
}

/// The cache key of a model request: a hash of its prompt.
fn prompt_key(request: &crate::providers::GenerateRequest) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{:?}", request.prompt).hash(&mut h);
    h.finish()
}

impl Nes {
    /// The model's cached answer to the prompt hashed to `key`.
    fn cached(&self, key: u64) -> Option<String> {
        self.cache.lock().iter().rev().find(|(k, _)| *k == key).map(|(_, raw)| raw.clone())
    }

    /// Caches the model's answer `raw` to the prompt hashed to `key` (the oldest of
    /// [`CACHE_SIZE`] goes).
    fn remember(&self, key: u64, raw: &str) {
        let mut cache = self.cache.lock();
        cache.push_back((key, raw.to_owned()));
        while cache.len() > CACHE_SIZE {
            cache.pop_front();
        }
    }
}

/// Structural predictions first (the handler asks the model only when there are none), then the model's that overlap none of them (nor touch the
/// user's own newest edit, `protect`), at most [`MAX_PREDICTIONS`]: each valid alone, none
/// overlapping (sidekick.nvim applies all of them at once).
pub(crate) fn merge(
    structural: Vec<Prediction>,
    model: Vec<Prediction>,
    protect: Option<Range<usize>>,
) -> Vec<Prediction> {
    let mut out: Vec<Prediction> = Vec::new();
    let overlaps = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end || a == b;
    for p in structural.into_iter().chain(model) {
        let clash = out.iter().any(|q| overlaps(&q.range, &p.range))
            || (p.source == Source::Model && protect.as_ref().is_some_and(|r| overlaps(r, &p.range)));
        if !clash && out.len() < MAX_PREDICTIONS {
            out.push(p);
        }
    }
    out
}
