//! Tool calling against the scripted model server in every wire format, and tool calls written
//! as JSON in the message text.

use std::time::Duration;

use serde_json::{Value, json};

use super::*;
use crate::providers::{Provider, ProviderConfig, ProviderKind};

use baton_test_support::model_server::{ModelServer, Reply};

const WAIT: Duration = Duration::from_secs(5);
const KINDS: [ProviderKind; 4] =
    [ProviderKind::Openai, ProviderKind::Anthropic, ProviderKind::Ollama, ProviderKind::Llamacpp];

fn provider(kind: ProviderKind, server: &ModelServer) -> Provider {
    let base_url = match kind {
        ProviderKind::Openai | ProviderKind::Anthropic => format!("{}/v1", server.base_url()),
        ProviderKind::Ollama | ProviderKind::Llamacpp => server.base_url(),
    };
    Provider::new(ProviderConfig {
        kind,
        base_url,
        model: "test-model".to_owned(),
        timeout_ms: 5_000,
        max_retries: 1,
        retry_base_ms: 1,
        ..ProviderConfig::default()
    })
    .expect("provider")
}

fn tools() -> Vec<ToolSpec> {
    vec![ToolSpec {
        name: "read_file".to_owned(),
        description: "Read a file".to_owned(),
        parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
    }]
}

fn conversation() -> ToolChatRequest {
    ToolChatRequest {
        system: Some("You are an agent.".to_owned()),
        messages: vec![
            ToolMessage::User("Read a.txt".to_owned()),
            ToolMessage::Assistant {
                text: String::new(),
                tool_calls: vec![ToolCall {
                    id: "c1".to_owned(),
                    name: "read_file".to_owned(),
                    arguments: json!({"path": "a.txt"}),
                }],
            },
            ToolMessage::ToolResult {
                call_id: "c1".to_owned(),
                name: "read_file".to_owned(),
                content: "hello".to_owned(),
                is_error: false,
            },
        ],
        tools: tools(),
        max_tokens: 256,
        temperature: 0.0,
    }
}

#[tokio::test]
async fn structured_tool_calls_in_every_wire_format() {
    for kind in KINDS {
        let server = ModelServer::start().await;
        server.push(Reply::tool_call("read_file", json!({"path": "b.txt"})));
        let answer =
            provider(kind, &server).chat_with_tools(conversation()).await.unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(answer.tool_calls.len(), 1, "{kind:?}");
        assert_eq!(answer.tool_calls[0].name, "read_file");
        assert_eq!(answer.tool_calls[0].arguments, json!({"path": "b.txt"}));
        assert!(!answer.tool_calls[0].id.is_empty());
        assert_eq!(answer.usage.total(), 15, "{kind:?}");
        let request = &server.wait_for_requests(1, WAIT).await[0];
        assert_eq!(request.body["stream"], json!(false));
        check_request(kind, &request.path, &request.body);
    }
}

