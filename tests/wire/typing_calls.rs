//! Calls that count (issue 13, item 5): typing with an automatic inline completion request after
//! every keystroke, as VS Code sends them, starts a model call where the user waits, not in the
//! longer gaps between words that a key ends before the answer is in.
//!
//! The gaps are real time (the debounce learns them from `didChange` arrival), so the test keeps
//! them far apart: keys 20 ms apart, 150 ms between words, 900 ms pauses, a model that takes
//! 250 ms. A wait learned from the gaps lies between 165 ms (past the word gaps) and the pause.

use std::time::Duration;

use serde_json::json;

use baton_test_support::client::{Client, TIMEOUT, inline_params, items_text, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{baton, openai_options};

const URI: &str = "file:///work/project/src/typing.rs";
/// The calls-in-flight tests type valid Python (`x = total(item)`), so that the parse check
/// keeps every answer whatever tree the request's snapshot holds.
const PY_URI: &str = "file:///work/project/src/typing.py";
const FIM: &str = "/v1/completions";

#[tokio::test]
async fn typing_with_gaps_between_words_starts_calls_where_the_user_waits() {
    let model = ModelServer::start().await;
    // Never what is typed next: no suggestion is typed through, every answer needs a call.
    model.set_default(Reply::text("zzz();"));
    model.set_delay_ms(250);
    let mut options = openai_options(&model.base_url());
    options["completion"] = json!({ "debounce_ms": 50, "max_debounce_ms": 1000 });
    let client = Client::start(baton!(), rich_capabilities(), options).await;
    client.open(URI, "rust", "fn f() {\n    \n}\n").await;

    let (line, mut col) = (1u32, 4u32);
    let mut version = 1;
    let mut answers = Vec::new();
    let rounds = 4;
    for round in 0..rounds {
        for word in 0..3 {
            for (i, key) in "abcd".chars().enumerate() {
                let gap = match (i, word) {
                    (0, 0) if round > 0 => 900,
                    (0, 0) => 20,
                    (0, _) => 150,
                    _ => 20,
                };
                tokio::time::sleep(Duration::from_millis(gap)).await;
                version += 1;
                client.change(URI, version, (line, col), (line, col), &key.to_string()).await;
                col += 1;
                let rx =
                    client.send_request("textDocument/inlineCompletion", inline_params(URI, line, col, false)).await.1;
                answers.push(tokio::spawn(async move { tokio::time::timeout(TIMEOUT, rx).await }));
            }
        }
    }
    let mut shown = Vec::new();
    for a in answers {
        let resp = a.await.expect("task").expect("answered in time").expect("response");
        shown.push(!items_text(&resp).is_empty());
    }
    // Pauses: before each round after the first, and after the last key.
    let pauses = rounds;
    let pause_answers: Vec<bool> = shown.chunks(12).map(|round| round[11]).collect();
    assert_eq!(pause_answers, vec![true; rounds], "every pause gets its suggestion");
    let shown = shown.iter().filter(|s| **s).count();
    let calls = model.requests().iter().filter(|r| r.path == FIM).count();
    // Issue 13's bound. An adaptive wait that fires in the gaps between words (1.3 × the mean
    // gap did) has each of the 12 word gaps end a call mid-answer: 16 calls for 4 suggestions.
    assert!(calls <= shown + pauses, "{calls} model calls started for {shown} suggestions shown and {pauses} pauses");
    let health = client.request("baton/health", json!(null)).await;
    assert_eq!(health["result"]["counters"]["cacheHits"], 0, "{health}");
}

/// Options with a short fixed debounce, so each request's call starts at once.
fn quick_options(model: &ModelServer) -> serde_json::Value {
    let mut options = openai_options(&model.base_url());
    options["completion"] = json!({ "debounce_ms": 10, "adaptive_debounce": false });
    options
}

/// Asks at `col` of line 0 of [`PY_URI`], as an editor does after a keystroke, and returns the
/// request's id and its answer to come.
async fn ask(client: &Client, col: u32) -> (i64, tokio::sync::oneshot::Receiver<serde_json::Value>) {
    client.send_request("textDocument/inlineCompletion", inline_params(PY_URI, 0, col, false)).await
}

/// Opens `x = ` and asks at its end; once the model has that call, cancels the request (as the
/// editor does at the next key), types `typed` there and asks again. Returns the second answer
/// and the first one to come.
async fn type_during_the_first_call(
    model: &ModelServer,
    typed: &str,
) -> (serde_json::Value, tokio::sync::oneshot::Receiver<serde_json::Value>) {
    let client = Client::start(baton!(), rich_capabilities(), quick_options(model)).await;
    client.open(PY_URI, "python", "x = \n").await;
    let (first, first_answer) = ask(&client, 4).await;
    model.wait_for_requests_to(FIM, 1, TIMEOUT).await;
    client.notify("$/cancelRequest", json!({ "id": first })).await;
    client.change(PY_URI, 2, (0, 4), (0, 4), typed).await;
    let col = 4 + u32::try_from(typed.chars().count()).expect("short");
    let (_, second) = ask(&client, col).await;
    let second = tokio::time::timeout(TIMEOUT, second).await.expect("answered").expect("response");
    (second, first_answer)
}

/// The editor cancels a request when the next key is typed; the model call it started goes on,
/// and the next key's request, whose typed text is the start of the answer, waits for that call
/// instead of asking again.
#[tokio::test]
async fn the_next_keystroke_waits_for_the_call_in_flight_when_it_types_the_answers_start() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("total(item)"));
    model.set_delay_ms(400);
    let (second, first_answer) = type_during_the_first_call(&model, "to").await;
    assert_eq!(items_text(&second), ["tal(item)"], "{second}");
    let first_answer = tokio::time::timeout(TIMEOUT, first_answer).await.expect("answered").expect("response");
    assert!(items_text(&first_answer).is_empty(), "the cancelled request shows nothing: {first_answer}");
    let calls = model.requests().iter().filter(|r| r.path == FIM).count();
    assert_eq!(calls, 1, "one model call served both keystrokes");
}

