//! Model providers: one HTTP client per wire format, streaming generated text back as plain data.
//!
//! The conductor decides *what* to ask (a [`Prompt`]); a provider only knows *how* to send it over
//! its wire format and turn the response stream into text deltas. Nothing here knows LSP.

use std::fmt;
use std::pin::Pin;

use futures::Stream;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use self::http::{ApiKey, Http};
use self::stream::Origin;

mod anthropic;
mod http;
pub(crate) mod limits;
mod llamacpp;
mod local;
mod ndjson;
mod ollama;
mod openai;
mod sse;
mod stream;
#[cfg(test)]
pub(crate) mod tests;
mod tools;

pub(crate) use self::tools::{ToolCall, ToolChatRequest, ToolMessage, ToolSpec};

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// OpenAI-compatible: `POST {base_url}/completions` and `POST {base_url}/chat/completions`,
    /// streamed as server-sent events (`data: {...}` lines, ending with `data: [DONE]`).
    #[default]
    Openai,
    /// Anthropic Messages: `POST {base_url}/messages` (`x-api-key`, `anthropic-version: 2023-06-01`),
    /// streamed as server-sent events (`content_block_delta` events carry `text_delta`s).
    Anthropic,
    /// Ollama: `POST {base_url}/api/generate` (with `suffix` for fill-in-the-middle) and
    /// `POST {base_url}/api/chat`, streamed as newline-delimited JSON.
    Ollama,
    /// llama.cpp's server: `POST {base_url}/infill` (`input_prefix`/`input_suffix`),
    /// `POST {base_url}/completion`, and its OpenAI-compatible chat; streamed as server-sent events.
    Llamacpp,
}

/// One configured model endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "snake_case", deny_unknown_fields)]
pub struct ProviderConfig {
    /// Wire format.
    pub(crate) kind: ProviderKind,
    /// Base URL, e.g. `http://127.0.0.1:8080/v1` for an OpenAI-compatible server,
    /// `https://api.anthropic.com/v1`, `http://127.0.0.1:11434` for Ollama,
    /// `http://127.0.0.1:8080` for llama.cpp.
    pub(crate) base_url: String,
    /// Model name sent in the request (`model` field).
    pub(crate) model: String,
    /// Name of the environment variable that holds the API key, if the provider needs one.
    /// The key itself never appears in config, logs or errors.
    pub(crate) api_key_env: Option<String>,
    /// Time limit for one whole request attempt, in milliseconds (connect, headers and the full
    /// stream); each retry gets its own. Timeouts are not retried.
    pub(crate) timeout_ms: u64,
    /// Time limit for establishing the connection, in milliseconds.
    pub(crate) connect_timeout_ms: u64,
    /// How many times a request that failed with HTTP 429, 5xx or a connection error is retried
    /// (with exponential backoff starting at `retry_base_ms`). 0 disables retries. A request
    /// whose kept-alive connection the server closed before answering is sent again once, at once,
    /// either way.
    pub(crate) max_retries: u32,
    /// First backoff delay, in milliseconds.
    pub(crate) retry_base_ms: u64,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:8080/v1".to_owned(),
            model: "qwen2.5-coder".to_owned(),
            api_key_env: None,
            timeout_ms: 30_000,
            connect_timeout_ms: 2_000,
            max_retries: 2,
            retry_base_ms: 200,
        }
    }
}

/// Who speaks a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    User,
    Assistant,
}

/// One turn of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    pub(crate) role: Role,
    pub(crate) content: String,
}

