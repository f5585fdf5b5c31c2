//! Requests to a model server on this machine (a loopback address, `http://`): HTTP/1.1 over
//! kept-alive connections of hyper's own (`hyper::client::conn::http1`), without reqwest's pool,
//! middleware and proxy lookup, which cost ~0.1 ms a call on the completion path (issue 13;
//! tests/bench/perf/RESULTS.md). The answer is handed on as a `reqwest::Response`, so statuses,
//! errors and streams are read the same way whichever path carried them.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{BodyStream, Full};
use hyper::client::conn::http1::SendRequest;
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HOST, HeaderMap, HeaderValue};

/// Idle connections kept for reuse. Completions ask one at a time; alternatives and next edit
/// suggestions may ask a few side by side.
const MAX_IDLE: usize = 4;

/// Why a request to the local server got no answer head.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LocalError {
    /// The connection was refused or failed.
    #[error("tcp connect error: {0}")]
    Connect(std::io::Error),
    /// No connection within the connect timeout.
    #[error("connect timed out")]
    ConnectTimeout,
    /// The whole request's time limit passed before the answer's head.
    #[error("timed out")]
    Timeout,
    /// hyper's error on the connection (written or read).
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("cannot build the request: {0}")]
    Build(String),
}

impl LocalError {
    /// True when the server closed the connection before any answer: a kept-alive connection
    /// it let go of just as it was reused.
    pub(crate) fn closed_before_answering(&self) -> bool {
        matches!(self, LocalError::Http(e) if e.is_incomplete_message())
    }
}

/// The kept-alive connections to local model servers of one provider.
#[derive(Default)]
pub(crate) struct Local {
    /// Connections not carrying a request, with the `host:port` they go to.
    idle: parking_lot::Mutex<Vec<(String, SendRequest<Full<Bytes>>)>>,
}

impl std::fmt::Debug for Local {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Local").field("idle", &self.idle.lock().len()).finish()
    }
}

/// True when `url` is plain HTTP to this machine (`localhost` or a loopback address): the path
/// of [`Local::post`].
pub(crate) fn is_local(url: &Url) -> bool {
    let Some(host) = url.host_str() else { return false };
    url.scheme() == "http"
        && (host.eq_ignore_ascii_case("localhost")
            || host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

impl Local {
    /// POSTs `body` (JSON) to `url` with `headers`, on an idle connection to its host or a new
    /// one, and returns the answer once its head is in; its body streams after, and ends with a
    /// timed-out error (an `io::Error` of kind `TimedOut`) at `deadline`.
    ///
    /// Errors: [`LocalError`]; nothing is retried here.
    pub(crate) async fn post(
        &self,
        url: &Url,
        headers: &HeaderMap,
        body: Bytes,
        connect_timeout: Duration,
        deadline: Instant,
    ) -> Result<reqwest::Response, LocalError> {
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(LocalError::Build(format!("no host in {url}")));
        };
        let authority = format!("{host}:{port}");
        let mut sender = match self.take_idle(&authority) {
            Some(sender) => sender,
            None => connect(host, port, connect_timeout).await?,
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let mut request =
            hyper::Request::post(path).body(Full::new(body)).map_err(|e| LocalError::Build(e.to_string()))?;
        let h = request.headers_mut();
        for (name, value) in headers {
            h.append(name.clone(), value.clone());
        }
        h.insert(HOST, HeaderValue::from_str(&authority).map_err(|e| LocalError::Build(e.to_string()))?);
        // As reqwest's `json` does: the caller's content type, if it gave one, stands.
        h.entry(CONTENT_TYPE).or_insert(HeaderValue::from_static("application/json"));
        let head = tokio::time::timeout_at(deadline.into(), sender.send_request(request))
            .await
            .map_err(|_| LocalError::Timeout)??;
        // Ready again once this answer's body has been read; closed if it is dropped unread.
        self.put_idle(authority, sender);
        let (parts, incoming) = head.into_parts();
        let body = reqwest::Body::wrap_stream(until(deadline, BodyStream::new(incoming)));
        Ok(reqwest::Response::from(hyper::Response::from_parts(parts, body)))
    }

    /// An idle connection to `authority` ready for a request; closed ones are let go.
    fn take_idle(&self, authority: &str) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock();
        idle.retain(|(_, s)| !s.is_closed());
        let i = idle.iter().position(|(a, s)| a == authority && s.is_ready())?;
        Some(idle.swap_remove(i).1)
    }

    fn put_idle(&self, authority: String, sender: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.lock();
        idle.retain(|(_, s)| !s.is_closed());
        if idle.len() < MAX_IDLE {
            idle.push((authority, sender));
        }
    }
}

/// A new connection to `host` (as a URL spells it) and `port`, `TCP_NODELAY` set (a request is one
/// write; Nagle would hold a second), its connection task spawned.
async fn connect(host: &str, port: u16, timeout: Duration) -> Result<SendRequest<Full<Bytes>>, LocalError> {
    // An IPv6 literal comes bracketed in a URL; the socket address wants it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port)))
        .await
        .map_err(|_| LocalError::ConnectTimeout)?
        .map_err(LocalError::Connect)?;
    stream.set_nodelay(true).map_err(LocalError::Connect)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("model server connection ended: {e}");
        }
    });
    Ok(sender)
}

/// The data of `body`, ending with a `TimedOut` error when `deadline` passes first (reqwest's
/// whole-request timeout, which its own path applies to the body too).
fn until(
    deadline: Instant,
    body: BodyStream<hyper::body::Incoming>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let sleep = Box::pin(tokio::time::sleep_until(deadline.into()));
    futures::stream::unfold(Some((body, sleep)), |state| async move {
        let (mut body, mut sleep) = state?;
        loop {
            tokio::select! {
                frame = body.next() => match frame {
                    None => return None,
                    Some(Err(e)) => return Some((Err(std::io::Error::other(e)), None)),
                    Some(Ok(frame)) => {
                        // Trailers carry no text: skipped.
                        if let Ok(data) = frame.into_data() {
                            return Some((Ok(data), Some((body, sleep))));
                        }
                    }
                },
                () = &mut sleep => {
                    return Some((Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out")), None));
                }
            }
        }
    })
}
