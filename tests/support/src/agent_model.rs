//! A scripted *agent* model on 127.0.0.1: speaks the wire formats coding agents use (OpenAI chat
//! completions with tools, the OpenAI Responses API, Anthropic Messages, Gemini
//! `generateContent`/`streamGenerateContent`), streamed (each format's real SSE events) or not,
//! and makes any agent perform one deterministic tool call chosen from the tool schemas it offers
//! (write the plan's file), then finish with the plan's final message on the next turn.
//!
//! The tool is found by its schema, not its name: a tool with a path-like and a content-like
//! string parameter (write/create), else one with path, old and new strings (edit; Codex's
//! `apply_patch` gets a patch adding the file), else one with a command parameter (shell:
//! `printf '%s' '<content>' > '<path>'`). Requests with no tools are auxiliary (titles, topic
//! checks) and get the final message as text, except an aider-style prompt (which edits through
//! SEARCH/REPLACE blocks in text): it gets the block that creates the file. A request asking for
//! JSON by a schema (Gemini's next-speaker check) gets a JSON object filled from the schema.
//! The agents' side requests are answered too: model listings (`/v1/models`, Gemini's
//! `/v1beta/models`), Anthropic `count_tokens`, Gemini `countTokens`, `/health`.
//!
//! Every request is recorded ([`AgentRequest`]: wire format, model, tools offered, streaming,
//! what was answered). Used by the wire tests and `scripted_model --agent`.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use futures::stream;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::model_server::{request_body, request_headers};

/// Which kind of tool the agent is made to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolPreference {
    /// Write/create tool first, then an edit tool, then a shell tool.
    Auto,
    /// Only a write/create tool.
    Write,
    /// Only an edit tool (or `apply_patch`).
    Edit,
    /// Only a shell tool.
    Shell,
}

impl ToolPreference {
    /// `auto`, `write`, `edit` or `shell`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Self::Auto),
            "write" => Some(Self::Write),
            "edit" => Some(Self::Edit),
            "shell" => Some(Self::Shell),
            _ => None,
        }
    }
}

/// What the model does once the conversation carries a tool result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterTool {
    /// Answers the final message (the normal end of the task).
    Finish,
    /// Never answers: the request stays open until the client gives up or the model is dropped
    /// (an agent that goes silent).
    Hang,
    /// This HTTP status and body.
    Status(u16, String),
}

/// The task the model makes every agent do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentPlan {
    /// The file to write, relative to the agent's working directory (made absolute with the
    /// working directory the agent names in its prompt, for tools that want absolute paths).
    pub path: String,
    /// The file's exact content.
    pub content: String,
    /// The text of the last turn.
    pub final_message: String,
    pub prefer: ToolPreference,
    pub after_tool: AfterTool,
    /// Answer every generation request with this HTTP status and the wire format's own error
    /// body, whose message is [`rejection_message`] (a wrong API key: 401, a dead API: 503).
    pub reject: Option<u16>,
    /// Model ids the listings show (the first is the default).
    pub models: Vec<String>,
}

impl Default for AgentPlan {
    fn default() -> Self {
        Self {
            path: "hello.txt".to_owned(),
            content: "hello from baton\n".to_owned(),
            final_message: "Created hello.txt with the requested greeting.".to_owned(),
            prefer: ToolPreference::Auto,
            after_tool: AfterTool::Finish,
            reject: None,
            models: vec!["scripted".to_owned()],
        }
    }
}

/// A wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// `POST …/chat/completions`.
    OpenaiChat,
    /// `POST …/responses`.
    OpenaiResponses,
    /// `POST …/messages`.
    AnthropicMessages,
    /// `POST …/models/{model}:generateContent` or `:streamGenerateContent`.
    Gemini,
    /// Anything else: listings, token counts, health, unknown paths.
    Other,
}

impl WireFormat {
    /// The name in request logs: `openai-chat`, `openai-responses`, `anthropic-messages`,
    /// `gemini`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenaiChat => "openai-chat",
            Self::OpenaiResponses => "openai-responses",
            Self::AnthropicMessages => "anthropic-messages",
            Self::Gemini => "gemini",
            Self::Other => "other",
        }
    }
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Called this tool with these arguments (an object), or with this raw input for a
    /// free-form (custom) tool.
    ToolCall { name: String, arguments: Value, input: Option<String> },
    /// This assistant text.
    Text(String),
    /// This JSON object, as the assistant's text (a structured-output request).
    Json(Value),
    /// A model listing, a single model, a token count or `/health`.
    Meta(&'static str),
    /// The scripted status after the tool call.
    Status(u16),
    /// The plan's rejection: this status with the format's error body.
    Rejected(u16),
    /// Never answered.
    Hang,
    /// 404: a path the model does not serve.
    NotFound,
}

impl Answer {
    /// One line for logs: `tool_call NAME ARGS`, `text TEXT`, `json ...`, `meta listing`, ...
    pub fn describe(&self) -> String {
        match self {
            Self::ToolCall { name, arguments, input: Some(input) } => {
                format!("tool_call {name} {}", json!({"input": input, "arguments": arguments}))
            }
            Self::ToolCall { name, arguments, input: None } => format!("tool_call {name} {arguments}"),
            Self::Text(t) => format!("text {t}"),
            Self::Json(v) => format!("json {v}"),
            Self::Meta(m) => format!("meta {m}"),
            Self::Status(code) => format!("status {code}"),
            Self::Rejected(code) => format!("rejected {code}"),
            Self::Hang => "hang".to_owned(),
            Self::NotFound => "not_found".to_owned(),
        }
    }
}

