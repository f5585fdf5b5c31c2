//! The inline completion engine: cache, debounce, supersession, the model call, post-processing
//! and the parse-quality check, in that order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use futures::StreamExt;
use parking_lot::{Mutex, MutexGuard};
use tokio::sync::{Notify, watch};

use crate::providers::{GenerateRequest, Provider, ProviderError};
use crate::step_marks::{self, Step};
use crate::syntax;
use crate::text::position::line_len_chars;

use super::cache::Cache;
use super::debounce::Typing;
use super::fim;
use super::in_flight::{self, Call, Finished, InFlight, Joinable, Progress};
use super::postprocess::{self, Surroundings};
use super::{CompletionConfig, DocSnapshot, Excerpt};

/// A suggestion to insert at the cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suggestion {
    /// Text to insert at the cursor, replacing the next `replace` chars.
    pub(crate) text: String,
    /// Chars after the cursor the text replaces: the closing brackets and quotes that are all
    /// the rest of the cursor's line holds (`postprocess::closing_tail`), else 0.
    pub(crate) replace: usize,
    /// True when it came from the cache (no model call).
    pub(crate) cached: bool,
}

/// How a completion request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Suggestion(Suggestion),
    /// A newer request for the same document replaced this one.
    Superseded,
    /// Nothing to suggest, and why (for logs).
    Nothing(&'static str),
}

/// Why a completion failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CompletionError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

/// One inline completion request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CompletionRequest<'a> {
    /// From [`Conductor::begin`] for this document.
    pub(crate) ticket: &'a Ticket,
    pub(crate) doc: &'a DocSnapshot,
    /// The cursor, a char index into `doc.rope` (clamped to its length).
    pub(crate) cursor: usize,
    /// Other open documents offered as context.
    pub(crate) others: &'a [Excerpt],
    pub(crate) config: CompletionConfig,
    /// Shared: the model call may outlive the request ([`in_flight`]).
    pub(crate) provider: &'a Arc<Provider>,
    /// How long to wait first ([`Conductor::debounce`]); `None` for explicitly invoked requests.
    pub(crate) debounce: Option<Duration>,
}

/// A request's place in its document's sequence of completion requests.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    doc: String,
    generation: u64,
    notify: Arc<Notify>,
}

/// Counters for status and benchmarks.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) model_calls: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
    pub(crate) superseded: AtomicU64,
    pub(crate) discarded_parse: AtomicU64,
}

/// Conductor-mode state shared by all requests: the cache, keystroke timing and the latest
/// request per document.
#[derive(Debug, Default)]
pub struct Conductor {
    cache: Mutex<Cache>,
    typing: DashMap<String, Typing>,
    latest: DashMap<String, (u64, Arc<Notify>)>,
    next: AtomicU64,
    /// Exponentially weighted mean time of the model calls answered so far, in milliseconds
    /// (`f64` bits; 0: none yet), for the debounce.
    model_ms: AtomicU64,
    /// Exponentially weighted share of the keys typed over a suggestion (shown or in flight)
    /// that typed its start, rather than leaving it (`f64` bits; 0 before any), for the
    /// debounce: a key that types the answer of a call in flight wastes no call.
    agreement: AtomicU64,
    pub(crate) counters: Counters,
    /// The model call in flight per document, shared by the requests its answer can serve.
    in_flight: InFlight,
    /// Next edit suggestions: edit histories and counters.
    pub(crate) nes: super::nes::Nes,
    /// Indexes of other documents for cross-file context.
    pub(crate) context: super::context::ContextCache,
    /// The last parse check's region and the document it was in: the next check in that
    /// document starts its region's parse from it (`syntax::InsertionCheck::new`).
    last_region: Mutex<Option<(String, syntax::RegionParse)>>,
}

/// The key of a document's next edit requests among the completion requests' (no URI has a NUL).
fn nes_key(doc: &str) -> String {
    format!("\0nes\0{doc}")
}

/// Longest suggestion kept, in lines, whatever the model sends.
const MAX_LINES: usize = 16;

impl Conductor {
    /// Records a change to `doc` (called from `didChange`, before any await).
    pub(crate) fn note_change(&self, doc: &str) {
        self.typing.entry(doc.to_owned()).or_default().record(Instant::now());
        self.context.touch(doc);
    }

    /// Forgets a closed document.
    pub(crate) fn forget(&self, doc: &str) {
        self.typing.remove(doc);
        self.in_flight.cancel_document(doc);
        let mut last_region = self.last_region.lock();
        if last_region.as_ref().is_some_and(|(key, _)| key == doc) {
            *last_region = None;
        }
        drop(last_region);
        self.nes.forget(doc);
        self.context.forget(doc);
        if let Some((_, (_, notify))) = self.latest.remove(&nes_key(doc)) {
            notify.notify_waiters();
        }
        if let Some((_, (_, notify))) = self.latest.remove(doc) {
            notify.notify_waiters();
        }
    }

