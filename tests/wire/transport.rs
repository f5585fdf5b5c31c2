//! The transport through the real binary: every malformed input class is answered per JSON-RPC
//! 2.0 and the next valid request is still answered; `$/` requests get MethodNotFound; a
//! panicking handler answers InternalError; the exit status follows the LSP rule; and a fuzz
//! run of malformed frames and random JSON-RPC shapes never takes the server down.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, frame, range, rich_capabilities};
use baton_test_support::model_server::ModelServer;
use baton_test_support::openai_options;

const PROBE_URI: &str = "file:///probe/never-opened.rs";

async fn start() -> (ModelServer, Client) {
    let model = ModelServer::start().await;
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    (model, client)
}

fn code_action_params(uri: &str, start: (u32, u32), end: (u32, u32)) -> Value {
    json!({ "textDocument": { "uri": uri }, "range": range(start, end), "context": { "diagnostics": [] } })
}

/// A valid request is still answered, by its handler: code actions for a document that was
/// never opened are an empty list.
async fn still_answers(client: &Client, after: &str) {
    let resp = client.request("textDocument/codeAction", code_action_params(PROBE_URI, (0, 0), (0, 0))).await;
    assert_eq!(resp["result"], json!([]), "after {after}: {resp}");
}

fn raw_request(id: &str, method: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{{}}}}"#)
}

