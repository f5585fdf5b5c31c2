//! The scripted agent model (`support/agent_model.rs`) over real HTTP: each wire format, streamed
//! and not, answers one tool call chosen from the offered schemas, then the final message once
//! the conversation carries the tool's result; side requests (listings, token counts) are
//! answered; the shell fallback's command writes the exact content when a real shell runs it.

use std::time::Duration;

use serde_json::{Value, json};

use baton_test_support::agent_model::{
    AfterTool, AgentModel, AgentPlan, Answer, ToolPreference, WireFormat, rejection_message,
};
use baton_test_support::baton;

const CWD: &str = "/tmp/baton-data/worktrees/repo/1-hello";

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client")
}

async fn post(url: String, body: Value) -> (String, String) {
    let response = client().post(url).json(&body).send().await.expect("request");
    assert_eq!(response.status(), 200, "status");
    let ty = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (ty, response.text().await.expect("body"))
}

/// The `data:` payloads of an SSE body (with their `event:` names, empty when none).
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .filter_map(|e| {
            let name = e.lines().find_map(|l| l.strip_prefix("event: ")).unwrap_or("").to_owned();
            let data = e.lines().find_map(|l| l.strip_prefix("data: "))?;
            if data == "[DONE]" {
                return Some((name, json!("[DONE]")));
            }
            Some((name, serde_json::from_str(data).expect("event data is JSON")))
        })
        .collect()
}

/// What an answer said: a tool call (name, arguments) or text.
#[derive(Debug, PartialEq)]
enum Said {
    Call(String, Value),
    Text(String),
}

// ---- per-format requests and readers -------------------------------------------------------------

fn write_schema(path: &str, content: &str) -> Value {
    json!({"type": "object", "properties": {path: {"type": "string", "description": "The absolute path"},
        content: {"type": "string"}}, "required": [path, content]})
}

fn edit_schema() -> Value {
    json!({"type": "object", "properties": {"file_path": {"type": "string"}, "old_string": {"type": "string"},
        "new_string": {"type": "string"}, "replace_all": {"type": "boolean"}},
        "required": ["file_path", "old_string", "new_string"]})
}

fn shell_schema() -> Value {
    json!({"type": "object", "properties": {"command": {"type": "string"}, "description": {"type": "string"}},
        "required": ["command", "description"]})
}

/// The standard tool set: a read tool, a shell tool, an edit tool and a write tool (in an order
/// that puts the write tool last, so the choice is by schema, not position).
fn standard_tools() -> Vec<(&'static str, Value)> {
    vec![
        (
            "read_file",
            json!({"type": "object", "properties": {"file_path": {"type": "string"}}, "required": ["file_path"]}),
        ),
        ("run_shell_command", shell_schema()),
        ("replace", edit_schema()),
        ("write_file", write_schema("file_path", "content")),
    ]
}

const SYSTEM: &str = "You are a coding agent.\nWorking directory: /tmp/baton-data/worktrees/repo/1-hello\nBe brief.";

fn chat_body(tools: &[(&str, Value)], stream: bool, done: bool) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|(n, s)| json!({"type": "function", "function": {"name": n, "description": "", "parameters": s}}))
        .collect();
    let mut messages =
        vec![json!({"role": "system", "content": SYSTEM}), json!({"role": "user", "content": "Create hello.txt"})];
    if done {
        messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "write_file", "arguments": "{}"}}]}));
        messages.push(json!({"role": "tool", "tool_call_id": "c1", "content": "ok"}));
    }
    json!({"model": "qwen-test", "stream": stream, "stream_options": {"include_usage": true}, "messages": messages,
        "tools": tools})
}