    /// Starts a request for `doc`, superseding (and waking) any earlier one.
    pub(crate) fn begin(&self, doc: &str) -> Ticket {
        let generation = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let notify = Arc::new(Notify::new());
        let previous = self.latest.insert(doc.to_owned(), (generation, notify.clone()));
        if let Some((_, old)) = previous {
            old.notify_waiters();
        }
        Ticket { doc: doc.to_owned(), generation, notify }
    }

    /// Starts a next edit request for `doc`, superseding an earlier one (not an inline completion
    /// request: the two run side by side).
    pub(crate) fn begin_nes(&self, doc: &str) -> Ticket {
        self.begin(&nes_key(doc))
    }

    /// True while no newer request for the ticket's document has begun.
    pub(crate) fn is_current(&self, ticket: &Ticket) -> bool {
        self.latest.get(&ticket.doc).is_some_and(|e| e.0 == ticket.generation)
    }

    /// Waits `d`, or less if the request is superseded first. Returns false when superseded.
    async fn wait(&self, ticket: &Ticket, d: Duration) -> bool {
        let notified = ticket.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.is_current(ticket) {
            return false;
        }
        // tokio's timer rounds a deadline up to its next 1 ms tick: a zero wait through it would
        // cost ~0.5-1 ms on every request that has no debounce.
        if d.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => self.is_current(ticket),
            _ = notified => false,
        }
    }

    /// Waits `debounce`, then runs `work` until it finishes or a newer request for the ticket's
    /// key begins (then `None`, and `work` is dropped: a model stream closes its connection).
    pub(crate) async fn run_current<F: std::future::Future>(
        &self,
        ticket: &Ticket,
        debounce: Duration,
        work: F,
    ) -> Option<F::Output> {
        if !self.wait(ticket, debounce).await {
            return None;
        }
        let notified = ticket.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.is_current(ticket) {
            return None;
        }
        tokio::select! {
            out = work => Some(out),
            _ = notified => None,
        }
    }

    /// The debounce for `doc` now: from its keystroke gaps and the time model calls take
    /// ([`Typing::debounce`]).
    pub(crate) fn debounce(&self, doc: &str, config: &CompletionConfig) -> Duration {
        let model_ms = match f64::from_bits(self.model_ms.load(Ordering::Relaxed)) {
            ms if ms > 0.0 => ms,
            _ => super::debounce::DEFAULT_MODEL_MS,
        };
        let agreement = f64::from_bits(self.agreement.load(Ordering::Relaxed));
        self.typing
            .get(doc)
            .map(|t| t.debounce(config, model_ms, agreement))
            .unwrap_or(Duration::from_millis(config.debounce_ms))
    }

    /// Folds whether keys typed over a suggestion typed its start (`agreed`) into the share the
    /// debounce reads.
    fn observe_agreement(&self, agreed: bool) {
        // A lost race between two requests loses one sample: harmless for a mean.
        let old = f64::from_bits(self.agreement.load(Ordering::Relaxed));
        let new = 0.8 * old + 0.2 * if agreed { 1.0 } else { 0.0 };
        self.agreement.store(new.to_bits(), Ordering::Relaxed);
    }

    /// Folds the time of an answered model call into the mean the debounce reads.
    fn observe_model_time(&self, elapsed: Duration) {
        let ms = elapsed.as_secs_f64() * 1000.0;
        // A lost race between two answers loses one sample: harmless for a mean.
        let old = f64::from_bits(self.model_ms.load(Ordering::Relaxed));
        let new = if old > 0.0 { 0.8 * old + 0.2 * ms } else { ms };
        self.model_ms.store(new.to_bits(), Ordering::Relaxed);
    }

    /// Computes a suggestion for `request`. `on_model_call` runs when (and only when) the model
    /// is asked or a call in flight is waited for; what it returns lives until the answer is in.
    ///
    /// A model call outlives its request ([`in_flight`]): when the document's call in flight may
    /// still serve the cursor (the text typed since it started agrees with its answer so far),
    /// the request waits for it, with no debounce and no new call, and is answered the rest of
    /// the answer past the typed text. Otherwise that call is cancelled, and after the debounce
    /// the request starts its own.
    ///
    /// The request ends early, answered [`Outcome::Superseded`], as soon as a newer one for the
    /// same document begins (the call goes on for the newer one to use).
    ///
    /// Errors: [`CompletionError::Provider`] when the model request fails (reported to the
    /// first request that waits for the failed call's end).
    pub(crate) async fn complete<G>(
        &self,
        request: CompletionRequest<'_>,
        on_model_call: impl FnOnce() -> G,
    ) -> Result<Outcome, CompletionError> {
        let CompletionRequest { ticket, doc, cursor, debounce, .. } = request;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let arrived = Instant::now();
        let cursor = cursor.min(doc.rope.len_chars());
        let replace = tail_at(doc, cursor).map_or(0, |t| t.chars().count());
        // The cache holds merged text, and only answers while the text after the cursor (so
        // the tail) is unchanged.
        let cached = self.lock_cache().lookup(&doc.key, &doc.rope, cursor);
        if let Some(agreed) = cached.typed {
            self.observe_agreement(agreed);
        }
        if let Some(text) = cached.rest {
            self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::Suggestion(Suggestion { text, replace, cached: true }));
        }
        // Keyed by the ticket's key: a panel's calls and ghost text's do not cancel each other.
        let mut joined = match self.in_flight.joinable(&ticket.doc, &doc.rope, cursor) {
            Joinable::Join(call, typed) => Some((call, typed)),
            Joinable::Left => {
                self.observe_agreement(false);
                None
            }
            Joinable::None => None,
        };
        let mut on_model_call = Some(on_model_call);
        let mut _busy = None;
        // At most twice: a joined call that cannot serve the cursor after all, then our own.
        for _ in 0..2 {
            let (call, typed) = match joined.take() {
                Some(joined) => joined,
                None => {
                    // The debounce runs from the keystroke: after a joined call that could not
                    // serve the cursor, usually none of it is left.
                    let rest = debounce.map_or(Duration::ZERO, |d| d.saturating_sub(arrived.elapsed()));
                    if !self.wait(ticket, rest).await {
                        self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                        return Ok(Outcome::Superseded);
                    }
                    (self.start_call(&request, &ticket.doc), String::new())
                }
            };
            if let Some(f) = on_model_call.take() {
                _busy = Some(f());
            }
            let text = match self.await_call(ticket, &call, &typed).await? {
                Awaited::Superseded => {
                    self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                    return Ok(Outcome::Superseded);
                }
                // The call's own request (or one at its cursor): its answer as it came out.
                Awaited::Finished(Finished::Text(text)) if typed.is_empty() => Some(text),
                Awaited::Finished(Finished::Nothing(why)) if typed.is_empty() => {
                    return Ok(Outcome::Nothing(why));
                }
                // Typed over the answer: whether the keys typed it counts for the debounce
                // (typed to its end or past it too), not whether anything is left to offer.
                Awaited::Finished(Finished::Text(text)) => {
                    self.observe_agreement(in_flight::agrees(&typed, &text));
                    text.strip_prefix(typed.as_str()).filter(|rest| !rest.is_empty()).map(str::to_owned)
                }
                // The answer was dropped by cleaning or the parse check: nothing the keys did.
                Awaited::Finished(Finished::Nothing(_)) => None,
                Awaited::Unfinished if typed.is_empty() => return Ok(Outcome::Nothing("the model call was cancelled")),
                // The keys left the answer streaming in.
                Awaited::Unfinished => {
                    self.observe_agreement(false);
                    None
                }
            };
            if let Some(text) = text {
                return Ok(Outcome::Suggestion(Suggestion { text, replace, cached: false }));
            }
            // The call waited for ended without an answer for this cursor: ask for one.
        }
        Ok(Outcome::Nothing("the model call was cancelled"))
    }

    /// Makes the model call for `request` at its cursor the call in flight for `key` (the
    /// ticket's key), cancelling the one before. The call starts when a request waits for it
    /// ([`Conductor::await_call`]).
    fn start_call(&self, request: &CompletionRequest<'_>, key: &str) -> Arc<Call> {
        let CompletionRequest { doc, cursor, others, config, provider, .. } = *request;
        let cursor = cursor.min(doc.rope.len_chars());
        let post = Arc::new(Post::new(doc, cursor, &config));
        let generate = prepare(doc, cursor, others, &config, provider, post.tail.as_deref());
        self.counters.model_calls.fetch_add(1, Ordering::Relaxed);
        step_marks::mark(Step::ModelAsked);
        let (progress, watch) = watch::channel(Progress::default());
        let error = Arc::new(Mutex::new(None));
        let run = {
            let (provider, post, error) = (provider.clone(), post.clone(), error.clone());
            async move {
                let started = Instant::now();
                let streamed = stream_answer(&provider, generate, post.surroundings(), |delta| {
                    progress.send_modify(|p| p.raw.push_str(delta));
                })
                .await;
                if let Err(e) = streamed {
                    *error.lock() = Some(e);
                }
                progress.send_modify(|p| p.ended = Some(started.elapsed()));
            }
        };
        let call = Arc::new(Call::new(post, watch, error, Box::pin(run)));
        self.in_flight.insert(key, call.clone());
        call
    }

    /// Waits for `call` to end, for a request whose text typed since the call started is
    /// `typed`; ends early when a newer request begins or the typed text stops agreeing with the
    /// answer so far (then the call is cancelled).
    ///
    /// Errors: the call's, when the model request failed and this is the first to see it.
    async fn await_call(&self, ticket: &Ticket, call: &Call, typed: &str) -> Result<Awaited, ProviderError> {
        let key = ticket.doc.as_str();
        let notified = ticket.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.is_current(ticket) {
            return Ok(Awaited::Superseded);
        }
        let mut progress = call.progress.clone();
        let mut run = call.run.clone();
        // Polled here until it ends: a shared future polled again after its end would panic.
        let mut running = call.progress.borrow().ended.is_none();
        while running {
            {
                let p = progress.borrow_and_update();
                if !in_flight::agrees(typed, &p.raw) {
                    drop(p);
                    self.in_flight.cancel(key, call);
                    return Ok(Awaited::Unfinished);
                }
            }
            tokio::select! {
                biased;
                () = &mut run => running = false,
                _ = &mut notified => return Ok(Awaited::Superseded),
                // A piece of the answer came: check it against the typed text. (The sender
                // lives in `run`, so this never sees it dropped while `run` is pending.) Nothing
                // typed agrees with any answer: the call's own request is not woken per piece.
                _ = progress.changed(), if !typed.is_empty() => {}
            }
        }
        step_marks::mark(Step::TextCollected);
        let finished = self.finish_call(call);
        // Its answer is in the cache now: the call's snapshot is let go.
        self.in_flight.cancel(key, call);
        finished.map(Awaited::Finished)
    }

    /// Cleans and checks an ended call's answer once, for every request that waits for it; a
    /// suggestion goes into the cache at the call's cursor.
    ///
    /// Errors: the model request's, to the first caller only (later ones get nothing).
    fn finish_call(&self, call: &Call) -> Result<Finished, ProviderError> {
        let mut finished = call.finished.lock();
        if let Some(f) = &*finished {
            return Ok(f.clone());
        }
        if let Some(e) = call.error.lock().take() {
            *finished = Some(Finished::Nothing("the model request failed"));
            return Err(e);
        }
        let (raw, elapsed) = {
            let p = call.progress.borrow();
            (p.raw.clone(), p.ended.unwrap_or_default())
        };
        self.observe_model_time(elapsed);
        let post = &call.post;
        let f = match self.finish(post, &raw, elapsed) {
            Ok(text) => {
                self.lock_cache().insert(&post.doc.key, &post.doc.rope, post.cursor, &text, post.cache_size);
                Finished::Text(text)
            }
            Err(why) => Finished::Nothing(why),
        };
        *finished = Some(f.clone());
        Ok(f)
    }

    /// Up to `count` more suggestions for `request` besides `first` (its [`Outcome::Suggestion`]
    /// text), for a user who asked for alternatives: one model call each, side by side, at
    /// [`alternative_temperature`]s above the configured one, each cleaned and parse-checked as in
    /// [`Conductor::complete`]. Texts equal to `first` or to an earlier one (ignoring trailing
    /// whitespace) and empty ones are dropped; none is cached. Empty when a newer request for the
    /// document begins (the calls are dropped, closing their connections). A failed call only
    /// loses its own alternative (logged). `on_model_call` runs once, before the calls.
    pub(crate) async fn alternatives<G>(
        &self,
        request: CompletionRequest<'_>,
        first: &str,
        count: usize,
        on_model_call: impl FnOnce() -> G,
    ) -> Vec<String> {
        if count == 0 || !self.is_current(request.ticket) {
            return Vec::new();
        }
        let _in_flight = on_model_call();
        let calls = (0..count).map(|i| async move {
            let notified = request.ticket.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.is_current(request.ticket) {
                return None;
            }
            match self.ask(request, alternative_temperature(request.config.temperature, i), notified).await {
                Ok(Asked::Text(text)) => Some(text),
                Ok(Asked::Superseded) => None,
                Ok(Asked::Nothing(why)) => {
                    tracing::debug!(why, "no alternative");
                    None
                }
                Err(e) => {
                    tracing::debug!("alternative failed: {e}");
                    None
                }
            }
        });
        let answers = futures::future::join_all(calls).await;
        if !self.is_current(request.ticket) {
            return Vec::new();
        }
        let mut kept: Vec<String> = Vec::new();
        for text in answers.into_iter().flatten() {
            let same = |other: &str| other.trim_end() == text.trim_end();
            if !text.trim().is_empty() && !same(first) && !kept.iter().any(|k| same(k)) {
                kept.push(text);
            }
        }
        kept
    }

    /// One model call for `request` at `temperature`, owned by the caller (not shared, not
    /// cached): the answer streamed until it is finished, cleaned, and kept only if it does not
    /// make the parse worse ([`Conductor::finish`]). Ends [`Asked::Superseded`] when `notified`
    /// fires (a newer request).
    ///
    /// Errors: the provider's, when the model request fails.
    async fn ask(
        &self,
        request: CompletionRequest<'_>,
        temperature: f64,
        notified: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
    ) -> Result<Asked, ProviderError> {
        let CompletionRequest { doc, cursor, others, config, provider, .. } = request;
        let cursor = cursor.min(doc.rope.len_chars());
        let config = CompletionConfig { temperature, ..config };
        let post = Post::new(doc, cursor, &config);
        let generate = prepare(doc, cursor, others, &config, provider, post.tail.as_deref());
        self.counters.model_calls.fetch_add(1, Ordering::Relaxed);
        step_marks::mark(Step::ModelAsked);
        let t_model = Instant::now();
        let raw = tokio::select! {
            r = stream_answer(provider, generate, post.surroundings(), |_| {}) => r?,
            _ = notified => {
                self.counters.superseded.fetch_add(1, Ordering::Relaxed);
                return Ok(Asked::Superseded);
            }
        };
        step_marks::mark(Step::TextCollected);
        let model_time = t_model.elapsed();
        self.observe_model_time(model_time);
        Ok(match self.finish(&post, &raw, model_time) {
            Ok(text) => Asked::Text(text),
            Err(why) => Asked::Nothing(why),
        })
    }

    /// A model's raw answer made a suggestion at `post`'s cursor: cleaned, and kept only if it
    /// does not make the parse worse (merged with a closing tail after the cursor). `model_time`
    /// is logged with the phases.
    ///
    /// Errors: why nothing is left (for logs).
    fn finish(&self, post: &Post, raw: &str, model_time: Duration) -> Result<String, &'static str> {
        let (doc, cursor, tail) = (&post.doc, post.cursor, post.tail.as_deref());
        let s = post.surroundings();
        let t_clean = Instant::now();
        tracing::trace!(%raw, "raw middle");
        let Some(text) = postprocess::clean(raw, s) else {
            return Err("the model's answer was empty after cleaning");
        };
        let clean_us = t_clean.elapsed().as_micros();
        let t_parse = Instant::now();
        // Built after the answer: the check parses the text around the cursor only when the
        // answer needs it (`syntax::InsertionCheck::not_worse`).
        let check = if s.rules.parse_check { self.parse_check(doc, cursor, tail) } else { None };
        let kept = keep_if_parse_not_worse(check.as_ref(), text, tail);
        step_marks::mark(Step::Checked);
        let baseline = check.as_ref().is_some_and(syntax::InsertionCheck::parsed_baseline);
        if let Some(check) = &check {
            self.keep_region(doc, check);
        }
        tracing::debug!(
            model_us = model_time.as_micros(),
            clean_us,
            parse_check_us = t_parse.elapsed().as_micros(),
            baseline,
            raw_len = raw.len(),
            temperature = post.temperature,
            "completion phases"
        );
        kept.ok_or_else(|| {
            self.counters.discarded_parse.fetch_add(1, Ordering::Relaxed);
            "the suggestion made the parse worse"
        })
    }

    /// [`parse_check`] from the last check's region when it was in the same document. The lock
    /// is held only to copy the region (a reference count), never across a parse.
    fn parse_check(&self, doc: &DocSnapshot, cursor: usize, tail: Option<&str>) -> Option<syntax::InsertionCheck> {
        let earlier = self.last_region.lock().as_ref().filter(|(key, _)| *key == doc.key).map(|(_, r)| r.clone());
        parse_check(doc, cursor, tail, earlier.as_ref())
    }

    /// The latest region `check` parsed becomes the last: the next check in `doc` starts from it.
    fn keep_region(&self, doc: &DocSnapshot, check: &syntax::InsertionCheck) {
        if let Some(region) = check.region_parse() {
            *self.last_region.lock() = Some((doc.key.clone(), region));
        }
    }

    fn lock_cache(&self) -> MutexGuard<'_, Cache> {
        // Not poisoned by a panic (parking_lot): every cache method is one VecDeque update, so
        // the cache stays consistent.
        self.cache.lock()
    }
}