/// One request as the model received it, and what it answered.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRequest {
    pub method: String,
    /// The URL path, e.g. `/v1/messages`.
    pub path: String,
    /// The query string (without `?`), empty when none.
    pub query: String,
    /// Header names lowercased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; `Value::Null` when empty, a string when not JSON.
    pub body: Value,
    pub format: WireFormat,
    /// The model the request names (body `model`, or Gemini's path).
    pub model: Option<String>,
    pub streaming: bool,
    /// Names of the tools offered (hosted tools such as Responses' `web_search` by their type).
    pub tools: Vec<String>,
    /// The working directory the agent named in its prompt, when found.
    pub cwd: Option<String>,
    pub answer: Answer,
}

impl AgentRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The request as one JSON object for logs (credentials' values replaced by `[set]`).
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = matches!(k.as_str(), "authorization" | "x-api-key" | "x-goog-api-key" | "api-key");
                (k.clone(), json!(if secret { "[set]" } else { v.as_str() }))
            })
            .collect();
        json!({"method": self.method, "path": self.path, "query": self.query, "format": self.format.as_str(),
            "model": self.model, "streaming": self.streaming, "tools": self.tools, "cwd": self.cwd,
            "answer": self.answer.describe(), "headers": headers, "body": self.body})
    }
}

/// The running model. Dropping it stops accepting connections and releases hung requests.
pub struct AgentModel {
    shared: Arc<Shared>,
    addr: SocketAddr,
    count: watch::Receiver<usize>,
    _shutdown: watch::Sender<()>,
    task: JoinHandle<()>,
}

struct Shared {
    plan: AgentPlan,
    requests: Mutex<Vec<AgentRequest>>,
    count: watch::Sender<usize>,
    shutdown: watch::Receiver<()>,
}

impl AgentModel {
    /// Binds 127.0.0.1 on a free port and serves `plan`.
    pub async fn start(plan: AgentPlan) -> Self {
        Self::start_on(0, plan).await
    }

    /// Serves `plan` on this port of 127.0.0.1 (0: any free port).
    pub async fn start_on(port: u16, plan: AgentPlan) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        let (count_tx, count) = watch::channel(0);
        let (shutdown_tx, shutdown) = watch::channel(());
        let shared = Arc::new(Shared { plan, requests: Mutex::new(Vec::new()), count: count_tx, shutdown });
        let app = Router::new().fallback(handle).with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { shared, addr, count, _shutdown: shutdown_tx, task }
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<AgentRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Waits (without polling) until `n` requests of `format` have arrived and returns those.
    /// Panics after `timeout`.
    pub async fn wait_for(&self, format: WireFormat, n: usize, timeout: Duration) -> Vec<AgentRequest> {
        let matching = || self.requests().into_iter().filter(|r| r.format == format).collect::<Vec<_>>();
        let mut count = self.count.clone();
        match tokio::time::timeout(timeout, count.wait_for(|_| matching().len() >= n)).await {
            Ok(Ok(_)) => matching(),
            _ => panic!("agent model got {} of {n} {format:?} requests within {timeout:?}", matching().len()),
        }
    }
}

impl Drop for AgentModel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ------------------------------------------------------------------------------------------------
// Reading requests
// ------------------------------------------------------------------------------------------------

/// What a request is.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Generate(WireFormat),
    AnthropicCount,
    GeminiCount,
    Listing,
    OneModel(String),
    Health,
    Unknown,
}

fn kind_of(method: &Method, path: &str) -> Kind {
    let path = path.trim_end_matches('/');
    if let Some((_, action)) = path.rsplit_once(':') {
        return match action {
            "generateContent" | "streamGenerateContent" => Kind::Generate(WireFormat::Gemini),
            "countTokens" => Kind::GeminiCount,
            _ => Kind::Unknown,
        };
    }
    if method == Method::GET || method == Method::HEAD {
        if path.ends_with("/models") {
            return Kind::Listing;
        }
        if let Some((_, id)) = path.rsplit_once("/models/") {
            return Kind::OneModel(id.to_owned());
        }
        if path.is_empty() || path.ends_with("/health") {
            return Kind::Health;
        }
        return Kind::Unknown;
    }
    if path.ends_with("/chat/completions") {
        Kind::Generate(WireFormat::OpenaiChat)
    } else if path.ends_with("/responses") {
        Kind::Generate(WireFormat::OpenaiResponses)
    } else if path.ends_with("/messages/count_tokens") {
        Kind::AnthropicCount
    } else if path.ends_with("/messages") {
        Kind::Generate(WireFormat::AnthropicMessages)
    } else {
        Kind::Unknown
    }
}

/// A tool the agent offers.
#[derive(Debug, Clone, PartialEq)]
struct Tool {
    name: String,
    /// A free-form (Responses `custom`) tool: called with a raw string input.
    custom: bool,
    /// The parameters' JSON schema (`Value::Null` for custom and hosted tools).
    schema: Value,
    /// A hosted tool (Responses `web_search`, Anthropic server tools): never called.
    hosted: bool,
}

