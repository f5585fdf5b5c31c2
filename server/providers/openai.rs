//! The OpenAI-compatible wire format: `/completions` (raw prompts) and `/chat/completions`, both
//! streamed as SSE `data:` events ending with `data: [DONE]`. llama.cpp reuses the chat half.

use super::sse::Event;
use serde_json::{Value, json};

use super::limits::text_budget;
use super::stream::{Origin, Step, decode, str_at};
use super::{
    ChatMessage, GenerateRequest, Prompt, Provider, ProviderError, TextStream, chat_messages, set_stop, sse, wire_f32,
};

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    match prompt {
        Prompt::Raw { prompt } => {
            let mut body = json!({
                "model": provider.config.model,
                "prompt": prompt,
                "max_tokens": max_tokens,
                "temperature": wire_f32(temperature),
                "stream": true,
            });
            set_stop(&mut body, "stop", stop);
            let url = format!("{}/completions", provider.base);
            let (origin, response) = provider.post(&url, &body, &provider.bearer()?).await?;
            let events = sse::events(&provider.http, &origin, response);
            Ok(decode(events, text_budget(max_tokens), move |event| step(&origin, &event, "/choices/0/text")))
        }
        Prompt::Chat { system, messages } => {
            let url = format!("{}/chat/completions", provider.base);
            chat(provider, &url, ChatRequest { system, messages, max_tokens, temperature, stop }).await
        }
        Prompt::Fim { .. } => Err(provider.unsupported("native fill-in-the-middle prompts (send Prompt::Raw)")),
    }
}

/// A chat prompt with its sampling settings.
pub(super) struct ChatRequest {
    pub(super) system: Option<String>,
    pub(super) messages: Vec<ChatMessage>,
    /// Upper bound on generated tokens.
    pub(super) max_tokens: u32,
    pub(super) temperature: f32,
    pub(super) stop: Vec<String>,
}

/// Streams an OpenAI-format chat completion from `url`.
pub(super) async fn chat(provider: &Provider, url: &str, request: ChatRequest) -> Result<TextStream, ProviderError> {
    let mut body = json!({
        "model": provider.config.model,
        "messages": chat_messages(request.system, request.messages),
        "max_tokens": request.max_tokens,
        "temperature": wire_f32(request.temperature),
        "stream": true,
    });
    set_stop(&mut body, "stop", request.stop);
    let (origin, response) = provider.post(url, &body, &provider.bearer()?).await?;
    let events = sse::events(&provider.http, &origin, response);
    Ok(decode(events, text_budget(request.max_tokens), move |event| step(&origin, &event, "/choices/0/delta/content")))
}

/// One SSE event: the text at `text_pointer`, `[DONE]` ends, `{"error": ...}` fails.
fn step(origin: &Origin, event: &Event, text_pointer: &str) -> Result<Step, ProviderError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Skip);
    }
    if data == "[DONE]" {
        return Ok(Step::Last(String::new()));
    }
    let payload: Value = origin.json(data)?;
    if let Some(error) = origin.error_in(&payload) {
        return Err(error);
    }
    Ok(Step::Text(str_at(&payload, text_pointer).to_owned()))
}
