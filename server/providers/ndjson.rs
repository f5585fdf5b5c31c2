//! Newline-delimited JSON over a streaming `reqwest` response (Ollama), split by `LinesCodec`.

use std::io;

use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Response;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};
use tokio_util::io::StreamReader;

use super::ProviderError;
use super::http::Http;
use super::stream::Origin;

/// Longest accepted line, in bytes.
const MAX_LINE_BYTES: usize = 1 << 20;

/// The response body as lines (without the newline). Transport failures become
/// [`ProviderError::Timeout`] or [`ProviderError::Interrupted`]; over-long or non-UTF-8 lines
/// become [`ProviderError::Malformed`].
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
            LinesCodecError::MaxLineLengthExceeded => {
                origin.malformed(&format!("a line is longer than {MAX_LINE_BYTES} bytes"))
            }
            LinesCodecError::Io(e) => match e.get_ref().and_then(|inner| inner.downcast_ref::<reqwest::Error>()) {
                Some(e) => http.body_error(&origin.url, e),
                None if e.kind() == io::ErrorKind::InvalidData => {
                    origin.malformed(&format!("a line is not UTF-8: {e}"))
                }
                None => ProviderError::Interrupted { url: origin.url.clone(), reason: e.to_string() },
            },
        })
    })
}