fn read_chat(stream: bool, body: &str) -> Said {
    if !stream {
        let v: Value = serde_json::from_str(body).expect("json");
        let message = &v["choices"][0]["message"];
        if let Some(call) = message["tool_calls"].get(0) {
            assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
            let args = serde_json::from_str(call["function"]["arguments"].as_str().expect("arguments string"))
                .expect("arguments JSON");
            return Said::Call(call["function"]["name"].as_str().unwrap_or("").to_owned(), args);
        }
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        return Said::Text(message["content"].as_str().unwrap_or("").to_owned());
    }
    let evs = events(body);
    assert_eq!(evs.last().map(|e| e.1.clone()), Some(json!("[DONE]")), "ends with [DONE]");
    assert!(evs.iter().any(|(_, v)| v["usage"]["total_tokens"].is_u64()), "a usage chunk when asked for");
    let (mut name, mut args, mut text, mut finish) = (String::new(), String::new(), String::new(), String::new());
    for (_, v) in &evs {
        let choice = &v["choices"][0];
        if let Some(call) = choice["delta"]["tool_calls"].get(0) {
            if let Some(n) = call["function"]["name"].as_str() {
                name = n.to_owned();
            }
            args.push_str(call["function"]["arguments"].as_str().unwrap_or(""));
        }
        text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
        if let Some(f) = choice["finish_reason"].as_str() {
            finish = f.to_owned();
        }
    }
    if name.is_empty() {
        assert_eq!(finish, "stop");
        Said::Text(text)
    } else {
        assert_eq!(finish, "tool_calls");
        Said::Call(name, serde_json::from_str(&args).expect("streamed arguments are JSON"))
    }
}

fn responses_body(tools: &[(&str, Value)], stream: bool, done: bool) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|(n, s)| json!({"type": "function", "name": n, "description": "", "parameters": s, "strict": false}))
        .chain([json!({"type": "web_search"})])
        .collect();
    let mut input = vec![json!({"type": "message", "role": "user", "content": [{"type": "input_text",
        "text": format!("<environment_context>\n  <cwd>{CWD}</cwd>\n</environment_context>")}]})];
    if done {
        input.push(json!({"type": "function_call", "call_id": "c1", "name": "write_file", "arguments": "{}"}));
        input.push(json!({"type": "function_call_output", "call_id": "c1", "output": "ok"}));
    }
    json!({"model": "gpt-test", "instructions": "You are Codex.", "input": input, "tools": tools, "stream": stream})
}

fn read_responses(stream: bool, body: &str) -> Said {
    let response: Value = if stream {
        let evs = events(body);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.first(), Some(&"response.created"), "{names:?}");
        assert_eq!(names.last(), Some(&"response.completed"), "{names:?}");
        for (i, (n, v)) in evs.iter().enumerate() {
            assert_eq!(v["type"], *n, "each event's type matches its name");
            assert_eq!(v["sequence_number"], i, "sequence numbers count up");
        }
        let done: Vec<&Value> =
            evs.iter().filter(|(n, _)| n == "response.output_item.done").map(|(_, v)| &v["item"]).collect();
        let completed = &evs.last().expect("events").1["response"];
        assert_eq!(completed["output"][0], *done[0], "the completed response repeats the item");
        let deltas: String = evs
            .iter()
            .filter(|(n, _)| n.ends_with(".delta"))
            .map(|(_, v)| v["delta"].as_str().unwrap_or("").to_owned())
            .collect();
        let item = done[0];
        let whole = item["arguments"].as_str().or(item["input"].as_str()).or(item["content"][0]["text"].as_str());
        assert_eq!(Some(deltas.as_str()), whole, "the deltas add up to the item");
        completed.clone()
    } else {
        serde_json::from_str(body).expect("json")
    };
    assert_eq!(response["status"], "completed");
    assert!(response["usage"]["total_tokens"].is_u64());
    let item = &response["output"][0];
    match item["type"].as_str() {
        Some("function_call") => {
            assert!(item["call_id"].is_string());
            let args = serde_json::from_str(item["arguments"].as_str().expect("arguments")).expect("arguments JSON");
            Said::Call(item["name"].as_str().unwrap_or("").to_owned(), args)
        }
        Some("custom_tool_call") => Said::Call(item["name"].as_str().unwrap_or("").to_owned(), item["input"].clone()),
        _ => {
            assert_eq!(item["type"], "message");
            Said::Text(item["content"][0]["text"].as_str().unwrap_or("").to_owned())
        }
    }
}