fn tools_of(format: WireFormat, body: &Value) -> Vec<Tool> {
    let Some(list) = body.get("tools").and_then(Value::as_array) else {
        return Vec::new();
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let mut tools = Vec::new();
    for t in list {
        match format {
            WireFormat::OpenaiChat => {
                let f = t.get("function").unwrap_or(t);
                if let Some(name) = str_of(f, "name") {
                    let schema = f.get("parameters").cloned().unwrap_or(Value::Null);
                    tools.push(Tool { name, custom: false, schema, hosted: false });
                }
            }
            WireFormat::OpenaiResponses => {
                let ty = t.get("type").and_then(Value::as_str).unwrap_or("function");
                match (ty, str_of(t, "name")) {
                    ("function", Some(name)) => {
                        let schema = t.get("parameters").cloned().unwrap_or(Value::Null);
                        tools.push(Tool { name, custom: false, schema, hosted: false });
                    }
                    ("custom", Some(name)) => {
                        tools.push(Tool { name, custom: true, schema: Value::Null, hosted: false })
                    }
                    (ty, _) => {
                        tools.push(Tool { name: ty.to_owned(), custom: false, schema: Value::Null, hosted: true })
                    }
                }
            }
            WireFormat::AnthropicMessages => {
                if let Some(name) = str_of(t, "name") {
                    let hosted = t.get("input_schema").is_none();
                    let schema = t.get("input_schema").cloned().unwrap_or(Value::Null);
                    tools.push(Tool { name, custom: false, schema, hosted });
                }
            }
            WireFormat::Gemini => {
                let decls =
                    t.get("functionDeclarations").or_else(|| t.get("function_declarations")).and_then(Value::as_array);
                for d in decls.into_iter().flatten() {
                    if let Some(name) = str_of(d, "name") {
                        let schema = d
                            .get("parametersJsonSchema")
                            .or_else(|| d.get("parameters"))
                            .cloned()
                            .unwrap_or(Value::Null);
                        tools.push(Tool { name, custom: false, schema, hosted: false });
                    }
                }
            }
            WireFormat::Other => {}
        }
    }
    tools
}

/// Calls `f` on every object in `v`, depth first.
fn walk<'a>(v: &'a Value, f: &mut dyn FnMut(&'a Map<String, Value>)) {
    match v {
        Value::Object(o) => {
            f(o);
            o.values().for_each(|c| walk(c, f));
        }
        Value::Array(a) => a.iter().for_each(|c| walk(c, f)),
        _ => {}
    }
}

/// Whether the conversation carries a tool's result, in any format: an OpenAI `tool` message,
/// a Responses `*_call_output` item, an Anthropic `tool_result` block, a Gemini
/// `functionResponse` part. (Tools' own schemas are skipped: they only describe.)
fn has_tool_result(body: &Value) -> bool {
    let mut found = false;
    for key in ["messages", "input", "contents"] {
        if let Some(conversation) = body.get(key) {
            walk(conversation, &mut |o| {
                let role = o.get("role").and_then(Value::as_str);
                let ty = o.get("type").and_then(Value::as_str).unwrap_or("");
                if matches!(role, Some("tool" | "function"))
                    || ty == "tool_result"
                    || ty.ends_with("_call_output")
                    || o.contains_key("functionResponse")
                    || o.contains_key("function_response")
                {
                    found = true;
                }
            });
        }
    }
    found
}

/// Every string in the request's text-bearing parts, concatenated (for prompt sniffing).
fn all_text(body: &Value) -> String {
    let mut text = String::new();
    fn collect(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|c| collect(c, out)),
            Value::Object(o) => o.values().for_each(|c| collect(c, out)),
            _ => {}
        }
    }
    for key in ["system", "systemInstruction", "system_instruction", "instructions", "messages", "input", "contents"] {
        if let Some(v) = body.get(key) {
            collect(v, &mut text);
        }
    }
    text
}

/// The working directory an agent names in its prompt ("Working directory: /x", Codex's
/// `<cwd>/x</cwd>`, Gemini's "working in the directory: /x", ...).
fn working_directory(text: &str) -> Option<String> {
    const MARKERS: [&str; 7] = [
        "<cwd>",
        "workspace directories:",
        "working directory:",
        "working in the directory:",
        "current directory:",
        "project directory:",
        "cwd:",
    ];
    let lower = text.to_ascii_lowercase();
    let mut best: Option<(usize, String)> = None;
    for marker in MARKERS {
        let mut from = 0;
        while let Some(at) = lower[from..].find(marker) {
            let start = from + at + marker.len();
            from = start;
            let rest = text[start..].trim_start_matches([' ', '\t', '\n', '`', '"', '\'', '*', '-']);
            if !rest.starts_with('/') {
                continue;
            }
            let end = rest.find(|c: char| c.is_whitespace() || "<`\"'".contains(c)).unwrap_or(rest.len());
            let dir = rest[..end].trim_end_matches(['.', ',', ';', ')']).to_owned();
            if dir.len() > 1 && best.as_ref().is_none_or(|(pos, _)| start < *pos) {
                best = Some((start, dir));
            }
        }
    }
    best.map(|(_, d)| d)
}

