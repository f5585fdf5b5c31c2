//! The HTTP layer every provider shares: the API key wrapper, one `reqwest::Client` per provider
//! (timeouts from config) and, for a server on this machine, its own kept-alive connections
//! ([`local`]), retries with exponential backoff, and mapping transport failures to
//! [`ProviderError`]s.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode, Url};
use tracing::debug;

use super::limits::{MAX_BODY_CHARS, MAX_ERROR_BODY_BYTES, MAX_RESPONSE_BYTES};
use super::local::{self, Local, LocalError};
use super::{ProviderConfig, ProviderError};
use crate::step_marks::{self, Step};

/// An API key read from the environment. `Debug` prints `***`; the value only leaves through
/// [`Http::key_headers`], as a header marked sensitive.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    pub(crate) fn new(value: String) -> Self {
        Self(value)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One provider's HTTP client. Cheap to clone: clones share the connection pool.
#[derive(Clone)]
pub(crate) struct Http {
    client: Client,
    key: Option<ApiKey>,
    /// Kept-alive connections to a model server on this machine ([`local`]), shared by clones;
    /// `None` sends every request through reqwest (tests of that path).
    local: Option<Arc<Local>>,
    /// Whole-request time limit, in milliseconds (reported in [`ProviderError::Timeout`]).
    timeout_ms: u64,
    /// Connect time limit, in milliseconds.
    connect_timeout_ms: u64,
    max_retries: u32,
    /// First backoff delay, in milliseconds.
    retry_base_ms: u64,
    /// The URL last posted to, parsed: a provider posts to the same endpoint on every request,
    /// and parsing it again (IDNA host processing included) cost ~4% of a completion
    /// request's CPU in a profile of the benchmark's plain-text run.
    last_url: Arc<parking_lot::Mutex<Option<(String, Url)>>>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http").field("key", &self.key).field("timeout_ms", &self.timeout_ms).finish()
    }
}

/// A failed attempt, with what the retry loop needs to know about it.
struct Failure {
    error: ProviderError,
    retryable: bool,
    /// The server's `Retry-After`, when it sent one in seconds.
    retry_after: Option<Duration>,
}

impl Http {
    /// Builds the client with the config's timeouts.
    pub(crate) fn new(config: &ProviderConfig, key: Option<ApiKey>) -> Result<Self, ProviderError> {
        let client = Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build()
            .map_err(|e| ProviderError::Config(format!("cannot build the HTTP client: {}", describe(&e))))?;
        Ok(Self {
            client,
            key,
            local: Some(Arc::default()),
            timeout_ms: config.timeout_ms,
            connect_timeout_ms: config.connect_timeout_ms,
            max_retries: config.max_retries,
            retry_base_ms: config.retry_base_ms,
            last_url: Arc::default(),
        })
    }

    /// The same client without the local path: every request through reqwest (tests of it).
    #[cfg(test)]
    pub(crate) fn through_reqwest(mut self) -> Self {
        self.local = None;
        self
    }