fn anthropic_body(tools: &[(&str, Value)], stream: bool, done: bool) -> Value {
    let tools: Vec<Value> = tools
        .iter()
        .map(|(n, s)| json!({"name": n, "description": "", "input_schema": s}))
        .chain([json!({"type": "web_search_20250305", "name": "web_search", "max_uses": 1})])
        .collect();
    let mut messages = vec![json!({"role": "user", "content": [{"type": "text", "text": "Create hello.txt"}]})];
    if done {
        messages.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Write",
            "input": {}}]}));
        messages.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
            "content": "ok"}]}));
    }
    json!({"model": "claude-test", "max_tokens": 1024, "stream": stream,
        "system": [{"type": "text", "text": SYSTEM}], "messages": messages, "tools": tools})
}

fn read_anthropic(stream: bool, body: &str) -> Said {
    if !stream {
        let v: Value = serde_json::from_str(body).expect("json");
        let block = &v["content"][0];
        if block["type"] == "tool_use" {
            assert_eq!(v["stop_reason"], "tool_use");
            return Said::Call(block["name"].as_str().unwrap_or("").to_owned(), block["input"].clone());
        }
        assert_eq!(v["stop_reason"], "end_turn");
        return Said::Text(block["text"].as_str().unwrap_or("").to_owned());
    }
    let evs = events(body);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    for (n, v) in &evs {
        assert_eq!(v["type"], *n, "each event's type matches its name");
    }
    let start = evs.iter().find(|(n, _)| n == "content_block_start").map(|(_, v)| v["content_block"].clone());
    let start = start.expect("a content block");
    let stop = evs.iter().find(|(n, _)| n == "message_delta").map(|(_, v)| v["delta"]["stop_reason"].clone());
    let joined = |key: &str| -> String {
        evs.iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, v)| v["delta"][key].as_str().unwrap_or("").to_owned())
            .collect()
    };
    if start["type"] == "tool_use" {
        assert_eq!(stop, Some(json!("tool_use")));
        Said::Call(
            start["name"].as_str().unwrap_or("").to_owned(),
            serde_json::from_str(&joined("partial_json")).expect("partial_json adds up to JSON"),
        )
    } else {
        assert_eq!(stop, Some(json!("end_turn")));
        Said::Text(joined("text"))
    }
}

fn gemini_body(tools: &[(&str, Value)], done: bool) -> Value {
    let decls: Vec<Value> =
        tools.iter().map(|(n, s)| json!({"name": n, "description": "", "parametersJsonSchema": s})).collect();
    let mut contents = vec![json!({"role": "user", "parts": [{"text": "Create hello.txt"}]})];
    if done {
        contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "write_file", "args": {}}}]}));
        contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": "write_file",
            "response": {"output": "ok"}}}]}));
    }
    json!({"contents": contents, "tools": [{"functionDeclarations": decls}],
        "systemInstruction": {"role": "user", "parts": [{"text":
            format!("- **Workspace Directories:**\n  - {CWD}\n")}]}})
}

fn gemini_said(chunks: &[Value]) -> Said {
    let last = chunks.last().expect("chunks");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP", "the last chunk ends the answer");
    assert!(last["usageMetadata"]["totalTokenCount"].is_u64());
    let parts: Vec<&Value> =
        chunks.iter().flat_map(|c| c["candidates"][0]["content"]["parts"].as_array().into_iter().flatten()).collect();
    if let Some(call) = parts.iter().find_map(|p| p.get("functionCall")) {
        return Said::Call(call["name"].as_str().unwrap_or("").to_owned(), call["args"].clone());
    }
    Said::Text(parts.iter().filter_map(|p| p["text"].as_str()).collect())
}