/// The JSON schema a structured-output request asks the answer to follow, if any.
fn json_schema(format: WireFormat, body: &Value) -> Option<Value> {
    match format {
        WireFormat::Gemini => {
            let config = body.get("generationConfig").or_else(|| body.get("generation_config"))?;
            let schema = config.get("responseJsonSchema").or_else(|| config.get("responseSchema"));
            match (schema, config.get("responseMimeType").and_then(Value::as_str)) {
                (Some(s), _) => Some(s.clone()),
                (None, Some("application/json")) => Some(json!({"type": "object"})),
                _ => None,
            }
        }
        WireFormat::OpenaiChat => {
            let rf = body.get("response_format")?;
            match rf.get("type").and_then(Value::as_str) {
                Some("json_schema") => Some(rf.pointer("/json_schema/schema").cloned().unwrap_or(json!({}))),
                Some("json_object") => Some(json!({"type": "object"})),
                _ => None,
            }
        }
        WireFormat::OpenaiResponses => {
            let f = body.pointer("/text/format")?;
            (f.get("type").and_then(Value::as_str) == Some("json_schema"))
                .then(|| f.get("schema").cloned().unwrap_or(json!({})))
        }
        _ => None,
    }
}

fn type_is(schema: &Value, ty: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(s)) => s.eq_ignore_ascii_case(ty),
        Some(Value::Array(a)) => a.iter().any(|t| t.as_str().is_some_and(|s| s.eq_ignore_ascii_case(ty))),
        _ => false,
    }
}

/// A value that fits `schema`: every property filled (enums prefer "user", so a next-speaker
/// check hands the turn back), strings "scripted", numbers 0, booleans false, arrays empty.
fn fill(schema: &Value, depth: usize) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().find(|v| v.as_str() == Some("user")).or(values.first()).cloned().unwrap_or(Value::Null);
    }
    if type_is(schema, "object") || schema.get("properties").is_some() {
        let mut out = Map::new();
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                out.insert(k.clone(), fill(v, depth + 1));
            }
        }
        return Value::Object(out);
    }
    if type_is(schema, "array") {
        return json!([]);
    }
    if type_is(schema, "boolean") {
        return json!(false);
    }
    if type_is(schema, "integer") || type_is(schema, "number") {
        return json!(0);
    }
    json!("scripted")
}

// ------------------------------------------------------------------------------------------------
// Choosing the tool call
// ------------------------------------------------------------------------------------------------

fn norm(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn is_path(n: &str) -> bool {
    matches!(
        n,
        "filepath" | "path" | "filename" | "file" | "absolutepath" | "targetfile" | "targetpath" | "relativepath"
    )
}
fn is_content(n: &str) -> bool {
    matches!(
        n,
        "content" | "contents" | "text" | "filetext" | "code" | "data" | "body" | "filecontent" | "filecontents"
    )
}
fn is_old(n: &str) -> bool {
    matches!(n, "oldstring" | "oldstr" | "oldtext" | "old" | "search" | "find" | "oldcontent")
}
fn is_new(n: &str) -> bool {
    matches!(n, "newstring" | "newstr" | "newtext" | "new" | "replace" | "replacement" | "newcontent")
}
fn is_command(n: &str) -> bool {
    matches!(n, "command" | "cmd" | "script" | "commandline" | "shellcommand")
}

/// The three kinds of tool, in the order the model tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Write,
    Edit,
    Shell,
}

/// Arguments for `tool` in `role`, or `None` when it cannot serve it.
fn arguments_for(
    tool: &Tool,
    role: Role,
    path: &str,
    abs_path: &str,
    content: &str,
) -> Option<(Value, Option<String>)> {
    if tool.hosted {
        return None;
    }
    let patch = || {
        let mut p = format!("*** Begin Patch\n*** Add File: {path}\n");
        for line in content.lines() {
            p.push('+');
            p.push_str(line);
            p.push('\n');
        }
        p.push_str("*** End Patch\n");
        p
    };
    let tool_name = norm(&tool.name);
    if tool_name == "applypatch" {
        if role != Role::Edit {
            return None;
        }
        if tool.custom {
            return Some((Value::Null, Some(patch())));
        }
        let props = tool.schema.get("properties").and_then(Value::as_object)?;
        let key = props.keys().find(|k| matches!(norm(k).as_str(), "input" | "patch"))?;
        return Some((json!({ key.clone(): patch() }), None));
    }
    if tool.custom {
        return None;
    }
    let props = tool.schema.get("properties").and_then(Value::as_object)?;
    let required: Vec<&str> = tool
        .schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let find = |pred: fn(&str) -> bool, ty: &str| {
        props
            .iter()
            .find(|(k, v)| pred(&norm(k)) && (type_is(v, ty) || v.get("type").is_none()))
            .map(|(k, _)| k.clone())
    };
    let mut args = Map::new();
    match role {
        Role::Write => {
            let p = find(is_path, "string")?;
            let c = find(is_content, "string")?;
            if props.keys().any(|k| required.contains(&k.as_str()) && (is_old(&norm(k)) || is_new(&norm(k)))) {
                return None;
            }
            args.insert(p, json!(abs_path));
            args.insert(c, json!(content));
        }
        Role::Edit => {
            let p = find(is_path, "string")?;
            let o = find(is_old, "string")?;
            let n = find(is_new, "string")?;
            args.insert(p, json!(abs_path));
            args.insert(o, json!(""));
            args.insert(n, json!(content));
        }
        Role::Shell => {
            let (key, schema) = props.iter().find(|(k, _)| is_command(&norm(k)))?;
            let escaped = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
            let line = format!("printf '%s' {} > {}", escaped(content), escaped(path));
            let value = if type_is(schema, "array") { json!(["sh", "-c", line]) } else { json!(line) };
            args.insert(key.clone(), value);
        }
    }
    // Whatever else the tool requires: an enum's value that names the role (Goose's
    // `text_editor` `command`), else something of the right type.
    for (k, v) in props {
        if args.contains_key(k) || !required.contains(&k.as_str()) {
            continue;
        }
        let value = if let Some(values) = v.get("enum").and_then(Value::as_array) {
            let wanted: &[&str] = match role {
                Role::Write => &["create", "write"],
                Role::Edit => &["str_replace", "replace", "edit"],
                Role::Shell => &["run", "exec", "execute"],
            };
            let pick = values
                .iter()
                .find(|e| e.as_str().is_some_and(|s| wanted.iter().any(|w| s.eq_ignore_ascii_case(w))))
                .or_else(|| if role == Role::Shell { values.first() } else { None });
            pick?.clone()
        } else if type_is(v, "boolean") {
            json!(false)
        } else if type_is(v, "integer") || type_is(v, "number") {
            let n = norm(k);
            json!(if n.contains("timeout") && n.contains("ms") {
                120_000
            } else if n.contains("timeout") {
                120
            } else {
                1
            })
        } else if type_is(v, "array") {
            json!([])
        } else if type_is(v, "object") {
            json!({})
        } else {
            json!("Write the file the task asks for")
        };
        args.insert(k.clone(), value);
    }
    Some((Value::Object(args), None))
}

