//! Turning a stream of decoded wire items (SSE events, NDJSON lines) into a [`TextStream`]: each
//! provider supplies a step function; this module owns ending the stream on `done`, on the first
//! error or at the text budget, and the JSON and error helpers those step functions share.

use std::io;

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::http::{ApiKey, Http, scrub};
use super::{ProviderError, TextStream};

/// What one wire item means for the text stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// A text delta (empty deltas are dropped).
    Text(String),
    /// Nothing to yield (keep-alives, bookkeeping events).
    Skip,
    /// The last delta: yield it (if non-empty) and end the stream.
    Last(String),
}

/// Where a stream comes from: the URL for errors and the key to scrub from server messages.
#[derive(Clone)]
pub(crate) struct Origin {
    pub(crate) url: String,
    key: Option<ApiKey>,
}

impl Origin {
    pub(crate) fn new(url: &str, key: Option<&ApiKey>) -> Self {
        Self { url: url.to_owned(), key: key.cloned() }
    }

    /// Parses one event's JSON payload; bad JSON is [`ProviderError::Malformed`].
    pub(crate) fn json(&self, data: &str) -> Result<Value, ProviderError> {
        serde_json::from_str(data).map_err(|e| self.malformed(&format!("invalid JSON ({e}) in {data:?}")))
    }

    pub(crate) fn malformed(&self, reason: &str) -> ProviderError {
        ProviderError::Malformed { url: self.url.clone(), reason: scrub(self.key.as_ref(), reason) }
    }

    /// An error the server reported inside the stream: `{"error": "..."}` or
    /// `{"error": {"message": "..."}}` (OpenAI, Anthropic, llama.cpp, Ollama).
    pub(crate) fn remote(&self, error: &Value) -> ProviderError {
        let message = match error {
            Value::String(text) => text.clone(),
            other => match other.get("message").and_then(Value::as_str) {
                Some(text) => text.to_owned(),
                None => other.to_string(),
            },
        };
        ProviderError::Remote { url: self.url.clone(), message: scrub(self.key.as_ref(), &message) }
    }

    /// [`ProviderError::TooLarge`]: the server sent `what` (e.g. `"a line"`) over its cap of
    /// `limit` bytes.
    pub(crate) fn too_large(&self, what: &'static str, limit: usize) -> ProviderError {
        ProviderError::TooLarge { url: self.url.clone(), what, limit }
    }

    /// The `error` member of an event payload as a [`ProviderError`], if there is one.
    pub(crate) fn error_in(&self, payload: &Value) -> Option<ProviderError> {
        payload.get("error").filter(|e| !e.is_null()).map(|e| self.remote(e))
    }
}

/// Maps an error from reading a response body through an `io` adapter (`StreamReader`) to a
/// [`ProviderError`]: the transport's own errors as [`Http::body_error`] does, bytes that are not
/// UTF-8 as [`ProviderError::Malformed`].
pub(crate) fn read_error(http: &Http, origin: &Origin, e: io::Error) -> ProviderError {
    match e.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
        Some(e) => http.body_error(&origin.url, e),
        None if e.kind() == io::ErrorKind::InvalidData => origin.malformed(&format!("a line is not UTF-8: {e}")),
        None => ProviderError::Interrupted { url: origin.url.clone(), reason: e.to_string() },
    }
}

/// Applies `step` to each item and yields the text. The stream ends after a [`Step::Last`], when
/// `items` ends, right after yielding the first error, or once it has yielded `budget` bytes of
/// text (see [`text_budget`](super::limits::text_budget)): the delta that reaches the budget is
/// cut at a char boundary and the rest of the answer is never read.
pub(crate) fn decode<S, T, F>(items: S, budget: usize, step: F) -> TextStream
where
    S: Stream<Item = Result<T, ProviderError>> + Send + 'static,
    T: Send + 'static,
    F: FnMut(T) -> Result<Step, ProviderError> + Send + 'static,
{
    let state = Some((Box::pin(items), step, budget));
    Box::pin(futures::stream::unfold(state, move |state| async move {
        let (mut items, mut step, left) = state?;
        loop {
            let item = match items.next().await? {
                Ok(item) => item,
                Err(e) => return Some((Err(e), None)),
            };
            let (text, last) = match step(item) {
                Ok(Step::Text(text)) => (text, false),
                Ok(Step::Skip) => continue,
                Ok(Step::Last(text)) => (text, true),
                Err(e) => return Some((Err(e), None)),
            };
            if text.len() >= left {
                if !last {
                    tracing::debug!(budget, "the answer reached max_tokens worth of text; stopped reading it");
                }
                let text = cut_at(text, left);
                return (!text.is_empty()).then_some((Ok(text), None));
            }
            if text.is_empty() {
                if last {
                    return None;
                }
                continue;
            }
            if last {
                return Some((Ok(text), None));
            }
            let left = left - text.len();
            return Some((Ok(text), Some((items, step, left))));
        }
    }))
}

/// `text` cut to at most `max` bytes, at a char boundary.
fn cut_at(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The string at a JSON pointer, or `""`.
pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}
