//! The Anthropic Messages wire format: `POST /messages` with `x-api-key` and `anthropic-version`,
//! streamed as named SSE events (`content_block_delta` carries the text, `message_stop` ends,
//! `error` fails).

use super::sse::Event;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::limits::text_budget;
use super::stream::{Origin, Step, decode, str_at};
use super::{GenerateRequest, Prompt, Provider, ProviderError, TextStream, set_stop, sse, wire_f32};

/// The Messages API version Baton speaks.
const API_VERSION: &str = "2023-06-01";

/// `x-api-key` (when a key is configured) and `anthropic-version`.
pub(super) fn headers(provider: &Provider) -> Result<HeaderMap, ProviderError> {
    let mut headers = provider.http.key_headers(HeaderName::from_static("x-api-key"), "")?;
    headers.insert(HeaderName::from_static("anthropic-version"), HeaderValue::from_static(API_VERSION));
    Ok(headers)
}

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    let (system, messages) = match prompt {
        Prompt::Chat { system, messages } => (system, messages),
        Prompt::Fim { .. } => {
            return Err(provider.unsupported("fill-in-the-middle prompts (send Prompt::Chat)"));
        }
        Prompt::Raw { .. } => return Err(provider.unsupported("raw prompts (send Prompt::Chat)")),
    };
    let mut body = json!({
        "model": provider.config.model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": wire_f32(temperature),
        "stream": true,
    });
    if let (Some(system), Some(object)) = (system, body.as_object_mut()) {
        object.insert("system".to_owned(), Value::String(system));
    }
    set_stop(&mut body, "stop_sequences", stop);
    let url = format!("{}/messages", provider.base);
    let (origin, response) = provider.post(&url, &body, &headers(provider)?).await?;
    let events = sse::events(&provider.http, &origin, response);
    Ok(decode(events, text_budget(max_tokens), move |event| step(&origin, &event)))
}

/// One named SSE event. Proxies that drop `event:` lines still send `type` in the payload.
fn step(origin: &Origin, event: &Event) -> Result<Step, ProviderError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Skip);
    }
    let payload: Value = origin.json(data)?;
    let name = match event.event.as_str() {
        "" | "message" => str_at(&payload, "/type"),
        name => name,
    };
    match name {
        "content_block_delta" if str_at(&payload, "/delta/type") == "text_delta" => {
            Ok(Step::Text(str_at(&payload, "/delta/text").to_owned()))
        }
        "message_stop" => Ok(Step::Last(String::new())),
        "error" => Err(match payload.get("error") {
            Some(error) => origin.remote(error),
            None => origin.remote(&payload),
        }),
        _ => Ok(Step::Skip),
    }
}
