//! Chat with tools: one non-streaming request per model turn carrying tool definitions and the
//! conversation so far (tool calls and their results included), in each provider's real wire
//! format (OpenAI `tools`/`tool_calls`, Anthropic `tool_use`/`tool_result` blocks, Ollama
//! `message.tool_calls`; llama.cpp through its OpenAI-compatible chat). Small local models often
//! write a tool call as JSON in the message text; [`parse_text_tool_calls`] accepts that too.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::stream::Origin;
use super::{Provider, ProviderError, ProviderKind, anthropic, wire_f32};

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ToolSpec {
    /// The name the model calls it by (`[a-zA-Z0-9_-]`, as every wire format requires).
    pub(crate) name: String,
    /// What the tool does, for the model.
    pub(crate) description: String,
    /// JSON Schema of the arguments object.
    pub(crate) parameters: Value,
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ToolCall {
    /// The provider's call id (generated when the model gave none); tool results refer to it.
    pub(crate) id: String,
    /// The tool's name as the model wrote it (may name no offered tool).
    pub(crate) name: String,
    /// The arguments, normally a JSON object. A string when the model sent arguments that are not
    /// valid JSON (the tool then reports the error back to the model).
    pub(crate) arguments: Value,
}

/// One message of a tool-calling conversation (the system prompt travels separately).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum ToolMessage {
    /// The user's text.
    User(String),
    /// A model turn: its text and the tool calls it made.
    Assistant { text: String, tool_calls: Vec<ToolCall> },
    /// The result of executing one tool call.
    ToolResult {
        call_id: String,
        /// The tool's name (Ollama identifies results by name).
        name: String,
        content: String,
        is_error: bool,
    },
}

/// One request of a tool-calling loop.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ToolChatRequest {
    /// The system prompt (OpenAI/Ollama: a first `system` message; Anthropic: `system`).
    pub(crate) system: Option<String>,
    /// The conversation, oldest first.
    pub(crate) messages: Vec<ToolMessage>,
    /// Empty: a plain chat (no tools offered, no JSON-in-text parsing).
    pub(crate) tools: Vec<ToolSpec>,
    /// Upper bound on generated tokens for this turn.
    pub(crate) max_tokens: u32,
    /// Sampling temperature.
    pub(crate) temperature: f32,
}

/// Tokens one request used, as the server reported them (0 when it did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct TokenUsage {
    /// Prompt tokens (OpenAI `prompt_tokens`, Anthropic `input_tokens`, Ollama `prompt_eval_count`).
    pub(crate) input_tokens: u64,
    /// Generated tokens (`completion_tokens`, `output_tokens`, `eval_count`).
    pub(crate) output_tokens: u64,
}

