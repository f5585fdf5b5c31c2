//! The stdio transport: LSP base-protocol framing and JSON-RPC 2.0 validation in front of
//! tower-lsp-server's `LspService`, so that no byte sequence a client sends ends the session.
//!
//! tower-lsp-server's own transport (`tower_lsp_server::Server`) stops reading at its first decode
//! error (tokio-util's `FramedRead` ends the stream after a decoder error), drops the
//! MethodNotFound answer of `$/` requests, and has no `catch_unwind`. This module replaces it and
//! drives the same `LspService` and `ClientSocket`:
//!
//! - `Framer` cuts the input into bodies by their `Content-Length` header and, after anything
//!   that is not a frame, resynchronises on the next `Content-Length:` header.
//! - `classify` judges a body by JSON-RPC 2.0 (§4–6): a request, a notification, a response to
//!   one of the server's requests, a batch, or the error to answer (Parse error, Invalid Request).
//!   Lone UTF-16 surrogate escapes (`"\ud800"`) become U+FFFD instead of failing the body.
//! - [`serve`] dispatches in arrival order with tower-lsp's concurrency model (one task, up to
//!   `concurrency` handlers in flight), answers `$/` requests with MethodNotFound, turns a
//!   panicking handler into an InternalError answer, and writes every outgoing message as one
//!   whole frame from a single writer, so frames never interleave.
//! - A [`Shortcut`] takes the keystroke's messages (`didChange`, the completion request) straight
//!   from their bytes, past the `Value` and the router; [`serve`] answers its requests and their
//!   `$/cancelRequest` itself.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::channel::mpsc;
use futures::future::{self, AbortHandle, Abortable, Aborted, BoxFuture, FutureExt};
use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tower_lsp_server::jsonrpc::{Error, ErrorCode, Id, Request, Response};
use tower_lsp_server::{ClientSocket, Loopback};
use tower_service::Service;

use crate::step_marks::{self, Step};

/// The largest body accepted, in bytes (128 MiB). A larger `Content-Length` is answered with a
/// Parse error and its bytes are skipped, so a broken length cannot make the server allocate
/// without bound.
pub(crate) const MAX_BODY: usize = 128 * 1024 * 1024;

/// The longest header block accepted, in bytes. Real clients send one or two short lines.
const MAX_HEADER: usize = 8 * 1024;

/// The header that delimits a body; matched case-insensitively, as HTTP header names are.
const LENGTH_HEADER: &[u8] = b"content-length";

/// How long in-flight handlers may still run once input has ended (`exit` or end of input)
/// before the server stops waiting for them.
const GRACE: Duration = Duration::from_secs(5);

/// Outgoing messages queued for the writer; handlers wait when it is full.
const OUTPUT_QUEUE: usize = 64;

/// Dispatched handler futures waiting for a concurrency slot (as tower-lsp-server's transport).
const TASK_QUEUE: usize = 100;

/// The messages of every keystroke (`didChange`, then the completion request), taken without the
/// `serde_json::Value` reading and tower-lsp's router: each read straight from its bytes into
/// its handler's input, its handler queued with the router's, so the order rule holds
/// (ARCHITECTURE.md, "Shortcut").
pub trait Shortcut: Send + Sync {
    /// The handler of `body` when it is a message this shortcut takes as it stands. `None` sends
    /// the body the usual way (`classify`, then the service), which must then handle it as if
    /// this had never looked at it. Asked only between `initialize` and `shutdown` (the
    /// shortcut says whether `initialize` has been answered, [`Shortcut::ready`]).
    fn take(&self, body: &[u8]) -> Option<Taken>;

    /// Whether the server has answered `initialize`: before, every message goes to the service,
    /// which answers a request ServerNotInitialized.
    fn ready(&self) -> bool;
}

/// A message the [`Shortcut`] takes.
pub enum Taken {
    /// A notification's handler.
    Notification(BoxFuture<'static, ()>),
    /// A request's handler, giving its `result` as JSON text or its error. The transport answers
    /// it, with RequestCancelled when `$/cancelRequest` names `id` first (LSP 3.17 §"Cancellation
    /// Support"), and with InternalError when the handler panics.
    Request { id: Id, method: &'static str, answer: BoxFuture<'static, Result<Vec<u8>, Error>> },
}

/// Why bytes of the input were not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// Bytes that are not `Name: value` header lines (garbage before a frame).
    NotAHeader,
    /// A header block longer than 8 KiB.
    HeaderTooLong,
    /// A header block without `Content-Length`.
    MissingLength,
    /// A `Content-Length` that is not a decimal number of bytes, or two that disagree.
    InvalidLength(String),
    /// A `Content-Length` above [`MAX_BODY`].
    TooLarge(usize),
    /// Input ended inside a header or a body.
    Truncated,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAHeader => f.write_str("bytes that are not an LSP header (expected `Content-Length: <bytes>`)"),
            Self::HeaderTooLong => write!(f, "a header block longer than {MAX_HEADER} bytes"),
            Self::MissingLength => f.write_str("a header block without Content-Length"),
            Self::InvalidLength(v) => write!(f, "an invalid Content-Length: {v}"),
            Self::TooLarge(n) => write!(f, "a Content-Length of {n} bytes, above the limit of {MAX_BODY}"),
            Self::Truncated => f.write_str("input ended inside a message"),
        }
    }
}

/// What [`Framer::next_event`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameEvent {
    /// A body, exactly as long as its `Content-Length`.
    Body(Vec<u8>),
    /// A body cut short: the next frame's `Content-Length` header began inside the declared
    /// length (a client that counted too many bytes). The header is read next.
    Cut { body: Vec<u8>, declared: usize },
    /// Bytes that are not a frame. They are skipped up to the next `Content-Length:` header.
    Broken(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// At the start of a header block.
    Header,
    /// Reading a body of `len` bytes; a header line was searched for up to `scanned` (bytes
    /// from the body's start).
    Body { len: usize, scanned: usize },
    /// Skipping bytes until a `Content-Length:` header starts at or after `from`.
    Skip { from: usize },
}

/// Most room, in bytes, the [`Framer`]'s buffer keeps once it has handed out every byte it held
/// (one read's worth).
const KEEP_BYTES: usize = 64 * 1024;

/// Cuts a byte stream into LSP frames (`Content-Length: N\r\n\r\n` then N bytes of body).
///
/// Lenient where clients differ (header names in any case, `\n` line ends, blank lines
/// between frames, other headers such as `Content-Type` ignored) and strict where a wrong guess
/// would lose the next message: anything else is reported once as [`FrameEvent::Broken`] and
/// skipped up to the next `Content-Length:` header. Memory is bounded by the largest frame
/// ([`MAX_BODY`] plus [`MAX_HEADER`]) plus one read, and once every byte held is handed out
/// the buffer keeps at most [`KEEP_BYTES`] of room.
#[derive(Debug)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Where unread bytes start in `buf`.
    pos: usize,
    phase: Phase,
}

impl Default for Framer {
    fn default() -> Self {
        Framer { buf: Vec::new(), pos: 0, phase: Phase::Header }
    }
}

impl Framer {
    /// Appends bytes read from the input.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Room the buffer holds, in bytes.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes held and not yet consumed.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // A large message (a big document's didOpen, a burst of them) grew the buffer: that
            // room is not kept for the rest of the session.
            if self.buf.capacity() > KEEP_BYTES {
                self.buf.shrink_to(KEEP_BYTES);
            }
        } else if self.pos > 64 * 1024 && self.pos > self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// The next event, or `None` when more input is needed.
    pub(crate) fn next_event(&mut self) -> Option<FrameEvent> {
        loop {
            match self.phase {
                Phase::Header => {
                    let blank = self.buf[self.pos..].iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
                    self.consume(blank);
                    match parse_header(&self.buf[self.pos..]) {
                        Header::Partial => return None,
                        Header::Complete { header_len, body_len } => {
                            self.consume(header_len);
                            self.phase = Phase::Body { len: body_len, scanned: 0 };
                        }
                        Header::Broken(e) => {
                            self.phase = Phase::Skip { from: 1 };
                            return Some(FrameEvent::Broken(e));
                        }
                    }
                }
                Phase::Skip { from } => {
                    let avail = &self.buf[self.pos..];
                    match find_length_header(avail, from) {
                        Some(at) => {
                            self.consume(at);
                            self.phase = Phase::Header;
                        }
                        None => {
                            // Keep the bytes that may be the start of a header split across reads.
                            let keep = LENGTH_HEADER.len().min(avail.len());
                            let drop = avail.len() - keep;
                            self.consume(drop);
                            self.phase = Phase::Skip { from: from.saturating_sub(drop) };
                            return None;
                        }
                    }
                }
                Phase::Body { len, scanned } => {
                    let avail = &self.buf[self.pos..];
                    match find_header_line(avail, scanned, len) {
                        Scan::Found(at) => {
                            let body = avail[..at].to_vec();
                            self.consume(at);
                            self.phase = Phase::Header;
                            return Some(FrameEvent::Cut { body, declared: len });
                        }
                        Scan::Wait(scanned) => {
                            self.phase = Phase::Body { len, scanned };
                            return None;
                        }
                        Scan::Clear if avail.len() < len => {
                            self.phase = Phase::Body { len, scanned: avail.len().saturating_sub(LENGTH_HEADER.len()) };
                            return None;
                        }
                        Scan::Clear => {
                            let body = avail[..len].to_vec();
                            self.consume(len);
                            self.phase = Phase::Header;
                            return Some(FrameEvent::Body(body));
                        }
                    }
                }
            }
        }
    }

    /// Called once at the end of input: reports a message left unfinished, and forgets it.
    pub(crate) fn finish(&mut self) -> Option<FrameEvent> {
        let rest = &self.buf[self.pos..];
        let event = match self.phase {
            Phase::Header if rest.iter().all(u8::is_ascii_whitespace) => None,
            Phase::Header | Phase::Body { .. } => Some(FrameEvent::Broken(FrameError::Truncated)),
            Phase::Skip { .. } => None,
        };
        self.buf.clear();
        self.pos = 0;
        self.phase = Phase::Header;
        event
    }
}

