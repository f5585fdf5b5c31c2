//! Initialize, encodings offered, capabilities, configuration layers, shutdown and exit.

use serde_json::json;

use baton_test_support::baton;
use baton_test_support::client::{Client, plain_capabilities, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

#[tokio::test]
async fn initialize_declares_capabilities_and_shutdown_exits_cleanly() {
    let model = ModelServer::start().await;
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let caps = &client.initialize_result["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    assert!(caps["inlineCompletionProvider"].is_object() || caps["inlineCompletionProvider"] == true);
    assert_eq!(
        caps["executeCommandProvider"]["commands"],
        json!([
            "baton.edit",
            "baton.fix",
            "baton.accepted",
            "baton.nes.accept",
            "baton.nes.dismiss",
            "baton.task.start",
            "baton.task.list",
            "baton.task.show",
            "baton.task.approvePlan",
            "baton.task.resume",
            "baton.task.answer",
            "baton.pr.review",
            "baton.pr.apply",
            "baton.pr.merge",
            "baton.pr.requestChanges",
            "baton.pr.discard"
        ])
    );
    assert_eq!(client.initialize_result["serverInfo"]["name"], "baton");
    assert_eq!(client.shutdown().await, Some(0));
}

#[tokio::test]
async fn the_clients_preferred_encoding_is_negotiated() {
    let model = ModelServer::start().await;
    // With next edit suggestions on (the default) UTF-16 wins when offered: copilot-lsp sends
    // its positions in UTF-16 whatever was negotiated.
    for (offered, nes, expected) in [
        (json!(["utf-8", "utf-16"]), false, "utf-8"),
        (json!(["utf-8", "utf-16"]), true, "utf-16"),
        (json!(["utf-8", "utf-32"]), true, "utf-8"),
        (json!(["utf-32"]), true, "utf-32"),
        (json!(["latin-1"]), true, "utf-16"),
    ] {
        let caps = json!({ "general": { "positionEncodings": offered } });
        let mut options = openai_options(&model.base_url());
        options["nes"] = json!({ "enabled": nes });
        let client = Client::start(baton!(), caps, options).await;
        assert_eq!(client.initialize_result["capabilities"]["positionEncoding"], expected);
        client.shutdown().await;
    }
}

#[tokio::test]
async fn status_is_sent_only_to_clients_that_ask_and_says_idle_when_the_model_answers() {
    let model = ModelServer::start().await;
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let status = client.wait_for("baton/status", |p| p["state"] == "idle").await;
    assert_eq!(status["params"]["model"], "qwen2.5-coder-test");
    assert_eq!(status["params"]["provider"], "openai");

    let plain = Client::start(baton!(), plain_capabilities(), openai_options(&model.base_url())).await;
    // The health request runs the same reachability check; once it has answered, any status
    // notification would have been sent before its response.
    let health = plain.request("baton/health", json!(null)).await;
    assert_eq!(health["result"]["reachable"], true);
    assert!(plain.inbox().iter().all(|m| m["method"] != "baton/status"), "no status for a client that did not ask");
}

#[tokio::test]
async fn nothing_listening_at_the_default_url_says_so_and_how_to_configure() {
    // A port with nothing behind it.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let options = json!({ "provider": { "base_url": format!("http://127.0.0.1:{port}/v1"), "max_retries": 0 } });
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    let status = client.wait_for("baton/status", |p| p["state"] == "unreachable").await;
    let message = status["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("provider.base_url"), "says how to configure: {message}");
}

#[tokio::test]
async fn bad_settings_are_reported_and_the_rest_still_apply() {
    let model = ModelServer::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("baton.toml"), "[completion]\ndebounce_ms = \"soon\"\n").expect("write");
    let client =
        Client::start_with(baton!(), rich_capabilities(), openai_options(&model.base_url()), &[], Some(dir.path()))
            .await;
    let warning = client
        .wait_for("window/showMessage", |p| p["message"].as_str().is_some_and(|m| m.contains("baton.toml")))
        .await;
    let message = warning["params"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("invalid type"), "{message}");
    // The initializationOptions layer still applied: the status names its model.
    client.wait_for("baton/status", |p| p["model"] == "qwen2.5-coder-test").await;

    client
        .notify(
            "workspace/didChangeConfiguration",
            json!({ "settings": { "baton": { "provider": { "model": "renamed" } } } }),
        )
        .await;
    client.wait_for("baton/status", |p| p["model"] == "renamed").await;
    client.notify("workspace/didChangeConfiguration", json!({ "settings": { "baton": { "bogus": 1 } } })).await;
    client
        .wait_for("window/showMessage", |p| p["message"].as_str().is_some_and(|m| m.contains("unknown field `bogus`")))
        .await;
}

/// `memory.rs` in the real binary: once the editor has sent nothing for half a second (here,
/// while a request waits on a slow model), the server returns its free heap to the system, on
/// its own, before the answer comes.
#[tokio::test]
async fn free_heap_goes_back_to_the_system_while_the_editor_is_quiet() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("value"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let text: String = (0..300).map(|i| format!("def f{i}(a):\n    return a + {i}\n")).collect();
    for i in 0..20 {
        client.open(&format!("file:///tmp/quiet/m{i}.py"), "python", &text).await;
    }
    let quiet = "free heap returned to the system";
    // The model takes longer than the quiet spell: the request is the editor's last message.
    model.set_delay_ms(1500);
    assert_eq!(client.inline("file:///tmp/quiet/m0.py", 600, 0, true).await, ["value"]);
    let log = client.log();
    let answered = log.find("baton::handlers::suggest: suggestion").expect("the answer's log line");
    let trimmed = log[..answered].rfind(quiet).unwrap_or_else(|| panic!("no trim during the quiet spell:\n{log}"));
    // glibc gave pages back (malloc_trim returned 1): after 20 documents there is always
    // free heap (~1.8 MB here), so a trim that did nothing fails.
    let line = log[trimmed..].lines().next().unwrap_or_default();
    assert!(line.contains("before_kib=") && line.ends_with("released=true"), "{line}");
    assert_eq!(client.shutdown().await, Some(0));
}

/// With `BATON_STEP_MARKS`, a completion request's steps are written when the server stops, in
/// the order the request passed them (server/step_marks.rs; read by bench_perf.py's
/// `request_steps`).
#[tokio::test]
async fn step_marks_are_written_at_exit_when_asked() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("a + b"));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("steps.txt");
    let path = file.to_str().expect("utf-8 path");
    let client = Client::start_with(
        baton!(),
        rich_capabilities(),
        openai_options(&model.base_url()),
        &[("BATON_STEP_MARKS", path)],
        None,
    )
    .await;
    let uri = "file:///work/project/src/lib.rs";
    client.open(uri, "rust", "fn add(a: i32, b: i32) -> i32 {\n    \n}\n").await;
    client.change(uri, 2, (1, 4), (1, 4), "a").await;
    let params = baton_test_support::client::inline_params(uri, 1, 5, false);
    let resp = client.request("textDocument/inlineCompletion", params).await;
    assert!(resp["result"]["items"][0]["insertText"].is_string(), "{resp}");
    assert!(!file.exists(), "written at exit, not before");
    assert_eq!(client.shutdown().await, Some(0));
    let steps: Vec<u8> = std::fs::read_to_string(&file)
        .expect("the marks file")
        .lines()
        .map(|line| line.split(' ').next().and_then(|s| s.parse().ok()).expect("<step> <ns>"))
        .collect();
    // The completion's own steps, each once and in order, from its start to its answer written
    // (the writer's marks come with every message the server sends, notifications too).
    let start = steps.iter().position(|&s| s == 6).expect("the completion's start");
    let own: Vec<u8> = steps[start..].iter().copied().filter(|s| (6..=13).contains(s)).collect();
    assert_eq!(&own[..8], &[6, 7, 8, 9, 10, 11, 12, 13], "{steps:?}");
    let end = start + steps[start..].iter().position(|&s| s == 13).unwrap_or_default();
    assert_eq!(steps.get(end + 1..end + 3), Some(&[14, 15][..]), "its answer written next: {steps:?}");
    assert!(steps[..start].contains(&4) && steps[..start].contains(&5), "didChange's steps: {steps:?}");
}
