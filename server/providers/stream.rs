//! Turning a stream of decoded wire items (SSE events, NDJSON lines) into a [`TextStream`]: each
//! provider supplies a step function; this module owns ending the stream on `done` or on the first
//! error, and the JSON and error helpers those step functions share.

use futures::{Stream, StreamExt};
use serde_json::Value;

use super::http::{ApiKey, scrub};
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

    /// The `error` member of an event payload as a [`ProviderError`], if there is one.
    pub(crate) fn error_in(&self, payload: &Value) -> Option<ProviderError> {
        payload.get("error").filter(|e| !e.is_null()).map(|e| self.remote(e))
    }
}

/// Applies `step` to each item and yields the text. The stream ends after a [`Step::Last`], when
/// `items` ends, or right after yielding the first error.
pub(crate) fn decode<S, T, F>(items: S, step: F) -> TextStream
where
    S: Stream<Item = Result<T, ProviderError>> + Send + 'static,
    T: Send + 'static,
    F: FnMut(T) -> Result<Step, ProviderError> + Send + 'static,
{
    let state = Some((Box::pin(items), step));
    Box::pin(futures::stream::unfold(state, |state| async move {
        let (mut items, mut step) = state?;
        loop {
            let item = match items.next().await? {
                Ok(item) => item,
                Err(e) => return Some((Err(e), None)),
            };
            match step(item) {
                Ok(Step::Text(text)) if !text.is_empty() => {
                    return Some((Ok(text), Some((items, step))));
                }
                Ok(Step::Text(_) | Step::Skip) => {}
                Ok(Step::Last(text)) if !text.is_empty() => return Some((Ok(text), None)),
                Ok(Step::Last(_)) => return None,
                Err(e) => return Some((Err(e), None)),
            }
        }
    }))
}

/// The string at a JSON pointer, or `""`.
pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}