/// A key that leaves the answer streaming in ends its call at its first piece, and the request
/// asks for its own (waiting for the whole slow answer would outlast the test's timeout).
#[tokio::test]
async fn typing_away_from_the_answer_so_far_cancels_the_call() {
    let model = ModelServer::start().await;
    // Streams "tot" first, then the rest slowly: ~24 s in all, past the timeout.
    model.push(Reply::Slow { text: format!("total{}", "(item)".repeat(80)), chunk_delay_ms: 150 });
    model.set_default(Reply::text("+ 1"));
    let (second, _) = type_during_the_first_call(&model, "y ").await;
    assert_eq!(items_text(&second), ["+ 1"], "{second}");
    let prompts: Vec<String> =
        model.requests().iter().filter(|r| r.path == FIM).map(|r| r.body["prompt"].to_string()).collect();
    assert_eq!(prompts.len(), 2, "{prompts:?}");
    assert!(prompts[1].contains("x = y "), "the second call is asked at the typed text: {prompts:?}");
}

/// A request elsewhere in the document cannot use the call in flight: it cancels it and asks
/// for its own (waiting for the hung call would never end).
#[tokio::test]
async fn a_request_elsewhere_does_not_wait_for_the_call_in_flight() {
    let model = ModelServer::start().await;
    model.push(Reply::Hang);
    model.set_default(Reply::text("2"));
    let client = Client::start(baton!(), rich_capabilities(), quick_options(&model)).await;
    client.open(PY_URI, "python", "x = \ny = \n").await;
    let (first, _) = ask(&client, 4).await;
    model.wait_for_requests_to(FIM, 1, TIMEOUT).await;
    client.notify("$/cancelRequest", json!({ "id": first })).await;
    let (_, second) = client.send_request("textDocument/inlineCompletion", inline_params(PY_URI, 1, 4, false)).await;
    let second = tokio::time::timeout(TIMEOUT, second).await.expect("answered").expect("response");
    assert_eq!(items_text(&second), ["2"], "{second}");
}
