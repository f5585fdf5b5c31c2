//! Server-sent events over a streaming `reqwest` response: a bounded `text/event-stream` decoder
//! (WHATWG HTML, "Server-sent events", event stream interpretation).
//!
//! Our own rather than `eventsource-stream`, which buffers without bound: an unfinished line, an
//! event without its closing blank line, and everything after one invalid UTF-8 byte all grow
//! its buffers until the request times out (and it rescans the whole buffer on every chunk). Here
//! a line is capped at [`MAX_LINE_BYTES`] and an event at [`MAX_EVENT_BYTES`].

use std::io;

use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::Response;
use tokio_util::bytes::{Buf, BytesMut};
use tokio_util::codec::FramedRead;
use tokio_util::io::StreamReader;

use super::ProviderError;
use super::http::Http;
use super::limits::{MAX_EVENT_BYTES, MAX_LINE_BYTES};
use super::stream::{Origin, read_error};

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Event {
    /// The `event:` field, or `message` when the event named none.
    pub(crate) event: String,
    /// The `data:` lines, joined with `\n`.
    pub(crate) data: String,
}

/// Why the decoder stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SseError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("a line longer than {MAX_LINE_BYTES} bytes")]
    LineTooLong,
    #[error("an event longer than {MAX_EVENT_BYTES} bytes")]
    EventTooLong,
}

/// A `tokio_util` decoder from bytes to [`Event`]s. Lines end at `\r\n`, `\n` or `\r`; `:` starts
/// a comment; a field's value loses one leading space; a blank line dispatches the event (an
/// event without `data` is dropped); a byte order mark before the first line is ignored; bytes
/// that are not UTF-8 become U+FFFD. An unfinished event at the end of the stream is dropped.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    /// How many bytes at the front of the buffer were already searched for a line break.
    scanned: usize,
    /// The last line ended with `\r`: a `\n` right after it belongs to the same line break.
    after_cr: bool,
    /// Past the first line (the only place a byte order mark is dropped).
    started: bool,
    event_type: String,
    data: String,
    /// Bytes of the event being read so far, line breaks included.
    event_bytes: usize,
}