/// The parse check of suggestions at `cursor` in `doc` (replacing `tail`):
/// [`syntax::InsertionCheck::new`], whose first parse starts from `earlier` (an earlier check's
/// region) when given. `None` when the document has no tree (not parsed yet, over a limit, no
/// grammar): then there is nothing to compare with.
fn parse_check(
    doc: &DocSnapshot,
    cursor: usize,
    tail: Option<&str>,
    earlier: Option<&syntax::RegionParse>,
) -> Option<syntax::InsertionCheck> {
    // The tree and the rope are reference counted: the copies cost no parse and no text copy.
    let syntax = doc.syntax.clone()?;
    let rope = doc.rope.clone();
    let cursor_byte = rope.try_char_to_byte(cursor).ok()?;
    let replaced = tail.map_or(0, str::len);
    syntax::InsertionCheck::new(syntax, rope, cursor_byte, replaced, earlier)
}

/// Keeps the suggestion if inserting it does not add parse errors around the cursor; else tries
/// its first line alone; else drops it. Without a `check` (no tree of the snapshot's text: not
/// parsed yet, over a limit or budget, no grammar) there is nothing to compare with: kept.
/// [`syntax::InsertionCheck`] judges: it parses the innermost function or class around the
/// cursor alone, so the check costs the same in a small module and in a 10,000-line class; a
/// parse that does not finish within `syntax::CHECK_BUDGET` judges nothing (kept). With a
/// closing `tail` after the cursor, each candidate is merged with it
/// (`postprocess::merge_closing_tail`) and replaces it; the kept text is the merged one.
fn keep_if_parse_not_worse(check: Option<&syntax::InsertionCheck>, text: String, tail: Option<&str>) -> Option<String> {
    let merge = |candidate: &str| match tail {
        Some(t) => postprocess::merge_closing_tail(candidate, t),
        None => candidate.to_owned(),
    };
    let Some(check) = check else { return Some(merge(&text)) };
    keep_first_not_worse(text, |candidate| check.not_worse(&merge(candidate))).map(|t| merge(&t))
}