    pub(crate) fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }

    /// Headers carrying the key (if one is configured) as `name: {prefix}{key}`, marked sensitive.
    pub(crate) fn key_headers(&self, name: HeaderName, prefix: &str) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.key {
            let mut value = HeaderValue::from_str(&format!("{prefix}{}", key.0)).map_err(|_| {
                ProviderError::Config("the API key contains characters not allowed in an HTTP header".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(headers)
    }

    /// Truncates a server-provided text to [`MAX_BODY_CHARS`] and blanks out the key if the server
    /// echoed it.
    pub(crate) fn scrub(&self, text: &str) -> String {
        scrub(self.key.as_ref(), text)
    }

    /// POSTs `body` as JSON and returns the response once its status is 2xx. Retries HTTP 429, 5xx
    /// and connection failures up to `max_retries` times with exponential backoff (or the server's
    /// `Retry-After` seconds); the body of a successful response is never retried. A request whose
    /// connection the server closed before sending any answer is sent again at once, one time,
    /// whatever `max_retries` is: that is a kept-alive connection the server let go of just as it
    /// was reused, not a failure of the server. A server on this machine (plain HTTP to a
    /// loopback address, [`local::is_local`]) gets the request on a kept-alive connection of our
    /// own ([`Local`]), any other through reqwest; the answer and the errors are the same.
    ///
    /// `body` is serialized once, before the first attempt: a provider's request is a typed
    /// struct for the keystroke path (no `serde_json::Value` built and walked again) or a `Value`.
    pub(crate) async fn post_json<B: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        body: &B,
        headers: &HeaderMap,
    ) -> Result<Response, ProviderError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ProviderError::Config(format!("cannot build a request to {url}: {e}")))?;
        let bytes = bytes::Bytes::from(bytes);
        tracing::trace!(url, body = %String::from_utf8_lossy(&bytes), "model request");
        let parsed = self.parse_url(url)?;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(self.retry_base_ms))
            .with_factor(2.0)
            .with_max_delay(Duration::from_millis(self.timeout_ms.max(self.retry_base_ms)))
            .with_max_times(self.max_retries as usize)
            .with_jitter();
        // A server on this machine gets the request on a connection of our own (`local`).
        let local_path = self.local.as_deref().filter(|_| local::is_local(&parsed));
        // As reqwest's `RequestBuilder::json`: the JSON content type unless the caller set one.
        let mut json_headers = HeaderMap::new();
        if local_path.is_none() {
            json_headers.clone_from(headers);
            json_headers.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
        }
        let send = || self.client.post(parsed.clone()).headers(json_headers.clone()).body(bytes.clone()).send();
        let attempt = || async {
            step_marks::mark(Step::RequestReady);
            let started = Instant::now();
            if let Some(local) = local_path {
                let mut sent = self.post_local(local, &parsed, headers, &bytes).await;
                if sent.as_ref().is_err_and(LocalError::closed_before_answering) {
                    // As below: a kept-alive connection the server closed just as it was reused.
                    debug!(url, "the model server closed the connection before answering; sending the request again");
                    sent = self.post_local(local, &parsed, headers, &bytes).await;
                }
                step_marks::mark(Step::AnswerHead);
                return match sent {
                    Ok(response) => self.check("POST", url, started, Ok(response)).await,
                    Err(e) => Err(self.local_failure(url, started, &e)),
                };
            }
            let mut sent = send().await;
            if sent.as_ref().is_err_and(closed_before_answering) {
                // A server closes an idle kept-alive connection on its own schedule (llama.cpp's
                // server after 5 s); a request written just then never had a chance. The pool has
                // dropped that connection, so this goes out on another one.
                debug!(url, "the model server closed the connection before answering; sending the request again");
                sent = send().await;
            }
            step_marks::mark(Step::AnswerHead);
            self.check("POST", url, started, sent).await
        };
        attempt
            .retry(backoff)
            .when(|failure: &Failure| failure.retryable)
            .adjust(|failure: &Failure, delay| delay.map(|d| failure.retry_after.unwrap_or(d)))
            .notify(|failure: &Failure, delay| {
                debug!(url, delay_ms = delay.as_millis() as u64, error = %failure.error, "retrying model request");
            })
            .await
            .map_err(|failure| failure.error)
    }

    /// One send on the local path, with this client's timeouts.
    async fn post_local(
        &self,
        local: &Local,
        url: &Url,
        headers: &HeaderMap,
        body: &bytes::Bytes,
    ) -> Result<Response, LocalError> {
        let deadline = Instant::now() + Duration::from_millis(self.timeout_ms);
        let connect = Duration::from_millis(self.connect_timeout_ms);
        local.post(url, headers, body.clone(), connect, deadline).await
    }

    /// `url` parsed, from the memo when it is the URL last posted to.
    ///
    /// Errors: [`ProviderError::Config`] when `url` is not a valid URL.
    fn parse_url(&self, url: &str) -> Result<Url, ProviderError> {
        let mut last = self.last_url.lock();
        if let Some((text, parsed)) = last.as_ref()
            && text == url
        {
            return Ok(parsed.clone());
        }
        let parsed =
            Url::parse(url).map_err(|e| ProviderError::Config(format!("cannot build a request to {url}: {e}")))?;
        *last = Some((url.to_owned(), parsed.clone()));
        Ok(parsed)
    }

    /// GETs `url` once (no retries) and succeeds on any HTTP status below 500.
    pub(crate) async fn probe(&self, url: &str, headers: &HeaderMap) -> Result<(), ProviderError> {
        let started = Instant::now();
        let sent = self.client.get(url).headers(headers.clone()).send().await;
        match self.check("GET", url, started, sent).await {
            Ok(_) => Ok(()),
            Err(Failure { error: ProviderError::Status { status, .. }, .. }) if status < 500 => Ok(()),
            Err(failure) => Err(failure.error),
        }
    }

    async fn check(
        &self,
        method: &str,
        url: &str,
        started: Instant,
        sent: Result<Response, reqwest::Error>,
    ) -> Result<Response, Failure> {
        let latency_ms = started.elapsed().as_millis() as u64;
        let response = match sent {
            Ok(response) => response,
            Err(e) => {
                debug!(method, url, latency_ms, error = %describe(&e), "model request failed");
                let retryable = !e.is_timeout() && !e.is_builder();
                return Err(Failure { error: self.send_error(url, &e), retryable, retry_after: None });
            }
        };
        let status = response.status();
        debug!(method, url, status = status.as_u16(), latency_ms, "model response");
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers(), self.timeout_ms);
        // An error body is for a message: read its first bytes only (a hostile or broken server
        // may send megabytes, or never end), and ignore a failure to read it.
        let mut response = response;
        let body = match read_capped(&mut response, MAX_ERROR_BODY_BYTES).await {
            Ok((bytes, _)) | Err((bytes, _)) => bytes,
        };
        let body = String::from_utf8_lossy(&body);
        Err(Failure {
            error: ProviderError::Status { url: url.to_owned(), status: status.as_u16(), body: self.scrub(&body) },
            retryable: status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
            retry_after,
        })
    }

    /// Reads a whole 2xx answer body of at most [`MAX_RESPONSE_BYTES`] (non-streamed answers).
    ///
    /// Errors: [`ProviderError::TooLarge`] when the body (or its `Content-Length`) is over the cap,
    /// and the errors of [`Http::body_error`].
    pub(crate) async fn read_body(&self, url: &str, mut response: Response) -> Result<Vec<u8>, ProviderError> {
        let too_large =
            || ProviderError::TooLarge { url: url.to_owned(), what: "an answer body", limit: MAX_RESPONSE_BYTES };
        if response.content_length().is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
            return Err(too_large());
        }
        match read_capped(&mut response, MAX_RESPONSE_BYTES).await {
            Ok((body, true)) => Ok(body),
            Ok((_, false)) => Err(too_large()),
            Err((_, e)) => Err(self.body_error(url, &e)),
        }
    }

    /// Maps an error from sending a request (before any response) to a [`ProviderError`]: a
    /// failure to connect (including the connect timeout) is [`ProviderError::Unreachable`], a
    /// timeout once connected is [`ProviderError::Timeout`].
    fn send_error(&self, url: &str, e: &reqwest::Error) -> ProviderError {
        if e.is_connect() {
            ProviderError::Unreachable { url: url.to_owned(), reason: describe(e) }
        } else if e.is_timeout() {
            ProviderError::Timeout { url: url.to_owned(), ms: self.timeout_ms }
        } else if e.is_builder() {
            ProviderError::Config(format!("cannot build a request to {url}: {}", describe(e)))
        } else {
            ProviderError::Unreachable { url: url.to_owned(), reason: describe(e) }
        }
    }

    /// Maps a failure of the local path (no answer head) to a [`Failure`], as [`Http::send_error`]
    /// does reqwest's: a refused connection is retried, a timeout is not.
    fn local_failure(&self, url: &str, started: Instant, e: &LocalError) -> Failure {
        let latency_ms = started.elapsed().as_millis() as u64;
        debug!(method = "POST", url, latency_ms, error = %e, "model request failed");
        let unreachable = |reason: String| ProviderError::Unreachable { url: url.to_owned(), reason };
        let (error, retryable) = match e {
            LocalError::Connect(_) => (unreachable(e.to_string()), true),
            LocalError::ConnectTimeout => (unreachable(e.to_string()), false),
            LocalError::Timeout => (ProviderError::Timeout { url: url.to_owned(), ms: self.timeout_ms }, false),
            LocalError::Http(h) => {
                let first: &(dyn std::error::Error + 'static) = h;
                (unreachable(chain(std::iter::successors(Some(first), |&c| c.source()))), true)
            }
            LocalError::Build(why) => (ProviderError::Config(format!("cannot build a request to {url}: {why}")), false),
        };
        Failure { error, retryable, retry_after: None }
    }

    /// Maps an error while reading a response body (after the status) to a [`ProviderError`].
    pub(crate) fn body_error(&self, url: &str, e: &reqwest::Error) -> ProviderError {
        if e.is_timeout() {
            ProviderError::Timeout { url: url.to_owned(), ms: self.timeout_ms }
        } else {
            ProviderError::Interrupted { url: url.to_owned(), reason: describe(e) }
        }
    }
}