enum Header {
    Partial,
    Complete { header_len: usize, body_len: usize },
    Broken(FrameError),
}

/// RFC 9110 `tchar`: what a header name is made of.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A header value's bytes: anything but control characters (tab allowed).
fn is_value_byte(b: u8) -> bool {
    b == b'\t' || b >= 0x20 && b != 0x7f
}

/// Whether `line` (no `\n`, possibly ending in `\r`) can be the beginning of a header line.
fn valid_partial_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if find_length_header(line, 1).is_some() {
        return false;
    }
    match line.iter().position(|&b| b == b':') {
        None => line.iter().all(|&b| is_tchar(b)),
        Some(colon) => {
            colon > 0
                && line[..colon].iter().all(|&b| is_tchar(b))
                && line[colon + 1..].iter().all(|&b| is_value_byte(b))
        }
    }
}

/// Parses a header block at the start of `b` (blank lines already skipped).
fn parse_header(b: &[u8]) -> Header {
    let mut length: Option<usize> = None;
    let mut at = 0;
    loop {
        let rest = &b[at..];
        let Some(nl) = memchr::memchr(b'\n', rest) else {
            if b.len() > MAX_HEADER {
                return Header::Broken(FrameError::HeaderTooLong);
            }
            return if valid_partial_line(rest) { Header::Partial } else { Header::Broken(FrameError::NotAHeader) };
        };
        if at + nl > MAX_HEADER {
            return Header::Broken(FrameError::HeaderTooLong);
        }
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at += nl + 1;
        if line.is_empty() {
            return match length {
                Some(body_len) => Header::Complete { header_len: at, body_len },
                None => Header::Broken(FrameError::MissingLength),
            };
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return Header::Broken(FrameError::NotAHeader);
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        // A `Content-Length:` glued inside a line is the next frame's header after garbage
        // without a line break: broken, so the skip resynchronises on it.
        if name.is_empty()
            || !name.iter().all(|&c| is_tchar(c))
            || !value.iter().all(|&c| is_value_byte(c))
            || find_length_header(line, 1).is_some()
        {
            return Header::Broken(FrameError::NotAHeader);
        }
        if name.eq_ignore_ascii_case(LENGTH_HEADER) {
            let value = value.trim_ascii();
            let n = match parse_length(value) {
                Some(n) => n,
                None => return Header::Broken(FrameError::InvalidLength(String::from_utf8_lossy(value).into_owned())),
            };
            if n > MAX_BODY {
                return Header::Broken(FrameError::TooLarge(n));
            }
            if length.is_some_and(|l| l != n) {
                return Header::Broken(FrameError::InvalidLength("two different values".to_owned()));
            }
            length = Some(n);
        }
        // Other headers (Content-Type) are ignored: LSP bodies are UTF-8 JSON whatever they say.
    }
}

/// A decimal byte count: ASCII digits only (no sign, no spaces inside), at most 19 of them.
fn parse_length(v: &[u8]) -> Option<usize> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Where `content-length:` (any case) starts in `hay` at or after `from`.
fn find_length_header(hay: &[u8], from: usize) -> Option<usize> {
    let n = LENGTH_HEADER.len();
    let mut search = from + n;
    while search < hay.len() {
        let colon = search + memchr::memchr(b':', &hay[search..])?;
        let start = colon - n;
        if hay[start..colon].eq_ignore_ascii_case(LENGTH_HEADER) {
            return Some(start);
        }
        search = colon + 1;
    }
    None
}

enum Scan {
    /// A header line starts at this offset.
    Found(usize),
    /// A possible header line starts inside the body but is not complete yet; searched up to here.
    Wait(usize),
    /// No header line starts before the body's end (among the bytes held).
    Clear,
}

/// Looks for a raw header line (`Content-Length:`, spaces, digits, spaces, `\r\n` or `\n`)
/// starting in `body[from..len]`. Valid JSON never holds one: the name can only sit inside a
/// string, and a raw line break cannot. So a body that holds one ran into the next frame.
fn find_header_line(body: &[u8], from: usize, len: usize) -> Scan {
    let mut from = from;
    while let Some(start) = find_length_header(body, from) {
        if start >= len {
            return Scan::Clear;
        }
        let rest = &body[start + LENGTH_HEADER.len() + 1..];
        let spaces = rest.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
        let digits = rest[spaces..].iter().take_while(|b| b.is_ascii_digit()).count();
        let after = &rest[spaces + digits..];
        let trailing = after.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
        let after = &after[trailing..];
        match after {
            [] | [b'\r'] => return Scan::Wait(start),
            [b'\n', ..] | [b'\r', b'\n', ..] if digits > 0 => return Scan::Found(start),
            _ => from = start + 1,
        }
    }
    // The body's last bytes may be the beginning of a header name whose rest has not arrived:
    // wait for it, or whether the body is cut would depend on how the input was split. Valid
    // JSON never ends with such a beginning (it ends in `}`, `]`, `"`, a digit, `true`,
    // `false` or `null`), so a valid body is never held back.
    let tail_from = from.max(body.len().saturating_sub(LENGTH_HEADER.len()));
    for start in tail_from..len.min(body.len()) {
        let tail = &body[start..];
        if LENGTH_HEADER[..tail.len()].eq_ignore_ascii_case(tail) {
            return Scan::Wait(start);
        }
    }
    Scan::Clear
}

/// A body judged by JSON-RPC 2.0.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A valid request (with an id) or notification (without).
    Request(Request),
    /// The client's answer to one of the server's requests.
    Response(Response),
    /// A batch (JSON-RPC 2.0 §6): each member judged on its own.
    Batch(Vec<Incoming>),
    /// Not valid: send this error answer (its id is null when none could be read).
    Invalid(Response),
    /// A malformed response: never answered (answering a response could loop), only logged.
    Ignored(String),
}

/// Judges one body. Not JSON (including invalid UTF-8 and nesting deeper than 128): Parse
/// error with id null. JSON but not a request, notification or response: Invalid Request with
/// the id when it is an integer or a string. Lone surrogate escapes are replaced with U+FFFD.
pub(crate) fn classify(body: &[u8]) -> Incoming {
    match parse_json(body) {
        Ok(value) => classify_value(value, true),
        Err(message) => Incoming::Invalid(error_response(Id::Null, ErrorCode::ParseError, message)),
    }
}

fn parse_json(body: &[u8]) -> Result<Value, String> {
    if body.is_empty() {
        return Err("Parse error: empty body".to_owned());
    }
    let err = match serde_json::from_slice::<Value>(body) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if let Some(fixed) = replace_lone_surrogates(body)
        && let Ok(v) = serde_json::from_slice::<Value>(&fixed)
    {
        tracing::warn!("a message held lone UTF-16 surrogate escapes; they were replaced with U+FFFD");
        return Ok(v);
    }
    let what = if err.to_string().starts_with("recursion limit exceeded") {
        format!("nesting deeper than 128 levels ({err})")
    } else {
        err.to_string()
    };
    Err(format!("Parse error: {what}"))
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
}