/// How one model call ended ([`Conductor::ask`]).
enum Asked {
    /// The cleaned, parse-checked text (merged with a closing tail).
    Text(String),
    Superseded,
    Nothing(&'static str),
}

/// How waiting for a call in flight ended ([`Conductor::await_call`]).
enum Awaited {
    /// The call's answer, cleaned and checked at its own cursor.
    Finished(Finished),
    /// A newer request for the document began.
    Superseded,
    /// The call ended without an answer for this request: the typed text stopped agreeing with
    /// it, or it was cancelled.
    Unfinished,
}

/// What a model call's answer is cleaned and checked against: the document and cursor (a char
/// index) it was asked at, with what post-processing reads around them.
#[derive(Debug)]
pub(crate) struct Post {
    pub(crate) doc: DocSnapshot,
    pub(crate) cursor: usize,
    /// The closing tail after the cursor that the suggestion replaces ([`tail_at`]).
    pub(crate) tail: Option<String>,
    around: Around,
    indent_blocks: bool,
    multiline: bool,
    rules: postprocess::Rules,
    temperature: f64,
    /// `completion.cache_size`: how many suggestions the cache keeps.
    cache_size: usize,
}

impl Post {
    fn new(doc: &DocSnapshot, cursor: usize, config: &CompletionConfig) -> Self {
        Post {
            doc: doc.clone(),
            cursor,
            tail: tail_at(doc, cursor),
            around: surroundings(doc, cursor),
            indent_blocks: language_of(doc).is_some_and(|l| l.info.indent_blocks),
            multiline: config.multiline,
            rules: *postprocess_rules(),
            temperature: config.temperature,
            cache_size: config.cache_size,
        }
    }

