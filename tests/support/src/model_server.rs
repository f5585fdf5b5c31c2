//! A scripted model server on 127.0.0.1 for tests and benchmarks: answers the OpenAI, Anthropic,
//! Ollama and llama.cpp routes in their real wire formats (SSE with `event:` lines for Anthropic,
//! NDJSON for Ollama), plays back scripted [`Reply`]s FIFO, and records every request.
//!
//! Used by the wire tests, the benchmarks, the providers' unit tests and `scripted_model`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How the server answers one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The text, streamed in small chunks (a few characters each) in the route's format.
    Text(String),
    /// Exactly these deltas, one event/line each, in the route's format.
    Chunks(Vec<String>),
    /// This HTTP status with this body (sent as-is, no streaming).
    Status(u16, String),
    /// Never answers; the request stays open until the client gives up or the server is dropped.
    Hang,
    /// Streams the text (in the route's format, without the closing events), then closes the
    /// connection abruptly.
    DropAfter(String),
    /// A 200 stream whose first event is not JSON: `data: {not json` (SSE) or `{not json` (NDJSON).
    MalformedSse,
    /// The text streamed in small chunks with `chunk_delay_ms` milliseconds before each chunk.
    Slow { text: String, chunk_delay_ms: u64 },
    /// A 200 stream carrying an in-stream error in the route's format (Anthropic `event: error`,
    /// Ollama `{"error": ...}`, OpenAI/llama.cpp `data: {"error": {...}}`).
    StreamError(String),
    /// The assistant calls these tools (name, arguments object), in the route's real tool-call
    /// format: OpenAI/llama.cpp `message.tool_calls` (arguments as a JSON string), Anthropic
    /// `tool_use` content blocks, Ollama `message.tool_calls` (arguments as an object). Rendered
    /// as one JSON answer when the request says `"stream": false`; on a streaming request the
    /// calls are streamed as the JSON text `{"name": ..., "arguments": ...}` (one per line).
    ToolCalls(Vec<(String, Value)>),
    /// This HTTP status with a body that never ends (1 MiB chunks of `x`, forever): what a
    /// client reads of an error body must be capped.
    EndlessStatus(u16),
    /// A 200 answer whose first line never ends: the route's opening events, then `data: {"text":
    /// "` (SSE) or `{"response": "` (NDJSON, and `"stream": false` answers) followed by 1 MiB
    /// chunks without a line break, forever.
    EndlessLine,
    /// A server-sent event that never ends: after the route's opening events, `data: ...` lines
    /// forever without the blank line that ends an event. NDJSON routes and `"stream": false`
    /// answers get [`Reply::EndlessLine`].
    EndlessEvent,
    /// This delta, in the route's format, again and again, forever: an answer that goes on past
    /// any `max_tokens`. `"stream": false` answers get [`Reply::EndlessLine`].
    Endless(String),
}

impl Reply {
    /// [`Reply::ToolCalls`] with a single call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::ToolCalls(vec![(name.into(), arguments)])
    }

    /// [`Reply::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// [`Reply::Status`].
    pub fn status(code: u16, body: impl Into<String>) -> Self {
        Self::Status(code, body.into())
    }
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    /// The URL path, e.g. `/v1/completions`.
    pub path: String,
    /// The JSON body; `Value::Null` when empty, a string when not JSON.
    pub body: Value,
    /// Header names lowercased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
}

impl RecordedRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// The running server. Dropping it stops accepting connections and releases hung requests.
pub struct ModelServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    count: watch::Receiver<usize>,
    /// Dropped with the server, which ends every [`Reply::Hang`].
    _shutdown: watch::Sender<()>,
    task: JoinHandle<()>,
}

struct Shared {
    state: Mutex<Script>,
    count: watch::Sender<usize>,
    shutdown: watch::Receiver<()>,
    /// Bytes of endless bodies ([`Reply::EndlessStatus`] and the others) handed to connections.
    endless_bytes: Arc<AtomicUsize>,
}

struct Script {
    queue: VecDeque<Reply>,
    routes: HashMap<String, VecDeque<Reply>>,
    default: Reply,
    /// Defaults by the request's `temperature` ([`ModelServer::set_default_at`]).
    by_temperature: Vec<(f64, Reply)>,
    delay_ms: u64,
    requests: Vec<RecordedRequest>,
}

