//! Every provider kind × prompt shape against the scripted model server: streamed text, the
//! request that went over the wire, retries, timeouts, broken streams and key hygiene.

use std::time::Duration;

use expect_test::{Expect, expect};
use futures::StreamExt;

use super::*;

use baton_test_support::model_server::{ModelServer, RecordedRequest, Reply};

/// A key value that must never show up in errors or Debug output.
const KEY: &str = "sk-test-k3y-that-must-not-leak";
const WAIT: Duration = Duration::from_secs(5);

fn config(kind: ProviderKind, server: &ModelServer) -> ProviderConfig {
    let base_url = match kind {
        ProviderKind::Openai | ProviderKind::Anthropic => format!("{}/v1", server.base_url()),
        ProviderKind::Ollama | ProviderKind::Llamacpp => server.base_url(),
    };
    ProviderConfig {
        kind,
        base_url,
        model: "test-model".to_owned(),
        api_key_env: None,
        timeout_ms: 5_000,
        connect_timeout_ms: 1_000,
        max_retries: 2,
        retry_base_ms: 1,
    }
}

/// An OpenAI-compatible provider for a server on `port` of 127.0.0.1 (a raw socket a test
/// scripts, or none), retrying up to `max_retries` times 1 ms apart.
fn at_port(port: u16, max_retries: u32) -> ProviderConfig {
    ProviderConfig {
        kind: ProviderKind::Openai,
        base_url: format!("http://127.0.0.1:{port}/v1"),
        max_retries,
        retry_base_ms: 1,
        ..ProviderConfig::default()
    }
}

fn provider(kind: ProviderKind, server: &ModelServer) -> Provider {
    Provider::new(config(kind, server)).expect("provider")
}

fn keyed(kind: ProviderKind, server: &ModelServer) -> Provider {
    Provider::with_key(config(kind, server), Some(KEY.to_owned())).expect("provider")
}

fn fim() -> Prompt {
    Prompt::Fim { prefix: "fn add(a: i32, b: i32) -> i32 {\n    ".to_owned(), suffix: "\n}\n".to_owned() }
}

fn raw() -> Prompt {
    Prompt::Raw { prompt: "<PRE> fn main() { <SUF> } <MID>".to_owned() }
}

fn chat() -> Prompt {
    Prompt::Chat {
        system: Some("You complete code.".to_owned()),
        messages: vec![ChatMessage { role: Role::User, content: "Complete: fn add(".to_owned() }],
    }
}

fn request(prompt: Prompt) -> GenerateRequest {
    GenerateRequest { prompt, max_tokens: 64, temperature: 0.2, stop: vec!["\n\n".to_owned()] }
}

/// All text of a stream, and its error if it ended with one (an error is always the last item).
async fn collect(mut stream: TextStream) -> (String, Option<ProviderError>) {
    let mut text = String::new();
    let mut error = None;
    while let Some(item) = stream.next().await {
        assert!(error.is_none(), "the stream went on after an error: {error:?}");
        match item {
            Ok(delta) => text.push_str(&delta),
            Err(e) => error = Some(e),
        }
    }
    (text, error)
}

/// Generates with `prompt` against a scripted `Reply::Text`, checks the text came back whole and
/// returns the one request the server saw.
async fn round_trip(server: &ModelServer, provider: &Provider, prompt: Prompt) -> RecordedRequest {
    let scripted = "a + b // done ✓";
    server.push(Reply::text(scripted));
    let stream = provider.generate(request(prompt)).await.expect("generate");
    let (text, error) = collect(stream).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text, scripted);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    requests.into_iter().next().expect("one request")
}

fn check_body(recorded: &RecordedRequest, expected: Expect) {
    let body = serde_json::to_string_pretty(&recorded.body).expect("json");
    expected.assert_eq(&format!("{} {}\n{body}", recorded.method, recorded.path));
}

async fn generate_error(provider: &Provider, prompt: Prompt) -> ProviderError {
    match provider.generate(request(prompt)).await {
        Ok(stream) => collect(stream).await.1.expect("the stream should end with an error"),
        Err(e) => e,
    }
}

// ---- OpenAI-compatible ----

