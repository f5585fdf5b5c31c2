//! llama.cpp's server: `POST /infill` (`input_prefix`/`input_suffix`) and `POST /completion`,
//! streamed as SSE `data: {"content": ..., "stop": ...}` events; chat goes through its
//! OpenAI-compatible `/v1/chat/completions`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::sse::Event;

use super::limits::text_budget;
use super::openai::{self, ChatRequest};
use super::stream::{Origin, Step, decode, str_at};
use super::{GenerateRequest, Prompt, Provider, ProviderError, TextStream, sse};

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    let mut body = Body { n_predict: max_tokens, temperature, stream: true, stop, ..Body::default() };
    let path = match prompt {
        Prompt::Fim { prefix, suffix } => {
            (body.input_prefix, body.input_suffix) = (Some(prefix), Some(suffix));
            "/infill"
        }
        Prompt::Raw { prompt } => {
            body.prompt = Some(prompt);
            "/completion"
        }
        Prompt::Chat { system, messages } => {
            let url = format!("{}/v1/chat/completions", provider.base);
            let stop = body.stop;
            return openai::chat(provider, &url, ChatRequest { system, messages, max_tokens, temperature, stop }).await;
        }
    };
    let url = format!("{}{path}", provider.base);
    let (origin, response) = provider.post(&url, &body, &provider.bearer()?).await?;
    let events = sse::events(&provider.http, &origin, response);
    Ok(decode(events, text_budget(max_tokens), move |event| step(&origin, &event)))
}

/// The body of `POST /infill` (`input_prefix`, `input_suffix`) or `POST /completion`
/// (`prompt`). A struct rather than a `serde_json::Value`, as `openai::CompletionBody`: it is
/// sent on every keystroke's request.
#[derive(Serialize, Default)]
struct Body {
    #[serde(skip_serializing_if = "Option::is_none")]
    input_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_suffix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<String>,
    /// Upper bound on generated tokens.
    n_predict: u32,
    /// Shortest form (`0.2`); NaN and infinities as `null`.
    temperature: f32,
    stream: bool,
    /// Left out when empty: some servers reject `"stop": []`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    stop: Vec<String>,
}

/// An event's payload as [`step`] reads it first, without building a `Value`; any shape this
/// does not take fails it, and the event is read again as a `Value` (the same text either way).
#[derive(Deserialize)]
struct Piece<'a> {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    stop: Option<bool>,
    /// Present and not null: the server reports an error (read through the `Value` path).
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

/// One SSE event: `content` is the text, `"stop": true` ends, `{"error": ...}` fails.
fn step(origin: &Origin, event: &Event) -> Result<Step, ProviderError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Skip);
    }
    if let Ok(piece) = serde_json::from_str::<Piece>(data)
        && piece.error.is_none()
    {
        let text = piece.content.unwrap_or_default();
        return Ok(if piece.stop == Some(true) { Step::Last(text) } else { Step::Text(text) });
    }
    step_by_value(origin, data)
}

/// [`step`] for a payload its typed reading does not take: the event read as a `Value`.
fn step_by_value(origin: &Origin, data: &str) -> Result<Step, ProviderError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_reading_gives_what_the_value_reading_gives() {
        let origin = Origin::new("http://127.0.0.1:1/infill", None);
        let payloads = [
            r#"{"content":"x = 1\n","stop":false,"id_slot":0}"#,
            r#"{"content":"","stop":true,"timings":{"predicted_ms":3.5}}"#,
            r#"{"content":"no stop member"}"#,
            r#"{"content":null,"stop":null}"#,
            r#"{"content":7,"stop":true}"#,
            r#"{"content":"x","stop":"yes"}"#,
            r#"{"content":"x","stop":true,"stop":false}"#,
            r#"{"error":{"message":"slot unavailable"}}"#,
            r#"{"error":null,"content":"fine"}"#,
            r#"[]"#,
            r#"{"content":"cut"#,
        ];
        for data in payloads {
            let event = Event { event: "message".to_owned(), data: data.to_owned() };
            let typed = step(&origin, &event).map_err(|e| e.to_string());
            assert_eq!(typed, step_by_value(&origin, data).map_err(|e| e.to_string()), "{data}");
        }
        assert!(serde_json::from_str::<Piece>(payloads[0]).is_ok_and(|p| p.error.is_none()));
    }
}
