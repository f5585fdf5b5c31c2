//! Model providers: one HTTP client per wire format, streaming generated text back as plain data.
//!
//! The conductor decides *what* to ask (a [`Prompt`]); a provider only knows *how* to send it over
//! its wire format and turn the response stream into text deltas. Nothing here knows LSP.

use std::pin::Pin;

use futures::Stream;
use serde::{Deserialize, Serialize};

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
    pub kind: ProviderKind,
    /// Base URL, e.g. `http://127.0.0.1:8080/v1` for an OpenAI-compatible server,
    /// `https://api.anthropic.com/v1`, `http://127.0.0.1:11434` for Ollama,
    /// `http://127.0.0.1:8080` for llama.cpp.
    pub base_url: String,
    /// Model name sent in the request (`model` field).
    pub model: String,
    /// Name of the environment variable that holds the API key, if the provider needs one.
    /// The key itself never appears in config, logs or errors.
    pub api_key_env: Option<String>,
    /// Time limit for one whole request, in milliseconds (connect, headers and the full stream).
    pub timeout_ms: u64,
    /// Time limit for establishing the connection, in milliseconds.
    pub connect_timeout_ms: u64,
    /// How many times a request that failed with HTTP 429, 5xx or a connection error is retried
    /// (with exponential backoff starting at `retry_base_ms`). 0 disables retries.
    pub max_retries: u32,
    /// First backoff delay, in milliseconds.
    pub retry_base_ms: u64,
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
pub enum Role {
    User,
    Assistant,
}

/// One turn of a chat conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
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
pub enum Prompt {
    /// Fill-in-the-middle through the provider's own prefix/suffix fields.
    Fim { prefix: String, suffix: String },
    /// A ready-made prompt string (for example already wrapped in a model family's FIM tokens).
    Raw { prompt: String },
    /// A chat conversation with an optional system prompt.
    Chat { system: Option<String>, messages: Vec<ChatMessage> },
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: Prompt,
    /// Upper bound on generated tokens.
    pub max_tokens: u32,
    pub temperature: f32,
    /// Stop sequences sent to the model (the provider may also cut at them itself).
    pub stop: Vec<String>,
}

/// A stream of generated text deltas, in order. Ends when the model is done; yields an error and
/// ends when the connection fails or the stream is malformed.
pub type TextStream = Pin<Box<dyn Stream<Item = Result<String, ProviderError>> + Send>>;

/// Why a model request failed. Messages never contain an API key.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("no model server answers at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the model server at {url} did not answer within {ms} ms")]
    Timeout { url: String, ms: u64 },
    #[error("the model server at {url} answered HTTP {status}: {body}")]
    Status { url: String, status: u16, body: String },
    #[error("the model server at {url} sent a response Baton cannot read: {reason}")]
    Malformed { url: String, reason: String },
    #[error("the API key variable {env} is not set in Baton's environment")]
    MissingKey { env: String },
    #[error("{kind:?} providers do not support {what}")]
    Unsupported { kind: ProviderKind, what: &'static str },
    #[error("bad provider configuration: {0}")]
    Config(String),
}

/// A configured model endpoint, ready to send requests. Cheap to clone (shares one HTTP client).
#[derive(Debug, Clone)]
pub struct Provider {
    config: ProviderConfig,
}

impl Provider {
    /// Builds a provider from its configuration, reading the API key from `api_key_env`.
    ///
    /// Errors: [`ProviderError::MissingKey`] when `api_key_env` names an unset variable,
    /// [`ProviderError::Config`] when `base_url` is not an http(s) URL.
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        Ok(Self { config })
    }

    /// The configuration this provider was built from.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// Sends one generation request and returns the text as it streams in. Retries HTTP 429,
    /// 5xx and connection failures (up to `max_retries`, exponential backoff) before the first
    /// byte of the answer; never after text has been yielded.
    pub async fn generate(&self, request: GenerateRequest) -> Result<TextStream, ProviderError> {
        let _ = request;
        Err(ProviderError::Unsupported { kind: self.config.kind, what: "generation (not built yet)" })
    }

    /// A cheap reachability check (no tokens generated): `GET {base_url}/models` for OpenAI-compatible
    /// and Anthropic, `GET /api/tags` for Ollama, `GET /health` for llama.cpp. Any HTTP answer
    /// below 500 counts as reachable.
    pub async fn health(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}