#[tokio::test]
async fn openai_raw_streams_from_completions() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &keyed(ProviderKind::Openai, &server), raw()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /v1/completions
            {
              "model": "test-model",
              "prompt": "<PRE> fn main() { <SUF> } <MID>",
              "max_tokens": 64,
              "temperature": 0.2,
              "stream": true,
              "stop": [
                "\n\n"
              ]
            }"#]],
    );
    assert_eq!(recorded.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

#[tokio::test]
async fn openai_chat_sends_the_system_prompt_first() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Openai, &server), chat()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /v1/chat/completions
            {
              "model": "test-model",
              "messages": [
                {
                  "role": "system",
                  "content": "You complete code."
                },
                {
                  "role": "user",
                  "content": "Complete: fn add("
                }
              ],
              "max_tokens": 64,
              "temperature": 0.2,
              "stream": true,
              "stop": [
                "\n\n"
              ]
            }"#]],
    );
    assert_eq!(recorded.header("authorization"), None);
}

#[tokio::test]
async fn openai_rejects_native_fim() {
    let server = ModelServer::start().await;
    let error = generate_error(&provider(ProviderKind::Openai, &server), fim()).await;
    assert!(matches!(error, ProviderError::Unsupported { kind: ProviderKind::Openai, .. }), "{error:?}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn bearer_key_is_read_from_the_configured_env_var() {
    // Edition 2024 makes `set_var` unsafe and the crate forbids unsafe code, so this uses a
    // variable cargo sets for every test run.
    let server = ModelServer::start().await;
    let value = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let config =
        ProviderConfig { api_key_env: Some("CARGO_MANIFEST_DIR".to_owned()), ..config(ProviderKind::Openai, &server) };
    let recorded = round_trip(&server, &Provider::new(config).expect("provider"), raw()).await;
    assert_eq!(recorded.header("authorization"), Some(format!("Bearer {value}").as_str()));
}

// ---- Anthropic ----

#[tokio::test]
async fn anthropic_chat_streams_from_messages_with_its_headers() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &keyed(ProviderKind::Anthropic, &server), chat()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /v1/messages
            {
              "model": "test-model",
              "messages": [
                {
                  "role": "user",
                  "content": "Complete: fn add("
                }
              ],
              "max_tokens": 64,
              "temperature": 0.2,
              "stream": true,
              "system": "You complete code.",
              "stop_sequences": [
                "\n\n"
              ]
            }"#]],
    );
    assert_eq!(recorded.header("x-api-key"), Some(KEY));
    assert_eq!(recorded.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(recorded.header("authorization"), None);
}

#[tokio::test]
async fn anthropic_rejects_fim_and_raw() {
    let server = ModelServer::start().await;
    let provider = provider(ProviderKind::Anthropic, &server);
    for prompt in [fim(), raw()] {
        let error = generate_error(&provider, prompt).await;
        assert!(matches!(error, ProviderError::Unsupported { kind: ProviderKind::Anthropic, .. }), "{error:?}");
    }
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn anthropic_error_event_becomes_a_remote_error() {
    let server = ModelServer::start().await;
    server.push(Reply::StreamError("Overloaded".to_owned()));
    let error = generate_error(&provider(ProviderKind::Anthropic, &server), chat()).await;
    expect!["the model server at BASE/v1/messages reported an error: Overloaded"]
        .assert_eq(&error.to_string().replace(&server.base_url(), "BASE"));
}

// ---- Ollama ----

#[tokio::test]
async fn ollama_fim_sends_suffix_to_generate() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Ollama, &server), fim()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /api/generate
            {
              "model": "test-model",
              "prompt": "fn add(a: i32, b: i32) -> i32 {\n    ",
              "suffix": "\n}\n",
              "stream": true,
              "options": {
                "num_predict": 64,
                "temperature": 0.2,
                "stop": [
                  "\n\n"
                ]
              }
            }"#]],
    );
}

#[tokio::test]
async fn ollama_raw_sets_raw_true() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Ollama, &server), raw()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /api/generate
            {
              "model": "test-model",
              "prompt": "<PRE> fn main() { <SUF> } <MID>",
              "raw": true,
              "stream": true,
              "options": {
                "num_predict": 64,
                "temperature": 0.2,
                "stop": [
                  "\n\n"
                ]
              }
            }"#]],
    );
}

#[tokio::test]
async fn ollama_chat_streams_from_api_chat() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Ollama, &server), chat()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /api/chat
            {
              "model": "test-model",
              "messages": [
                {
                  "role": "system",
                  "content": "You complete code."
                },
                {
                  "role": "user",
                  "content": "Complete: fn add("
                }
              ],
              "stream": true,
              "options": {
                "num_predict": 64,
                "temperature": 0.2,
                "stop": [
                  "\n\n"
                ]
              }
            }"#]],
    );
}