    fn surroundings(&self) -> Surroundings<'_> {
        // A tail of closers is replaced by the suggestion: cleaning sees the text after it, so
        // a multi-line suggestion may follow an auto-closed `)`.
        let after = self.around.after.get(self.tail.as_deref().map_or(0, str::len)..).unwrap_or("");
        Surroundings {
            line_before: &self.around.line_before,
            prev_line: &self.around.prev_line,
            after,
            indent_blocks: self.indent_blocks,
            multiline: self.multiline,
            rules: self.rules,
        }
    }
}

/// Streams the model's answer to `generate` until post-processing sees it finished
/// (`postprocess::is_finished` at a line break) or it reaches [`MAX_LINES`]; `seen` gets each
/// piece as it arrives. Dropping the future closes the connection, so the model stops
/// generating.
///
/// Errors: the provider's, when the request fails or the stream breaks.
async fn stream_answer(
    provider: &Provider,
    generate: GenerateRequest,
    s: Surroundings<'_>,
    mut seen: impl FnMut(&str),
) -> Result<String, ProviderError> {
    let mut stream = provider.generate(generate).await?;
    // Bounded: the provider ends the stream at `max_tokens` worth of text
    // (`providers::limits::text_budget`).
    let mut raw = String::new();
    while let Some(delta) = stream.next().await {
        let delta = delta?;
        raw.push_str(&delta);
        seen(&delta);
        let lines = raw.trim_start_matches('\n').matches('\n').count();
        if lines >= MAX_LINES || (delta.contains('\n') && postprocess::is_finished(&raw, s)) {
            break;
        }
    }
    Ok(raw)
}