/// How well a tool's name fits the role (higher first); ties keep the agent's order.
fn name_score(tool: &Tool, role: Role) -> u8 {
    let n = norm(&tool.name);
    let words: &[&str] = match role {
        Role::Write => &["write", "create"],
        Role::Edit => &["edit", "replace", "applypatch"],
        Role::Shell => &["bash", "shell", "command", "exec"],
    };
    if n.contains("notebook") {
        0
    } else if words.iter().any(|w| n.contains(w)) {
        2
    } else {
        1
    }
}

/// The one tool call the plan makes, from the tools offered.
fn choose(plan: &AgentPlan, tools: &[Tool], cwd: Option<&str>) -> Option<Answer> {
    let abs = match cwd {
        Some(dir) if !plan.path.starts_with('/') => format!("{}/{}", dir.trim_end_matches('/'), plan.path),
        _ => plan.path.clone(),
    };
    let roles: &[Role] = match plan.prefer {
        ToolPreference::Auto => &[Role::Write, Role::Edit, Role::Shell],
        ToolPreference::Write => &[Role::Write],
        ToolPreference::Edit => &[Role::Edit],
        ToolPreference::Shell => &[Role::Shell],
    };
    for &role in roles {
        // The best name score wins; among equals, the agent's first.
        let mut best: Option<(u8, Answer)> = None;
        for tool in tools {
            let score = name_score(tool, role);
            if score == 0 || best.as_ref().is_some_and(|(s, _)| *s >= score) {
                continue;
            }
            if let Some((arguments, input)) = arguments_for(tool, role, &plan.path, &abs, &plan.content) {
                best = Some((score, Answer::ToolCall { name: tool.name.clone(), arguments, input }));
            }
        }
        if let Some((_, answer)) = best {
            return Some(answer);
        }
    }
    None
}

/// The SEARCH/REPLACE block creating the plan's file, for agents that edit through text.
fn search_replace(plan: &AgentPlan) -> String {
    format!("{}\n\n{}\n<<<<<<< SEARCH\n=======\n{}>>>>>>> REPLACE\n", plan.final_message, plan.path, plan.content)
}

/// The message of a rejected request's error body.
pub fn rejection_message(code: u16) -> String {
    format!("scripted model: request rejected with HTTP {code}")
}

/// The error body a provider sends with `code`, in `format`.
fn error_body(format: WireFormat, code: u16) -> Value {
    let message = rejection_message(code);
    let (kind, status) = match code {
        401 => ("authentication_error", "UNAUTHENTICATED"),
        403 => ("permission_error", "PERMISSION_DENIED"),
        429 => ("rate_limit_error", "RESOURCE_EXHAUSTED"),
        500..=599 => ("api_error", "UNAVAILABLE"),
        _ => ("invalid_request_error", "INVALID_ARGUMENT"),
    };
    match format {
        WireFormat::AnthropicMessages => json!({"type": "error", "error": {"type": kind, "message": message}}),
        WireFormat::Gemini => json!({"error": {"code": code, "message": message, "status": status}}),
        _ => json!({"error": {"message": message, "type": kind, "param": null,
            "code": if code == 401 { "invalid_api_key" } else { kind }}}),
    }
}

/// What the model answers a generation request.
fn decide(plan: &AgentPlan, format: WireFormat, body: &Value, tools: &[Tool], cwd: Option<&str>) -> Answer {
    if let Some(code) = plan.reject {
        return Answer::Rejected(code);
    }
    if let Some(schema) = json_schema(format, body) {
        return Answer::Json(fill(&schema, 0));
    }
    if has_tool_result(body) {
        return match &plan.after_tool {
            AfterTool::Finish => Answer::Text(plan.final_message.clone()),
            AfterTool::Hang => Answer::Hang,
            AfterTool::Status(code, _) => Answer::Status(*code),
        };
    }
    if tools.iter().any(|t| !t.hosted) {
        return choose(plan, tools, cwd).unwrap_or_else(|| {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            Answer::Text(format!("scripted agent model: no write, edit or shell tool among {names:?}"))
        });
    }
    if all_text(body).contains("<<<<<<< SEARCH") {
        return Answer::Text(search_replace(plan));
    }
    Answer::Text(plan.final_message.clone())
}