/// What to ask the model, in one of three shapes. Which shapes a provider accepts:
///
/// | kind      | `Fim` (native)                  | `Raw`                      | `Chat`                      |
/// |-----------|---------------------------------|----------------------------|-----------------------------|
/// | openai    | unsupported                     | `/completions` `prompt`    | `/chat/completions`         |
/// | anthropic | unsupported                     | unsupported                | `/messages`                 |
/// | ollama    | `/api/generate` with `suffix`   | `/api/generate` `raw:true` | `/api/chat`                 |
/// | llamacpp  | `/infill`                       | `/completion`              | `/v1/chat/completions`      |
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// Fill-in-the-middle through the provider's own prefix/suffix fields.
    Fim { prefix: String, suffix: String },
    /// A ready-made prompt string (for example already wrapped in a model family's FIM tokens).
    Raw { prompt: String },
    /// A chat conversation with an optional system prompt.
    Chat { system: Option<String>, messages: Vec<ChatMessage> },
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenerateRequest {
    pub(crate) prompt: Prompt,
    /// Upper bound on generated tokens.
    pub(crate) max_tokens: u32,
    pub(crate) temperature: f32,
    /// Stop sequences sent to the model (the provider may also cut at them itself).
    pub(crate) stop: Vec<String>,
}

/// A stream of generated text deltas, in order. Ends when the model is done; yields an error and
/// ends when the connection fails or the stream is malformed.
pub(crate) type TextStream = Pin<Box<dyn Stream<Item = Result<String, ProviderError>> + Send>>;

/// Why a model request failed. Messages never contain an API key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No connection could be made: refused, no route, DNS failure, or no TCP handshake within
    /// `connect_timeout_ms`.
    #[error("no model server answers at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server accepted the connection but the whole answer did not arrive within
    /// `timeout_ms` milliseconds (before or during the stream): it is there, but slow.
    #[error("the model server at {url} accepted the connection but did not finish answering within {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("the model server at {url} answered HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("the model server at {url} sent a response Baton cannot read: {reason}")]
    Malformed { url: String, reason: String },
    /// The connection broke after the answer started streaming.
    #[error("the connection to the model server at {url} broke mid-answer: {reason}")]
    Interrupted { url: String, reason: String },
    /// The server reported an error inside the stream (an Anthropic `error` event, an
    /// `{"error": ...}` line or event).
    #[error("the model server at {url} reported an error: {message}")]
    Remote { url: String, message: String },
    /// The server sent more than Baton reads (see [`limits`]): `what` names the part (`"an
    /// event"`, `"an NDJSON line"`, `"an answer body"`), `limit` is the cap in bytes. Baton stopped
    /// reading and dropped the connection.
    #[error("the model server at {url} sent {what} longer than {limit} bytes; Baton stopped reading it")]
    TooLarge { url: String, what: &'static str, limit: usize },
    #[error("the API key variable {env} is not set in Baton's environment")]
    MissingKey { env: String },
    /// `what` names the unsupported prompt shape.
    #[error("{kind:?} providers do not support {what}")]
    Unsupported { kind: ProviderKind, what: &'static str },
    #[error("bad provider configuration: {0}")]
    Config(String),
}

/// A configured model endpoint, ready to send requests. Cheap to clone (clones share one HTTP
/// client and its connection pool). `Debug` never shows the API key.
#[derive(Clone)]
pub struct Provider {
    config: ProviderConfig,
    /// `config.base_url` without a trailing `/`.
    base: String,
    http: Http,
}

#[cfg(test)]
impl Provider {
    /// The same provider with every request sent through reqwest, also to a server on this
    /// machine (tests of that path, which remote servers take).
    pub(crate) fn through_reqwest(mut self) -> Self {
        self.http = self.http.through_reqwest();
        self
    }
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("config", &self.config)
            .field("api_key", &self.http.key().map(|_| "***"))
            .finish()
    }
}