impl tokio_util::codec::Decoder for Decoder {
    type Item = Event;
    type Error = SseError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, SseError> {
        loop {
            if self.after_cr && !buf.is_empty() {
                if buf[0] == b'\n' {
                    buf.advance(1);
                }
                self.after_cr = false;
            }
            let found = buf[self.scanned..].iter().position(|&b| b == b'\n' || b == b'\r');
            let Some(at) = found.map(|i| i + self.scanned) else {
                if buf.len() > MAX_LINE_BYTES {
                    return Err(SseError::LineTooLong);
                }
                if self.event_bytes + buf.len() > MAX_EVENT_BYTES {
                    return Err(SseError::EventTooLong);
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            if at > MAX_LINE_BYTES {
                return Err(SseError::LineTooLong);
            }
            let line = buf.split_to(at);
            self.after_cr = buf[0] == b'\r';
            buf.advance(1);
            self.scanned = 0;
            self.event_bytes += line.len() + 1;
            if self.event_bytes > MAX_EVENT_BYTES {
                return Err(SseError::EventTooLong);
            }
            if let Some(event) = self.line(&line) {
                return Ok(Some(event));
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Event>, SseError> {
        let event = self.decode(buf)?;
        if event.is_none() {
            // A last line without its line break and an event without its blank line are
            // incomplete: the spec drops them.
            buf.clear();
        }
        Ok(event)
    }
}

impl Decoder {
    /// Interprets one line (without its line break); returns the event a blank line completes.
    fn line(&mut self, line: &[u8]) -> Option<Event> {
        let text = String::from_utf8_lossy(line);
        let mut text: &str = &text;
        if !self.started {
            self.started = true;
            text = text.strip_prefix('\u{feff}').unwrap_or(text);
        }
        if text.is_empty() {
            return self.dispatch();
        }
        if text.starts_with(':') {
            return None;
        }
        let (field, value) = match text.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        match field {
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "event" => value.clone_into(&mut self.event_type),
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<Event> {
        self.event_bytes = 0;
        let event_type = std::mem::take(&mut self.event_type);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return None;
        }
        data.pop();
        let event = if event_type.is_empty() { "message".to_owned() } else { event_type };
        Some(Event { event, data })
    }
}

/// The response body as SSE events. Transport failures become [`ProviderError::Timeout`] or
/// [`ProviderError::Interrupted`]; a line or an event over its cap becomes
/// [`ProviderError::TooLarge`].
pub(crate) fn events(
    http: &Http,
    origin: &Origin,
    response: Response,
) -> impl Stream<Item = Result<Event, ProviderError>> + Send + 'static {
    let http = http.clone();
    let origin = origin.clone();
    let reader = StreamReader::new(response.bytes_stream().map_err(io::Error::other));
    FramedRead::new(reader, Decoder::default()).map(move |item| {
        item.map_err(|e| match e {
            SseError::Io(e) => read_error(&http, &origin, e),
            SseError::LineTooLong => origin.too_large("an event stream line", MAX_LINE_BYTES),
            SseError::EventTooLong => origin.too_large("an event", MAX_EVENT_BYTES),
        })
    })
}

#[cfg(test)]
mod tests {
    use tokio_util::codec::Decoder as _;

    use super::*;

    /// Feeds `chunks` one by one, then ends the stream; returns the events and the error, if any.
    fn feed(chunks: &[&[u8]]) -> (Vec<Event>, Option<SseError>) {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut events = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match decoder.decode(&mut buf) {
                    Ok(Some(event)) => events.push(event),
                    Ok(None) => break,
                    Err(e) => return (events, Some(e)),
                }
            }
        }
        loop {
            match decoder.decode_eof(&mut buf) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => return (events, None),
                Err(e) => return (events, Some(e)),
            }
        }
    }

    fn event(event: &str, data: &str) -> Event {
        Event { event: event.to_owned(), data: data.to_owned() }
    }

    #[test]
    fn fields_comments_and_line_breaks_follow_the_spec() {
        let (events, error) = feed(&[
            b"\xEF\xBB\xBFdata: one\n\n",
            b": keep-alive\r\nevent: delta\r\ndata:two\r\ndata:  three\r\n\r\n",
            b"id: 7\rdata\r\r",
            b"event: empty\n\n",
            b"data: {\"a\": \"b:c\"}\n\ndata: unfinished\n",
        ]);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(
            events,
            vec![
                event("message", "one"),
                event("delta", "two\n three"),
                event("message", ""),
                event("message", "{\"a\": \"b:c\"}"),
            ]
        );
    }

    #[test]
    fn lines_and_events_split_anywhere_decode_the_same() {
        let stream = "event: a\r\ndata: é✓\r\n\r\ndata: x\n\n".as_bytes();
        let whole = feed(&[stream]).0;
        for split in 1..stream.len() {
            let (head, tail) = stream.split_at(split);
            assert_eq!(feed(&[head, tail]).0, whole, "split at {split}");
        }
        assert_eq!(whole, vec![event("a", "é✓"), event("message", "x")]);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_buffered() {
        let (events, error) = feed(&[b"data: a\xFFb\n\n", b"data: next\n\n"]);
        assert!(error.is_none(), "{error:?}");
        assert_eq!(events, vec![event("message", "a\u{FFFD}b"), event("message", "next")]);
    }

    #[test]
    fn a_line_that_never_ends_stops_at_the_line_cap() {
        let chunk = vec![b'x'; 64 * 1024];
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"data: "[..]);
        let mut fed = 0;
        let error = loop {
            buf.extend_from_slice(&chunk);
            fed += chunk.len();
            match decoder.decode(&mut buf) {
                Ok(None) => assert!(fed <= 2 * MAX_LINE_BYTES, "kept reading past the cap"),
                other => break other,
            }
        };
        assert!(matches!(error, Err(SseError::LineTooLong)), "{error:?}");
        assert!(buf.len() <= MAX_LINE_BYTES + chunk.len());
    }

    #[test]
    fn an_event_that_never_ends_stops_at_the_event_cap() {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let error = loop {
            buf.extend_from_slice(b"data: more and more\n");
            fed += 20;
            match decoder.decode(&mut buf) {
                Ok(None) => assert!(fed <= 2 * MAX_EVENT_BYTES, "kept reading past the cap"),
                other => break other,
            }
        };
        assert!(matches!(error, Err(SseError::EventTooLong)), "{error:?}");
        assert!(decoder.data.len() <= MAX_EVENT_BYTES);
    }
}