// ------------------------------------------------------------------------------------------------
// Serving
// ------------------------------------------------------------------------------------------------

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let size = body.len();
    let body = request_body(&body);
    let recorded = request_headers(&headers);
    let kind = kind_of(&method, &path);
    let plan = &shared.plan;
    let format = match kind {
        Kind::Generate(f) => f,
        _ => WireFormat::Other,
    };
    let model = match format {
        WireFormat::Gemini => path.rsplit_once("/models/").and_then(|(_, m)| m.split(':').next()).map(str::to_owned),
        _ => body.get("model").and_then(Value::as_str).map(str::to_owned),
    };
    let streaming = match format {
        WireFormat::Gemini => path.ends_with(":streamGenerateContent"),
        _ => body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    };
    let tools = tools_of(format, &body);
    let include_usage = body.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let cwd = match kind {
        Kind::Generate(_) => working_directory(&all_text(&body)),
        _ => None,
    };
    let answer = match &kind {
        Kind::Generate(f) => decide(plan, *f, &body, &tools, cwd.as_deref()),
        Kind::AnthropicCount | Kind::GeminiCount => Answer::Meta("count_tokens"),
        Kind::Listing => Answer::Meta("listing"),
        Kind::OneModel(_) => Answer::Meta("model"),
        Kind::Health => Answer::Meta("health"),
        Kind::Unknown => Answer::NotFound,
    };
    let seq = {
        let mut requests = lock(&shared.requests);
        requests.push(AgentRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: recorded,
            body,
            format,
            model: model.clone(),
            streaming,
            tools: tools.iter().map(|t| t.name.clone()).collect(),
            cwd,
            answer: answer.clone(),
        });
        requests.len()
    };
    shared.count.send_modify(|c| *c += 1);
    let model = model.unwrap_or_else(|| plan.models.first().cloned().unwrap_or_else(|| "scripted".to_owned()));
    let tokens = (size / 4).max(1);
    match (kind, answer) {
        (_, Answer::Hang) => {
            let mut shutdown = shared.shutdown.clone();
            let _ = shutdown.changed().await;
            plain(503, "server shut down".to_owned())
        }
        (_, Answer::Status(code)) => {
            let body = match &plan.after_tool {
                AfterTool::Status(_, body) => body.clone(),
                _ => String::new(),
            };
            plain(code, body)
        }
        (_, Answer::Rejected(code)) => plain(code, error_body(format, code).to_string()),
        (_, Answer::NotFound) => {
            let error = json!({"error": {"message": format!("the scripted agent model does not serve {method} {path}"),
                "type": "not_found_error", "code": 404, "status": "NOT_FOUND"}});
            plain(404, error.to_string())
        }
        (Kind::AnthropicCount, _) => plain(200, json!({"input_tokens": tokens}).to_string()),
        (Kind::GeminiCount, _) => plain(200, json!({"totalTokens": tokens}).to_string()),
        (Kind::Listing, _) => plain(200, listing(&plan.models).to_string()),
        (Kind::OneModel(id), _) => plain(200, model_entry(id.trim_start_matches("models/")).to_string()),
        (Kind::Health, _) => plain(200, json!({"status": "ok"}).to_string()),
        (Kind::Generate(format), answer) => {
            let reply = Reply { answer, model, seq, tokens };
            match (format, streaming) {
                (WireFormat::OpenaiChat, false) => plain(200, reply.chat_whole().to_string()),
                (WireFormat::OpenaiChat, true) => sse(reply.chat_stream(include_usage)),
                (WireFormat::OpenaiResponses, false) => plain(200, reply.responses_whole().to_string()),
                (WireFormat::OpenaiResponses, true) => sse(reply.responses_stream()),
                (WireFormat::AnthropicMessages, false) => plain(200, reply.anthropic_whole().to_string()),
                (WireFormat::AnthropicMessages, true) => sse(reply.anthropic_stream()),
                (WireFormat::Gemini, false) => plain(200, reply.gemini_whole().to_string()),
                (WireFormat::Gemini, true) if query.split('&').any(|p| p == "alt=sse") => {
                    sse(reply.gemini_stream().iter().map(|c| format!("data: {c}\n\n")).collect())
                }
                (WireFormat::Gemini, true) => plain(200, Value::Array(reply.gemini_stream()).to_string()),
                (WireFormat::Other, _) => plain(404, String::new()),
            }
        }
        (_, _) => plain(404, String::new()),
    }
}

fn model_entry(id: &str) -> Value {
    json!({"id": id, "object": "model", "type": "model", "created": 0, "owned_by": "scripted",
        "display_name": id, "created_at": "2025-01-01T00:00:00Z",
        "name": format!("models/{id}"), "displayName": id, "version": "1",
        "inputTokenLimit": 1_000_000, "outputTokenLimit": 65_536,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]})
}