#[tokio::test]
async fn ollama_error_line_becomes_a_remote_error() {
    let server = ModelServer::start().await;
    server.push(Reply::StreamError("model 'test-model' not found".to_owned()));
    let error = generate_error(&provider(ProviderKind::Ollama, &server), fim()).await;
    assert!(matches!(&error, ProviderError::Remote { message, .. } if message.contains("not found")), "{error:?}");
}

// ---- llama.cpp ----

#[tokio::test]
async fn llamacpp_fim_streams_from_infill() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Llamacpp, &server), fim()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /infill
            {
              "input_prefix": "fn add(a: i32, b: i32) -> i32 {\n    ",
              "input_suffix": "\n}\n",
              "n_predict": 64,
              "temperature": 0.2,
              "stream": true,
              "stop": [
                "\n\n"
              ]
            }"#]],
    );
}

#[tokio::test]
async fn llamacpp_raw_streams_from_completion() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &provider(ProviderKind::Llamacpp, &server), raw()).await;
    check_body(
        &recorded,
        expect![[r#"
            POST /completion
            {
              "prompt": "<PRE> fn main() { <SUF> } <MID>",
              "n_predict": 64,
              "temperature": 0.2,
              "stream": true,
              "stop": [
                "\n\n"
              ]
            }"#]],
    );
}

#[tokio::test]
async fn llamacpp_chat_uses_its_openai_endpoint() {
    let server = ModelServer::start().await;
    let recorded = round_trip(&server, &keyed(ProviderKind::Llamacpp, &server), chat()).await;
    assert_eq!(recorded.path, "/v1/chat/completions");
    assert_eq!(recorded.body["model"], "test-model");
    assert_eq!(recorded.body["messages"][0]["role"], "system");
    assert_eq!(recorded.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
}

// ---- Streams split in odd places ----

#[tokio::test]
async fn chunks_arrive_in_order_for_every_kind() {
    let server = ModelServer::start().await;
    let chunks = vec!["fn".to_owned(), " ".to_owned(), "main".to_owned(), "() {}\n".to_owned()];
    for (kind, prompt) in [
        (ProviderKind::Openai, raw()),
        (ProviderKind::Anthropic, chat()),
        (ProviderKind::Ollama, fim()),
        (ProviderKind::Llamacpp, fim()),
    ] {
        server.push(Reply::Chunks(chunks.clone()));
        let stream = provider(kind, &server).generate(request(prompt)).await.expect("generate");
        let deltas: Vec<String> = stream.map(|d| d.expect("delta")).collect().await;
        assert_eq!(deltas, chunks, "{kind:?}");
    }
}

// ---- Retries and failures ----

#[tokio::test]
async fn a_503_is_retried_then_succeeds() {
    let server = ModelServer::start().await;
    server.push(Reply::status(503, "warming up"));
    server.push(Reply::text("ok"));
    let stream = provider(ProviderKind::Openai, &server).generate(request(raw())).await.expect("generate");
    assert_eq!(collect(stream).await.0, "ok");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_429_that_never_clears_gives_status_after_all_retries() {
    let server = ModelServer::start().await;
    server.set_default(Reply::status(429, r#"{"error":"rate limited"}"#));
    let error = generate_error(&provider(ProviderKind::Ollama, &server), fim()).await;
    assert!(
        matches!(&error, ProviderError::Status { status: 429, body, .. } if body.contains("rate limited")),
        "{error:?}"
    );
    assert_eq!(server.wait_for_requests(3, WAIT).await.len(), 3, "1 try + max_retries 2");
}

#[tokio::test]
async fn a_400_is_not_retried_and_its_body_is_truncated() {
    let server = ModelServer::start().await;
    server.push(Reply::status(400, "x".repeat(1_000)));
    let error = generate_error(&provider(ProviderKind::Llamacpp, &server), raw()).await;
    match &error {
        ProviderError::Status { status: 400, body, .. } => assert_eq!(body.chars().count(), limits::MAX_BODY_CHARS),
        other => panic!("{other:?}"),
    }
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn retry_after_seconds_are_honoured_and_capped() {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::RETRY_AFTER, reqwest::header::HeaderValue::from_static("2"));
    assert_eq!(http::retry_after(&headers, 10_000), Some(Duration::from_secs(2)));
    assert_eq!(http::retry_after(&headers, 500), Some(Duration::from_millis(500)));
    headers.insert(reqwest::header::RETRY_AFTER, reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015"));
    assert_eq!(http::retry_after(&headers, 10_000), None);
}

/// The provider for `config`, on the local path (a server on this machine gets requests on
/// kept-alive connections of our own, `providers/local.rs`) or through reqwest, the path of a
/// remote server: the transport tests below run on both.
fn on_path(config: ProviderConfig, through_reqwest: bool) -> Provider {
    let provider = Provider::new(config).expect("provider");
    if through_reqwest { provider.through_reqwest() } else { provider }
}

#[tokio::test]
async fn a_hung_server_gives_timeout() {
    for through_reqwest in [false, true] {
        let server = ModelServer::start().await;
        server.push(Reply::Hang);
        let config = ProviderConfig { timeout_ms: 300, ..config(ProviderKind::Openai, &server) };
        let error = generate_error(&on_path(config, through_reqwest), raw()).await;
        assert!(matches!(error, ProviderError::Timeout { ms: 300, .. }), "{through_reqwest}: {error:?}");
        assert_eq!(server.requests().len(), 1, "timeouts are not retried");
    }
}

#[tokio::test]
async fn a_stream_slower_than_the_timeout_yields_text_then_timeout() {
    for through_reqwest in [false, true] {
        let server = ModelServer::start().await;
        server.push(Reply::Slow { text: "abcdefghijkl".to_owned(), chunk_delay_ms: 100 });
        let config = ProviderConfig { timeout_ms: 250, ..config(ProviderKind::Llamacpp, &server) };
        let stream = on_path(config, through_reqwest).generate(request(fim())).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert!("abcdefghijkl".starts_with(&text) && text.len() < 12, "{through_reqwest}: {text:?}");
        assert!(matches!(error, Some(ProviderError::Timeout { ms: 250, .. })), "{through_reqwest}: {error:?}");
    }
}

/// Calls side by side (alternatives, a next edit beside a completion) each get their answer at
/// once: a call never takes a connection whose answer is still being read (hyper refuses the
/// request there); after an answer dropped unread the next call still gets its own. (That a
/// kept-alive connection is reused is pinned by the closed-connection test below.)
#[tokio::test]
async fn calls_side_by_side_on_the_local_path_each_get_their_answer() {
    let server = ModelServer::start().await;
    // The first answer's body takes a minute; the others come at once.
    server.push(Reply::Slow { text: "first answer".to_owned(), chunk_delay_ms: 60_000 });
    server.push(Reply::text("second answer"));
    server.push(Reply::text("third answer"));
    // No retries: a request refused by a busy connection must not be hidden by a second attempt.
    let provider = on_path(ProviderConfig { max_retries: 0, ..config(ProviderKind::Openai, &server) }, false);
    // The first answer's head is in and its connection back among the idle ones, its body still
    // coming: the second call must not queue behind it on that connection.
    let first = provider.generate(request(raw())).await.expect("generate");
    let second = async { collect(provider.generate(request(raw())).await.expect("generate")).await };
    let (text, error) = tokio::time::timeout(WAIT, second).await.expect("not queued behind the first answer");
    assert_eq!((text.as_str(), error.is_none()), ("second answer", true), "{error:?}");
    drop(first);
    // The first answer dropped unread (its connection closes): the next call is answered.
    let (text, error) = collect(provider.generate(request(raw())).await.expect("generate")).await;
    assert_eq!((text.as_str(), error.is_none()), ("third answer", true), "{error:?}");
}

/// Requests to this machine take the local path; any other scheme or host goes through reqwest
/// (its proxy settings, TLS, HTTP/2).
#[test]
fn only_plain_http_to_a_loopback_address_takes_the_local_path() {
    for (url, local) in [
        ("http://127.0.0.1:8080/v1/completions", true),
        ("http://127.3.2.1/v1", true),
        ("http://localhost:11434/api/generate", true),
        ("http://LocalHost:11434/api/generate", true),
        ("http://[::1]:8080/completion", true),
        ("https://127.0.0.1:8080/v1", false),
        ("https://localhost/v1", false),
        ("http://10.0.0.5:8080/v1", false),
        ("http://example.com/v1", false),
        ("http://localhost.example.com/v1", false),
        ("http://[::2]:8080/v1", false),
    ] {
        let parsed = reqwest::Url::parse(url).expect("url");
        assert_eq!(super::local::is_local(&parsed), local, "{url}");
    }
}

#[tokio::test]
async fn a_refused_connection_gives_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let provider = Provider::with_key(at_port(port, 1), Some(KEY.to_owned())).expect("provider");
    let error = generate_error(&provider, raw()).await;
    match &error {
        ProviderError::Unreachable { url, .. } => {
            assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/completions"))
        }
        other => panic!("{other:?}"),
    }
    assert!(!error.to_string().contains(KEY));
    assert!(matches!(provider.health().await, Err(ProviderError::Unreachable { .. })));
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body) from `reader`; false at end of
/// stream.
async fn read_request(reader: &mut tokio::io::BufReader<tokio::net::TcpStream>) -> bool {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return false;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().expect("a Content-Length");
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.is_ok()
}

/// An OpenAI `/completions` stream of `text`, whole, on a kept-alive connection.
fn sse_answer(text: &str) -> String {
    let event = serde_json::json!({"choices": [{"index": 0, "text": text, "finish_reason": "stop"}]});
    let body = format!("data: {event}\n\ndata: [DONE]\n\n");
    format!("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: {}\r\n\r\n{body}", body.len())
}

/// A server closes an idle kept-alive connection on its own schedule (llama.cpp's after 5 s): a
/// request sent on it just then meets a connection closed before any answer. It is sent again at
/// once on a new connection, even with retries switched off, and the user never sees the race.
#[tokio::test]
async fn a_request_on_a_connection_the_server_closed_is_sent_again_on_a_new_one() {
    use tokio::io::AsyncWriteExt;
    for through_reqwest in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            // The first connection answers one request, then closes under the second unanswered.
            let (first, _) = listener.accept().await.expect("accept");
            let mut first = tokio::io::BufReader::new(first);
            assert!(read_request(&mut first).await, "the first request");
            first.get_mut().write_all(sse_answer("one").as_bytes()).await.expect("answer");
            assert!(read_request(&mut first).await, "the second request, on the kept-alive connection");
            drop(first);
            let (second, _) = listener.accept().await.expect("a new connection");
            let mut second = tokio::io::BufReader::new(second);
            assert!(read_request(&mut second).await, "the second request, sent again");
            second.get_mut().write_all(sse_answer("two").as_bytes()).await.expect("answer");
        });
        let provider = on_path(at_port(port, 0), through_reqwest);
        for expected in ["one", "two"] {
            let stream = provider.generate(request(raw())).await.expect("generate");
            let (text, error) = collect(stream).await;
            assert!(error.is_none(), "{through_reqwest} {expected}: {error:?}");
            assert_eq!(text, expected);
        }
        tokio::time::timeout(WAIT, server).await.expect("the server's script ended").expect("the server's script");
    }
}

/// A hostile or broken server that closes every connection unanswered gets each attempt twice
/// (the resend for a closed kept-alive connection), no more, and the error names the close.
#[tokio::test]
async fn a_server_that_never_answers_gets_each_attempt_twice_at_most() {
    for through_reqwest in [false, true] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&seen);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let mut stream = tokio::io::BufReader::new(stream);
                if read_request(&mut stream).await {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
        let error = generate_error(&on_path(at_port(port, 1), through_reqwest), raw()).await;
        server.abort();
        assert!(
            matches!(&error, ProviderError::Unreachable { reason, .. } if reason.contains("connection closed before message completed")),
            "{through_reqwest}: {error:?}"
        );
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 4, "2 attempts (max_retries 1), each sent twice");
    }
}

