//! The OpenAI-compatible wire format: `/completions` (raw prompts) and `/chat/completions`, both
//! streamed as SSE `data:` events ending with `data: [DONE]`. llama.cpp reuses the chat half.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::sse::Event;

use super::limits::text_budget;
use super::stream::{Origin, Step, decode, str_at};
use super::{
    ChatMessage, GenerateRequest, Prompt, Provider, ProviderError, TextStream, chat_messages, set_stop, sse, wire_f32,
};

pub(super) async fn generate(provider: &Provider, request: GenerateRequest) -> Result<TextStream, ProviderError> {
    let GenerateRequest { prompt, max_tokens, temperature, stop } = request;
    match prompt {
        Prompt::Raw { prompt } => {
            let body = CompletionBody {
                model: &provider.config.model,
                prompt: &prompt,
                max_tokens,
                temperature,
                stream: true,
                stop: &stop,
            };
            let url = format!("{}/completions", provider.base);
            let (origin, response) = provider.post(&url, &body, &provider.bearer()?).await?;
            let events = sse::events(&provider.http, &origin, response);
            Ok(decode(events, text_budget(max_tokens), move |event| step(&origin, &event, TextAt::Text)))
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
    Ok(decode(events, text_budget(request.max_tokens), move |event| step(&origin, &event, TextAt::DeltaContent)))
}

/// The body of `POST /completions` (OpenAI's completions API, which llama.cpp and vLLM serve
/// too), members in this order. Built as a struct rather than a `serde_json::Value`: it is
/// sent on every keystroke's request, and a `Value` costs a map and a copy of the prompt.
#[derive(Serialize)]
struct CompletionBody<'a> {
    model: &'a str,
    prompt: &'a str,
    /// Upper bound on generated tokens.
    max_tokens: u32,
    /// serde_json writes an `f32` in its shortest form (`0.2`), as [`wire_f32`] does for a
    /// `Value`; NaN and infinities as `null`.
    temperature: f32,
    stream: bool,
    /// Left out when empty: some servers reject `"stop": []`.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
}

/// Where an event's text is: `choices[0].text` (completions) or `choices[0].delta.content` (chat).
#[derive(Debug, Clone, Copy)]
enum TextAt {
    Text,
    DeltaContent,
}

impl TextAt {
    fn pointer(self) -> &'static str {
        match self {
            Self::Text => "/choices/0/text",
            Self::DeltaContent => "/choices/0/delta/content",
        }
    }
}

/// An event's payload as [`step`] reads it first, without building a `Value`. Any shape this
/// does not take (a member of another type, a repeated member) fails it, and the event is read
/// again as a `Value`, so both readings give the same text.
#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(default)]
    choices: Vec<Choice>,
    /// Present and not null: the server reports an error (read through the `Value` path).
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    delta: Option<Delta>,
}

#[derive(Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

/// One SSE event: the text at `at`, `[DONE]` ends, `{"error": ...}` fails.
fn step(origin: &Origin, event: &Event, at: TextAt) -> Result<Step, ProviderError> {
    let data = event.data.trim();
    if data.is_empty() {
        return Ok(Step::Skip);
    }
    if data == "[DONE]" {
        return Ok(Step::Last(String::new()));
    }
    if let Ok(chunk) = serde_json::from_str::<Chunk>(data)
        && chunk.error.is_none()
    {
        let first = chunk.choices.into_iter().next();
        let text = match at {
            TextAt::Text => first.and_then(|c| c.text),
            TextAt::DeltaContent => first.and_then(|c| c.delta).and_then(|d| d.content),
        };
        return Ok(Step::Text(text.unwrap_or_default()));
    }
    step_by_value(origin, data, at)
}

/// [`step`] for a payload its typed reading does not take: the event read as a `Value`.
fn step_by_value(origin: &Origin, data: &str, at: TextAt) -> Result<Step, ProviderError> {
    let payload: Value = origin.json(data)?;
    if let Some(error) = origin.error_in(&payload) {
        return Err(error);
    }
    Ok(Step::Text(str_at(&payload, at.pointer()).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Payloads a broken or hostile server could send: every one is read as the `Value` path
    /// reads it, whichever reading takes it.
    #[test]
    fn the_typed_reading_gives_what_the_value_reading_gives() {
        let origin = Origin::new("http://127.0.0.1:1/v1/completions", None);
        let payloads = [
            r#"{"id":"c","object":"text_completion","choices":[{"index":0,"text":"x = 1\n","finish_reason":null}]}"#,
            r#"{"choices":[{"text":"caf\u00e9 \ud83d\ude00"}]}"#,
            r#"{"choices":[{"delta":{"role":"assistant","content":"fn main"}}]}"#,
            r#"{"choices":[{"delta":{"content":null}}]}"#,
            r#"{"choices":[]}"#,
            r#"{"choices":null}"#,
            r#"{"choices":{"0":{"text":"object, not array"}}}"#,
            r#"{"choices":[{"text":42}]}"#,
            r#"{"choices":[{"text":null,"delta":"not an object"}]}"#,
            r#"{"choices":[{"text":"first"}],"choices":[{"text":"repeated wins"}]}"#,
            r#"{"choices":[{"text":"a"},{"text":"second choice"}]}"#,
            r#"{"error":null,"choices":[{"text":"error null is no error"}]}"#,
            r#"{"error":"overloaded","choices":[{"text":"x"}]}"#,
            r#"{"error":{"message":"bad key"}}"#,
            r#"{"error":{"code":5}}"#,
            r#"[1,2,3]"#,
            r#""just a string""#,
            r#"{"choices":[{"text":"unterminated"#,
            r#"{"choices":[{"text":"x"}]} trailing"#,
            r#"{"choices":[{"text":"\ud800 lone surrogate"}]}"#,
        ];
        for data in payloads {
            let event = Event { event: "message".to_owned(), data: data.to_owned() };
            for at in [TextAt::Text, TextAt::DeltaContent] {
                let typed = step(&origin, &event, at).map_err(|e| e.to_string());
                let value = step_by_value(&origin, data, at).map_err(|e| e.to_string());
                assert_eq!(typed, value, "{at:?} of {data}");
            }
        }
        // The typed reading takes the usual shape: else it would never be the reading used.
        assert!(serde_json::from_str::<Chunk>(payloads[0]).is_ok_and(|c| c.error.is_none()));
    }

    /// The request body as it goes over the wire: members in order, `0.2` not
    /// `0.20000000298023224`, no `stop` when there is none.
    #[test]
    fn the_completion_body_is_the_documented_shape() {
        let stop = ["\n\n".to_owned()];
        let body = |stop: &[String]| {
            let body =
                CompletionBody { model: "m", prompt: "p\"", max_tokens: 64, temperature: 0.2, stream: true, stop };
            serde_json::to_string(&body).unwrap_or_default()
        };
        assert_eq!(
            body(&stop),
            r#"{"model":"m","prompt":"p\"","max_tokens":64,"temperature":0.2,"stream":true,"stop":["\n\n"]}"#
        );
        assert_eq!(body(&[]), r#"{"model":"m","prompt":"p\"","max_tokens":64,"temperature":0.2,"stream":true}"#);
    }
}