/// The conversation went over the wire in the kind's own shapes.
fn check_request(kind: ProviderKind, path: &str, body: &Value) {
    let messages = &body["messages"];
    match kind {
        ProviderKind::Openai | ProviderKind::Llamacpp => {
            assert!(path.ends_with("/v1/chat/completions"), "{path}");
            assert_eq!(body["tools"][0]["function"]["name"], "read_file");
            assert_eq!(messages[0]["role"], "system");
            assert_eq!(messages[2]["tool_calls"][0]["function"]["arguments"], r#"{"path":"a.txt"}"#);
            assert_eq!(messages[3], json!({"role": "tool", "tool_call_id": "c1", "content": "hello"}));
        }
        ProviderKind::Anthropic => {
            assert_eq!(path, "/v1/messages");
            assert_eq!(body["system"], "You are an agent.");
            assert_eq!(body["tools"][0]["input_schema"]["type"], "object");
            assert_eq!(
                messages[1]["content"][0],
                json!({"type": "tool_use", "id": "c1", "name": "read_file", "input": {"path": "a.txt"}})
            );
            assert_eq!(messages[2]["role"], "user");
            assert_eq!(messages[2]["content"][0]["type"], "tool_result");
            assert_eq!(messages[2]["content"][0]["tool_use_id"], "c1");
        }
        ProviderKind::Ollama => {
            assert_eq!(path, "/api/chat");
            assert_eq!(body["tools"][0]["function"]["name"], "read_file");
            assert_eq!(messages[2]["tool_calls"][0]["function"]["arguments"], json!({"path": "a.txt"}));
            assert_eq!(messages[3]["role"], "tool");
            assert_eq!(messages[3]["tool_name"], "read_file");
        }
    }
}

#[tokio::test]
async fn plain_text_answers_and_json_text_calls() {
    for kind in KINDS {
        let server = ModelServer::start().await;
        server.push(Reply::text("All done."));
        server.push(Reply::text(
            "I will read it.\n```json\n{\"name\": \"read_file\", \"arguments\": {\"path\": \"c.txt\"}}\n```",
        ));
        let provider = provider(kind, &server);
        let answer = provider.chat_with_tools(conversation()).await.expect("answer");
        assert_eq!(answer.text, "All done.", "{kind:?}");
        assert!(answer.tool_calls.is_empty());
        let answer = provider.chat_with_tools(conversation()).await.expect("answer");
        assert_eq!(answer.text, "I will read it.", "{kind:?}");
        assert_eq!(answer.tool_calls[0].arguments, json!({"path": "c.txt"}));
    }
}

#[tokio::test]
async fn errors_and_retries_follow_the_provider_rules() {
    let server = ModelServer::start().await;
    server.push(Reply::status(503, "busy"));
    server.push(Reply::tool_call("read_file", json!({"path": "x"})));
    let answer = provider(ProviderKind::Openai, &server).chat_with_tools(conversation()).await.expect("retried");
    assert_eq!(answer.tool_calls.len(), 1);
    server.push(Reply::status(400, "bad request"));
    let error = provider(ProviderKind::Openai, &server).chat_with_tools(conversation()).await.expect_err("400");
    assert!(matches!(error, ProviderError::Status { status: 400, .. }), "{error}");
    server.push(Reply::MalformedSse);
    let error =
        provider(ProviderKind::Anthropic, &server).chat_with_tools(conversation()).await.expect_err("malformed");
    assert!(matches!(error, ProviderError::Malformed { .. }), "{error}");
}

#[test]
fn text_tool_calls_in_tags_fences_and_bare() {
    let names = ["write_file", "finish"];
    let (rest, calls) = parse_text_tool_calls(
        "<tool_call>\n{\"name\": \"finish\", \"arguments\": {\"summary\": \"ok\"}}\n</tool_call>",
        &names,
    );
    assert_eq!(rest, "");
    assert_eq!(calls[0].name, "finish");
    assert_eq!(calls[0].id, "text_call_0");
    let (_, calls) =
        parse_text_tool_calls(r#"{"name": "write_file", "parameters": {"path": "a", "content": "b"}}"#, &names);
    assert_eq!(calls[0].arguments, json!({"path": "a", "content": "b"}));
    let (_, calls) =
        parse_text_tool_calls(r#"{"function": {"name": "finish", "arguments": "{\"summary\": \"s\"}"}}"#, &names);
    assert_eq!(calls[0].arguments, json!({"summary": "s"}));
    // Unknown tools, prose and broken JSON are left alone.
    for text in [
        r#"{"name": "rm_rf", "arguments": {}}"#,
        "Here is code:\n```rust\nfn main() {}\n```",
        "```json\n{\"name\": \"finish\", \n```",
        "",
    ] {
        let (rest, calls) = parse_text_tool_calls(text, &names);
        assert!(calls.is_empty(), "{text}");
        assert_eq!(rest, text);
    }
}