/// One exchange in `format`: the request (with `tools`, and a tool result when `done`) and
/// what the model said.
async fn exchange(model: &AgentModel, format: WireFormat, stream: bool, tools: &[(&str, Value)], done: bool) -> Said {
    let base = model.base_url();
    match format {
        WireFormat::OpenaiChat => {
            let (ty, body) = post(format!("{base}/v1/chat/completions"), chat_body(tools, stream, done)).await;
            assert_eq!(ty.starts_with("text/event-stream"), stream, "{ty}");
            read_chat(stream, &body)
        }
        WireFormat::OpenaiResponses => {
            let (ty, body) = post(format!("{base}/v1/responses"), responses_body(tools, stream, done)).await;
            assert_eq!(ty.starts_with("text/event-stream"), stream, "{ty}");
            read_responses(stream, &body)
        }
        WireFormat::AnthropicMessages => {
            let (ty, body) = post(format!("{base}/v1/messages?beta=true"), anthropic_body(tools, stream, done)).await;
            assert_eq!(ty.starts_with("text/event-stream"), stream, "{ty}");
            read_anthropic(stream, &body)
        }
        WireFormat::Gemini => {
            let model_path = format!("{base}/v1beta/models/gemini-test");
            if stream {
                let (ty, body) =
                    post(format!("{model_path}:streamGenerateContent?alt=sse"), gemini_body(tools, done)).await;
                assert!(ty.starts_with("text/event-stream"), "{ty}");
                let chunks: Vec<Value> = events(&body).into_iter().map(|(_, v)| v).collect();
                gemini_said(&chunks)
            } else {
                let (_, body) = post(format!("{model_path}:generateContent"), gemini_body(tools, done)).await;
                gemini_said(&[serde_json::from_str(&body).expect("json")])
            }
        }
        WireFormat::Other => unreachable!("not a generation format"),
    }
}

const FORMATS: [WireFormat; 4] =
    [WireFormat::OpenaiChat, WireFormat::OpenaiResponses, WireFormat::AnthropicMessages, WireFormat::Gemini];

#[tokio::test]
async fn every_format_streamed_or_not_makes_one_write_call_then_finishes() {
    let plan = AgentPlan::default();
    let model = AgentModel::start(plan.clone()).await;
    let path = format!("{CWD}/hello.txt");
    for format in FORMATS {
        for stream in [false, true] {
            let first = exchange(&model, format, stream, &standard_tools(), false).await;
            assert_eq!(
                first,
                Said::Call("write_file".into(), json!({"file_path": path, "content": "hello from baton\n"})),
                "{format:?} stream={stream}: the write tool, with the absolute path in the prompt's directory"
            );
            let second = exchange(&model, format, stream, &standard_tools(), true).await;
            assert_eq!(second, Said::Text(plan.final_message.clone()), "{format:?} stream={stream}: the final message");
        }
    }
    let requests = model.requests();
    assert_eq!(requests.len(), 16);
    for r in &requests {
        assert!(r.tools.contains(&"write_file".to_owned()), "{:?}", r.tools);
    }
    let models: Vec<Option<&str>> = requests.iter().step_by(4).map(|r| r.model.as_deref()).collect();
    assert_eq!(models, [Some("qwen-test"), Some("gpt-test"), Some("claude-test"), Some("gemini-test")]);
    assert_eq!(model.wait_for(WireFormat::Gemini, 4, Duration::from_secs(1)).await.len(), 4);
    assert!(requests.iter().all(|r| r.cwd.as_deref() == Some(CWD)), "the working directory is read from each prompt");
    let streamed: Vec<bool> = requests.iter().map(|r| r.streaming).collect();
    assert_eq!(streamed, [false, false, true, true].repeat(4));
}

#[tokio::test]
async fn without_a_write_tool_it_edits_and_without_either_it_runs_a_shell_command() {
    let model = AgentModel::start(AgentPlan::default()).await;
    let path = format!("{CWD}/hello.txt");
    let edit_and_shell = [("Bash", shell_schema()), ("Edit", edit_schema())];
    for format in FORMATS {
        let said = exchange(&model, format, true, &edit_and_shell, false).await;
        assert_eq!(
            said,
            Said::Call("Edit".into(), json!({"file_path": path, "old_string": "", "new_string": "hello from baton\n"})),
            "{format:?}"
        );
        let said = exchange(&model, format, false, &edit_and_shell[..1], false).await;
        let Said::Call(name, args) = said else { panic!("{format:?}: a tool call") };
        assert_eq!(name, "Bash");
        assert_eq!(args["command"], "printf '%s' 'hello from baton\n' > 'hello.txt'", "{format:?}");
        assert_eq!(args["description"], "Write the file the task asks for", "a required string is filled");
    }
}