/// Reads `response`'s body until it ends or holds `cap` bytes, whichever comes first; the rest is
/// never read. Returns the bytes and whether the body ended within the cap, or, when reading
/// failed, the bytes read so far and the error.
pub(crate) async fn read_capped(
    response: &mut Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), (Vec<u8>, reqwest::Error)> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    return Ok((body, false));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok((body, true)),
            Err(e) => return Err((body, e)),
        }
    }
}

/// Trims `text` and truncates it to [`MAX_BODY_CHARS`] characters (ending in `…` when cut), and replaces the key with `***`.
pub(crate) fn scrub(key: Option<&ApiKey>, text: &str) -> String {
    let text = match key {
        Some(key) if !key.0.is_empty() => text.replace(&key.0, "***"),
        _ => text.to_owned(),
    };
    let text = text.trim();
    if text.chars().count() <= MAX_BODY_CHARS {
        return text.to_owned();
    }
    let kept: String = text.chars().take(MAX_BODY_CHARS - 1).collect();
    format!("{kept}…")
}

/// The `Retry-After` delay when given in seconds, capped at the request time limit (milliseconds).
pub(crate) fn retry_after(headers: &HeaderMap, cap_ms: u64) -> Option<Duration> {
    let seconds: u64 = headers.get(RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(Duration::from_millis(cap_ms)))
}

/// True when the server closed the connection before the response was complete and before
/// reqwest returned one, i.e. before any answer (hyper's "connection closed before message
/// completed").
fn closed_before_answering(e: &reqwest::Error) -> bool {
    causes(e).any(|c| c.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message))
}

/// The errors under `e`, outermost first (its `source()` chain, without `e` itself).
fn causes(e: &reqwest::Error) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
    std::iter::successors(e.source(), |&c| c.source())
}

/// A reqwest error's cause chain without the URL (which errors carry separately), e.g.
/// `client error (Connect): tcp connect error: Connection refused (os error 111)`.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    match chain(causes(e)) {
        none if none.is_empty() => if e.is_timeout() { "timed out" } else { "request failed" }.to_owned(),
        text => text,
    }
}

/// Errors joined with `: `, outermost first, leaving out one whose text the one before already
/// holds (hyper and the OS often repeat their cause).
fn chain<'a>(errors: impl Iterator<Item = &'a (dyn std::error::Error + 'static)>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in errors {
        let text = e.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
