//! Server-sent events over a streaming `reqwest` response, parsed by `eventsource-stream`.

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use reqwest::Response;

use super::ProviderError;
use super::http::Http;
use super::stream::Origin;

/// The response body as SSE events. Transport failures become [`ProviderError::Timeout`] or
/// [`ProviderError::Interrupted`]; undecodable framing becomes [`ProviderError::Malformed`].
pub(crate) fn events(
    http: &Http,
    origin: &Origin,
    response: Response,
) -> impl Stream<Item = Result<Event, ProviderError>> + Send + 'static {
    let http = http.clone();
    let origin = origin.clone();
    response.bytes_stream().eventsource().map(move |item| {
        item.map_err(|e| match e {
            EventStreamError::Transport(e) => http.body_error(&origin.url, &e),
            EventStreamError::Utf8(e) => origin.malformed(&format!("event stream is not UTF-8: {e}")),
            EventStreamError::Parser(e) => origin.malformed(&format!("bad event stream framing: {e}")),
        })
    })
}