#[tokio::test]
async fn each_malformed_input_class_is_answered_and_the_next_request_too() {
    let (_model, client) = start().await;
    let deep = "[".repeat(500) + &"]".repeat(500);
    let valid = serde_json::to_vec(&json!({
        "jsonrpc": "2.0", "id": "v", "method": "textDocument/codeAction",
        "params": code_action_params(PROBE_URI, (0, 0), (0, 0)),
    }))
    .expect("json");
    // (what, bytes, the answers expected as (code, id)).
    type Case = (&'static str, Vec<u8>, Vec<(i64, Value)>);
    let cases: Vec<Case> = vec![
        ("invalid JSON", frame(br#"{"jsonrpc":"2.0","id":1,"method":"#), vec![(-32700, Value::Null)]),
        (
            "invalid UTF-8",
            frame(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"textDocument/codeAction\xff\xfe\"}"),
            vec![(-32700, Value::Null)],
        ),
        ("an empty body", frame(b""), vec![(-32700, Value::Null)]),
        ("nesting deeper than 128", frame(deep.as_bytes()), vec![(-32700, Value::Null)]),
        ("{}", frame(b"{}"), vec![(-32600, Value::Null)]),
        ("id 1.5", frame(raw_request("1.5", "x").as_bytes()), vec![(-32600, Value::Null)]),
        ("id {}", frame(raw_request("{}", "x").as_bytes()), vec![(-32600, Value::Null)]),
        ("id 1e30", frame(raw_request("1e30", "x").as_bytes()), vec![(-32600, Value::Null)]),
        ("no jsonrpc", frame(br#"{"id":"nj","method":"shutdown"}"#), vec![(-32600, json!("nj"))]),
        ("jsonrpc 1.0", frame(br#"{"jsonrpc":"1.0","id":"v1","method":"shutdown"}"#), vec![(-32600, json!("v1"))]),
        ("a numeric method", frame(br#"{"jsonrpc":"2.0","id":"nm","method":7}"#), vec![(-32600, json!("nm"))]),
        (
            "params a string",
            frame(br#"{"jsonrpc":"2.0","id":"ps","method":"x","params":"p"}"#),
            vec![(-32600, json!("ps"))],
        ),
        ("garbage before a frame", [&b"garbage\r\n"[..], &frame(&valid)].concat(), vec![(-32700, Value::Null)]),
        (
            "a missing Content-Length",
            [&b"Content-Type: x\r\n\r\n{}"[..], &frame(&valid)].concat(),
            vec![(-32700, Value::Null)],
        ),
        (
            "a Content-Length that is not a number",
            [&b"Content-Length: twelve\r\n\r\n{}"[..], &frame(&valid)].concat(),
            vec![(-32700, Value::Null)],
        ),
        (
            "a Content-Length above the limit",
            [&b"Content-Length: 99999999999\r\n\r\n{}"[..], &frame(&valid)].concat(),
            vec![(-32700, Value::Null)],
        ),
        (
            // The first 10 bytes are not JSON, the rest is garbage before the next header.
            "a Content-Length too short",
            [format!("Content-Length: 10\r\n\r\n{}", raw_request("\"short\"", "x")).into_bytes(), frame(&valid)]
                .concat(),
            vec![(-32700, Value::Null), (-32700, Value::Null)],
        ),
        (
            // The next header begins inside the declared length: the body is cut there and
            // its request answered with its own id.
            "a Content-Length too long",
            [format!("Content-Length: 900\r\n\r\n{}", raw_request("\"long\"", "x")).into_bytes(), frame(&valid)]
                .concat(),
            vec![(-32600, json!("long"))],
        ),
    ];
    let mut seen = 0;
    for (what, bytes, expected) in cases {
        client.send_raw(&bytes).await;
        for (code, id) in &expected {
            let answer = client.stray(seen).await;
            seen += 1;
            assert_eq!((&answer["error"]["code"], &answer["id"]), (&json!(code), id), "{what}: {answer}");
            assert!(answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {answer}");
        }
        if bytes.ends_with(&valid) {
            // The valid frame after the broken one was answered too.
            let answer = client.stray(seen).await;
            seen += 1;
            assert_eq!((&answer["id"], &answer["result"]), (&json!("v"), &json!([])), "{what}: {answer}");
        }
        still_answers(&client, what).await;
    }
    assert_eq!(client.strays().len(), seen, "no answer more than expected: {:#?}", client.strays());
    assert_eq!(client.shutdown().await, Some(0), "the session survived all of it");
}

#[tokio::test]
async fn lone_surrogates_are_replaced_not_fatal() {
    let (_model, client) = start().await;
    // What JSON.stringify sends for a string holding half of a split emoji.
    let open = r#"{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"file:///s/a.rs","languageId":"rust","version":1,"text":"let s = \"a\ud83d\";\n"}}}"#;
    client.send_raw(&frame(open.as_bytes())).await;
    let request = r#"{"jsonrpc":"2.0","id":"x\udc00","method":"textDocument/codeAction","params":{"textDocument":{"uri":"file:///s/a.rs"},"range":{"start":{"line":0,"character":0},"end":{"line":0,"character":5}},"context":{"diagnostics":[]}}}"#;
    client.send_raw(&frame(request.as_bytes())).await;
    let answer = client.stray(0).await;
    assert_eq!(answer["id"], "x\u{FFFD}", "{answer}");
    let actions = answer["result"].as_array().expect("code actions");
    assert!(!actions.is_empty(), "the document with the lone surrogate was opened: {answer}");
    still_answers(&client, "lone surrogates").await;
}

/// The keystroke's two messages go past the router when they are as editors send them
/// (`lsp::transport::Shortcut`) and the usual way when not (here a repeated member, which the
/// usual reading allows and the shortcut's refuses): both ways apply the changes in order and
/// answer the same.
#[tokio::test]
async fn the_keystrokes_messages_are_answered_alike_past_the_router_or_through_it() {
    let (model, client) = start().await;
    model.set_default(baton_test_support::model_server::Reply::text("total(items)"));
    let uri = "file:///k/orders.py";
    client.open(uri, "python", "def checkout(items):\n    t = \n    return t\n").await;
    let change = |version: i32, col: u32, text: &str, repeated: &str| {
        let range = range((1, col), (1, col));
        format!(
            r#"{{"jsonrpc":"2.0",{repeated}"method":"textDocument/didChange","params":{{"textDocument":{{"uri":"{uri}","version":{version}}},"contentChanges":[{{"range":{range},"text":"{text}"}}]}}}}"#
        )
    };
    let inline = |id: &str, col: u32, repeated: &str| {
        format!(
            r#"{{"jsonrpc":"2.0",{repeated}"id":"{id}","method":"textDocument/inlineCompletion","params":{{"textDocument":{{"uri":"{uri}"}},"position":{{"line":1,"character":{col}}},"context":{{"triggerKind":1}}}}}}"#
        )
    };
    let repeated = r#""jsonrpc":"2.0","#;
    // Past the router, then through it, then past it again: one character each.
    let mut bytes = frame(change(2, 8, "a", "").as_bytes());
    bytes.extend(frame(inline("past", 9, "").as_bytes()));
    client.send_raw(&bytes).await;
    let past = client.stray(0).await;
    let mut bytes = frame(change(3, 9, "b", repeated).as_bytes());
    bytes.extend(frame(inline("through", 10, repeated).as_bytes()));
    client.send_raw(&bytes).await;
    let through = client.stray(1).await;
    assert_eq!((&past["id"], &through["id"]), (&json!("past"), &json!("through")));
    assert_eq!(past["result"]["items"][0]["insertText"], "total(items)", "{past}");
    // The same answer, but for the cursor one character on.
    let mut expected = past["result"].clone();
    expected["items"][0]["range"] = json!(range((1, 10), (1, 10)));
    expected["items"][0]["command"] = through["result"]["items"][0]["command"].clone();
    assert_eq!(through["result"], expected, "past the router: {past}\nthrough it: {through}");
    client.send_raw(&frame(change(4, 10, "c", "").as_bytes())).await;
    client.inline(uri, 1, 11, true).await;
    let prompt = model.requests().into_iter().rev().find(|r| r.path == "/v1/completions").expect("a request");
    let prompt = prompt.body["prompt"].as_str().unwrap_or_default().to_owned();
    assert!(prompt.contains("    t = abc<|fim_suffix|>"), "the changes in order, both ways: {prompt}");
    // Each request went the way meant: the shortcut took the editor's shape only.
    let log = client.log();
    let taken: Vec<&str> = log.lines().filter(|l| l.contains("request read past the router")).collect();
    assert!(taken.iter().any(|l| l.contains("past")), "{taken:#?}");
    assert!(!taken.iter().any(|l| l.contains("through")), "{taken:#?}");
}

#[tokio::test]
async fn a_batch_is_answered_with_an_array_of_its_requests_answers() {
    let (_model, client) = start().await;
    let batch = json!([
        { "jsonrpc": "2.0", "id": "b1", "method": "textDocument/codeAction", "params": code_action_params(PROBE_URI, (0, 0), (0, 0)) },
        { "jsonrpc": "2.0", "method": "textDocument/didClose", "params": { "textDocument": { "uri": PROBE_URI } } },
        { "jsonrpc": "2.0", "id": "b2", "method": "$/unknownRequest" },
        { "jsonrpc": "2.0", "id": 1.5, "method": "x" },
    ]);
    client.send_raw(&frame(batch.to_string().as_bytes())).await;
    let answer = client.stray(0).await;
    let items = answer.as_array().unwrap_or_else(|| panic!("an array: {answer}"));
    assert_eq!(items.len(), 3, "one answer per request, none for the notification: {answer}");
    assert_eq!((&items[0]["id"], &items[0]["result"]), (&json!("b1"), &json!([])));
    assert_eq!((&items[1]["id"], &items[1]["error"]["code"]), (&json!("b2"), &json!(-32601)));
    assert_eq!((&items[2]["id"], &items[2]["error"]["code"]), (&Value::Null, &json!(-32600)));
    client.send_raw(&frame(b"[]")).await;
    assert_eq!(client.stray(1).await["error"]["code"], -32600, "an empty batch is Invalid Request");
    still_answers(&client, "batches").await;
}

#[tokio::test]
async fn dollar_requests_get_method_not_found_and_dollar_notifications_are_ignored() {
    let (_model, client) = start().await;
    client.notify("$/setTrace", json!({ "value": "off" })).await;
    client.notify("$/somethingElse", json!({})).await;
    let resp = client.request("$/somethingElse", json!({})).await;
    assert_eq!(resp["error"]["code"], -32601, "{resp}");
    let resp = client.request("$/cancelRequest", json!({ "id": 1 })).await;
    assert_eq!(resp["error"]["code"], -32601, "a notification's name sent as a request: {resp}");
    assert!(client.strays().is_empty(), "the notifications got no answer: {:#?}", client.strays());
    still_answers(&client, "$/ messages").await;
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_error_and_the_session_goes_on() {
    let (_model, client) = start().await;
    let resp = client.request("baton/debug/panic", json!({ "why": "test" })).await;
    assert_eq!(resp["error"]["code"], -32603, "{resp}");
    let message = resp["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("baton/debug/panic") && message.contains("deliberate panic"), "{message}");
    client.notify("baton/debug/panicNotification", json!({})).await;
    still_answers(&client, "panics").await;
    let log = client.log();
    assert!(log.contains("panic: deliberate panic in baton/debug/panicNotification"), "the panic is logged: {log}");
    assert_eq!(client.shutdown().await, Some(0));
}

#[tokio::test]
async fn a_panic_in_initialize_answers_an_error_and_does_not_stall_the_session() {
    let model = ModelServer::start().await;
    let client = Client::start_with(
        baton!(),
        rich_capabilities(),
        openai_options(&model.base_url()),
        &[("BATON_DEBUG_PANIC_IN_INITIALIZE", "1")],
        None,
    )
    .await;
    assert_eq!(client.initialize_response["error"]["code"], -32603, "{}", client.initialize_response);
    // Still reading and answering: not initialized, as the protocol says after a failed initialize.
    let resp = client.request("textDocument/codeAction", code_action_params(PROBE_URI, (0, 0), (0, 0))).await;
    assert_eq!(resp["error"]["code"], -32002, "{resp}");
}

#[tokio::test]
async fn exit_status_is_zero_only_after_shutdown() {
    let (_model, client) = start().await;
    assert_eq!(client.shutdown().await, Some(0), "shutdown then exit");

    let (_model, client) = start().await;
    client.notify("exit", Value::Null).await;
    let (code, log) = client.wait_exit().await;
    assert_eq!(code, Some(1), "exit without shutdown");
    assert!(log.contains("exit without a shutdown request"), "the reason is logged: {log}");

    let (_model, client) = start().await;
    client.close_input().await;
    let (code, log) = client.wait_exit().await;
    assert_eq!(code, Some(1), "end of input without shutdown");
    assert!(log.contains("closed the input without shutdown"), "the reason is logged: {log}");

    let (_model, client) = start().await;
    let resp = client.request("shutdown", Value::Null).await;
    assert!(resp.get("error").is_none(), "{resp}");
    client.close_input().await;
    assert_eq!(client.wait_exit().await.0, Some(0), "end of input after shutdown");

    // Malformed input never ends the session by itself: only exit does.
    let (_model, mut client) = start().await;
    client.send_raw(b"Content-Length: 5\r\n\r\n{bad}garbage\x00\xff").await;
    still_answers(&client, "garbage").await;
    assert!(client.is_running());
}

/// Methods Baton implements (and a few it does not), for random messages. Never `exit` or
/// `shutdown`: those end the session by design.
const METHODS: &[&str] = &[
    "initialize",
    "initialized",
    "textDocument/didOpen",
    "textDocument/didChange",
    "textDocument/didClose",
    "workspace/didChangeConfiguration",
    "textDocument/inlineCompletion",
    "textDocument/completion",
    "textDocument/codeAction",
    "workspace/executeCommand",
    "baton/health",
    "baton/didShowCompletion",
    "$/cancelRequest",
    "$/setTrace",
    "$/progress",
    "textDocument/hover",
    "",
    "rpc.x",
];

const KEYS: &[&str] = &[
    "textDocument",
    "uri",
    "languageId",
    "version",
    "text",
    "contentChanges",
    "range",
    "rangeLength",
    "start",
    "end",
    "line",
    "character",
    "position",
    "context",
    "triggerKind",
    "diagnostics",
    "message",
    "command",
    "arguments",
    "settings",
    "baton",
    "completion",
    "id",
    "length",
    "value",
];

const STRINGS: &[&str] = &[
    "file:///fuzz/a.rs",
    "file:///fuzz/b.py",
    "file:///fuzz/%E2%9C%93.ts",
    "untitled:1",
    "rust",
    "python",
    "",
    "fn main() {\n    let x = \"é😀\";\n}\n",
    "\r\n\r",
    "baton.edit",
    "baton.fix",
    "baton.accepted",
    "baton.task.list",
    "baton.task.show",
    "baton.pr.discard",
    "off",
];

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0i64, 1, 2, -1, 7, 1 << 31, i64::MAX, i64::MIN]).prop_map(Value::from),
        (0i64..200).prop_map(Value::from),
        Just(json!(1.5)),
        Just(json!(1e30)),
        prop::sample::select(STRINGS).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ]
}

fn params() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Well-shaped params for the document methods, with random values where they count.
fn shaped_params() -> impl Strategy<Value = Value> {
    let uri = prop::sample::select(&STRINGS[..4]);
    let pos = (0u32..6, prop_oneof![0u32..12, Just(u32::MAX)]);
    prop_oneof![
        (uri.clone(), prop::sample::select(&STRINGS[4..9])).prop_map(|(u, t)| {
            json!({ "textDocument": { "uri": u, "languageId": "rust", "version": 1, "text": t } })
        }),
        (uri.clone(), pos.clone(), pos.clone(), prop::sample::select(&STRINGS[6..9])).prop_map(|(u, a, b, t)| {
            json!({ "textDocument": { "uri": u, "version": 2 }, "contentChanges": [{ "range": range(a, b), "text": t }] })
        }),
        (uri.clone(), pos.clone(), 1u32..3).prop_map(|(u, p, k)| {
            json!({ "textDocument": { "uri": u }, "position": { "line": p.0, "character": p.1 }, "context": { "triggerKind": k } })
        }),
        (uri, pos.clone(), pos).prop_map(|(u, a, b)| code_action_params(u, a, b)),
        (prop::sample::select(&STRINGS[9..15]), prop::collection::vec(params(), 0..2))
            .prop_map(|(c, a)| json!({ "command": c, "arguments": a })),
    ]
}

/// A random message: each member present or not, of the right type or not.
fn message() -> impl Strategy<Value = Value> {
    let jsonrpc = prop_oneof![8 => Just(Some(json!("2.0"))), 1 => Just(None), 1 => scalar().prop_map(Some)];
    let id = prop_oneof![
        3 => Just(None),
        3 => (1i64..1000).prop_map(|n| Some(json!(format!("fuzz-{n}")))),
        2 => (-1000i64..0).prop_map(|n| Some(json!(n))),
        // Never a positive integer: the probes' own ids count up from 1, and a fuzzed message
        // sharing one would have its error read as the probe's answer.
        1 => scalar().prop_filter("not a probe id", |v| v.as_u64().is_none_or(|n| n == 0)).prop_map(Some),
    ];
    let method = prop_oneof![
        9 => prop::sample::select(METHODS).prop_map(Value::from),
        1 => scalar(),
    ];
    let params = prop_oneof![2 => Just(None), 4 => shaped_params().prop_map(Some), 4 => params().prop_map(Some)];
    (jsonrpc, id, method, params).prop_map(|(jsonrpc, id, method, params)| {
        let mut m = serde_json::Map::new();
        if let Some(v) = jsonrpc {
            m.insert("jsonrpc".into(), v);
        }
        if let Some(v) = id {
            m.insert("id".into(), v);
        }
        if method != "exit" && method != "shutdown" {
            m.insert("method".into(), method);
        }
        if let Some(v) = params {
            m.insert("params".into(), v);
        }
        Value::Object(m)
    })
}

/// Bytes of one fuzz case: well-framed random messages, batches, and broken frames.
fn case() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        4 => message().prop_map(|m| m.to_string().into_bytes()),
        1 => prop::collection::vec(message(), 0..4).prop_map(|m| Value::Array(m).to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..32),
        1 => (message(), 0usize..64, prop::sample::select(vec![&b"\xff"[..], b"\\ud800", b"\"", b"\\", b"\x00"]))
            .prop_map(|(m, at, junk)| {
                let mut b = m.to_string().into_bytes();
                let at = at.min(b.len());
                b.splice(at..at, junk.iter().copied());
                b
            }),
        1 => (1usize..300).prop_map(|n| ("[".repeat(n) + &"]".repeat(n)).into_bytes()),
    ];
    let piece = prop_oneof![
        6 => body.clone().prop_map(|b| frame(&b)),
        1 => (body, -6i64..30).prop_map(|(b, delta)| {
            let n = (b.len() as i64 + delta).max(0);
            [format!("Content-Length: {n}\r\n\r\n").into_bytes(), b].concat()
        }),
        1 => prop::collection::vec(any::<u8>(), 1..24),
        1 => prop::sample::select(vec![
            &b"Content-Length: abc\r\n\r\n"[..], b"Content-Type: x\r\n\r\n", b"garbage", b"\r\n", b"Content-Length: 3\r\n",
            b"Content-Length: 99999999999999\r\n\r\n",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec(piece, 1..4).prop_map(|p| p.concat())
}

/// The fuzz target over the transport and the handlers through the real binary: after each
/// case, a valid request is answered. CI runs a bounded number of cases; a long local run sets
/// BATON_FUZZ_WIRE_CASES.
#[tokio::test]
async fn fuzzed_frames_and_messages_never_take_the_server_down() {
    let cases: u32 = std::env::var("BATON_FUZZ_WIRE_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let (model, mut client) = start().await;
    model.set_default(baton_test_support::model_server::Reply::text("x"));
    // Generated up front on a thread with room for proptest's recursive strategies.
    let inputs = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let mut runner = TestRunner::new(Config { failure_persistence: None, ..Config::default() });
            let strategy = case();
            (0..cases).map(|_| strategy.new_tree(&mut runner).expect("a case").current()).collect::<Vec<_>>()
        })
        .expect("spawn")
        .join()
        .expect("cases");
    for (n, bytes) in inputs.iter().enumerate() {
        client.send_raw(bytes).await;
        let resp = client.request("textDocument/codeAction", code_action_params(PROBE_URI, (0, 0), (0, 0))).await;
        assert_eq!(
            resp["result"],
            json!([]),
            "case {n}: the probe after {:?} got {resp}",
            String::from_utf8_lossy(bytes)
        );
        assert!(client.is_running(), "case {n}: the server exited after {:?}", String::from_utf8_lossy(bytes));
    }
    let errors = client.strays().iter().filter(|s| s.get("error").is_some() || s.is_array()).count();
    // The counts, for a long local run's report (`-- --nocapture`).
    #[allow(clippy::print_stderr)]
    {
        eprintln!("fuzz: {cases} cases through the real binary, {errors} error or batch answers, server up");
    }
    let log = client.log();
    assert!(!log.contains("panic:"), "no handler panicked: {log}");
    // Whatever the cases left behind (an incomplete frame), shutdown still works.
    client.send_raw(b"\r\n").await;
}

/// The messages of a session, each with the id of its answer when it is a request:
/// `initialize`, `initialized`, a request for a document never opened, `shutdown` and `exit`.
fn session_script() -> Vec<(Vec<u8>, Option<i64>)> {
    let messages = [
        json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "capabilities": {} } }),
        json!({ "jsonrpc": "2.0", "method": "initialized", "params": {} }),
        json!({ "jsonrpc": "2.0", "id": 2, "method": "textDocument/codeAction", "params": code_action_params(PROBE_URI, (0, 0), (0, 0)) }),
        json!({ "jsonrpc": "2.0", "id": 3, "method": "shutdown" }),
        json!({ "jsonrpc": "2.0", "method": "exit" }),
    ];
    messages.iter().map(|m| (frame(&serde_json::to_vec(m).expect("json")), m["id"].as_i64())).collect()
}

/// The bodies of the frames in `out`.
fn bodies_of(out: &[u8]) -> Vec<Value> {
    let mut bodies = Vec::new();
    let mut rest = out;
    while let Some(at) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let header = std::str::from_utf8(&rest[..at]).expect("header");
        let len: usize = header.trim_start_matches("Content-Length: ").parse().expect("length");
        if rest.len() < at + 4 + len {
            break;
        }
        bodies.push(serde_json::from_slice(&rest[at + 4..at + 4 + len]).expect("body"));
        rest = &rest[at + 4 + len..];
    }
    bodies
}

/// Runs the server on `stdin`/`stdout`, calls `feed` once it started, waits (at most a minute)
/// for it to exit, then `collect`s its output. Returns the exit status, the bodies of the frames
/// it wrote and its log.
fn session_over(
    stdin: std::process::Stdio,
    stdout: std::process::Stdio,
    feed: impl FnOnce(),
    collect: impl FnOnce() -> Vec<u8>,
) -> (Option<i32>, Vec<Value>, String) {
    let logs = tempfile::tempdir().expect("temp dir");
    let log = logs.path().join("baton.log");
    let mut child = {
        let mut command = std::process::Command::new(baton!());
        command.arg("--log-file").arg(&log).args(["--log-level", "baton=debug"]);
        command.env("BATON_CONFIG", "/nonexistent/baton.toml").stdin(stdin).stdout(stdout);
        command.stderr(std::process::Stdio::null()).spawn().expect("baton starts")
        // The command, and with it the parent's copies of the child's ends, is dropped here.
    };
    feed();
    // Waits on the exit itself (on a thread), for at most a minute.
    let pid = rustix::process::Pid::from_child(&child);
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || exited.send(child.wait()));
    let status = match exit.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            panic!("the server did not exit within a minute");
        }
    };
    (status.code(), bodies_of(&collect()), std::fs::read_to_string(&log).unwrap_or_default())
}

fn answered(bodies: &[Value], id: i64) -> &Value {
    bodies.iter().find(|b| b["id"] == id).unwrap_or_else(|| panic!("no answer to {id}: {bodies:?}"))
}

/// A session over sockets: the server's ends `stdin` and `stdout` (one socket for both, or two),
/// ours `input` and `output`; each request is answered before the next message is written, as
/// an editor does.
fn socket_session(
    stdin: std::os::unix::net::UnixStream,
    stdout: std::os::unix::net::UnixStream,
    mut input: std::os::unix::net::UnixStream,
    mut output: std::os::unix::net::UnixStream,
) -> (Option<i32>, Vec<Value>, String) {
    use std::io::{Read, Write};
    output.set_read_timeout(Some(std::time::Duration::from_secs(60))).expect("timeout");
    let out = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (feed_out, collect_out) = (out.clone(), out.clone());
    session_over(
        std::os::fd::OwnedFd::from(stdin).into(),
        std::os::fd::OwnedFd::from(stdout).into(),
        move || {
            let mut out = feed_out.lock().expect("lock");
            let mut chunk = [0u8; 4096];
            for (message, answer) in session_script() {
                input.write_all(&message).expect("write");
                while let Some(id) = answer
                    && !bodies_of(&out).iter().any(|b| b["id"] == id)
                {
                    let n = output.read(&mut chunk).expect("an answer");
                    assert!(n > 0, "the server closed its output before answering {id}");
                    out.extend_from_slice(&chunk[..n]);
                }
            }
            drop(input);
            output.read_to_end(&mut out).expect("the server's output until it closed it");
        },
        move || collect_out.lock().expect("lock").clone(),
    )
}

/// Editors built on libuv (Neovim, VS Code) give their servers socket pairs for stdin and
/// stdout, some clients one socket for both, Helix pipes (every other test), and a user may
/// redirect files: the session works over each, whether or not the server registers it with
/// its event loop.
#[test]
fn the_session_works_over_sockets_and_files_as_well_as_pipes() {
    use std::os::unix::net::UnixStream;

    let (ours_in, theirs_in) = UnixStream::pair().expect("socket pair");
    let (ours_out, theirs_out) = UnixStream::pair().expect("socket pair");
    let (code, bodies, log) = socket_session(theirs_in, theirs_out, ours_in, ours_out);
    assert_eq!(code, Some(0), "sockets: {bodies:?}");
    assert!(log.contains("stdin: a socket, on the event loop"), "{log}");
    assert!(log.contains("stdout: a socket, on the event loop"), "{log}");
    assert!(answered(&bodies, 1)["result"]["capabilities"].is_object(), "sockets: {bodies:?}");
    assert!(answered(&bodies, 2).get("error").is_none(), "sockets: {bodies:?}");
    assert!(answered(&bodies, 3).get("error").is_none(), "sockets: {bodies:?}");

    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let (theirs2, ours2) = (theirs.try_clone().expect("dup"), ours.try_clone().expect("dup"));
    let (code, bodies, _) = socket_session(theirs, theirs2, ours, ours2);
    assert_eq!(code, Some(0), "one socket: {bodies:?}");
    assert!(answered(&bodies, 1)["result"]["capabilities"].is_object(), "one socket: {bodies:?}");
    assert!(answered(&bodies, 3).get("error").is_none(), "one socket: {bodies:?}");

    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("in"), dir.path().join("out"));
    let script: Vec<u8> = session_script().into_iter().flat_map(|(message, _)| message).collect();
    std::fs::write(&input, script).expect("write the input");
    let stdin = std::fs::File::open(&input).expect("open the input");
    let stdout = std::fs::File::create(&output).expect("create the output");
    let (code, bodies, log) =
        session_over(stdin.into(), stdout.into(), || {}, || std::fs::read(&output).expect("output"));
    assert!(log.contains("stdin: through a blocking thread"), "{log}");
    assert!(log.contains("stdout: through a blocking thread"), "{log}");
    // A file cannot wait for `initialize`'s answer: requests behind it are answered "not
    // initialized" (LSP), and `exit` may come first. Each is answered and the server exits.
    assert!(code.is_some(), "files: the server exits");
    for id in 1..=3 {
        answered(&bodies, id);
    }
}
