//! llama.cpp's server: `POST /infill` (`input_prefix`/`input_suffix`) and `POST /completion`,
//! streamed as SSE `data: {"content": ..., "stop": ...}` events; chat goes through its
//! OpenAI-compatible `/v1/chat/completions`.

use super::sse::Event;
use serde_json::{Value, json};

use super::limits::text_budget;
use super::openai::{self, ChatRequest};
use super::stream::{Origin, Step, decode, str_at};
use super::{GenerateRequest, Prompt, Provider, ProviderError, TextStream, set_stop, sse, wire_f32};

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    let (path, mut body) = match prompt {
        Prompt::Fim { prefix, suffix } => (
            "/infill",
            json!({"input_prefix": prefix, "input_suffix": suffix, "n_predict": max_tokens,
                   "temperature": wire_f32(temperature), "stream": true}),
        ),
        Prompt::Raw { prompt } => (
            "/completion",
            json!({"prompt": prompt, "n_predict": max_tokens, "temperature": wire_f32(temperature), "stream": true}),
        ),
        Prompt::Chat { system, messages } => {
            let url = format!("{}/v1/chat/completions", provider.base);
            return openai::chat(provider, &url, ChatRequest { system, messages, max_tokens, temperature, stop }).await;
        }
    };
    set_stop(&mut body, "stop", stop);
    let url = format!("{}{path}", provider.base);
    let (origin, response) = provider.post(&url, &body, &provider.bearer()?).await?;
    let events = sse::events(&provider.http, &origin, response);
    Ok(decode(events, text_budget(max_tokens), move |event| step(&origin, &event)))
}

/// One SSE event: `content` is the text, `"stop": true` ends, `{"error": ...}` fails.
fn step(origin: &Origin, event: &Event) -> Result<Step, ProviderError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Skip);
    }
    let payload: Value = origin.json(data)?;
    if let Some(error) = origin.error_in(&payload) {
        return Err(error);
    }
    let text = str_at(&payload, "/content").to_owned();
    match payload.get("stop").and_then(Value::as_bool) {
        Some(true) => Ok(Step::Last(text)),
        _ => Ok(Step::Text(text)),
    }
}