/// Most suggestions one request returns, the first included (`completion.suggestions` is capped
/// here).
pub(crate) const MAX_SUGGESTIONS: usize = 10;

/// The sampling temperature of the `i`th alternative (0-based): 0.6, 0.8, then 1.0 for the rest,
/// or the configured `base` when that is higher. Higher than a suggestion's usual 0.1, so the
/// same prompt gives a different answer.
pub(crate) fn alternative_temperature(base: f64, i: usize) -> f64 {
    (0.6 + 0.2 * i as f64).min(1.0).max(base)
}

/// The document's language: its tree's, or when it has no tree (yet, or at all) the one its
/// language id or path names, so plain-text context still gets the right comment syntax and
/// block style.
fn language_of(doc: &DocSnapshot) -> Option<&'static syntax::Language> {
    doc.syntax.as_ref().map(|s| s.language).or_else(|| syntax::language_for(&doc.language_id, &doc.path))
}

/// The suggestion if `not_worse` accepts it, else its first line if accepted, else nothing.
fn keep_first_not_worse(text: String, not_worse: impl Fn(&str) -> bool) -> Option<String> {
    if not_worse(&text) {
        return Some(text);
    }
    let first = text.lines().next().unwrap_or("").to_owned();
    (first != text && !first.trim().is_empty() && not_worse(&first)).then_some(first)
}