impl TokenUsage {
    /// Input plus output tokens.
    pub(crate) fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// The model's answer to one [`ToolChatRequest`].
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ToolChatResponse {
    /// The assistant's text (with any tool call written as JSON text removed).
    pub(crate) text: String,
    /// Structured tool calls, or calls recovered from JSON in the text; empty when the model
    /// answered without calling a tool.
    pub(crate) tool_calls: Vec<ToolCall>,
    pub(crate) usage: TokenUsage,
}

impl Provider {
    /// Sends one non-streaming chat request with tool definitions and returns the assistant's
    /// text, its tool calls and the token usage. Routes: `{base}/chat/completions` (openai),
    /// `{base}/messages` (anthropic), `{base}/api/chat` (ollama), `{base}/v1/chat/completions`
    /// (llamacpp). Retries like [`Provider::generate`] (429, 5xx, connection failures).
    ///
    /// When the model answers with no structured call but its text holds a call to one of the
    /// offered tools as JSON (`{"name": ..., "arguments": {...}}`, bare, in a ```json fence or in
    /// `<tool_call>` tags), that call is returned as a [`ToolCall`] with an id `text_call_N`.
    ///
    /// Errors: the transport errors of [`ProviderError`]; [`ProviderError::Malformed`] when the
    /// body is not the wire format's JSON; [`ProviderError::Remote`] for an `{"error": ...}` body.
    pub(crate) async fn chat_with_tools(&self, request: ToolChatRequest) -> Result<ToolChatResponse, ProviderError> {
        tracing::trace!(kind = ?self.config.kind, messages = ?request.messages, "chat with tools");
        let (url, body, headers) = match self.config.kind {
            ProviderKind::Openai => {
                (format!("{}/chat/completions", self.base), openai_body(self, &request), self.bearer()?)
            }
            ProviderKind::Llamacpp => {
                (format!("{}/v1/chat/completions", self.base), openai_body(self, &request), self.bearer()?)
            }
            ProviderKind::Anthropic => {
                (format!("{}/messages", self.base), anthropic_body(self, &request), anthropic::headers(self)?)
            }
            ProviderKind::Ollama => (format!("{}/api/chat", self.base), ollama_body(self, &request), self.bearer()?),
        };
        let (origin, response) = self.post(&url, &body, &headers).await?;
        let bytes = self.http.read_body(&url, response).await?;
        let payload = origin.json(&String::from_utf8_lossy(&bytes))?;
        if let Some(error) = origin.error_in(&payload) {
            return Err(error);
        }
        let mut answer = match self.config.kind {
            ProviderKind::Openai | ProviderKind::Llamacpp => openai_answer(&origin, &payload)?,
            ProviderKind::Anthropic => anthropic_answer(&origin, &payload)?,
            ProviderKind::Ollama => ollama_answer(&origin, &payload)?,
        };
        if answer.tool_calls.is_empty() && !request.tools.is_empty() {
            let names: Vec<&str> = request.tools.iter().map(|t| t.name.as_str()).collect();
            let (rest, calls) = parse_text_tool_calls(&answer.text, &names);
            if !calls.is_empty() {
                tracing::debug!(count = calls.len(), "tool calls recovered from message text");
                answer.text = rest;
                answer.tool_calls = calls;
            }
        }
        Ok(answer)
    }
}

fn openai_tools(tools: &[ToolSpec]) -> Value {
    Value::Array(
        tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect(),
    )
}

/// OpenAI chat body (also llama.cpp's): `role:"tool"` results, `tool_calls` with string arguments.
fn openai_body(provider: &Provider, request: &ToolChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        messages.push(match message {
            ToolMessage::User(text) => json!({"role": "user", "content": text}),
            ToolMessage::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            ToolMessage::Assistant { text, tool_calls } => {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name, "arguments": arguments_string(&c.arguments)}})
                    })
                    .collect();
                let content = if text.is_empty() { Value::Null } else { json!(text) };
                json!({"role": "assistant", "content": content, "tool_calls": calls})
            }
            ToolMessage::ToolResult { call_id, content, .. } => {
                json!({"role": "tool", "tool_call_id": call_id, "content": content})
            }
        });
    }
    let mut body = json!({
        "model": provider.config.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": wire_f32(request.temperature),
        "stream": false,
    });
    if !request.tools.is_empty() {
        insert(&mut body, "tools", openai_tools(&request.tools));
    }
    body
}

/// Anthropic Messages body: `tools` with `input_schema`, `tool_use` blocks in assistant turns and
/// `tool_result` blocks in user turns (consecutive same-role turns merged, as the API requires).
fn anthropic_body(provider: &Provider, request: &ToolChatRequest) -> Value {
    let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            ToolMessage::User(text) => ("user", text_block(text)),
            ToolMessage::Assistant { text, tool_calls } => {
                let mut blocks = text_block(text);
                blocks.extend(tool_calls.iter().map(|c| {
                    let input = match &c.arguments {
                        Value::Object(_) => c.arguments.clone(),
                        _ => json!({}),
                    };
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
                }));
                ("assistant", blocks)
            }
            ToolMessage::ToolResult { call_id, content, is_error, .. } => (
                "user",
                vec![json!({"type": "tool_result", "tool_use_id": call_id,
                    "content": content, "is_error": is_error})],
            ),
        };
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages: Vec<Value> =
        turns.into_iter().map(|(role, content)| json!({"role": role, "content": content})).collect();
    let mut body = json!({
        "model": provider.config.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
        "temperature": wire_f32(request.temperature),
        "stream": false,
    });
    if let Some(system) = &request.system {
        insert(&mut body, "system", json!(system));
    }
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        insert(&mut body, "tools", Value::Array(tools));
    }
    body
}