/// One listing that reads as OpenAI's (`data`, `object`), Anthropic's (`data`, `has_more`,
/// `first_id`, `last_id`) and Gemini's (`models`).
fn listing(models: &[String]) -> Value {
    let entries: Vec<Value> = models.iter().map(|m| model_entry(m)).collect();
    json!({"object": "list", "data": entries, "models": entries, "has_more": false,
        "first_id": models.first(), "last_id": models.last()})
}

fn plain(code: u16, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn sse(frames: Vec<String>) -> Response {
    let body = stream::iter(frames.into_iter().map(|f| Ok::<_, io::Error>(Bytes::from(f))));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

fn event(name: &str, data: &Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn data(value: &Value) -> String {
    format!("data: {value}\n\n")
}

/// Splits text into pieces of up to 8 characters (a stream of several deltas).
fn pieces(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(8).map(|c| c.iter().collect()).collect()
}

/// An answer rendered in each format.
struct Reply {
    answer: Answer,
    model: String,
    seq: usize,
    /// Input tokens reported in usage (a quarter of the request's bytes).
    tokens: usize,
}

impl Reply {
    fn text(&self) -> Option<String> {
        match &self.answer {
            Answer::Text(t) => Some(t.clone()),
            Answer::Json(v) => Some(v.to_string()),
            _ => None,
        }
    }

    fn call(&self) -> Option<(&str, &Value, Option<&str>)> {
        match &self.answer {
            Answer::ToolCall { name, arguments, input } => Some((name, arguments, input.as_deref())),
            _ => None,
        }
    }

    fn call_id(&self) -> String {
        format!("call_scripted_{}", self.seq)
    }

    // OpenAI chat completions ------------------------------------------------------------------

    fn chat_usage(&self) -> Value {
        json!({"prompt_tokens": self.tokens, "completion_tokens": 5, "total_tokens": self.tokens + 5})
    }

    fn chat_whole(&self) -> Value {
        let (message, finish) = match self.call() {
            Some((name, arguments, _)) => (
                json!({"role": "assistant", "content": null, "tool_calls": [{"id": self.call_id(), "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()}}]}),
                "tool_calls",
            ),
            None => (json!({"role": "assistant", "content": self.text().unwrap_or_default()}), "stop"),
        };
        json!({"id": format!("chatcmpl-{}", self.seq), "object": "chat.completion", "created": 0, "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
            "usage": self.chat_usage()})
    }

    fn chat_chunk(&self, delta: Value, finish: Option<&str>) -> String {
        data(&json!({"id": format!("chatcmpl-{}", self.seq), "object": "chat.completion.chunk", "created": 0,
            "model": self.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]}))
    }

    fn chat_stream(&self, usage: bool) -> Vec<String> {
        let mut frames = Vec::new();
        let finish = match self.call() {
            Some((name, arguments, _)) => {
                frames.push(self.chat_chunk(
                    json!({"role": "assistant", "content": null, "tool_calls": [{"index": 0, "id": self.call_id(),
                        "type": "function", "function": {"name": name, "arguments": ""}}]}),
                    None,
                ));
                for piece in pieces(&arguments.to_string()) {
                    frames.push(
                        self.chat_chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), None),
                    );
                }
                "tool_calls"
            }
            None => {
                frames.push(self.chat_chunk(json!({"role": "assistant", "content": ""}), None));
                for piece in pieces(&self.text().unwrap_or_default()) {
                    frames.push(self.chat_chunk(json!({"content": piece}), None));
                }
                "stop"
            }
        };
        frames.push(self.chat_chunk(json!({}), Some(finish)));
        if usage {
            frames.push(data(&json!({"id": format!("chatcmpl-{}", self.seq), "object": "chat.completion.chunk",
                "created": 0, "model": self.model, "choices": [], "usage": self.chat_usage()})));
        }
        frames.push("data: [DONE]\n\n".to_owned());
        frames
    }

    // OpenAI Responses ---------------------------------------------------------------------------

    fn responses_item(&self, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match self.call() {
            Some((name, _, Some(input))) => json!({"type": "custom_tool_call", "id": format!("ctc_{}", self.seq),
                "call_id": self.call_id(), "name": name, "input": if done { input } else { "" }, "status": status}),
            Some((name, arguments, None)) => json!({"type": "function_call", "id": format!("fc_{}", self.seq),
                "call_id": self.call_id(), "name": name,
                "arguments": if done { arguments.to_string() } else { String::new() }, "status": status}),
            None => {
                let content = if done {
                    json!([{"type": "output_text", "text": self.text(), "annotations": []}])
                } else {
                    json!([])
                };
                json!({"type": "message", "id": format!("msg_{}", self.seq), "status": status, "role": "assistant",
                    "content": content})
            }
        }
    }

    fn responses_object(&self, done: bool) -> Value {
        let output = if done { json!([self.responses_item(true)]) } else { json!([]) };
        let usage = if done {
            json!({"input_tokens": self.tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": self.tokens + 5})
        } else {
            Value::Null
        };
        json!({"id": format!("resp_{}", self.seq), "object": "response", "created_at": 0,
            "status": if done { "completed" } else { "in_progress" }, "model": self.model, "output": output,
            "usage": usage, "error": null, "incomplete_details": null, "parallel_tool_calls": true,
            "tool_choice": "auto", "tools": []})
    }

    fn responses_whole(&self) -> Value {
        self.responses_object(true)
    }

    fn responses_stream(&self) -> Vec<String> {
        let mut seq = 0u64;
        let mut frames = Vec::new();
        let mut push = |name: &str, mut payload: Value| {
            if let Some(o) = payload.as_object_mut() {
                o.insert("type".into(), json!(name));
                o.insert("sequence_number".into(), json!(seq));
            }
            seq += 1;
            frames.push(event(name, &payload));
        };
        let item_id = self.responses_item(false).get("id").cloned().unwrap_or(Value::Null);
        push("response.created", json!({"response": self.responses_object(false)}));
        push("response.in_progress", json!({"response": self.responses_object(false)}));
        push("response.output_item.added", json!({"output_index": 0, "item": self.responses_item(false)}));
        match self.call() {
            Some((_, _, Some(input))) => {
                for piece in pieces(input) {
                    push(
                        "response.custom_tool_call_input.delta",
                        json!({"item_id": item_id, "output_index": 0, "delta": piece}),
                    );
                }
                push(
                    "response.custom_tool_call_input.done",
                    json!({"item_id": item_id, "output_index": 0, "input": input}),
                );
            }
            Some((_, arguments, None)) => {
                let arguments = arguments.to_string();
                for piece in pieces(&arguments) {
                    push(
                        "response.function_call_arguments.delta",
                        json!({"item_id": item_id, "output_index": 0, "delta": piece}),
                    );
                }
                push(
                    "response.function_call_arguments.done",
                    json!({"item_id": item_id, "output_index": 0, "arguments": arguments}),
                );
            }
            None => {
                let text = self.text().unwrap_or_default();
                let part = |t: &str| json!({"type": "output_text", "text": t, "annotations": []});
                push(
                    "response.content_part.added",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part("")}),
                );
                for piece in pieces(&text) {
                    push(
                        "response.output_text.delta",
                        json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}),
                    );
                }
                push(
                    "response.output_text.done",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
                );
                push(
                    "response.content_part.done",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": part(&text)}),
                );
            }
        }
        push("response.output_item.done", json!({"output_index": 0, "item": self.responses_item(true)}));
        push("response.completed", json!({"response": self.responses_object(true)}));
        frames
    }

    // Anthropic Messages -------------------------------------------------------------------------

    fn anthropic_whole(&self) -> Value {
        let (content, stop) = match self.call() {
            Some((name, arguments, _)) => (
                json!([{"type": "tool_use", "id": format!("toolu_{}", self.seq), "name": name, "input": arguments}]),
                "tool_use",
            ),
            None => (json!([{"type": "text", "text": self.text().unwrap_or_default()}]), "end_turn"),
        };
        json!({"id": format!("msg_{}", self.seq), "type": "message", "role": "assistant", "model": self.model,
            "content": content, "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": self.tokens, "output_tokens": 5}})
    }

    fn anthropic_stream(&self) -> Vec<String> {
        let mut frames = vec![
            event(
                "message_start",
                &json!({"type": "message_start", "message": {"id": format!("msg_{}", self.seq), "type": "message",
                    "role": "assistant", "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": self.tokens, "output_tokens": 1}}}),
            ),
            event("ping", &json!({"type": "ping"})),
        ];
        let stop = match self.call() {
            Some((name, arguments, _)) => {
                frames.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use",
                        "id": format!("toolu_{}", self.seq), "name": name, "input": {}}}),
                ));
                for piece in pieces(&arguments.to_string()) {
                    frames.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": piece}}),
                    ));
                }
                "tool_use"
            }
            None => {
                frames.push(event(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                ));
                for piece in pieces(&self.text().unwrap_or_default()) {
                    frames.push(event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                    ));
                }
                "end_turn"
            }
        };
        frames.push(event("content_block_stop", &json!({"type": "content_block_stop", "index": 0})));
        frames.push(event(
            "message_delta",
            &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
                "usage": {"output_tokens": 5}}),
        ));
        frames.push(event("message_stop", &json!({"type": "message_stop"})));
        frames
    }

    // Gemini -------------------------------------------------------------------------------------

    fn gemini_chunk(&self, parts: Value, last: bool) -> Value {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut c = json!({"modelVersion": self.model, "responseId": format!("resp_{}", self.seq)});
        if last {
            candidate["finishReason"] = json!("STOP");
            c["usageMetadata"] = json!({"promptTokenCount": self.tokens, "candidatesTokenCount": 5,
                "totalTokenCount": self.tokens + 5});
        }
        c["candidates"] = json!([candidate]);
        c
    }

    /// The whole answer as one `GenerateContentResponse` (`generateContent`).
    fn gemini_whole(&self) -> Value {
        match self.call() {
            Some((name, arguments, _)) => {
                self.gemini_chunk(json!([{"functionCall": {"name": name, "args": arguments}}]), true)
            }
            None => self.gemini_chunk(json!([{"text": self.text().unwrap_or_default()}]), true),
        }
    }

    /// The answer as `GenerateContentResponse` chunks (`streamGenerateContent`): text in
    /// several, a function call in one; the last carries `finishReason` and `usageMetadata`.
    fn gemini_stream(&self) -> Vec<Value> {
        if self.call().is_some() {
            return vec![self.gemini_whole()];
        }
        let ps = pieces(&self.text().unwrap_or_default());
        if ps.is_empty() {
            return vec![self.gemini_whole()];
        }
        let last = ps.len() - 1;
        ps.iter().enumerate().map(|(i, p)| self.gemini_chunk(json!([{"text": p}]), i == last)).collect()
    }
}