/// Rewrites `\uD800`–`\uDFFF` escapes that are not part of a high+low pair to `\uFFFD`, inside
/// JSON strings only. `None` when there was nothing to replace. JavaScript strings are UTF-16
/// and `JSON.stringify` emits a lone half of a split emoji as such an escape; serde_json
/// rejects it, and one half-character should not cost the whole message.
pub(crate) fn replace_lone_surrogates(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut changed = false;
    let mut in_string = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if !in_string {
            in_string = b == b'"';
            out.push(b);
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = false;
                out.push(b);
                i += 1;
            }
            b'\\' if body.get(i + 1) == Some(&b'u') && hex4(body, i + 2).is_some() => {
                let unit = hex4(body, i + 2).unwrap_or_default();
                let low_follows = body.get(i + 6..i + 8) == Some(b"\\u")
                    && hex4(body, i + 8).is_some_and(|lo| (0xDC00..0xE000).contains(&lo));
                if (0xD800..0xDC00).contains(&unit) && low_follows {
                    out.extend_from_slice(&body[i..i + 12]);
                    i += 12;
                } else if (0xD800..0xE000).contains(&unit) {
                    out.extend_from_slice(b"\\uFFFD");
                    changed = true;
                    i += 6;
                } else {
                    out.extend_from_slice(&body[i..i + 6]);
                    i += 6;
                }
            }
            b'\\' => {
                out.extend_from_slice(&body[i..(i + 2).min(body.len())]);
                i += 2;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// An id the protocol allows: an integer that fits i64, or a string (LSP: `integer | string`).
fn read_id(v: &Value) -> Option<Id> {
    match v {
        Value::Number(n) => n.as_i64().map(Id::Number),
        Value::String(s) => Some(Id::String(s.clone())),
        _ => None,
    }
}

fn classify_value(value: Value, top: bool) -> Incoming {
    match value {
        Value::Array(items) if top => {
            if items.is_empty() {
                Incoming::Invalid(error_response(Id::Null, ErrorCode::InvalidRequest, "Invalid Request: empty batch"))
            } else {
                Incoming::Batch(items.into_iter().map(|v| classify_value(v, false)).collect())
            }
        }
        Value::Object(map) => classify_object(map),
        _ => Incoming::Invalid(error_response(
            Id::Null,
            ErrorCode::InvalidRequest,
            "Invalid Request: a message must be a JSON object",
        )),
    }
}

fn classify_object(mut m: Map<String, Value>) -> Incoming {
    let raw_id = m.remove("id");
    let id = raw_id.as_ref().and_then(read_id);
    let answer_id = id.clone().unwrap_or(Id::Null);
    let invalid = move |why: &str| {
        Incoming::Invalid(error_response(
            answer_id.clone(),
            ErrorCode::InvalidRequest,
            format!("Invalid Request: {why}"),
        ))
    };
    let looks_like_response = !m.contains_key("method") && (m.contains_key("result") || m.contains_key("error"));
    match m.get("jsonrpc") {
        Some(Value::String(v)) if v == "2.0" => {}
        _ if looks_like_response => return Incoming::Ignored("a response without \"jsonrpc\": \"2.0\"".to_owned()),
        None => return invalid("\"jsonrpc\": \"2.0\" is missing"),
        Some(other) => return invalid(&format!("\"jsonrpc\" must be \"2.0\", not {other}")),
    }
    if let Some(method) = m.remove("method") {
        let Value::String(method) = method else {
            return invalid("\"method\" must be a string");
        };
        let params = m.remove("params");
        // JSON-RPC wants an object or an array; null is what lsp4j sends for "no params".
        if params.as_ref().is_some_and(|p| !(p.is_object() || p.is_array() || p.is_null())) {
            return invalid("\"params\" must be an object or an array");
        }
        let mut request = Request::build(method);
        if let Some(params) = params {
            request = request.params(params);
        }
        return match (raw_id, id) {
            (None, _) => Incoming::Request(request.finish()),
            (Some(_), Some(id)) => Incoming::Request(request.id(id).finish()),
            (Some(_), None) => invalid("\"id\" must be an integer or a string"),
        };
    }
    let (result, error) = (m.remove("result"), m.remove("error"));
    match (id, result, error) {
        (_, None, None) => invalid("no \"method\" (nor \"result\" or \"error\" of a response)"),
        (Some(id), Some(result), None) => Incoming::Response(Response::from_ok(id, result)),
        (Some(id), None, Some(error)) => Incoming::Response(Response::from_error(id, read_error(&error))),
        (None, _, error) => Incoming::Ignored(match error {
            Some(e) => format!("an error response without a usable id: {e}"),
            None => "a response without a usable id".to_owned(),
        }),
        (Some(id), Some(_), Some(_)) => Incoming::Ignored(format!("response {id} has both \"result\" and \"error\"")),
    }
}

/// The client's error object, read leniently so the handler waiting for it is answered.
fn read_error(e: &Value) -> Error {
    Error {
        code: ErrorCode::from(e.get("code").and_then(Value::as_i64).unwrap_or(ErrorCode::InternalError.code())),
        message: Cow::Owned(e.get("message").and_then(Value::as_str).unwrap_or("(no message)").to_owned()),
        data: e.get("data").cloned(),
    }
}

fn error_response(id: Id, code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Response {
    Response::from_error(id, Error { code, message: message.into(), data: None })
}

/// The answer to a frame whose `Content-Length` ran into the next header: Invalid Request with
/// the id when the cut body is a message with one (so the client's request is not left
/// waiting), else Parse error.
fn cut_answer(body: &[u8], declared: usize) -> Response {
    let why = format!("Content-Length says {declared} bytes but the next header began after {}", body.len());
    match parse_json(body) {
        Ok(v) => {
            let id = v.get("id").and_then(read_id).unwrap_or(Id::Null);
            error_response(id, ErrorCode::InvalidRequest, format!("Invalid Request: {why}"))
        }
        Err(_) => error_response(Id::Null, ErrorCode::ParseError, format!("Parse error: {why}")),
    }
}

/// The text of a panic's payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    }
}

/// The InternalError (-32603) a panicking request handler answers.
pub(crate) fn panic_error(method: &str, payload: &(dyn std::any::Any + Send)) -> Error {
    let message = panic_message(payload);
    tracing::error!(method, "the handler panicked: {message}");
    Error {
        code: ErrorCode::InternalError,
        message: Cow::Owned(format!("internal error in {method}: {message} (Baton is still running; see its log)")),
        data: None,
    }
}

/// How [`serve`] ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The `exit` notification.
    Exit,
    /// The input closed.
    EndOfInput,
    /// Reading the input failed.
    ReadError(String),
}

/// How the session ended, for the process's exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub end: End,
    /// A `shutdown` request was received before the end.
    pub shutdown: bool,
}

impl Outcome {
    /// Why the exit status is not 0 (LSP: 0 only when `shutdown` came before `exit`), or
    /// `None` when it is 0.
    pub fn failure(&self) -> Option<String> {
        match (&self.end, self.shutdown) {
            (End::ReadError(e), _) => Some(format!("reading the client's messages failed: {e}")),
            (_, true) => None,
            (End::Exit, false) => Some("the client sent exit without a shutdown request first".to_owned()),
            (End::EndOfInput, false) => Some("the client closed the input without shutdown and exit".to_owned()),
        }
    }
}

type Answer = BoxFuture<'static, Option<Response>>;

/// Serializes an outgoing message; `None` (logged) in the impossible case it cannot be.
fn encode<T: Serialize>(message: &T) -> Option<Vec<u8>> {
    match serde_json::to_vec(message) {
        Ok(body) => {
            tracing::trace!("-> {}", String::from_utf8_lossy(&body));
            Some(body)
        }
        Err(e) => {
            tracing::error!("an outgoing message could not be serialized: {e}");
            None
        }
    }
}

/// Writes each message as one `Content-Length` frame and flushes it.
async fn write_frames<O: AsyncWrite + Unpin>(mut output: O, mut messages: mpsc::Receiver<Vec<u8>>) {
    while let Some(body) = messages.next().await {
        step_marks::mark(Step::WriterGot);
        let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        frame.extend_from_slice(&body);
        let written = async {
            output.write_all(&frame).await?;
            output.flush().await
        };
        if let Err(e) = written.await {
            tracing::error!("cannot write to the client: {e}");
            return;
        }
        step_marks::mark(Step::Written);
    }
}

/// The reading side of [`serve`]: validates and dispatches each event.
struct Dispatcher<S> {
    service: S,
    tasks: mpsc::Sender<BoxFuture<'static, Option<Vec<u8>>>>,
    out: mpsc::Sender<Vec<u8>>,
    client_responses: <ClientSocket as Loopback>::ResponseSink,
    shutdown: Arc<AtomicBool>,
    shortcut: Option<Arc<dyn Shortcut>>,
    /// The shortcut's requests not yet answered, for `$/cancelRequest`.
    pending: Arc<parking_lot::Mutex<HashMap<Id, AbortHandle>>>,
}

/// What the read loop does next.
enum Flow {
    Continue,
    Exit,
}

