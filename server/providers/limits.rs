//! Every cap on what Baton reads from a model server, in one place (units: bytes unless named
//! otherwise). A model server is outside Baton's control: whatever it sends, one request holds at
//! most these many bytes of it, and the request still ends — with the text read so far, or with
//! a [`ProviderError`](super::ProviderError) that names the cap it hit.

/// Most of an HTTP error body (a status that is not 2xx) that is read, in bytes: 64 KiB. The
/// rest is never read (the connection is dropped); the error keeps an excerpt of
/// [`MAX_BODY_CHARS`] characters.
pub(crate) const MAX_ERROR_BODY_BYTES: usize = 64 * 1024;

/// Longest excerpt of a server's error body or message kept in an error, in characters.
pub(crate) const MAX_BODY_CHARS: usize = 300;

/// Longest line of a streamed answer (an SSE line, an NDJSON line), in bytes, not counting the
/// line break: 1 MiB. One line carries one delta of a few tokens wrapped in some JSON, so real
/// lines are well under a kilobyte; past this the stream ends with
/// [`ProviderError::TooLarge`](super::ProviderError::TooLarge).
pub(crate) const MAX_LINE_BYTES: usize = 1 << 20;

/// Largest server-sent event, in bytes: every line from the end of the previous event to the
/// blank line that ends this one, line breaks included: 1 MiB. An event that never ends (`data:`
/// lines without the blank line) stops here with
/// [`ProviderError::TooLarge`](super::ProviderError::TooLarge).
pub(crate) const MAX_EVENT_BYTES: usize = 1 << 20;

/// Largest non-streamed answer body (chat with tools, the built-in agent's turns), in bytes:
/// 16 MiB. Such a body holds one turn's text and tool calls (arguments may carry whole files,
/// JSON-escaped once or twice), so the cap is generous; a `Content-Length` above it is refused
/// before reading, and a body that goes past it ends with
/// [`ProviderError::TooLarge`](super::ProviderError::TooLarge).
pub(crate) const MAX_RESPONSE_BYTES: usize = 16 << 20;

/// Upper bound on the bytes of text one generated token stands for, used to stop reading a
/// streamed answer once it holds `max_tokens` worth of text: 16.
///
/// Conservative on purpose, so it never cuts an answer the model could give within `max_tokens`:
/// the tokenizers of the code models Baton targets (Qwen2.5, Llama 3, cl100k-style BPE) average
/// 3 to 5 bytes of source code per token, and their longest tokens (runs of spaces, separator
/// lines such as `// ======…`) are rare within one answer. Only an answer made mostly of tokens
/// longer than 16 bytes could be cut early, and then it is cut, not lost.
pub(crate) const MAX_BYTES_PER_TOKEN: usize = 16;

/// Most text one streamed answer yields, whatever `max_tokens` says, in bytes: 4 MiB.
pub(crate) const MAX_TEXT_BYTES: usize = 4 << 20;

/// The most text a streamed answer asked for with `max_tokens` yields, in bytes:
/// `max_tokens × MAX_BYTES_PER_TOKEN`, at most [`MAX_TEXT_BYTES`]. `max_tokens == 0` (no limit
/// sent) gets [`MAX_TEXT_BYTES`].
pub(crate) fn text_budget(max_tokens: u32) -> usize {
    match max_tokens {
        0 => MAX_TEXT_BYTES,
        n => (n as usize).saturating_mul(MAX_BYTES_PER_TOKEN).min(MAX_TEXT_BYTES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_budget_follows_max_tokens_up_to_the_ceiling() {
        assert_eq!(text_budget(64), 64 * MAX_BYTES_PER_TOKEN);
        assert_eq!(text_budget(1), MAX_BYTES_PER_TOKEN);
        assert_eq!(text_budget(0), MAX_TEXT_BYTES);
        assert_eq!(text_budget(u32::MAX), MAX_TEXT_BYTES);
    }
}