impl Script {
    /// The next reply for `path`: its own queue first, then (for generation routes) the global
    /// queue, then the default for the request's `temperature`, then the default.
    fn next(&mut self, path: &str, generation: bool, temperature: Option<f64>) -> Option<Reply> {
        if let Some(reply) = self.routes.get_mut(path).and_then(VecDeque::pop_front) {
            return Some(reply);
        }
        if !generation {
            return None;
        }
        if let Some(reply) = self.queue.pop_front() {
            return Some(reply);
        }
        let hot = temperature
            .and_then(|t| self.by_temperature.iter().find(|(at, _)| (at - t).abs() < 1e-3))
            .map(|(_, reply)| reply.clone());
        Some(hot.unwrap_or_else(|| self.default.clone()))
    }
}

impl ModelServer {
    /// Binds 127.0.0.1 on a free port and starts serving. The default reply is `Reply::text("")`.
    pub async fn start() -> Self {
        Self::start_on(0).await
    }

    /// Starts the server on a given port of 127.0.0.1 (0: any free port).
    pub async fn start_on(port: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let (count_tx, count) = watch::channel(0);
        let (shutdown_tx, shutdown) = watch::channel(());
        let shared = Arc::new(Shared {
            state: Mutex::new(Script {
                queue: VecDeque::new(),
                routes: HashMap::new(),
                default: Reply::text(""),
                by_temperature: Vec::new(),
                delay_ms: 0,
                requests: Vec::new(),
            }),
            count: count_tx,
            shutdown,
            endless_bytes: Arc::default(),
        });
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, addr, count, _shutdown: shutdown_tx, task }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash). OpenAI and Anthropic clients use
    /// `{base_url}/v1`; Ollama and llama.cpp clients use it as is.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues a reply for the next generation request on any route.
    pub fn push(&self, reply: Reply) {
        self.script().queue.push_back(reply);
    }

    /// Queues a reply for the next request to `path` (e.g. `"/api/tags"`); served before the
    /// global queue. The only way to script the GET routes (`/v1/models`, `/api/tags`, `/health`).
    pub fn push_for(&self, path: &str, reply: Reply) {
        self.script().routes.entry(path.to_owned()).or_default().push_back(reply);
    }

    /// The reply for generation requests when no scripted reply is queued.
    pub fn set_default(&self, reply: Reply) {
        self.script().default = reply;
    }

    /// The reply for generation requests whose body's `temperature` is `temperature` (within
    /// 0.001) when no scripted reply is queued; replaces an earlier one for it. Lets one server
    /// answer a request and its hotter retries (inline completion's alternatives) differently.
    pub fn set_default_at(&self, temperature: f64, reply: Reply) {
        let mut script = self.script();
        script.by_temperature.retain(|(at, _)| (at - temperature).abs() >= 1e-3);
        script.by_temperature.push((temperature, reply));
    }

    /// A fixed delay before answering every request, in milliseconds (models model latency).
    pub fn set_delay_ms(&self, delay_ms: u64) {
        self.script().delay_ms = delay_ms;
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.script().requests.clone()
    }

    /// Waits (without polling) until at least `n` requests have arrived and returns them all.
    /// Panics after `timeout`.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let mut count = self.count.clone();
        match tokio::time::timeout(timeout, count.wait_for(|c| *c >= n)).await {
            Ok(Ok(_)) => self.requests(),
            _ => panic!("model server got {} of {n} requests within {timeout:?}", self.requests().len()),
        }
    }

    /// Waits (without polling) until at least `n` requests to `path` have arrived (other
    /// requests, such as the server's `GET /v1/models` reachability checks, do not count) and
    /// returns those. Panics after `timeout`.
    pub async fn wait_for_requests_to(&self, path: &str, n: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let matching = || self.requests().into_iter().filter(|r| r.path == path).collect::<Vec<_>>();
        let mut count = self.count.clone();
        match tokio::time::timeout(timeout, count.wait_for(|_| matching().len() >= n)).await {
            Ok(Ok(_)) => matching(),
            _ => panic!("model server got {} of {n} requests to {path} within {timeout:?}", matching().len()),
        }
    }

    /// Bytes of endless bodies the server has handed to connections so far: once a client stops
    /// reading, this stops growing (give or take the sockets' buffers, a few MiB).
    pub fn endless_bytes(&self) -> usize {
        self.shared.endless_bytes.load(Ordering::Relaxed)
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Which wire format a path speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    OpenaiCompletions,
    OpenaiChat,
    AnthropicMessages,
    OllamaGenerate,
    OllamaChat,
    LlamaInfill,
    LlamaCompletion,
    Models,
    Tags,
    Health,
    Unknown,
}

