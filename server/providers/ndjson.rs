//! Newline-delimited JSON over a streaming `reqwest` response (Ollama), split by `LinesCodec`
//! with a line cap ([`MAX_LINE_BYTES`]).

use std::io;

use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Response;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::ProviderError;
use super::http::Http;
use super::limits::MAX_LINE_BYTES;
use super::stream::{Origin, read_error};

/// The response body as lines (without the newline). Transport failures become
/// [`ProviderError::Timeout`] or [`ProviderError::Interrupted`]; non-UTF-8 lines become
/// [`ProviderError::Malformed`]; a line over [`MAX_LINE_BYTES`] becomes
/// [`ProviderError::TooLarge`] (`LinesCodec` stops buffering at the cap).
pub(crate) fn lines(
    http: &Http,
    origin: &Origin,
    response: Response,
) -> impl Stream<Item = Result<String, ProviderError>> + Send + 'static {
    let http = http.clone();
    let origin = origin.clone();
    let reader = StreamReader::new(response.bytes_stream().map_err(io::Error::other));
    FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE_BYTES)).map(move |line| {
        line.map_err(|e| match e {
            LinesCodecError::MaxLineLengthExceeded => origin.too_large("an NDJSON line", MAX_LINE_BYTES),
            LinesCodecError::Io(e) => read_error(&http, &origin, e),
        })
    })
}