/// The closing tail (`postprocess::closing_tail`) of the cursor's line: read from the rope, at
/// most [`TAIL_MAX_CHARS`] + 1 characters, so a long (minified) line costs nothing per request.
fn tail_at(doc: &DocSnapshot, cursor: usize) -> Option<String> {
    let rest: String = doc.rope.get_chars_at(cursor)?.take_while(|&c| c != '\n').take(TAIL_MAX_CHARS + 1).collect();
    if rest.chars().count() > TAIL_MAX_CHARS {
        return None;
    }
    postprocess::closing_tail(&rest).map(str::to_owned)
}

/// Longest tail of closers a suggestion replaces, in characters.
const TAIL_MAX_CHARS: usize = 256;

/// How much of a long line [`surroundings`] keeps from each end, in characters: post-processing
/// reads a line's indentation and its end, never its middle.
const LINE_KEEP_CHARS: usize = 200;

/// Most characters after the cursor [`surroundings`] copies (the ~8 lines post-processing reads).
const AFTER_MAX_CHARS: usize = 4096;

/// `line` as is, or its first and last [`LINE_KEEP_CHARS`] characters when it is longer than
/// twice that.
fn head_and_tail(line: ropey::RopeSlice<'_>) -> String {
    let n = line.len_chars();
    if n > 2 * LINE_KEEP_CHARS {
        format!("{}{}", line.slice(..LINE_KEEP_CHARS), line.slice(n - LINE_KEEP_CHARS..))
    } else {
        line.to_string()
    }
}

/// The post-processing rules in force: all, unless the environment variable
/// `BATON_POSTPROCESS_OFF` names some to switch off (comma-separated; a benchmark ablation
/// switch, tests/bench/quality/RESULTS.md, not a user setting). Read once.
fn postprocess_rules() -> &'static postprocess::Rules {
    static RULES: std::sync::OnceLock<postprocess::Rules> = std::sync::OnceLock::new();
    RULES.get_or_init(|| {
        std::env::var("BATON_POSTPROCESS_OFF")
            .map_or_else(|_| postprocess::Rules::default(), |off| postprocess::Rules::without(&off))
    })
}

/// The cursor's neighbourhood as post-processing reads it.
#[derive(Debug, Clone)]
struct Around {
    /// The cursor's line before the cursor.
    line_before: String,
    /// The nearest non-blank line above the cursor's line (at most 50 lines up), or `""`.
    prev_line: String,
    /// From the cursor to the end of the line ~8 lines down.
    after: String,
}

/// The text of the cursor's line before the cursor, the nearest non-blank line above it, and up
/// to ~8 lines after the cursor.
fn surroundings(doc: &DocSnapshot, cursor: usize) -> Around {
    let rope = &doc.rope;
    let line = rope.char_to_line(cursor);
    let line_start = rope.line_to_char(line);
    // Lines are read for their indentation and their ends: a minified line is not copied whole.
    let line_before = head_and_tail(rope.slice(line_start..cursor));
    let prev_line = (line.saturating_sub(50)..line)
        .rev()
        .map(|l| rope.line(l))
        .find(|l| l.chars().any(|c| !c.is_whitespace()))
        .map(|l| head_and_tail(l).trim_end_matches(['\n', '\r']).to_owned())
        .unwrap_or_default();
    let last = (line + 8).min(rope.len_lines().saturating_sub(1));
    let end = rope.line_to_char(last) + line_len_chars(rope.line(last));
    let after = rope.slice(cursor..end.clamp(cursor, cursor + AFTER_MAX_CHARS)).to_string();
    Around { line_before, prev_line, after }
}