/// A text block, or none for empty text (the API rejects empty text blocks).
fn text_block(text: &str) -> Vec<Value> {
    if text.is_empty() { Vec::new() } else { vec![json!({"type": "text", "text": text})] }
}

/// Ollama `/api/chat` body: `tool_calls` with object arguments, `role:"tool"` results by name.
fn ollama_body(provider: &Provider, request: &ToolChatRequest) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = &request.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    for message in &request.messages {
        messages.push(match message {
            ToolMessage::User(text) => json!({"role": "user", "content": text}),
            ToolMessage::Assistant { text, tool_calls } if tool_calls.is_empty() => {
                json!({"role": "assistant", "content": text})
            }
            ToolMessage::Assistant { text, tool_calls } => {
                let calls: Vec<Value> = tool_calls
                    .iter()
                    .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
                    .collect();
                json!({"role": "assistant", "content": text, "tool_calls": calls})
            }
            ToolMessage::ToolResult { name, content, .. } => {
                json!({"role": "tool", "tool_name": name, "content": content})
            }
        });
    }
    let mut body = json!({
        "model": provider.config.model,
        "messages": messages,
        "stream": false,
        "options": {"num_predict": request.max_tokens, "temperature": wire_f32(request.temperature)},
    });
    if !request.tools.is_empty() {
        insert(&mut body, "tools", openai_tools(&request.tools));
    }
    body
}

fn insert(body: &mut Value, key: &str, value: Value) {
    if let Some(object) = body.as_object_mut() {
        object.insert(key.to_owned(), value);
    }
}