#[tokio::test]
async fn a_dropped_connection_yields_the_text_then_an_error() {
    let server = ModelServer::start().await;
    for (kind, prompt) in [(ProviderKind::Openai, chat()), (ProviderKind::Ollama, chat())] {
        server.push(Reply::DropAfter("partial answer".to_owned()));
        let stream = provider(kind, &server).generate(request(prompt)).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert_eq!(text, "partial answer", "{kind:?}");
        assert!(matches!(error, Some(ProviderError::Interrupted { .. })), "{kind:?}: {error:?}");
    }
}

#[tokio::test]
async fn malformed_events_end_the_stream_with_malformed() {
    let server = ModelServer::start().await;
    for (kind, prompt) in [
        (ProviderKind::Openai, raw()),
        (ProviderKind::Anthropic, chat()),
        (ProviderKind::Ollama, raw()),
        (ProviderKind::Llamacpp, raw()),
    ] {
        server.push(Reply::MalformedSse);
        let stream = provider(kind, &server).generate(request(prompt)).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert_eq!(text, "", "{kind:?}");
        assert!(matches!(error, Some(ProviderError::Malformed { .. })), "{kind:?}: {error:?}");
    }
}

// ---- Caps (limits.rs): whatever the server sends, what is read stays bounded ----