impl Provider {
    /// Builds a provider from its configuration, reading the API key from `api_key_env`.
    ///
    /// Errors: [`ProviderError::MissingKey`] when `api_key_env` names an unset (or empty)
    /// variable, [`ProviderError::Config`] when `base_url` is not an http(s) URL.
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let key = match &config.api_key_env {
            None => None,
            Some(env) => match std::env::var(env) {
                Ok(value) if !value.is_empty() => Some(value),
                _ => return Err(ProviderError::MissingKey { env: env.clone() }),
            },
        };
        Self::with_key(config, key)
    }

    /// [`Provider::new`] with the key given directly instead of read from the environment.
    pub(crate) fn with_key(config: ProviderConfig, key: Option<String>) -> Result<Self, ProviderError> {
        let url = reqwest::Url::parse(&config.base_url)
            .map_err(|e| ProviderError::Config(format!("base_url {:?} is not a URL: {e}", config.base_url)))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError::Config(format!("base_url {:?} is not an http(s) URL", config.base_url)));
        }
        let http = Http::new(&config, key.map(ApiKey::new))?;
        let base = config.base_url.trim_end_matches('/').to_owned();
        Ok(Self { config, base, http })
    }

    /// The configuration this provider was built from.
    pub(crate) fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Sends one generation request and returns the text as it streams in. Retries HTTP 429,
    /// 5xx and connection failures (up to `max_retries`, exponential backoff, or the server's
    /// `Retry-After` seconds) before the first byte of the answer; never after text has been
    /// yielded.
    ///
    /// Errors: [`ProviderError::Unsupported`] for a prompt shape the kind does not accept (see
    /// [`Prompt`]), and the transport errors of [`ProviderError`].
    pub(crate) async fn generate(&self, request: GenerateRequest) -> Result<TextStream, ProviderError> {
        tracing::trace!(kind = ?self.config.kind, prompt = ?request.prompt, "generate");
        match self.config.kind {
            ProviderKind::Openai => openai::generate(self, request).await,
            ProviderKind::Anthropic => anthropic::generate(self, request).await,
            ProviderKind::Ollama => ollama::generate(self, request).await,
            ProviderKind::Llamacpp => llamacpp::generate(self, request).await,
        }
    }

    /// A cheap reachability check (no tokens generated, no retries): `GET {base_url}/models` for
    /// OpenAI-compatible and Anthropic, `GET /api/tags` for Ollama, `GET /health` for llama.cpp.
    /// Any HTTP answer below 500 counts as reachable.
    pub(crate) async fn health(&self) -> Result<(), ProviderError> {
        let (path, headers) = match self.config.kind {
            ProviderKind::Openai => ("/models", self.bearer()?),
            ProviderKind::Anthropic => ("/models", anthropic::headers(self)?),
            ProviderKind::Ollama => ("/api/tags", self.bearer()?),
            ProviderKind::Llamacpp => ("/health", self.bearer()?),
        };
        self.http.probe(&format!("{}{path}", self.base), &headers).await
    }

    /// `Authorization: Bearer KEY` when a key is configured.
    fn bearer(&self) -> Result<HeaderMap, ProviderError> {
        self.http.key_headers(reqwest::header::AUTHORIZATION, "Bearer ")
    }

    /// POSTs a JSON body (with retries) and returns the 2xx response with its [`Origin`].
    async fn post<B: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        body: &B,
        headers: &HeaderMap,
    ) -> Result<(Origin, reqwest::Response), ProviderError> {
        let response = self.http.post_json(url, body, headers).await?;
        Ok((Origin::new(url, self.http.key()), response))
    }

    fn unsupported(&self, what: &'static str) -> ProviderError {
        ProviderError::Unsupported { kind: self.config.kind, what }
    }
}

/// Chat messages in the OpenAI/Ollama shape, the system prompt (if any) first as a `system` turn.
fn chat_messages(system: Option<String>, messages: Vec<ChatMessage>) -> Vec<Value> {
    let system = system.map(|content| json!({"role": "system", "content": content}));
    let turns = messages.into_iter().map(|m| json!({"role": m.role, "content": m.content}));
    system.into_iter().chain(turns).collect()
}

/// `value` as the f64 with the same shortest decimal form, so `0.2_f32` goes over the wire as
/// `0.2` rather than `0.20000000298023224`.
fn wire_f32(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// Sets `body[key] = stop` unless there are no stop sequences (some servers reject `[]`).
fn set_stop(body: &mut Value, key: &str, stop: Vec<String>) {
    if let (false, Some(object)) = (stop.is_empty(), body.as_object_mut()) {
        object.insert(key.to_owned(), json!(stop));
    }
}