/// Arguments as the JSON string OpenAI expects (a string argument is passed through).
fn arguments_string(arguments: &Value) -> String {
    match arguments {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Parses a JSON-in-a-string argument; keeps the raw string when it is not JSON.
fn arguments_value(raw: &Value) -> Value {
    match raw {
        Value::String(text) if text.trim().is_empty() => json!({}),
        Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| raw.clone()),
        Value::Null => json!({}),
        other => other.clone(),
    }
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

fn openai_answer(origin: &Origin, payload: &Value) -> Result<ToolChatResponse, ProviderError> {
    let message = payload
        .pointer("/choices/0/message")
        .ok_or_else(|| origin.malformed("the answer has no choices[0].message"))?;
    let text = message.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
    let calls = message.get("tool_calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let tool_calls = calls
        .iter()
        .enumerate()
        .map(|(i, call)| ToolCall {
            id: call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{i}"), str::to_owned),
            name: str_of(call, "/function/name"),
            arguments: arguments_value(call.pointer("/function/arguments").unwrap_or(&Value::Null)),
        })
        .collect();
    Ok(ToolChatResponse {
        text,
        tool_calls,
        usage: TokenUsage {
            input_tokens: u64_at(payload, "/usage/prompt_tokens"),
            output_tokens: u64_at(payload, "/usage/completion_tokens"),
        },
    })
}

fn anthropic_answer(origin: &Origin, payload: &Value) -> Result<ToolChatResponse, ProviderError> {
    let blocks = payload
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| origin.malformed("the answer has no content array"))?;
    let mut answer = ToolChatResponse::default();
    for (i, block) in blocks.iter().enumerate() {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => answer.text.push_str(&str_of(block, "/text")),
            Some("tool_use") => answer.tool_calls.push(ToolCall {
                id: block.get("id").and_then(Value::as_str).map_or_else(|| format!("toolu_{i}"), str::to_owned),
                name: str_of(block, "/name"),
                arguments: arguments_value(block.get("input").unwrap_or(&Value::Null)),
            }),
            _ => {}
        }
    }
    answer.usage = TokenUsage {
        input_tokens: u64_at(payload, "/usage/input_tokens"),
        output_tokens: u64_at(payload, "/usage/output_tokens"),
    };
    Ok(answer)
}

fn ollama_answer(origin: &Origin, payload: &Value) -> Result<ToolChatResponse, ProviderError> {
    let message = payload.get("message").ok_or_else(|| origin.malformed("the answer has no message"))?;
    let calls = message.get("tool_calls").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    Ok(ToolChatResponse {
        text: str_of(message, "/content"),
        tool_calls: calls
            .iter()
            .enumerate()
            .map(|(i, call)| ToolCall {
                id: call.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{i}"), str::to_owned),
                name: str_of(call, "/function/name"),
                arguments: arguments_value(call.pointer("/function/arguments").unwrap_or(&Value::Null)),
            })
            .collect(),
        usage: TokenUsage {
            input_tokens: u64_at(payload, "/prompt_eval_count"),
            output_tokens: u64_at(payload, "/eval_count"),
        },
    })
}

fn str_of(value: &Value, pointer: &str) -> String {
    super::stream::str_at(value, pointer).to_owned()
}

/// Finds tool calls written as JSON in a message's text: inside `<tool_call>…</tool_call>` tags,
/// inside ```` ``` ```` fences (optionally tagged `json`), or the whole text as one JSON value. A
/// call is an object `{"name": N, "arguments"|"parameters": {...}}` (or a list of them) whose
/// name is one of `tools`. Returns the text with the recognised calls removed (trimmed) and the
/// calls with ids `text_call_0`, `text_call_1`, ... Never fails: text that holds no call comes
/// back unchanged with no calls.
pub(crate) fn parse_text_tool_calls(text: &str, tools: &[&str]) -> (String, Vec<ToolCall>) {
    let mut calls = Vec::new();
    let mut rest = String::new();
    let mut cursor = 0;
    for (start, end, inner) in candidates(text) {
        if start < cursor {
            continue;
        }
        let found = calls_in(inner, tools);
        if found.is_empty() {
            continue;
        }
        rest.push_str(&text[cursor..start]);
        cursor = end;
        calls.extend(found);
    }
    if calls.is_empty() {
        let whole = calls_in(text.trim(), tools);
        if whole.is_empty() {
            return (text.to_owned(), Vec::new());
        }
        calls = whole;
    } else {
        rest.push_str(&text[cursor..]);
    }
    for (i, call) in calls.iter_mut().enumerate() {
        call.id = format!("text_call_{i}");
    }
    (rest.trim().to_owned(), calls)
}

/// `(start, end, inner)` of each tagged or fenced region, in order.
fn candidates(text: &str) -> Vec<(usize, usize, &str)> {
    let mut found = Vec::new();
    for (open, close) in [("<tool_call>", "</tool_call>"), ("```", "```")] {
        let mut from = 0;
        while let Some(offset) = text[from..].find(open) {
            let start = from + offset;
            let body_start = start + open.len();
            let Some(close_offset) = text[body_start..].find(close) else {
                break;
            };
            let body_end = body_start + close_offset;
            let mut inner = &text[body_start..body_end];
            if open == "```" {
                // Drop the info string (`json`) on the fence's first line.
                inner = match inner.find('\n') {
                    Some(nl) if !inner[..nl].trim_start().starts_with('{') => &inner[nl + 1..],
                    _ => inner,
                };
            }
            found.push((start, body_end + close.len(), inner.trim()));
            from = body_end + close.len();
        }
    }
    found.sort_by_key(|(start, _, _)| *start);
    found
}

/// The calls in one JSON snippet (an object or a list of objects) naming an offered tool.
fn calls_in(snippet: &str, tools: &[&str]) -> Vec<ToolCall> {
    let Ok(value) = serde_json::from_str::<Value>(snippet) else {
        return Vec::new();
    };
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    let calls: Vec<ToolCall> = items
        .into_iter()
        .filter_map(|item| {
            let object: Map<String, Value> = match item {
                Value::Object(object) => object,
                _ => return None,
            };
            // `{"function": {"name", "arguments"}}` is the OpenAI shape some models copy.
            let object = match object.get("function") {
                Some(Value::Object(inner)) if inner.contains_key("name") => inner.clone(),
                _ => object,
            };
            let name = object.get("name")?.as_str()?.to_owned();
            if !tools.contains(&name.as_str()) {
                return None;
            }
            let raw = object.get("arguments").or_else(|| object.get("parameters")).unwrap_or(&Value::Null);
            Some(ToolCall { id: String::new(), name, arguments: arguments_value(raw) })
        })
        .collect();
    calls
}

#[cfg(test)]
mod tests;