#[tokio::test]
async fn codex_apply_patch_and_array_commands_and_goose_style_editors_are_served() {
    let model = AgentModel::start(AgentPlan::default()).await;
    // Codex's freeform apply_patch (a Responses `custom` tool).
    let body = json!({"model": "gpt-test", "stream": true, "input": [], "tools": [
        {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {
            "command": {"type": "array", "items": {"type": "string"}}, "workdir": {"type": "string"}},
            "required": ["command"]}},
        {"type": "custom", "name": "apply_patch", "description": "patch", "format": {"type": "grammar"}}]});
    let (_, text) = post(format!("{}/v1/responses", model.base_url()), body.clone()).await;
    let patch = "*** Begin Patch\n*** Add File: hello.txt\n+hello from baton\n*** End Patch\n";
    assert_eq!(read_responses(true, &text), Said::Call("apply_patch".into(), json!(patch)));
    // Without it: the shell tool, its command an argv.
    let mut shell_only = body.clone();
    shell_only["tools"] = json!([body["tools"][0]]);
    let (_, text) = post(format!("{}/v1/responses", model.base_url()), shell_only).await;
    let Said::Call(name, args) = read_responses(true, &text) else { panic!("a call") };
    assert_eq!(name, "shell");
    assert_eq!(args["command"], json!(["sh", "-c", "printf '%s' 'hello from baton\n' > 'hello.txt'"]));
    // Goose's text editor: one tool, its mode an enum that must name creation.
    let editor = json!({"type": "object", "properties": {
        "command": {"type": "string", "enum": ["view", "write", "str_replace", "undo_edit"]},
        "path": {"type": "string"}, "file_text": {"type": "string"}}, "required": ["command", "path"]});
    let said = exchange(&model, WireFormat::OpenaiChat, true, &[("developer__text_editor", editor)], false).await;
    assert_eq!(
        said,
        Said::Call(
            "developer__text_editor".into(),
            json!({"command": "write", "path": format!("{CWD}/hello.txt"), "file_text": "hello from baton\n"})
        )
    );
}

#[tokio::test]
async fn a_preference_forces_the_shell_and_an_agent_without_usable_tools_is_told_so() {
    let plan = AgentPlan { prefer: ToolPreference::Shell, ..AgentPlan::default() };
    let model = AgentModel::start(plan).await;
    let Said::Call(name, _) = exchange(&model, WireFormat::AnthropicMessages, true, &standard_tools(), false).await
    else {
        panic!("a call")
    };
    assert_eq!(name, "run_shell_command");
    let only_read = &standard_tools()[..1];
    let said = exchange(&model, WireFormat::OpenaiChat, false, only_read, false).await;
    assert_eq!(said, Said::Text("scripted agent model: no write, edit or shell tool among [\"read_file\"]".into()));
}

