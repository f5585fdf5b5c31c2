//! Model calls in flight, one per document, shared by the requests that can use their answer.
//! A call outlives the request that started it (an editor cancels that request on the next
//! keystroke): a later request in the same document whose text typed since the call agrees with
//! the answer so far waits for it instead of asking again. A call is cancelled as soon as a
//! request comes that it cannot serve, or the typed text stops agreeing with its answer.
//!
//! A call is a shared future, driven by whichever request waits for it (no task of its own, so
//! a request's answer costs no hop between threads): between a cancelled request and the next,
//! nothing reads the answer, which waits in the connection. Dropping its last copy (the map's and
//! the waiting requests') drops the model stream, which closes the connection.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use ropey::Rope;
use tokio::sync::watch;

use super::cache;
use super::engine::Post;
use crate::providers::ProviderError;

/// Most chars typed since a call started that a request may still wait for it over: past that,
/// the answer (a few lines at most) has long been typed through.
const MAX_TYPED: usize = 2048;

/// A call's answer as it streams in.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The model's raw text so far.
    pub(crate) raw: String,
    /// How long the call took, once it has ended (answered or failed); a time when no request
    /// drove it (between a cancelled request and the next) is included.
    pub(crate) ended: Option<Duration>,
}

/// How a call's answer came out, cleaned and checked once for all the requests that wait for it.
#[derive(Debug, Clone)]
pub(crate) enum Finished {
    /// The suggestion at the call's cursor.
    Text(String),
    /// Nothing to suggest there, and why (for logs).
    Nothing(&'static str),
}

/// One model call in flight (or ended, until a request finishes it or it is replaced).
#[derive(Debug)]
pub(crate) struct Call {
    id: u64,
    /// The document and cursor the answer is cleaned and checked against.
    pub(crate) post: Arc<Post>,
    /// The text before and after the cursor that must be unchanged for the answer to apply,
    /// keyed as the cache keys its entries (`cache::key_before`, `cache::key_after`).
    before: String,
    after: String,
    pub(crate) progress: watch::Receiver<Progress>,
    /// Set by the call's future when the model request fails; taken by the first request to
    /// finish the call.
    pub(crate) error: Arc<Mutex<Option<ProviderError>>>,
    /// Set by the first request to finish the call.
    pub(crate) finished: Mutex<Option<Finished>>,
    /// The model request: streams the answer into `progress`, then marks it ended. Polled by the
    /// requests that wait for the call.
    pub(crate) run: Shared<BoxFuture<'static, ()>>,
}

impl Call {
    /// A call at `post`'s cursor whose answer `run` streams into `progress`.
    pub(crate) fn new(
        post: Arc<Post>,
        progress: watch::Receiver<Progress>,
        error: Arc<Mutex<Option<ProviderError>>>,
        run: BoxFuture<'static, ()>,
    ) -> Self {
        use futures::FutureExt;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (rope, cursor) = (&post.doc.rope, post.cursor);
        Call {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            before: cache::key_before(rope, cursor),
            after: cache::key_after(rope, cursor),
            post,
            progress,
            error,
            finished: Mutex::new(None),
            run: run.shared(),
        }
    }
}

/// Whether the text typed since a call started can still be the start of its answer: one of
/// the two begins with the other (the answer may not have reached the typed text yet).
pub(crate) fn agrees(typed: &str, raw: &str) -> bool {
    raw.starts_with(typed) || typed.starts_with(raw)
}

/// What [`InFlight::joinable`] found for a request.
#[derive(Debug)]
pub(crate) enum Joinable {
    /// The call to wait for, and the text typed since it started.
    Join(Arc<Call>, String),
    /// The call was cancelled: the text typed since it started left its answer.
    Left,
    /// No call that could serve the request (none, or it was asked elsewhere; cancelled).
    None,
}

/// The calls in flight, one per document key.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    calls: Mutex<HashMap<String, Arc<Call>>>,
}

impl InFlight {
    /// Makes `call` the document's call in flight; the one it replaces is cancelled.
    pub(crate) fn insert(&self, key: &str, call: Arc<Call>) {
        let replaced = self.calls.lock().insert(key.to_owned(), call);
        drop(replaced);
    }

    /// The document's call when its answer may still serve `cursor` in `rope` (a char index),
    /// with the text typed since it started (empty at its own cursor); else a call that cannot
    /// serve it is cancelled. It can when the text before its cursor and after this cursor is
    /// unchanged (`cache::key_before`, `cache::key_after`) and the text between them [`agrees`]
    /// with the answer so far.
    pub(crate) fn joinable(&self, key: &str, rope: &Rope, cursor: usize) -> Joinable {
        let mut calls = self.calls.lock();
        let Some(call) = calls.get(key).cloned() else { return Joinable::None };
        let start = call.post.cursor;
        let typed = (start <= cursor && cursor - start <= MAX_TYPED && cursor <= rope.len_chars())
            .then(|| rope.slice(start..cursor).to_string())
            .filter(|_| {
                cache::key_after(rope, cursor) == call.after
                    && cache::key_before(rope, start.min(rope.len_chars())) == call.before
            });
        let left = match typed {
            Some(typed) if agrees(&typed, &call.progress.borrow().raw) => return Joinable::Join(call, typed),
            Some(_) => true,
            None => false,
        };
        let removed = calls.remove(key);
        drop(calls);
        drop(removed);
        if left { Joinable::Left } else { Joinable::None }
    }

    /// Cancels the document's call if it is still `call` (not replaced since).
    pub(crate) fn cancel(&self, key: &str, call: &Call) {
        let mut calls = self.calls.lock();
        if calls.get(key).is_some_and(|c| c.id == call.id) {
            let removed = calls.remove(key);
            drop(calls);
            drop(removed);
        }
    }

    /// Cancels the calls for document `doc` (it closed): under its own key and under the keys
    /// that end in a NUL and its key (a panel's).
    pub(crate) fn cancel_document(&self, doc: &str) {
        let mut calls = self.calls.lock();
        let suffix = format!("\0{doc}");
        let keys: Vec<String> = calls.keys().filter(|k| *k == doc || k.ends_with(&suffix)).cloned().collect();
        let removed: Vec<_> = keys.iter().filter_map(|k| calls.remove(k)).collect();
        drop(calls);
        drop(removed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_agrees_while_either_begins_the_other() {
        assert!(agrees("", ""));
        assert!(agrees("", "sum("));
        assert!(agrees("su", "sum("), "typed part of the answer");
        assert!(agrees("sum(l", "sum("), "typed past what has streamed so far");
        assert!(!agrees("sux", "sum("), "typed something else");
        assert!(!agrees("é", "e"), "chars, not bytes that happen to match");
    }
}