/// Builds the model request for a suggestion at `cursor`.
pub(crate) fn prepare(
    doc: &DocSnapshot,
    cursor: usize,
    others: &[Excerpt],
    c: &CompletionConfig,
    provider: &Provider,
    tail: Option<&str>,
) -> GenerateRequest {
    let language = language_of(doc);
    let comment = language.map_or("//", |l| l.info.line_comment.as_str());
    let others = if c.other_documents { others } else { &[] };
    let mut parts = fim::build_parts(doc, cursor, others, c.context_tokens, c.cross_file_tokens, comment);
    // A tail of closers after the cursor is the suggestion's to replace: the model sees the
    // suffix without it, so it can write past the auto-closed `)` (a signature and its body).
    if let Some(tail) = tail
        && let Some(rest) = parts.suffix.strip_prefix(tail)
    {
        parts.suffix = rest.to_owned();
    }
    let template = fim::resolve(c.fim_template, provider.config().kind, &provider.config().model);
    let language = language.map_or(doc.language_id.as_str(), |l| l.info.name.as_str());
    let (prompt, stop) = fim::render(template, &parts, language);
    GenerateRequest { prompt, max_tokens: c.max_tokens, temperature: c.temperature as f32, stop }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::{Syntax, language_for};
    use ropey::Rope;

    /// A Python document from a fixture whose cursor is marked `$0`.
    fn fixture(text: &str) -> (DocSnapshot, usize) {
        let cursor_byte = text.find("$0").expect("cursor marker");
        let clean = text.replacen("$0", "", 1);
        let rope = Rope::from_str(&clean);
        let cursor = rope.byte_to_char(cursor_byte);
        let syntax = language_for("python", "").and_then(|l| Syntax::parse(l, &rope));
        (DocSnapshot { key: "k".into(), path: "a.py".into(), rope, syntax, language_id: "python".into() }, cursor)
    }

    /// Issue 13: `except KeyError:` where the document had `except:` came back empty ("the
    /// suggestion made the parse worse"). A valid line keeps its place at every cursor placement.
    #[test]
    fn the_parse_check_keeps_a_valid_line() {
        let body = "def f(d, k):\n    try:\n        return d[k]\n";
        let tail = "\n        return None\n\n\ndef g():\n    pass\n";
        for (line, text) in [
            ("    $0", "except KeyError:"),
            ("$0", "    except KeyError:"),
            ("    exc$0", "ept KeyError:"),
            ("    $0", "except:"),
        ] {
            let (d, cur) = fixture(&format!("{body}{line}{tail}"));
            let check = parse_check(&d, cur, None, None);
            assert_eq!(
                keep_if_parse_not_worse(check.as_ref(), text.to_owned(), None).as_deref(),
                Some(text),
                "{line:?}"
            );
        }
        // A line that breaks a clean parse is still refused.
        let (d, cur) = fixture("def f(x):\n    $0\n    return x\n");
        assert_eq!(keep_if_parse_not_worse(parse_check(&d, cur, None, None).as_ref(), "y = (]".to_owned(), None), None);
    }

    /// The next keystroke's check starts from the last one's region in the same document, and a
    /// closed document's region is let go.
    #[test]
    fn the_last_parse_checks_region_is_kept_per_document_until_it_closes() {
        let conductor = Conductor::default();
        let last_key = |c: &Conductor| c.last_region.lock().as_ref().map(|(key, _)| key.clone());
        let (d, cur) = fixture("def f(x):\n    y = x$0\n    return y\n");
        let first = conductor.parse_check(&d, cur, None).expect("a check");
        // A candidate that leaves the function clean is judged without the baseline's parse.
        assert!(first.not_worse("1"));
        assert!(!first.parsed_baseline());
        conductor.keep_region(&d, &first);
        let first_region = first.region_parse().expect("a region");
        assert_eq!(last_key(&conductor).as_deref(), Some("k"));
        let (mut d2, cur2) = fixture("def f(x):\n    y = x +$0\n    return y\n");
        let second = conductor.parse_check(&d2, cur2, None).expect("a check");
        assert_eq!(second.before(), 1);
        assert!(second.reuses(&first_region), "the same document's next check starts from the last region");
        conductor.keep_region(&d2, &second);
        let second_region = second.region_parse().expect("a region");
        d2.key = "other".into();
        let other = conductor.parse_check(&d2, cur2, None).expect("a check");
        assert!(!other.reuses(&second_region), "another document's check starts afresh");
        conductor.keep_region(&d2, &other);
        assert_eq!(last_key(&conductor).as_deref(), Some("other"));
        conductor.forget("k");
        assert_eq!(last_key(&conductor).as_deref(), Some("other"), "another document's region stays");
        conductor.forget("other");
        assert_eq!(last_key(&conductor), None);
    }

    #[test]
    fn surroundings_read_the_previous_code_line_without_copying_a_long_one() {
        let long = format!("    if {}:", "x and ".repeat(1000));
        let (d, cur) = fixture(&format!("def f(x):\n{long}\n\n$0\n    return 1\n"));
        let a = surroundings(&d, cur);
        assert_eq!((a.line_before.as_str(), a.after.as_str()), ("", "\n    return 1\n"));
        assert!(a.prev_line.len() <= 400, "{}", a.prev_line.len());
        assert!(a.prev_line.starts_with("    if x and") && a.prev_line.ends_with("x and :"), "{}", a.prev_line);
        let (d, cur) = fixture("$0x = 1\n");
        assert_eq!(surroundings(&d, cur).prev_line, "");
    }

    #[test]
    fn a_minified_line_is_never_copied_whole_per_request() {
        let code = "a=1;".repeat(250_000);
        let (d, cur) = fixture(&format!("    {}$0{}\n", &code[..500_000], &code[500_000..]));
        let a = surroundings(&d, cur);
        assert!(a.line_before.starts_with("    a=1;") && a.line_before.ends_with("a=1;"), "{}", a.line_before);
        assert!(a.line_before.len() <= 2 * LINE_KEEP_CHARS, "{}", a.line_before.len());
        assert!(a.after.len() <= AFTER_MAX_CHARS && a.after.starts_with("a=1;"), "{}", a.after.len());
        assert_eq!(tail_at(&d, cur), None);
        let (d, cur) = fixture("def f(self, key$0)  \n    pass\n");
        assert_eq!(tail_at(&d, cur).as_deref(), Some(")  "));
        let (d, cur) = fixture(&format!("x = f($0{}\n", ")".repeat(TAIL_MAX_CHARS + 1)));
        assert_eq!(tail_at(&d, cur), None, "a tail longer than the limit is not one");
    }
}