impl<S> Dispatcher<S>
where
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
    S::Error: fmt::Display,
{
    async fn send(&mut self, response: &Response) {
        if let Some(body) = encode(response) {
            let _ = self.out.send(body).await;
        }
    }

    async fn event(&mut self, event: FrameEvent) -> Flow {
        match event {
            FrameEvent::Body(body) => {
                tracing::trace!("<- {}", String::from_utf8_lossy(&body));
                step_marks::mark(Step::BodyFramed);
                if let Some(handler) = self.shortcut(&body) {
                    step_marks::mark(Step::BodyClassified);
                    let _ = self.tasks.send(handler).await;
                    return Flow::Continue;
                }
                let incoming = classify(&body);
                step_marks::mark(Step::BodyClassified);
                self.message(incoming).await
            }
            FrameEvent::Cut { body, declared } => {
                let answer = cut_answer(&body, declared);
                tracing::warn!("{}", answer.error().map(|e| e.message.as_ref()).unwrap_or_default());
                self.send(&answer).await;
                Flow::Continue
            }
            FrameEvent::Broken(FrameError::Truncated) => {
                tracing::warn!("{}", FrameError::Truncated);
                Flow::Continue
            }
            FrameEvent::Broken(e) => {
                tracing::warn!("skipping {e} up to the next Content-Length header");
                self.send(&error_response(Id::Null, ErrorCode::ParseError, format!("Parse error: {e}"))).await;
                Flow::Continue
            }
        }
    }

    async fn message(&mut self, incoming: Incoming) -> Flow {
        match incoming {
            Incoming::Request(request) => {
                let exit = request.method() == "exit";
                let answer = self.call(request).await;
                let _ = self.tasks.send(answer.map(|r| r.as_ref().and_then(encode)).boxed()).await;
                if exit { Flow::Exit } else { Flow::Continue }
            }
            Incoming::Response(response) => {
                if let Err(e) = self.client_responses.send(response).await {
                    tracing::warn!("a response from the client was dropped: {e}");
                }
                Flow::Continue
            }
            Incoming::Invalid(response) => {
                if let Some(e) = response.error() {
                    tracing::warn!("{}", e.message);
                }
                self.send(&response).await;
                Flow::Continue
            }
            Incoming::Ignored(why) => {
                tracing::warn!("ignored {why}");
                Flow::Continue
            }
            Incoming::Batch(items) => {
                let mut answers = Vec::with_capacity(items.len());
                let mut exit = false;
                for item in items {
                    match item {
                        Incoming::Request(request) => {
                            exit |= request.method() == "exit";
                            answers.push(self.call(request).await);
                        }
                        Incoming::Response(response) => {
                            if let Err(e) = self.client_responses.send(response).await {
                                tracing::warn!("a response from the client was dropped: {e}");
                            }
                        }
                        Incoming::Invalid(response) => answers.push(future::ready(Some(response)).boxed()),
                        Incoming::Ignored(why) => tracing::warn!("ignored {why} (in a batch)"),
                        Incoming::Batch(_) => {}
                    }
                }
                // One answer for the batch: an array of the members' responses, none when all
                // members were notifications or responses (JSON-RPC 2.0 §6).
                let batch = future::join_all(answers).map(|responses| {
                    let responses: Vec<Response> = responses.into_iter().flatten().collect();
                    if responses.is_empty() { None } else { encode(&responses) }
                });
                let _ = self.tasks.send(batch.boxed()).await;
                if exit { Flow::Exit } else { Flow::Continue }
            }
        }
    }

    /// The shortcut's handler of `body`, if it takes it, as a future giving the answer's body: a
    /// notification answers nothing; a request answers its result, its error, RequestCancelled or
    /// InternalError. A panic in the shortcut's reading sends the body the usual way; in a
    /// notification's handler it is logged and the session goes on, as the service's would.
    fn shortcut(&self, body: &[u8]) -> Option<BoxFuture<'static, Option<Vec<u8>>>> {
        let shortcut = self.shortcut.as_ref()?;
        if self.shutdown.load(Ordering::SeqCst) || !shortcut.ready() {
            return None;
        }
        let taken = match std::panic::catch_unwind(AssertUnwindSafe(|| shortcut.take(body))) {
            Ok(taken) => taken?,
            Err(payload) => {
                tracing::error!("a message's reading panicked: {}", panic_message(payload.as_ref()));
                return None;
            }
        };
        match taken {
            Taken::Notification(handler) => Some(
                async move {
                    if let Err(payload) = AssertUnwindSafe(handler).catch_unwind().await {
                        tracing::error!("a notification's handler panicked: {}", panic_message(payload.as_ref()));
                    }
                    None
                }
                .boxed(),
            ),
            Taken::Request { id, method, answer } => {
                tracing::debug!(method, %id, "request read past the router");
                let (abort, registration) = AbortHandle::new_pair();
                {
                    let mut pending = self.pending.lock();
                    // A second request with the id of one in flight goes the usual way.
                    if pending.contains_key(&id) {
                        return None;
                    }
                    pending.insert(id.clone(), abort);
                }
                let pending = self.pending.clone();
                Some(
                    async move {
                        let outcome = AssertUnwindSafe(Abortable::new(answer, registration)).catch_unwind().await;
                        pending.lock().remove(&id);
                        let error = match outcome {
                            Ok(Ok(Ok(result))) => return Some(result_body(&id, &result)),
                            Ok(Ok(Err(error))) => error,
                            Ok(Err(Aborted)) => Error::request_cancelled(),
                            Err(payload) => panic_error(method, payload.as_ref()),
                        };
                        encode(&Response::from_error(id, error))
                    }
                    .boxed(),
                )
            }
        }
    }

    /// Cancels the shortcut's request that a `$/cancelRequest` notification names; false when
    /// none does (the service may have it).
    fn cancel(&self, request: &Request) -> bool {
        if request.method() != CANCEL_REQUEST || request.id().is_some() {
            return false;
        }
        let id = request.params().and_then(|p| p.get("id")).and_then(read_id);
        match id.and_then(|id| self.pending.lock().remove(&id)) {
            Some(abort) => {
                abort.abort();
                true
            }
            None => false,
        }
    }

    /// Calls the service for one request or notification; the future answers once it is done.
    async fn call(&mut self, request: Request) -> Answer {
        // A cancellation of the shortcut's request, alone or in a batch: tower-lsp never had it.
        if self.cancel(&request) {
            return future::ready(None).boxed();
        }
        let method = request.method().to_owned();
        let id = request.id().cloned();
        // copilot.el sends `workspace/executeCommand` as a notification (tests/nes/PROTOCOL.md),
        // which tower-lsp-server would drop: run it as a request and answer nothing.
        let (request, silent) = if id.is_none() && method == EXECUTE_COMMAND {
            let (method, _, params) = request.into_parts();
            let mut b = Request::build(method).id(Id::String("baton:notification".to_owned()));
            if let Some(p) = params {
                b = b.params(p);
            }
            (b.finish(), true)
        } else {
            (request, false)
        };
        if silent {
            let answer = self.call_service(request, method).await;
            return async move {
                answer.await;
                None
            }
            .boxed();
        }
        self.call_service(request, method).await
    }

    async fn call_service(&mut self, request: Request, method: String) -> Answer {
        let id = request.id().cloned();
        if let Some(id) = id.clone()
            && method.starts_with("$/")
        {
            // LSP: a `$/` request the server does not implement is answered MethodNotFound
            // (tower-lsp-server drops that answer); `$/` notifications go on to be ignored.
            let mut error = Error::method_not_found();
            error.data = Some(Value::String(method));
            return future::ready(Some(Response::from_error(id, error))).boxed();
        }
        if let Err(e) = future::poll_fn(|cx| self.service.poll_ready(cx)).await {
            tracing::error!(method, "the server cannot take messages: {e}");
            return future::ready(id.map(|id| Response::from_error(id, Error::internal_error()))).boxed();
        }
        let call = std::panic::catch_unwind(AssertUnwindSafe(|| self.service.call(request)));
        let handler = match call {
            Ok(handler) => handler,
            Err(payload) => {
                return future::ready(id.map(|id| Response::from_error(id, panic_error(&method, payload.as_ref()))))
                    .boxed();
            }
        };
        if method == "shutdown" && id.is_some() {
            // LSP: status 0 when shutdown was *received* before exit; a client that sends exit
            // without awaiting the answer has its shutdown cancelled by exit, and still counts.
            self.shutdown.store(true, Ordering::SeqCst);
        }
        async move {
            match AssertUnwindSafe(handler).catch_unwind().await {
                Ok(Ok(response)) => response,
                Ok(Err(e)) => {
                    tracing::error!(method, "the server failed the message: {e}");
                    id.map(|id| Response::from_error(id, Error::internal_error()))
                }
                Err(payload) => {
                    let error = panic_error(&method, payload.as_ref());
                    id.map(|id| Response::from_error(id, error))
                }
            }
        }
        .boxed()
    }
}

/// The LSP method a client may also send as a notification (copilot.el).
const EXECUTE_COMMAND: &str = "workspace/executeCommand";

/// The LSP notification that cancels a request (§"Cancellation Support").
const CANCEL_REQUEST: &str = "$/cancelRequest";

/// A response's body from its `result`, already JSON text (a [`Taken::Request`]'s), so the result
/// is not read back into a `Value` to be written again.
fn result_body(id: &Id, result: &[u8]) -> Vec<u8> {
    let id = match id {
        Id::Number(n) => n.to_string(),
        Id::String(s) => serde_json::to_string(s).unwrap_or_else(|_| "null".to_owned()),
        Id::Null => "null".to_owned(),
    };
    let mut body = Vec::with_capacity(result.len() + id.len() + 32);
    body.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"result\":");
    body.extend_from_slice(result);
    body.extend_from_slice(b",\"id\":");
    body.extend_from_slice(id.as_bytes());
    body.push(b'}');
    tracing::trace!("-> {}", String::from_utf8_lossy(&body));
    body
}