/// `Reply::Endless*` bodies never end: a client that did not stop reading would read them until
/// its timeout (5 s here), at loopback speed. Having stopped, the server hands out at most the
/// cap plus the sockets' buffers.
const HANDED_OUT_AT_MOST: usize = 64 << 20;

#[tokio::test]
async fn an_endless_error_body_is_read_up_to_its_cap() {
    let server = ModelServer::start().await;
    server.push(Reply::EndlessStatus(500));
    let url = format!("{}/v1/completions", server.base_url());
    let mut response = reqwest::Client::new().post(&url).json(&json!({})).send().await.expect("response");
    let (body, complete) = http::read_capped(&mut response, limits::MAX_ERROR_BODY_BYTES).await.expect("read");
    assert_eq!((body.len(), complete), (limits::MAX_ERROR_BODY_BYTES, false));
    drop(response);

    server.push(Reply::EndlessStatus(500));
    let config = ProviderConfig { max_retries: 0, ..config(ProviderKind::Openai, &server) };
    let error = generate_error(&Provider::new(config).expect("provider"), raw()).await;
    match &error {
        ProviderError::Status { status: 500, body, .. } => {
            assert_eq!(body.chars().count(), limits::MAX_BODY_CHARS, "an excerpt, not the body");
        }
        other => panic!("the error body was not cut at its cap: {other:?}"),
    }
    assert!(server.endless_bytes() < HANDED_OUT_AT_MOST, "{} bytes handed out", server.endless_bytes());
}

