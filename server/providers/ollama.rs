//! The Ollama wire format: `POST /api/generate` (FIM through `suffix`, raw prompts with
//! `raw: true`) and `POST /api/chat`, streamed as newline-delimited JSON ending with `"done": true`.

use serde_json::{Value, json};

use super::limits::text_budget;
use super::stream::{Origin, Step, decode, str_at};
use super::{GenerateRequest, Prompt, Provider, ProviderError, TextStream, chat_messages, ndjson, set_stop, wire_f32};

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    let mut options = json!({"num_predict": max_tokens, "temperature": wire_f32(temperature)});
    set_stop(&mut options, "stop", stop);
    let model = &provider.config.model;
    let (path, body, text_pointer) = match prompt {
        Prompt::Fim { prefix, suffix } => (
            "/api/generate",
            json!({"model": model, "prompt": prefix, "suffix": suffix, "stream": true, "options": options}),
            "/response",
        ),
        Prompt::Raw { prompt } => (
            "/api/generate",
            json!({"model": model, "prompt": prompt, "raw": true, "stream": true, "options": options}),
            "/response",
        ),
        Prompt::Chat { system, messages } => (
            "/api/chat",
            json!({"model": model, "messages": chat_messages(system, messages), "stream": true, "options": options}),
            "/message/content",
        ),
    };
    let url = format!("{}{path}", provider.base);
    let (origin, response) = provider.post(&url, &body, &provider.bearer()?).await?;
    let lines = ndjson::lines(&provider.http, &origin, response);
    Ok(decode(lines, text_budget(max_tokens), move |line| step(&origin, &line, text_pointer)))
}

/// One NDJSON line: the text at `text_pointer`; `"done": true` ends; `{"error": ...}` fails.
fn step(origin: &Origin, line: &str, text_pointer: &str) -> Result<Step, ProviderError> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Step::Skip);
    }
    let payload: Value = origin.json(line)?;
    if let Some(error) = origin.error_in(&payload) {
        return Err(error);
    }
    let text = str_at(&payload, text_pointer).to_owned();
    match payload.get("done").and_then(Value::as_bool) {
        Some(true) => Ok(Step::Last(text)),
        _ => Ok(Step::Text(text)),
    }
}