/// Serves an `LspService` (and its `ClientSocket`) over `input` and `output` until `exit` or
/// the end of input, with up to `concurrency` handlers in flight, the messages `shortcut` takes
/// handled by it and their requests answered here. Never ends on a malformed message: each is
/// answered per JSON-RPC 2.0 and reading goes on.
pub async fn serve<I, O, S>(
    mut input: I,
    output: O,
    (service, socket): (S, ClientSocket),
    shortcut: Option<Arc<dyn Shortcut>>,
    concurrency: usize,
) -> Outcome
where
    I: AsyncRead + Unpin,
    O: AsyncWrite + Unpin,
    S: Service<Request, Response = Option<Response>>,
    S::Future: Send + 'static,
    S::Error: fmt::Display,
{
    let (client_requests, client_responses) = socket.split();
    let (client_requests, client_requests_abort) = futures::stream::abortable(client_requests);
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(OUTPUT_QUEUE);
    let (tasks_tx, tasks_rx) = mpsc::channel::<BoxFuture<'static, Option<Vec<u8>>>>(TASK_QUEUE);
    let shutdown = Arc::new(AtomicBool::new(false));
    let (read_done_tx, read_done_rx) = futures::channel::oneshot::channel::<()>();

    // Handlers run in this one task, first polled in arrival order (as tower-lsp-server's
    // transport): notification handlers that change state before their first await keep order.
    let process =
        tasks_rx.buffer_unordered(concurrency.max(1)).filter_map(future::ready).map(Ok).forward(out_tx.clone());
    let forward_requests = client_requests.filter_map(|r| future::ready(encode(&r))).map(Ok).forward(out_tx.clone());
    let write = write_frames(output, out_rx);
    let drain = async {
        let all = future::join3(process, forward_requests, write);
        let late = async {
            let _ = read_done_rx.await;
            tokio::time::sleep(GRACE).await;
        };
        futures::pin_mut!(all, late);
        if let future::Either::Right(_) = future::select(all, late).await {
            tracing::warn!("stopped waiting for handlers still running {GRACE:?} after the input ended");
        }
    };

    let mut dispatcher = Dispatcher {
        service,
        tasks: tasks_tx,
        out: out_tx,
        client_responses,
        shutdown: shutdown.clone(),
        shortcut,
        pending: Arc::default(),
    };
    let read = async move {
        let mut framer = Framer::default();
        let mut chunk = vec![0u8; 64 * 1024];
        let end = 'read: loop {
            while let Some(event) = framer.next_event() {
                if let Flow::Exit = dispatcher.event(event).await {
                    break 'read End::Exit;
                }
            }
            match input.read(&mut chunk).await {
                Ok(0) => {
                    if let Some(event) = framer.finish() {
                        dispatcher.event(event).await;
                    }
                    break End::EndOfInput;
                }
                Ok(n) => {
                    step_marks::mark(Step::InputRead);
                    framer.push(&chunk[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break End::ReadError(e.to_string()),
            }
        };
        drop(dispatcher);
        client_requests_abort.abort();
        let _ = read_done_tx.send(());
        end
    };

    let (end, ()) = future::join(read, drain).await;
    Outcome { end, shutdown: shutdown.load(Ordering::SeqCst) }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use serde_json::json;
    use tokio::io::{AsyncBufReadExt, BufReader, DuplexStream};
    use tower_lsp_server::gen_lsp_types::{InitializeParams, InitializeResult, MessageType};
    use tower_lsp_server::{Client, LanguageServer, LspService};

    use super::*;

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut f = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
        f.extend_from_slice(body);
        f
    }

    /// Every event for `input` fed in chunks of `chunk` bytes, then the end of input.
    fn events(input: &[u8], chunk: usize) -> Vec<FrameEvent> {
        let mut framer = Framer::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk.max(1)) {
            framer.push(piece);
            while let Some(e) = framer.next_event() {
                out.push(e);
            }
        }
        out.extend(framer.finish());
        out
    }

    fn body(s: &str) -> FrameEvent {
        FrameEvent::Body(s.as_bytes().to_vec())
    }

    const MSG: &str = r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#;
    const MSG2: &str = r#"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#;

    #[test]
    fn frames_are_read_whole_whatever_the_chunking() {
        let input = [frame(MSG.as_bytes()), frame(MSG2.as_bytes())].concat();
        for chunk in [1, 2, 7, 64, input.len()] {
            assert_eq!(events(&input, chunk), vec![body(MSG), body(MSG2)], "chunk {chunk}");
        }
    }

    #[test]
    fn lenient_headers_are_accepted() {
        let lower = format!("content-length: {}\r\n\r\n{MSG}", MSG.len());
        let lf_only = format!("Content-Length: {}\n\n{MSG}", MSG.len());
        let typed = format!(
            "Content-Type: application/vscode-jsonrpc; charset=utf-8\r\nContent-Length:{}\r\n\r\n{MSG}",
            MSG.len()
        );
        let blank_between = format!("\r\n{}\r\n", String::from_utf8_lossy(&frame(MSG.as_bytes())));
        for input in [lower, lf_only, typed, blank_between] {
            assert_eq!(events(input.as_bytes(), 3), vec![body(MSG)], "{input:?}");
        }
    }

    #[test]
    fn garbage_before_a_frame_is_reported_once_and_skipped() {
        for garbage in ["garbage", "garbage\r\n", "{\"jsonrpc\":\"2.0\"}\r\n\r\n", "\u{0}\u{1}\u{2}", "X-Foo: bar"] {
            let input = [garbage.as_bytes(), &frame(MSG.as_bytes())].concat();
            for chunk in [1, 5, input.len()] {
                let got = events(&input, chunk);
                assert_eq!(got.len(), 2, "{garbage:?} chunk {chunk}: {got:?}");
                assert!(matches!(got[0], FrameEvent::Broken(_)), "{garbage:?}: {got:?}");
                assert_eq!(got[1], body(MSG), "{garbage:?}");
            }
        }
    }

    #[test]
    fn broken_lengths_resynchronise_on_the_next_header() {
        let next = frame(MSG2.as_bytes());
        let cases: Vec<(String, FrameError)> = vec![
            (format!("Content-Type: x\r\n\r\n{MSG}"), FrameError::MissingLength),
            (format!("Content-Length: abc\r\n\r\n{MSG}"), FrameError::InvalidLength("abc".into())),
            (format!("Content-Length: -5\r\n\r\n{MSG}"), FrameError::InvalidLength("-5".into())),
            (
                format!("Content-Length: 99999999999999999999\r\n\r\n{MSG}"),
                FrameError::InvalidLength("99999999999999999999".into()),
            ),
            (format!("Content-Length: {}\r\n\r\n{MSG}", MAX_BODY + 1), FrameError::TooLarge(MAX_BODY + 1)),
            (
                format!("Content-Length: 5\r\nContent-Length: 6\r\n\r\n{MSG}"),
                FrameError::InvalidLength("two different values".into()),
            ),
        ];
        for (bad, error) in cases {
            let input = [bad.as_bytes(), &next].concat();
            let got = events(&input, 4);
            assert_eq!(got.first(), Some(&FrameEvent::Broken(error)), "{bad:?}");
            assert_eq!(got.last(), Some(&body(MSG2)), "{bad:?}");
            // Two lengths that disagree: the second header is the next one to resynchronise on.
            if !bad.contains("Content-Length: 6") {
                assert_eq!(got.len(), 2, "{bad:?}: {got:?}");
            }
        }
    }

    #[test]
    fn a_length_too_short_answers_the_cut_body_then_skips_the_rest() {
        let input = [format!("Content-Length: 10\r\n\r\n{MSG}").as_bytes(), &frame(MSG2.as_bytes())].concat();
        assert_eq!(events(&input, 3), vec![body(&MSG[..10]), FrameEvent::Broken(FrameError::NotAHeader), body(MSG2)]);
    }

    #[test]
    fn a_length_too_long_is_cut_at_the_next_header_even_while_waiting_for_more() {
        let bad = format!("Content-Length: 500\r\n\r\n{MSG}");
        let input = [bad.as_bytes(), &frame(MSG2.as_bytes())].concat();
        for chunk in [1, 9, input.len()] {
            assert_eq!(
                events(&input, chunk),
                vec![FrameEvent::Cut { body: MSG.as_bytes().to_vec(), declared: 500 }, body(MSG2)],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_header_named_inside_a_json_string_does_not_cut_the_body() {
        // Escaped line breaks are text; a raw one cannot be inside a JSON string.
        let text = r#"{"jsonrpc":"2.0","method":"x","params":{"text":"Content-Length: 5\r\n\r\nContent-Length: 7"}}"#;
        assert_eq!(events(&frame(text.as_bytes()), 2), vec![body(text)]);
    }

    #[test]
    fn an_endless_header_or_garbage_stays_bounded() {
        let mut framer = Framer::default();
        framer.push(&vec![b'a'; MAX_HEADER + 2]);
        assert_eq!(framer.next_event(), Some(FrameEvent::Broken(FrameError::HeaderTooLong)));
        for _ in 0..100 {
            framer.push(&[b'x'; 100_000]);
            assert_eq!(framer.next_event(), None);
            assert!(framer.buffered() <= LENGTH_HEADER.len(), "{}", framer.buffered());
        }
        framer.push(&frame(MSG.as_bytes()));
        assert_eq!(framer.next_event(), Some(body(MSG)));
    }

    #[test]
    fn a_large_message_does_not_leave_its_room_behind() {
        let mut framer = Framer::default();
        let big = format!(r#"{{"text":"{}"}}"#, "x".repeat(1 << 20));
        framer.push(&frame(big.as_bytes()));
        assert_eq!(framer.next_event(), Some(body(&big)));
        assert!(framer.capacity() <= KEEP_BYTES, "{} bytes kept", framer.capacity());
        framer.push(&frame(MSG.as_bytes()));
        assert_eq!(framer.next_event(), Some(body(MSG)));
    }

    #[test]
    fn input_ending_inside_a_frame_is_reported() {
        assert_eq!(events(b"Content-Length: 50\r\n\r\n{\"a\"", 4), vec![FrameEvent::Broken(FrameError::Truncated)]);
        assert_eq!(events(b"Content-Len", 4), vec![FrameEvent::Broken(FrameError::Truncated)]);
        assert_eq!(events(b"\r\n\r\n", 4), vec![]);
    }

    fn code(incoming: &Incoming) -> (i64, Value) {
        match incoming {
            Incoming::Invalid(r) => {
                (r.error().map(|e| e.code.code()).unwrap_or_default(), serde_json::to_value(r.id()).unwrap_or_default())
            }
            other => panic!("expected an error answer, got {other:?}"),
        }
    }

    #[test]
    fn bodies_that_are_not_json_are_parse_errors_with_id_null() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        for b in [&b"{bad"[..], b"", b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\xff\"}", deep.as_bytes()] {
            assert_eq!(code(&classify(b)), (-32700, Value::Null), "{}", String::from_utf8_lossy(b));
        }
        let Incoming::Invalid(r) = classify(deep.as_bytes()) else { panic!() };
        assert!(r.error().is_some_and(|e| e.message.contains("nesting deeper than 128")), "{r:?}");
    }

    #[test]
    fn json_that_is_not_a_request_is_invalid_request_with_the_id_when_readable() {
        let cases = [
            (json!({}), Value::Null),
            (json!(5), Value::Null),
            (json!("x"), Value::Null),
            (json!([]), Value::Null),
            (json!({"jsonrpc":"2.0","id":1.5,"method":"x"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":{},"method":"x"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":1e30,"method":"x"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":null,"method":"x"}), Value::Null),
            (json!({"jsonrpc":"2.0","id":u64::MAX,"method":"x"}), Value::Null),
            (json!({"id":3,"method":"x"}), json!(3)),
            (json!({"jsonrpc":"1.0","id":"a","method":"x"}), json!("a")),
            (json!({"jsonrpc":2.0,"id":4,"method":"x"}), json!(4)),
            (json!({"jsonrpc":"2.0","id":5,"method":5}), json!(5)),
            (json!({"jsonrpc":"2.0","id":6,"method":"x","params":"p"}), json!(6)),
            (json!({"jsonrpc":"2.0","id":7}), json!(7)),
        ];
        for (v, id) in cases {
            assert_eq!(code(&classify(v.to_string().as_bytes())), (-32600, id), "{v}");
        }
    }

    #[test]
    fn requests_notifications_and_responses_are_recognised() {
        let Incoming::Request(r) = classify(br#"{"jsonrpc":"2.0","id":-3,"method":"m","params":null}"#) else {
            panic!()
        };
        assert_eq!((r.method(), r.id()), ("m", Some(&Id::Number(-3))));
        let Incoming::Request(r) = classify(br#"{"jsonrpc":"2.0","method":"n"}"#) else { panic!() };
        assert_eq!((r.method(), r.id()), ("n", None));
        let Incoming::Response(r) = classify(br#"{"jsonrpc":"2.0","id":"s","result":null}"#) else { panic!() };
        assert_eq!(r.id(), &Id::String("s".into()));
        let Incoming::Response(r) = classify(br#"{"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"no","x":1}}"#)
        else {
            panic!()
        };
        assert_eq!(r.error().map(|e| e.code.code()), Some(-1));
        for ignored in [
            &br#"{"id":9,"result":1}"#[..],
            br#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#,
            br#"{"jsonrpc":"2.0","id":9,"result":1,"error":{}}"#,
        ] {
            assert!(matches!(classify(ignored), Incoming::Ignored(_)), "{}", String::from_utf8_lossy(ignored));
        }
        let Incoming::Batch(items) = classify(br#"[{"jsonrpc":"2.0","method":"n"},1]"#) else { panic!() };
        assert!(matches!(items[..], [Incoming::Request(_), Incoming::Invalid(_)]));
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let Incoming::Request(r) = classify(
            br#"{"jsonrpc":"2.0","id":"a\ud800b","method":"m\udc00","params":{"t":"\ud83d\u0041 \ud83d\ude00"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(r.id(), Some(&Id::String("a\u{FFFD}b".into())));
        assert_eq!(r.method(), "m\u{FFFD}");
        assert_eq!(r.params(), Some(&json!({"t": "\u{FFFD}A \u{1F600}"})));
        // Not escapes: an escaped backslash before `u`, and text outside strings.
        assert_eq!(replace_lone_surrogates(br#"{"a":"\\ud800"}"#), None);
        assert_eq!(replace_lone_surrogates(br#"{"a":"\ud83d\ude00"}"#), None);
    }

    #[derive(Debug)]
    struct Mock {
        client: Client,
        /// What the notifications of `test/slow` and of the shortcut were, in the order handled.
        log: Arc<std::sync::Mutex<Vec<String>>>,
        /// Set by `initialize`: the shortcut's [`Shortcut::ready`].
        ready: Arc<AtomicBool>,
    }

    impl LanguageServer for Mock {
        async fn initialize(&self, _: InitializeParams) -> tower_lsp_server::jsonrpc::Result<InitializeResult> {
            self.ready.store(true, Ordering::SeqCst);
            Ok(InitializeResult::default())
        }
        async fn shutdown(&self) -> tower_lsp_server::jsonrpc::Result<()> {
            Ok(())
        }
    }

    impl Mock {
        async fn echo(&self, params: Value) -> tower_lsp_server::jsonrpc::Result<Value> {
            // A server-to-client message in the middle of answering: frames must not interleave.
            self.client.log_message(MessageType::Log, "echo").await;
            Ok(params)
        }
        async fn panic(&self, _: Value) -> tower_lsp_server::jsonrpc::Result<Value> {
            panic!("request boom")
        }
        async fn panic_notification(&self, _: Value) {
            panic!("notification boom")
        }
        /// `test/fastRequest` when the shortcut does not take it.
        async fn fast_request(&self, params: Value) -> tower_lsp_server::jsonrpc::Result<Value> {
            Ok(json!({"router": params["n"]}))
        }
        async fn slow(&self, params: Value) {
            self.log.lock().expect("log").push(format!("router {}", params["n"]));
        }
    }

    /// Takes `test/fast` notifications whose body is exactly
    /// `{"jsonrpc":"2.0","method":"test/fast","params":{"n":N}}`, logging `fast N`, and
    /// `test/fastRequest` requests `{"jsonrpc":"2.0","id":ID,"method":"test/fastRequest","params":{"n":N}}`,
    /// answering `{"n":N}`, except N = 0 (never answers), 1 (panics) and 2 (InvalidParams);
    /// panics reading a body that holds `boom`. Ready once the mock's `initialize` has run.
    struct Fast {
        log: Arc<std::sync::Mutex<Vec<String>>>,
        ready: Arc<AtomicBool>,
    }

    impl Shortcut for Fast {
        fn take(&self, body: &[u8]) -> Option<Taken> {
            let text = std::str::from_utf8(body).ok()?;
            assert!(!text.contains("boom"), "a shortcut that panics");
            if let Some(n) = text.strip_prefix(r#"{"jsonrpc":"2.0","method":"test/fast","params":{"n":"#) {
                let n: u32 = n.strip_suffix("}}")?.parse().ok()?;
                let (log, entry) = (self.log.clone(), format!("fast {n}"));
                return Some(Taken::Notification(async move { log.lock().expect("log").push(entry) }.boxed()));
            }
            let (id, rest) = text.strip_prefix(r#"{"jsonrpc":"2.0","id":"#)?.split_once(',')?;
            let id: Id = serde_json::from_str(id).ok()?;
            let n: u32 =
                rest.strip_prefix(r#""method":"test/fastRequest","params":{"n":"#)?.strip_suffix("}}")?.parse().ok()?;
            let answer = async move {
                match n {
                    0 => future::pending().await,
                    1 => panic!("fast request boom"),
                    2 => Err(Error::invalid_params("n = 2")),
                    n => Ok(format!(r#"{{"n":{n}}}"#).into_bytes()),
                }
            };
            Some(Taken::Request { id, method: "test/fastRequest", answer: answer.boxed() })
        }

        fn ready(&self) -> bool {
            self.ready.load(Ordering::SeqCst)
        }
    }

    struct Session {
        input: DuplexStream,
        output: BufReader<DuplexStream>,
        task: tokio::task::JoinHandle<Outcome>,
    }

    impl Session {
        fn start() -> Session {
            Self::start_with(Arc::default(), false)
        }

        /// A session whose notifications log into `log`, with the [`Fast`] shortcut when `fast`.
        fn start_with(log: Arc<std::sync::Mutex<Vec<String>>>, fast: bool) -> Session {
            let (input, server_in) = tokio::io::duplex(1 << 20);
            let (server_out, output) = tokio::io::duplex(1 << 20);
            let ready = Arc::new(AtomicBool::new(false));
            let shortcut = fast.then(|| Arc::new(Fast { log: log.clone(), ready: ready.clone() }) as Arc<dyn Shortcut>);
            let (service, socket) = LspService::build(|client| Mock { client, log, ready })
                .custom_method("test/slow", Mock::slow)
                .custom_method("test/fastRequest", Mock::fast_request)
                .custom_method("test/echo", Mock::echo)
                .custom_method("test/panic", Mock::panic)
                .custom_method("test/panicNotification", Mock::panic_notification)
                .finish();
            let task = tokio::spawn(serve(server_in, server_out, (service, socket), shortcut, 4));
            Session { input, output: BufReader::new(output), task }
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.input.write_all(bytes).await.expect("write");
        }

        async fn send_json(&mut self, v: Value) {
            self.send(&frame(v.to_string().as_bytes())).await;
        }

        async fn recv(&mut self) -> Value {
            tokio::time::timeout(Duration::from_secs(10), async {
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    self.output.read_line(&mut line).await.expect("read");
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    len = line.strip_prefix("Content-Length: ").expect("header").parse().expect("length");
                }
                let mut body = vec![0; len];
                self.output.read_exact(&mut body).await.expect("body");
                serde_json::from_slice(&body).expect("every frame the server writes is JSON")
            })
            .await
            .expect("an answer in time")
        }

        /// The next message that is not a log notification.
        async fn answer(&mut self) -> Value {
            loop {
                let v = self.recv().await;
                if v["method"] != "window/logMessage" {
                    return v;
                }
            }
        }

        async fn initialize(&mut self) {
            self.send_json(json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{"capabilities":{}}})).await;
            assert_eq!(self.answer().await["id"], 0);
        }

        async fn end(self) -> Outcome {
            drop(self.input);
            tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("ends in time").expect("join")
        }
    }

    #[tokio::test]
    async fn malformed_input_is_answered_and_the_session_goes_on() {
        let mut s = Session::start();
        s.initialize().await;
        s.send(b"garbage").await;
        s.send(&frame(b"{not json")).await;
        s.send_json(json!({"jsonrpc":"2.0","id":1.5,"method":"test/echo"})).await;
        s.send_json(json!({"jsonrpc":"2.0","id":3,"method":"test/echo","params":{"n":3}})).await;
        let answers = [s.answer().await, s.answer().await, s.answer().await, s.answer().await];
        assert_eq!(answers[0]["error"]["code"], -32700, "{answers:?}");
        assert_eq!(answers[1]["error"]["code"], -32700, "{answers:?}");
        assert_eq!((&answers[2]["error"]["code"], &answers[2]["id"]), (&json!(-32600), &Value::Null));
        assert_eq!(answers[3], json!({"jsonrpc":"2.0","id":3,"result":{"n":3}}));
        assert_eq!(s.end().await, Outcome { end: End::EndOfInput, shutdown: false });
    }

    /// The shortcut's notifications are handled in arrival order with the router's; what it does
    /// not take (a request, another shape) goes to the service; its panic ends nothing.
    #[tokio::test]
    async fn a_shortcut_keeps_the_order_and_leaves_the_rest_to_the_service() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut s = Session::start_with(log.clone(), true);
        s.initialize().await;
        for n in 1..=6 {
            let method = if n % 2 == 0 { "test/fast" } else { "test/slow" };
            s.send(&frame(format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{{"n":{n}}}}}"#).as_bytes())).await;
        }
        // A request with the shortcut's method, a body it does not take, and one it panics on.
        s.send(&frame(br#"{"jsonrpc":"2.0","id":7,"method":"test/fast","params":{"n":7}}"#)).await;
        s.send(&frame(br#"{"jsonrpc":"2.0","method":"test/fast","params":{"n":8,"x":1}}"#)).await;
        s.send(&frame(br#"{"jsonrpc":"2.0","method":"test/fast","params":{"n":"boom"}}"#)).await;
        s.send_json(json!({"jsonrpc":"2.0","id":10,"method":"test/echo","params":{"n":10}})).await;
        let not_found = s.answer().await;
        assert_eq!((not_found["id"].clone(), not_found["error"]["code"].clone()), (json!(7), json!(-32601)));
        assert_eq!(s.answer().await["result"]["n"], 10);
        let handled = log.lock().expect("log").clone();
        assert_eq!(handled, ["router 1", "fast 2", "router 3", "fast 4", "router 5", "fast 6"]);
        assert_eq!(s.end().await.end, End::EndOfInput);
    }

    /// A request the shortcut takes is answered as the service would answer it: its result, its
    /// error, RequestCancelled once `$/cancelRequest` names it, InternalError when its handler
    /// panics; and the session goes on.
    #[tokio::test]
    async fn a_shortcut_request_is_answered_cancelled_or_failed_as_the_services_would_be() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut s = Session::start_with(log, true);
        s.initialize().await;
        let request = |id: &str, n: u32| {
            frame(
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"test/fastRequest","params":{{"n":{n}}}}}"#).as_bytes(),
            )
        };
        s.send(&request("11", 0)).await;
        s.send(&request("10", 5)).await;
        assert_eq!(s.answer().await, json!({"jsonrpc":"2.0","id":10,"result":{"n":5}}));
        // A cancellation of an id nobody has, then of the waiting request.
        s.send_json(json!({"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":99}})).await;
        s.send_json(json!({"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":11}})).await;
        let cancelled = s.answer().await;
        assert_eq!((&cancelled["id"], &cancelled["error"]["code"]), (&json!(11), &json!(-32800)), "{cancelled}");
        s.send(&request(r#""s\"q""#, 2)).await;
        let failed = s.answer().await;
        assert_eq!((&failed["id"], &failed["error"]["code"]), (&json!("s\"q"), &json!(-32602)), "{failed}");
        s.send(&request("13", 1)).await;
        let panicked = s.answer().await;
        assert_eq!((&panicked["id"], &panicked["error"]["code"]), (&json!(13), &json!(-32603)), "{panicked}");
        assert!(panicked["error"]["message"].as_str().is_some_and(|m| m.contains("fast request boom")), "{panicked}");
        // One the shortcut does not take goes to the service.
        s.send_json(json!({"jsonrpc":"2.0","id":12,"method":"test/fastRequest","params":{"n":6,"x":1}})).await;
        assert_eq!(s.answer().await, json!({"jsonrpc":"2.0","id":12,"result":{"router":6}}));
        // A cancellation inside a batch cancels too (the batch itself answers nothing: it holds
        // only a notification).
        s.send(&request("15", 0)).await;
        s.send_json(json!([{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":15}}])).await;
        let cancelled = s.answer().await;
        assert_eq!((&cancelled["id"], &cancelled["error"]["code"]), (&json!(15), &json!(-32800)), "{cancelled}");
        // The id of the cancelled request may be used again.
        s.send(&request("11", 7)).await;
        assert_eq!(s.answer().await, json!({"jsonrpc":"2.0","id":11,"result":{"n":7}}));
        s.send_json(json!({"jsonrpc":"2.0","id":14,"method":"test/echo","params":{"n":14}})).await;
        assert_eq!(s.answer().await["result"]["n"], 14);
        assert_eq!(s.end().await.end, End::EndOfInput);
    }

    /// Before `initialize` is answered and after `shutdown`, the shortcut takes nothing: the
    /// service answers as it always did (ServerNotInitialized, then InvalidRequest).
    #[tokio::test]
    async fn before_initialize_and_after_shutdown_the_shortcut_takes_nothing() {
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut s = Session::start_with(log.clone(), true);
        let request = |id: u32| {
            frame(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"test/fastRequest","params":{{"n":5}}}}"#).as_bytes())
        };
        s.send(&request(1)).await;
        assert_eq!(s.answer().await["error"]["code"], -32002);
        s.initialize().await;
        s.send(&frame(br#"{"jsonrpc":"2.0","method":"test/fast","params":{"n":3}}"#)).await;
        s.send(&request(2)).await;
        assert_eq!(s.answer().await["result"]["n"], 5);
        s.send_json(json!({"jsonrpc":"2.0","id":3,"method":"shutdown"})).await;
        assert_eq!(s.answer().await["id"], 3);
        s.send(&frame(br#"{"jsonrpc":"2.0","method":"test/fast","params":{"n":4}}"#)).await;
        s.send(&request(4)).await;
        assert_eq!(s.answer().await["error"]["code"], -32600);
        assert_eq!(log.lock().expect("log").clone(), ["fast 3"]);
        assert_eq!(s.end().await, Outcome { end: End::EndOfInput, shutdown: true });
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_internal_error_and_the_session_goes_on() {
        let mut s = Session::start();
        s.initialize().await;
        s.send_json(json!({"jsonrpc":"2.0","id":1,"method":"test/panic","params":{}})).await;
        let answer = s.answer().await;
        assert_eq!((&answer["id"], &answer["error"]["code"]), (&json!(1), &json!(-32603)), "{answer}");
        assert!(answer["error"]["message"].as_str().is_some_and(|m| m.contains("request boom")), "{answer}");
        s.send_json(json!({"jsonrpc":"2.0","method":"test/panicNotification","params":{}})).await;
        s.send_json(json!({"jsonrpc":"2.0","id":2,"method":"test/echo","params":[2]})).await;
        assert_eq!(s.answer().await, json!({"jsonrpc":"2.0","id":2,"result":[2]}));
        s.send_json(json!({"jsonrpc":"2.0","id":3,"method":"shutdown"})).await;
        assert_eq!(s.answer().await["result"], Value::Null);
        s.send_json(json!({"jsonrpc":"2.0","method":"exit"})).await;
        assert_eq!(s.end().await, Outcome { end: End::Exit, shutdown: true });
    }

    #[tokio::test]
    async fn dollar_requests_get_method_not_found_and_dollar_notifications_nothing() {
        let mut s = Session::start();
        s.initialize().await;
        s.send_json(json!({"jsonrpc":"2.0","method":"$/unknown","params":{}})).await;
        s.send_json(json!({"jsonrpc":"2.0","id":"d","method":"$/unknown","params":{}})).await;
        let answer = s.answer().await;
        assert_eq!((&answer["id"], &answer["error"]["code"]), (&json!("d"), &json!(-32601)), "{answer}");
        s.send_json(json!({"jsonrpc":"2.0","method":"exit"})).await;
        let outcome = s.end().await;
        assert_eq!(outcome, Outcome { end: End::Exit, shutdown: false });
        assert!(outcome.failure().is_some_and(|f| f.contains("without a shutdown")));
    }

    #[tokio::test]
    async fn a_batch_is_answered_with_one_array() {
        let mut s = Session::start();
        s.initialize().await;
        s.send_json(json!([
            {"jsonrpc":"2.0","id":1,"method":"test/echo","params":[1]},
            {"jsonrpc":"2.0","method":"test/echo","params":[0]},
            {"jsonrpc":"2.0","id":2,"method":"$/x"},
            7,
        ]))
        .await;
        let answer = s.answer().await;
        let items = answer.as_array().expect("an array");
        assert_eq!(items.len(), 3, "{answer}");
        assert_eq!(items[0], json!({"jsonrpc":"2.0","id":1,"result":[1]}));
        assert_eq!(items[1]["error"]["code"], -32601);
        assert_eq!(items[2]["error"]["code"], -32600);
        // Only notifications: no answer at all; the next request is answered next.
        s.send_json(json!([{"jsonrpc":"2.0","method":"test/echo","params":[0]}])).await;
        s.send_json(json!({"jsonrpc":"2.0","id":3,"method":"test/echo","params":[3]})).await;
        assert_eq!(s.answer().await["id"], 3);
    }

    #[tokio::test]
    async fn many_concurrent_answers_and_server_messages_come_out_as_whole_frames() {
        let mut s = Session::start();
        s.initialize().await;
        let big = "x".repeat(100_000);
        let mut input = Vec::new();
        for id in 0..50 {
            input.extend(frame(
                json!({"jsonrpc":"2.0","id":id,"method":"test/echo","params":[big]}).to_string().as_bytes(),
            ));
        }
        s.send(&input).await;
        let mut ids = Vec::new();
        while ids.len() < 50 {
            let v = s.recv().await; // panics on a frame that is not whole JSON
            if let Some(id) = v["id"].as_i64() {
                assert_eq!(v["result"][0].as_str().map(str::len), Some(100_000));
                ids.push(id);
            }
        }
        ids.sort_unstable();
        assert_eq!(ids, (0..50).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn shutdown_and_exit_sent_together_are_a_clean_end() {
        let mut s = Session::start();
        s.initialize().await;
        let both =
            [frame(br#"{"jsonrpc":"2.0","id":1,"method":"shutdown"}"#), frame(br#"{"jsonrpc":"2.0","method":"exit"}"#)];
        s.send(&both.concat()).await;
        assert_eq!(s.end().await, Outcome { end: End::Exit, shutdown: true });
    }

    #[tokio::test]
    async fn end_of_input_after_shutdown_is_a_clean_end() {
        let mut s = Session::start();
        s.initialize().await;
        s.send_json(json!({"jsonrpc":"2.0","id":1,"method":"shutdown"})).await;
        s.answer().await;
        let outcome = s.end().await;
        assert_eq!(outcome, Outcome { end: End::EndOfInput, shutdown: true });
        assert_eq!(outcome.failure(), None);
    }

    // Property tests over the framing layer and the classifier. CI runs a few thousand cases;
    // a long local run sets BATON_FUZZ_CASES (e.g. 1000000).
    fn fuzz_cases(ci_default: u32) -> ProptestConfig {
        let cases = std::env::var("BATON_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(ci_default);
        ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
    }

    /// Pieces a hostile or broken client might send.
    fn piece() -> impl Strategy<Value = Vec<u8>> {
        let json_body = prop_oneof![
            Just(MSG.to_owned()),
            Just(MSG2.to_owned()),
            "[a-z\"{}:,\\[\\] 0-9\\\\]{0,40}",
            Just(r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"t":"a\ud800b"}}"#.to_owned()),
        ];
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..40),
            json_body.clone().prop_map(|b| frame(b.as_bytes())),
            (json_body.clone(), -8i64..40).prop_map(|(b, delta)| {
                let n = (b.len() as i64 + delta).max(0);
                [format!("Content-Length: {n}\r\n\r\n").into_bytes(), b.into_bytes()].concat()
            }),
            prop::sample::select(vec![
                "Content-Length: ",
                "content-length:",
                "Content-Length: 5",
                "\r\n",
                "\r\n\r\n",
                "\n",
                "\r",
                "Content-Type: x\r\n",
                "Content-Length: 99999999999\r\n\r\n",
                "Content-Length: -1\r\n\r\n",
                "Content-Length: 0\r\n\r\n",
                "{",
                "}",
                "\"",
                "\\",
                "\\u",
                "\\ud800",
                ":",
            ])
            .prop_map(|s| s.as_bytes().to_vec()),
        ]
    }

    fn hostile_input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(piece(), 0..8).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(fuzz_cases(3000))]

        /// Never panics, holds no more than a frame, and sees the same events however the
        /// input is split.
        #[test]
        fn framing_is_total_bounded_and_chunking_independent(input in hostile_input(), chunk in 1usize..64) {
            let whole = events(&input, input.len());
            prop_assert_eq!(&events(&input, chunk), &whole);
            let mut framer = Framer::default();
            framer.push(&input);
            while framer.next_event().is_some() {}
            prop_assert!(framer.buffered() <= input.len());
        }

        /// After anything at all, a well-formed frame is read intact and is the last event.
        #[test]
        fn framing_recovers_on_the_next_frame(garbage in hostile_input(), chunk in 1usize..64) {
            let input = [garbage.clone(), frame(MSG2.as_bytes())].concat();
            let got = events(&input, chunk);
            prop_assert_eq!(got.last(), Some(&body(MSG2)), "after {:?}", String::from_utf8_lossy(&garbage));
        }

        /// Whatever the body, the classifier returns, and an error answer is a JSON-RPC one.
        #[test]
        fn classifying_any_body_is_total(body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..64),
            hostile_input(),
            any::<String>().prop_map(|s| json!({"jsonrpc":"2.0","id":1,"method":s}).to_string().into_bytes()),
        ]) {
            let mut pending = vec![classify(&body)];
            while let Some(incoming) = pending.pop() {
                match incoming {
                    Incoming::Invalid(r) => {
                        let code = r.error().map(|e| e.code.code());
                        prop_assert!(matches!(code, Some(-32700 | -32600)), "{:?}", r);
                    }
                    Incoming::Batch(items) => pending.extend(items),
                    _ => {}
                }
            }
        }

        /// A string with lone surrogate escapes anywhere still parses, each one as U+FFFD.
        #[test]
        fn lone_surrogates_anywhere_are_replaced(text in "[a-z\u{1F600}]{0,12}", at in prop::collection::vec((0usize..13, 0xD800u32..0xE000), 1..4)) {
            // Lone escapes go between characters of the text (at char index i, or at its end).
            let chars: Vec<char> = text.chars().collect();
            let mut escaped = String::from("\"");
            for i in 0..=chars.len() {
                for (_, unit) in at.iter().filter(|(at, _)| (*at).min(chars.len()) == i) {
                    escaped.push_str(&format!("\\u{unit:04x}"));
                }
                if let Some(c) = chars.get(i) {
                    escaped.push(*c);
                }
            }
            escaped.push('"');
            let doc = format!(r#"{{"jsonrpc":"2.0","method":"m","params":{{"t":{escaped}}}}}"#);
            let Incoming::Request(r) = classify(doc.as_bytes()) else {
                return Err(TestCaseError::fail(format!("not a request: {doc}")));
            };
            prop_assert!(r.params().and_then(|p| p["t"].as_str()).is_some(), "{}", doc);
        }
    }
}