#[tokio::test]
async fn the_shell_fallback_writes_the_exact_content_through_a_real_shell() {
    let content = "it's \"quoted\" $HOME `x` \\n %s\nsecond line\n";
    let plan = AgentPlan { content: content.into(), prefer: ToolPreference::Shell, ..AgentPlan::default() };
    let model = AgentModel::start(plan).await;
    let Said::Call(_, args) = exchange(&model, WireFormat::OpenaiChat, true, &standard_tools(), false).await else {
        panic!("a call")
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(args["command"].as_str().expect("command"))
        .current_dir(dir.path())
        .status()
        .expect("sh");
    assert!(status.success());
    assert_eq!(std::fs::read_to_string(dir.path().join("hello.txt")).expect("written"), content);
}

#[tokio::test]
async fn side_requests_are_answered_so_agents_proceed() {
    let plan = AgentPlan { models: vec!["m1".into(), "m2".into()], ..AgentPlan::default() };
    let model = AgentModel::start(plan.clone()).await;
    let base = model.base_url();
    let http = client();
    let get = |url: String| {
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.expect("get");
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (code, listing) = get(format!("{base}/v1/models")).await;
    assert_eq!(code, 200);
    assert_eq!(listing["data"][1]["id"], "m2", "OpenAI and Anthropic read `data`");
    assert_eq!(listing["models"][0]["name"], "models/m1", "Gemini reads `models`");
    let (code, one) = get(format!("{base}/v1beta/models/gemini-test")).await;
    assert_eq!((code, one["name"].clone()), (200, json!("models/gemini-test")));
    let (_, counted) = post(format!("{base}/v1/messages/count_tokens"), json!({"model": "m1", "messages": []})).await;
    assert!(counted.contains("input_tokens"), "{counted}");
    let (_, counted) = post(format!("{base}/v1beta/models/m1:countTokens"), json!({"contents": []})).await;
    assert!(counted.contains("totalTokens"), "{counted}");
    let unknown = http.post(format!("{base}/v2/nothing")).send().await.expect("post");
    assert_eq!(unknown.status(), 404);
    // A title request (no tools) gets the final message as text.
    let said = exchange(&model, WireFormat::AnthropicMessages, true, &[], false).await;
    assert_eq!(said, Said::Text(plan.final_message.clone()));
    let answers: Vec<String> = model.requests().iter().map(|r| r.answer.describe()).collect();
    assert_eq!(answers[..5], ["meta listing", "meta model", "meta count_tokens", "meta count_tokens", "not_found"]);
}

#[tokio::test]
async fn structured_requests_get_json_from_their_schema_and_aider_gets_a_search_replace_block() {
    let plan = AgentPlan::default();
    let model = AgentModel::start(plan.clone()).await;
    let base = model.base_url();
    // Gemini CLI's next-speaker check: the turn goes back to the user.
    let mut body = gemini_body(&standard_tools(), true);
    body["generationConfig"] = json!({"responseMimeType": "application/json", "responseJsonSchema": {"type": "object",
        "properties": {"reasoning": {"type": "string"}, "next_speaker": {"type": "string", "enum": ["model", "user"]}},
        "required": ["reasoning", "next_speaker"]}});
    let (_, text) = post(format!("{base}/v1beta/models/flash:generateContent"), body).await;
    let Said::Text(answer) = gemini_said(&[serde_json::from_str(&text).expect("json")]) else { panic!("text") };
    let answer: Value = serde_json::from_str(&answer).expect("the text is JSON");
    assert_eq!(answer["next_speaker"], "user");
    // Aider: no tools, its system prompt teaches SEARCH/REPLACE blocks.
    let body = json!({"model": "openai/scripted", "stream": false, "messages": [
        {"role": "system", "content": "Every *SEARCH/REPLACE block* must use this format:\n<<<<<<< SEARCH\n"},
        {"role": "user", "content": "Create hello.txt"}]});
    let (_, text) = post(format!("{base}/v1/chat/completions"), body).await;
    let Said::Text(reply) = read_chat(false, &text) else { panic!("text") };
    assert_eq!(
        reply,
        format!("{}\n\nhello.txt\n<<<<<<< SEARCH\n=======\nhello from baton\n>>>>>>> REPLACE\n", plan.final_message)
    );
    assert!(matches!(model.requests()[0].answer, Answer::Json(_)));
}

#[tokio::test]
async fn after_the_tool_call_the_model_can_go_silent_or_fail() {
    let plan = AgentPlan { after_tool: AfterTool::Hang, ..AgentPlan::default() };
    let model = AgentModel::start(plan).await;
    let request = client()
        .post(format!("{}/v1/chat/completions", model.base_url()))
        .timeout(Duration::from_millis(300))
        .json(&chat_body(&standard_tools(), true, true))
        .send()
        .await;
    assert!(request.is_err_and(|e| e.is_timeout()), "a hung answer never comes");
    let plan = AgentPlan { after_tool: AfterTool::Status(401, r#"{"error":"login"}"#.into()), ..AgentPlan::default() };
    let model = AgentModel::start(plan).await;
    let response = client()
        .post(format!("{}/v1/messages", model.base_url()))
        .json(&anthropic_body(&standard_tools(), false, true))
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().await.expect("body"), r#"{"error":"login"}"#);
}

#[tokio::test]
async fn gemini_streams_without_sse_as_one_json_array() {
    let model = AgentModel::start(AgentPlan::default()).await;
    let url = format!("{}/v1beta/models/g:streamGenerateContent", model.base_url());
    let (_, text) = post(url, gemini_body(&standard_tools(), true)).await;
    let chunks: Vec<Value> = serde_json::from_str(&text).expect("a JSON array of responses");
    assert!(chunks.len() > 1, "text comes in several chunks");
    assert_eq!(gemini_said(&chunks), Said::Text(AgentPlan::default().final_message));
}

/// The built-in agent, through `baton task start`, against the agent model (OpenAI chat with
/// tools): the task ends ready with exactly the plan's file, the user's checkout untouched, and
/// the final message as the description. The same path the installed agents take in
/// scripts/e2e-agents.sh, with no install.
#[tokio::test]
async fn the_built_in_agent_completes_the_task_through_baton_task_start() {
    let plan = AgentPlan::default();
    let model = AgentModel::start(plan.clone()).await;
    let toml = format!(
        "[orchestrator]\ndefault_agent = \"builtin\"\n\n[[agents]]\nname = \"builtin\"\nkind = \"builtin\"\n\
         [agents.model]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nmodel = \"scripted\"\nmax_retries = 0\n",
        model.base_url()
    );
    let repo = crate::tasks::repo(&[], &toml);
    let head = baton_test_support::git::git(&repo.root, &["rev-parse", "HEAD"]);
    let out = tokio::process::Command::new(baton!())
        .args(["task", "start", "Create hello.txt"])
        .env("BATON_CONFIG", repo.tmp.path().join("no-user-config.toml"))
        .env("BATON_DATA_DIR", &repo.data)
        .current_dir(&repo.root)
        .output()
        .await
        .expect("run baton");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("\nstate: ready\n"), "{stdout}");
    assert!(
        stdout.ends_with(&format!("\n\n{}\n", plan.final_message)),
        "the description is the final message: {stdout}"
    );
    let branch = stdout.lines().find_map(|l| l.strip_prefix("branch: ")).expect("a branch");
    let changed = baton_test_support::git::git(&repo.root, &["diff", "--name-only", &format!("main...{branch}")]);
    assert_eq!(changed, "hello.txt\n");
    assert_eq!(baton_test_support::git::git(&repo.root, &["show", &format!("{branch}:hello.txt")]), plan.content);
    assert_eq!(
        baton_test_support::git::git(&repo.root, &["status", "--porcelain", "--ignored"]),
        "",
        "the checkout is untouched"
    );
    assert_eq!(baton_test_support::git::git(&repo.root, &["rev-parse", "HEAD"]), head);
    let calls: Vec<String> = model
        .requests()
        .iter()
        .filter(|r| r.format == WireFormat::OpenaiChat)
        .map(|r| r.answer.describe().split(' ').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(calls, ["tool_call write_file", "text Created"], "one tool call, then the final message");
}

#[tokio::test]
async fn a_rejecting_model_answers_each_format_with_its_own_error_body() {
    let plan = AgentPlan { reject: Some(401), ..AgentPlan::default() };
    let model = AgentModel::start(plan).await;
    let base = model.base_url();
    let message = rejection_message(401);
    let cases = [
        (format!("{base}/v1/chat/completions"), chat_body(&standard_tools(), true, false), "/error/message"),
        (format!("{base}/v1/responses"), responses_body(&standard_tools(), true, false), "/error/message"),
        (format!("{base}/v1/messages"), anthropic_body(&standard_tools(), true, false), "/error/message"),
        (
            format!("{base}/v1beta/models/g:streamGenerateContent?alt=sse"),
            gemini_body(&standard_tools(), false),
            "/error/message",
        ),
    ];
    for (url, body, pointer) in cases {
        let response = client().post(&url).json(&body).send().await.expect("answer");
        assert_eq!(response.status(), 401, "{url}");
        let error: Value = response.json().await.expect("a JSON error body");
        assert_eq!(error.pointer(pointer).and_then(Value::as_str), Some(message.as_str()), "{url}: {error}");
    }
    let anthropic = &model.requests()[2];
    assert_eq!(anthropic.answer, Answer::Rejected(401));
    // Listings still answer: agents probe them before their first prompt.
    let listing = client().get(format!("{base}/v1/models")).send().await.expect("listing");
    assert_eq!(listing.status(), 200);
}

/// `tests/agents/presets-draft.toml` stays well-formed data for the server to embed, and every
/// verified preset pins the same package and version that scripts/e2e-agents.sh installs and
/// runs (so the draft cannot drift from what was tried).
#[test]
fn the_presets_draft_is_well_formed_and_pins_what_the_harness_runs() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let draft = std::fs::read_to_string(root.join("tests/agents/presets-draft.toml")).expect("the draft");
    let harness = std::fs::read_to_string(root.join("scripts/e2e-agents.sh")).expect("the harness");
    let presets: toml::Table = toml::from_str(&draft).expect("the draft is TOML");
    assert!(presets.len() >= 12, "every agent of issue 15 has a preset");
    for (name, preset) in &presets {
        let s = |key: &str| preset.get(key).and_then(toml::Value::as_str).unwrap_or_else(|| panic!("{name}.{key}"));
        let strings = |key: &str| -> Vec<String> {
            preset
                .get(key)
                .and_then(toml::Value::as_array)
                .unwrap_or_else(|| panic!("{name}.{key} is a list"))
                .iter()
                .map(|v| v.as_str().unwrap_or_else(|| panic!("{name}.{key} holds strings")).to_owned())
                .collect()
        };
        let args = strings("args");
        assert!(!s("command").is_empty() && !s("command").contains(' '), "{name}: a program name");
        match s("kind") {
            "cli" => {
                assert!(["text", "claude-json", "codex-json", "opencode-json"].contains(&s("output")), "{name}");
                assert!(args.iter().any(|a| a.contains("{prompt}")), "{name}: a cli agent takes the prompt");
            }
            "acp" => {
                assert!(preset.get("client_fs").and_then(toml::Value::as_bool).is_some(), "{name}.client_fs");
                assert!(
                    preset.get("client_terminal").and_then(toml::Value::as_bool).is_some(),
                    "{name}.client_terminal"
                );
            }
            other => panic!("{name}: kind {other}"),
        }
        for key in ["pass_env", "secret_env", "login_files"] {
            strings(key);
        }
        for path in strings("read_only_paths") {
            assert!(path.starts_with("~/"), "{name}: {path} is under the home folder");
        }
        assert!(preset.get("env").and_then(toml::Value::as_table).is_some(), "{name}.env");
        assert!(preset.get("min_node").and_then(toml::Value::as_integer).is_some(), "{name}.min_node");
        assert!(!s("auth_hint").is_empty());
        if let Some(local) = preset.get("local_model") {
            let env = local.get("env").and_then(toml::Value::as_table).expect("local_model.env");
            let text = format!("{env}{:?}", local.get("args"));
            assert!(text.contains("{base_url}"), "{name}: the local model's address is substituted");
        }
        let package = preset.get("package").and_then(toml::Value::as_table).expect("package");
        let field = |key: &str| package.get(key).and_then(toml::Value::as_str).unwrap_or("");
        match field("registry") {
            "npm" => assert!(harness.contains(&format!("|npm|{}@{}|", field("name"), field("version"))), "{name}"),
            "pypi" => assert!(harness.contains(&format!("|pypi|{}=={}|", field("name"), field("version"))), "{name}"),
            _ => assert!(draft.contains(&format!("[{name}]\n# Not verified")), "{name}: says it was not verified"),
        }
    }
}