impl Route {
    fn of(path: &str) -> Self {
        match path {
            "/v1/completions" => Self::OpenaiCompletions,
            "/v1/chat/completions" => Self::OpenaiChat,
            "/v1/messages" => Self::AnthropicMessages,
            "/api/generate" => Self::OllamaGenerate,
            "/api/chat" => Self::OllamaChat,
            "/infill" => Self::LlamaInfill,
            "/completion" => Self::LlamaCompletion,
            "/v1/models" => Self::Models,
            "/api/tags" => Self::Tags,
            "/health" => Self::Health,
            _ => Self::Unknown,
        }
    }

    fn generates(self) -> bool {
        !matches!(self, Self::Models | Self::Tags | Self::Health | Self::Unknown)
    }

    fn ndjson(self) -> bool {
        matches!(self, Self::OllamaGenerate | Self::OllamaChat)
    }

    /// Events sent before the first delta.
    fn opening(self) -> Vec<String> {
        match self {
            Self::OpenaiChat => vec![sse(None, &openai_chat(json!({"role": "assistant", "content": ""}), None))],
            Self::AnthropicMessages => vec![
                sse(
                    Some("message_start"),
                    &json!({"type": "message_start", "message": {"id": "msg_scripted", "type": "message",
                        "role": "assistant", "model": "scripted", "content": [], "stop_reason": null,
                        "stop_sequence": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
                ),
                sse(
                    Some("content_block_start"),
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ),
                sse(Some("ping"), &json!({"type": "ping"})),
            ],
            _ => Vec::new(),
        }
    }

    /// One text delta.
    fn delta(self, text: &str) -> String {
        match self {
            Self::OpenaiCompletions => sse(None, &openai_completion(text, None)),
            Self::OpenaiChat => sse(None, &openai_chat(json!({"content": text}), None)),
            Self::AnthropicMessages => sse(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ),
            Self::OllamaGenerate => ndjson(&ollama(json!({"response": text}), false)),
            Self::OllamaChat => ndjson(&ollama(json!({"message": {"role": "assistant", "content": text}}), false)),
            _ => sse(None, &json!({"content": text, "stop": false})),
        }
    }

    /// Events sent after the last delta.
    fn closing(self) -> Vec<String> {
        match self {
            Self::OpenaiCompletions => vec![sse(None, &openai_completion("", Some("stop"))), "data: [DONE]\n\n".into()],
            Self::OpenaiChat => vec![sse(None, &openai_chat(json!({}), Some("stop"))), "data: [DONE]\n\n".into()],
            Self::AnthropicMessages => vec![
                sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": 0})),
                sse(
                    Some("message_delta"),
                    &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": 1}}),
                ),
                sse(Some("message_stop"), &json!({"type": "message_stop"})),
            ],
            Self::OllamaGenerate => vec![ndjson(&ollama(json!({"response": "", "done_reason": "stop"}), true))],
            Self::OllamaChat => vec![ndjson(&ollama(
                json!({"message": {"role": "assistant", "content": ""}, "done_reason": "stop"}),
                true,
            ))],
            _ => vec![sse(None, &json!({"content": "", "stop": true, "stop_type": "eos"}))],
        }
    }

    fn error(self, message: &str) -> String {
        match self {
            Self::AnthropicMessages => {
                sse(Some("error"), &json!({"type": "error", "error": {"type": "overloaded_error", "message": message}}))
            }
            Self::OllamaGenerate | Self::OllamaChat => ndjson(&json!({"error": message})),
            _ => sse(None, &json!({"error": {"code": 500, "message": message, "type": "server_error"}})),
        }
    }

    fn malformed(self) -> String {
        match self {
            Self::AnthropicMessages => "event: content_block_delta\ndata: {not json\n\n".into(),
            Self::OllamaGenerate | Self::OllamaChat => "{not json\n".into(),
            _ => "data: {not json\n\n".into(),
        }
    }

    /// A whole (non-streamed) answer with text and tool calls; usage is 10 input and 5 output
    /// tokens. `seq` makes the call ids unique per request (`call_SEQ_I`, `toolu_SEQ_I`).
    fn whole(self, text: &str, calls: &[(String, Value)], seq: usize) -> Value {
        match self {
            Self::AnthropicMessages => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                content.extend(calls.iter().enumerate().map(|(i, (name, arguments))| {
                    json!({"type": "tool_use", "id": format!("toolu_{seq}_{i}"), "name": name, "input": arguments})
                }));
                let stop = if calls.is_empty() { "end_turn" } else { "tool_use" };
                json!({"id": "msg_scripted", "type": "message", "role": "assistant", "model": "scripted",
                    "content": content, "stop_reason": stop, "stop_sequence": null,
                    "usage": {"input_tokens": 10, "output_tokens": 5}})
            }
            Self::OllamaChat | Self::OllamaGenerate => {
                let mut message = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    let calls: Vec<Value> = calls
                        .iter()
                        .map(|(name, arguments)| json!({"function": {"name": name, "arguments": arguments}}))
                        .collect();
                    message["tool_calls"] = json!(calls);
                }
                let mut answer = ollama(
                    json!({"message": message, "done_reason": "stop", "prompt_eval_count": 10, "eval_count": 5}),
                    true,
                );
                if self == Self::OllamaGenerate {
                    answer["response"] = json!(text);
                }
                answer
            }
            Self::OpenaiCompletions => {
                json!({"id": "cmpl-scripted", "object": "text_completion", "created": 0,
                "model": "scripted", "choices": [{"index": 0, "text": text, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            }
            Self::LlamaInfill | Self::LlamaCompletion => {
                json!({"content": text, "stop": true, "tokens_predicted": 5, "tokens_evaluated": 10})
            }
            _ => {
                let mut message = json!({"role": "assistant", "content": text});
                let finish = if calls.is_empty() {
                    "stop"
                } else {
                    let calls: Vec<Value> = calls
                        .iter()
                        .enumerate()
                        .map(|(i, (name, arguments))| {
                            json!({"id": format!("call_{seq}_{i}"), "type": "function",
                                "function": {"name": name, "arguments": arguments.to_string()}})
                        })
                        .collect();
                    message["tool_calls"] = json!(calls);
                    message["content"] = Value::Null;
                    "tool_calls"
                };
                json!({"id": "chatcmpl-scripted", "object": "chat.completion", "created": 0, "model": "scripted",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
            }
        }
    }

    /// The 200 answer of a GET route.
    fn listing(self) -> Option<Value> {
        match self {
            Self::Models => Some(json!({"object": "list", "data": [{"id": "scripted", "object": "model"}]})),
            Self::Tags => Some(json!({"models": [{"name": "scripted", "model": "scripted"}]})),
            Self::Health => Some(json!({"status": "ok"})),
            _ => None,
        }
    }
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

fn ndjson(value: &Value) -> String {
    format!("{value}\n")
}

fn openai_completion(text: &str, finish: Option<&str>) -> Value {
    json!({"id": "cmpl-scripted", "object": "text_completion", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]})
}

fn openai_chat(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn ollama(mut fields: Value, done: bool) -> Value {
    if let Some(object) = fields.as_object_mut() {
        object.insert("model".into(), json!("scripted"));
        object.insert("created_at".into(), json!("2024-01-01T00:00:00Z"));
        object.insert("done".into(), json!(done));
    }
    fields
}

/// A request's body as JSON: `null` when empty, a string when it is not JSON.
pub(crate) fn request_body(body: &[u8]) -> Value {
    if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    }
}

/// A request's headers by lower-case name; repeated ones joined with `, `.
pub(crate) fn request_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut recorded = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        recorded
            .entry(name.as_str().to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    recorded
}

/// Splits text into chunks of up to 3 characters.
fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(3).map(|c| c.iter().collect()).collect()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let route = Route::of(&path);
    let body = request_body(&body);
    let recorded = request_headers(&headers);
    let streaming = body.get("stream").and_then(Value::as_bool) != Some(false);
    // OpenAI, Anthropic and llama.cpp put it at the top; Ollama under `options`.
    let temperature = body.get("temperature").or_else(|| body.pointer("/options/temperature")).and_then(Value::as_f64);
    let (reply, delay_ms, seq) = {
        let mut script = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        script.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            body,
            headers: recorded,
        });
        (script.next(&path, route.generates(), temperature), script.delay_ms, script.requests.len())
    };
    shared.count.send_modify(|c| *c += 1);
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    if let Some(Reply::EndlessStatus(code)) = &reply {
        return endless(*code, "application/json", Vec::new(), Bytes::from(vec![b'x'; 1 << 20]), &shared);
    }
    if let (false, true, Some(reply)) = (streaming, route.generates(), &reply) {
        if matches!(reply, Reply::EndlessLine | Reply::EndlessEvent | Reply::Endless(_)) {
            let head = vec![r#"{"message": {"role": "assistant", "content": ""#.to_owned()];
            return endless(200, "application/json", head, Bytes::from(vec![b'x'; 1 << 20]), &shared);
        }
        return respond_whole(route, reply.clone(), seq, shared.shutdown.clone()).await;
    }
    if route.generates() {
        let content_type = if route.ndjson() { "application/x-ndjson" } else { "text/event-stream" };
        let mut head = route.opening();
        let endless_line = |mut head: Vec<String>| {
            head.push(if route.ndjson() { r#"{"response": ""#.to_owned() } else { r#"data: {"text": ""#.to_owned() });
            endless(200, content_type, head, Bytes::from(vec![b'x'; 1 << 20]), &shared)
        };
        match &reply {
            Some(Reply::EndlessLine) => return endless_line(head),
            Some(Reply::EndlessEvent) if route.ndjson() => return endless_line(head),
            Some(Reply::EndlessEvent) => {
                head.push("data: {\n".to_owned());
                let lines = "data: \"an event that goes on and on and never ends\",\n".repeat(1024);
                return endless(200, content_type, head, Bytes::from(lines), &shared);
            }
            Some(Reply::Endless(delta)) => {
                return endless(200, content_type, head, Bytes::from(route.delta(delta).repeat(64)), &shared);
            }
            _ => {}
        }
    }
    respond(route, reply, shared.shutdown.clone()).await
}

/// A response with this status whose body is `head`, then `chunk` again and again until the
/// client stops reading or the server shuts down; counts what it hands out.
fn endless(code: u16, content_type: &str, head: Vec<String>, chunk: Bytes, shared: &Shared) -> Response {
    let counter = Arc::clone(&shared.endless_bytes);
    let mut shutdown = shared.shutdown.clone();
    let body = stream::iter(head.into_iter().map(Bytes::from))
        .chain(stream::repeat(chunk))
        .map(move |bytes| {
            counter.fetch_add(bytes.len(), Ordering::Relaxed);
            Ok::<_, io::Error>(bytes)
        })
        .take_until(async move {
            let _ = shutdown.changed().await;
        });
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

/// The answer to a `"stream": false` generation request: one JSON body in the route's format.
async fn respond_whole(route: Route, reply: Reply, seq: usize, mut shutdown: watch::Receiver<()>) -> Response {
    let (text, calls) = match reply {
        Reply::Status(code, body) => return plain(code, "application/json", body),
        Reply::Hang => {
            let _ = shutdown.changed().await;
            return plain(503, "text/plain", "server shut down".into());
        }
        Reply::Text(text) | Reply::DropAfter(text) => (text, Vec::new()),
        Reply::Chunks(deltas) => (deltas.concat(), Vec::new()),
        Reply::Slow { text, chunk_delay_ms } => {
            let total = chunk_delay_ms.saturating_mul(chunks(&text).len() as u64);
            tokio::time::sleep(Duration::from_millis(total)).await;
            (text, Vec::new())
        }
        Reply::MalformedSse => return plain(200, "application/json", "{not json".into()),
        Reply::StreamError(message) => {
            let error = json!({"error": {"code": 500, "message": message, "type": "server_error"}});
            return plain(200, "application/json", error.to_string());
        }
        Reply::ToolCalls(calls) => (String::new(), calls),
        Reply::EndlessStatus(_) | Reply::EndlessLine | Reply::EndlessEvent | Reply::Endless(_) => {
            return plain(500, "text/plain", "endless replies are answered by `endless`".into());
        }
    };
    plain(200, "application/json", route.whole(&text, &calls, seq).to_string())
}

async fn respond(route: Route, reply: Option<Reply>, mut shutdown: watch::Receiver<()>) -> Response {
    let reply = match reply {
        Some(reply) => reply,
        None => {
            return match route.listing() {
                Some(listing) => plain(200, "application/json", listing.to_string()),
                None => plain(404, "text/plain", "no such route".into()),
            };
        }
    };
    if !route.generates() {
        return match (reply, route.listing()) {
            (Reply::Status(code, body), _) => plain(code, "application/json", body),
            (Reply::Hang, _) => {
                let _ = shutdown.changed().await;
                plain(503, "text/plain", "server shut down".into())
            }
            (_, Some(listing)) => plain(200, "application/json", listing.to_string()),
            (_, None) => plain(404, "text/plain", "no such route".into()),
        };
    }
    let content_type = if route.ndjson() { "application/x-ndjson" } else { "text/event-stream" };
    let (deltas, delay_ms, close) = match reply {
        Reply::Status(code, body) => return plain(code, "application/json", body),
        Reply::Hang => {
            let _ = shutdown.changed().await;
            return plain(503, "text/plain", "server shut down".into());
        }
        Reply::Text(text) => (chunks(&text), 0, true),
        Reply::Chunks(deltas) => (deltas, 0, true),
        Reply::Slow { text, chunk_delay_ms } => (chunks(&text), chunk_delay_ms, true),
        Reply::DropAfter(text) => (chunks(&text), 0, false),
        Reply::ToolCalls(calls) => {
            let lines = calls
                .iter()
                .map(|(name, arguments)| format!("{}\n", json!({"name": name, "arguments": arguments})))
                .collect();
            (lines, 0, true)
        }
        Reply::MalformedSse => {
            let frames = route.opening().into_iter().chain([route.malformed()]).collect();
            return streamed(content_type, frames, 0, false);
        }
        Reply::StreamError(message) => {
            let frames = route.opening().into_iter().chain([route.error(&message)]).collect();
            return streamed(content_type, frames, 0, true);
        }
        Reply::EndlessStatus(_) | Reply::EndlessLine | Reply::EndlessEvent | Reply::Endless(_) => {
            return plain(500, "text/plain", "endless replies are answered by `endless`".into());
        }
    };
    let mut frames: Vec<(u64, String)> = route.opening().into_iter().map(|f| (0, f)).collect();
    frames.extend(deltas.iter().map(|d| (delay_ms, route.delta(d))));
    if close {
        frames.extend(route.closing().into_iter().map(|f| (0, f)));
    }
    streamed_timed(content_type, frames, close)
}

fn plain(code: u16, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_default()
}

fn streamed(content_type: &str, frames: Vec<String>, delay_ms: u64, close: bool) -> Response {
    streamed_timed(content_type, frames.into_iter().map(|f| (delay_ms, f)).collect(), close)
}

/// A 200 streaming response: each frame after its delay (milliseconds); when `close` is false the
/// connection is then cut without finishing the HTTP message.
fn streamed_timed(content_type: &str, frames: Vec<(u64, String)>, close: bool) -> Response {
    let body: BoxStream<'static, Result<Bytes, io::Error>> = stream::iter(frames)
        .then(|(delay_ms, frame)| async move {
            if delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            Ok(Bytes::from(frame))
        })
        .boxed();
    let body = if close {
        body
    } else {
        body.chain(stream::once(async {
            // Let the frames reach the socket before the connection is cut.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(io::Error::new(io::ErrorKind::ConnectionAborted, "scripted connection drop"))
        }))
        .boxed()
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}