#[tokio::test]
async fn a_line_that_never_ends_stops_at_the_line_cap() {
    let server = ModelServer::start().await;
    for (kind, prompt, what) in [
        (ProviderKind::Openai, raw(), "an event stream line"),
        (ProviderKind::Anthropic, chat(), "an event stream line"),
        (ProviderKind::Ollama, fim(), "an NDJSON line"),
        (ProviderKind::Llamacpp, fim(), "an event stream line"),
    ] {
        server.push(Reply::EndlessLine);
        let stream = provider(kind, &server).generate(request(prompt)).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert_eq!(text, "", "{kind:?}");
        match error {
            Some(ProviderError::TooLarge { what: w, limit, .. }) => {
                assert_eq!((w, limit), (what, limits::MAX_LINE_BYTES), "{kind:?}")
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
    assert!(server.endless_bytes() < 4 * HANDED_OUT_AT_MOST, "{} bytes handed out", server.endless_bytes());
}

#[tokio::test]
async fn an_event_that_never_ends_stops_at_the_event_cap() {
    let server = ModelServer::start().await;
    for (kind, prompt) in
        [(ProviderKind::Openai, chat()), (ProviderKind::Anthropic, chat()), (ProviderKind::Llamacpp, raw())]
    {
        server.push(Reply::EndlessEvent);
        let stream = provider(kind, &server).generate(request(prompt)).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert_eq!(text, "", "{kind:?}");
        let error = error.expect("an error");
        assert!(
            matches!(error, ProviderError::TooLarge { what: "an event", limit: limits::MAX_EVENT_BYTES, .. }),
            "{kind:?}: {error:?}"
        );
        assert!(error.to_string().contains(&format!("{} bytes", limits::MAX_EVENT_BYTES)), "{error}");
    }
}

#[tokio::test]
async fn an_answer_that_goes_on_stops_at_max_tokens_worth_of_text() {
    let server = ModelServer::start().await;
    let max_tokens = 8;
    let budget = limits::text_budget(max_tokens);
    // 6 bytes a delta: the budget (128) falls inside "é", which must not be split.
    let delta = "aé✓";
    let expected = format!("{}a", delta.repeat(budget / delta.len()));
    assert_eq!(expected.len(), budget - 1);
    for (kind, prompt) in [
        (ProviderKind::Openai, raw()),
        (ProviderKind::Openai, chat()),
        (ProviderKind::Anthropic, chat()),
        (ProviderKind::Ollama, fim()),
        (ProviderKind::Llamacpp, fim()),
    ] {
        server.push(Reply::Endless(delta.to_owned()));
        let request = GenerateRequest { max_tokens, ..request(prompt) };
        let stream = provider(kind, &server).generate(request).await.expect("generate");
        let (text, error) = collect(stream).await;
        assert!(error.is_none(), "{kind:?}: {error:?}");
        assert_eq!(text, expected, "{kind:?}");
    }
}

#[tokio::test]
async fn a_non_streamed_answer_over_its_cap_is_refused() {
    let server = ModelServer::start().await;
    server.push(Reply::EndlessLine);
    let request = ToolChatRequest {
        system: None,
        messages: vec![ToolMessage::User("hi".to_owned())],
        tools: Vec::new(),
        max_tokens: 16,
        temperature: 0.0,
    };
    let error = provider(ProviderKind::Openai, &server).chat_with_tools(request).await.expect_err("too large");
    assert!(
        matches!(error, ProviderError::TooLarge { what: "an answer body", limit: limits::MAX_RESPONSE_BYTES, .. }),
        "{error:?}"
    );
}

// ---- Health ----

#[tokio::test]
async fn health_gets_each_kinds_cheap_route() {
    let server = ModelServer::start().await;
    for kind in [ProviderKind::Openai, ProviderKind::Anthropic, ProviderKind::Ollama, ProviderKind::Llamacpp] {
        provider(kind, &server).health().await.expect("healthy");
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    expect![[r#"
        [
            "GET /v1/models",
            "GET /v1/models",
            "GET /api/tags",
            "GET /health",
        ]
    "#]]
    .assert_debug_eq(&paths);
}

#[tokio::test]
async fn health_accepts_4xx_and_rejects_5xx() {
    let server = ModelServer::start().await;
    let provider = provider(ProviderKind::Llamacpp, &server);
    server.push_for("/health", Reply::status(404, "not found"));
    provider.health().await.expect("a 404 still means a server answers");
    server.push_for("/health", Reply::status(503, "loading model"));
    let error = provider.health().await.expect_err("503");
    assert!(matches!(error, ProviderError::Status { status: 503, .. }), "{error:?}");
}

// ---- Configuration and key hygiene ----

#[tokio::test]
async fn bad_config_is_rejected() {
    let missing = ProviderConfig {
        api_key_env: Some("BATON_TEST_SURELY_UNSET_KEY_8d1f".to_owned()),
        ..ProviderConfig::default()
    };
    assert!(
        matches!(Provider::new(missing), Err(ProviderError::MissingKey { env }) if env == "BATON_TEST_SURELY_UNSET_KEY_8d1f")
    );
    for base_url in ["localhost:8080", "ftp://127.0.0.1/v1", ""] {
        let config = ProviderConfig { base_url: base_url.to_owned(), ..ProviderConfig::default() };
        assert!(matches!(Provider::new(config), Err(ProviderError::Config(_))), "{base_url:?}");
    }
}

#[tokio::test]
async fn the_key_never_appears_in_debug_or_errors() {
    let server = ModelServer::start().await;
    let provider = keyed(ProviderKind::Anthropic, &server);
    let debug = format!("{provider:?}");
    assert!(!debug.contains(KEY) && debug.contains("***"), "{debug}");

    server.push(Reply::status(401, format!("invalid x-api-key {KEY}")));
    let status = generate_error(&provider, chat()).await;
    server.push(Reply::StreamError(format!("bad key {KEY}")));
    let remote = generate_error(&provider, chat()).await;
    let unsupported = generate_error(&provider, fim()).await;
    for error in [status, remote, unsupported] {
        let shown = format!("{error} / {error:?}");
        assert!(!shown.contains(KEY), "{shown}");
    }
}

#[tokio::test]
async fn one_provider_posts_each_request_to_its_own_endpoint() {
    // The parsed URL is remembered between requests: a raw prompt after a chat one must not go
    // to the chat endpoint, nor the other way round.
    let server = ModelServer::start().await;
    let provider = provider(ProviderKind::Openai, &server);
    for prompt in [raw(), chat(), chat(), raw()] {
        server.push(Reply::text("ok"));
        let (text, error) = collect(provider.generate(request(prompt)).await.expect("stream")).await;
        assert_eq!((text.as_str(), error.map(|e| e.to_string())), ("ok", None));
    }
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/v1/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/completions"]);
}
