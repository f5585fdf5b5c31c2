//! Syntax never blocks the transport (issue 10): parses run off the transport within a budget and
//! size limits, a document without a tree still gets suggestions, the tree always belongs to the
//! newest text, and the language id chooses the grammar.

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};
use baton_test_support::documents::unterminated_string;
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const SMALL: &str = "file:///p/small.rs";
const SLOW: &str = "file:///p/slow.rs";

/// The (line, UTF-16 column) just past the end of `text`.
fn end_of(text: &str) -> (u32, u32) {
    let line = text.matches('\n').count() as u32;
    let last = text.rsplit('\n').next().unwrap_or("");
    (line, last.encode_utf16().count() as u32)
}

/// The FIM prompts the model was sent, in order.
fn prompts(model: &ModelServer) -> Vec<String> {
    model
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/completions")
        .map(|r| r.body["prompt"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn parse_finished_for(log: &str, uri: &str) -> Vec<String> {
    log.lines().filter(|l| l.contains("parse finished") && l.contains(uri)).map(str::to_owned).collect()
}

/// Options with a prompt budget small enough that a function's header falls outside the prefix
/// window: it then reaches the prompt only through the tree (enclosing scope headers).
fn small_window_options(base_url: &str) -> Value {
    let mut options = openai_options(base_url);
    options["completion"]["context_tokens"] = json!(96);
    options["completion"]["other_documents"] = json!(false);
    options
}

/// A function whose header is ~40 lines above the cursor, at the end of its body.
fn long_function(header: &str, body_line: &str) -> (String, u32, u32) {
    let mut text = format!("{header}\n");
    for i in 0..40 {
        text.push_str(&format!("    {body_line}{i};\n"));
    }
    text.push_str("    ");
    let (line, col) = end_of(&text);
    text.push_str("\n}\n");
    (text, line, col)
}

#[tokio::test]
async fn another_documents_request_is_answered_while_a_slow_parse_runs() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("42"));
    // A budget long enough that the slow document's parse outlasts everything below.
    let client = Client::start_with(
        baton!(),
        rich_capabilities(),
        openai_options(&model.base_url()),
        &[("BATON_SYNTAX_BUDGET_MS", "600000")],
        None,
    )
    .await;
    client.open(SMALL, "rust", "fn main() {\n    let x = \n}\n").await;
    let slow = unterminated_string(100_000, true);
    client.open(SLOW, "rust", &slow).await;
    let (line, col) = end_of(&slow);
    for (i, c) in "abc".chars().enumerate() {
        let at = (line, col + i as u32);
        client.change(SLOW, 2 + i as i32, at, at, &c.to_string()).await;
    }
    assert_eq!(client.inline(SMALL, 1, 12, true).await, ["42"]);
    // Order: the answer came while the slow document's parse still ran (it logs its end).
    let log = client.log();
    assert_eq!(parse_finished_for(&log, SLOW), Vec::<String>::new(), "{log}");
    // The slow document itself is answered too, on plain text (its own tree is not ready).
    assert_eq!(client.inline(SLOW, line, col + 3, true).await, ["42"]);
    let prompt = prompts(&model).pop().unwrap_or_default();
    assert!(prompt.contains("abc<|fim_suffix|>"), "{prompt}");
    assert_eq!(parse_finished_for(&client.log(), SLOW), Vec::<String>::new());
    client.notify("textDocument/didClose", json!({ "textDocument": { "uri": SLOW } })).await;
    assert_eq!(client.inline(SMALL, 1, 12, true).await, ["42"]);
}

#[tokio::test]
async fn keystrokes_in_the_issues_100_kb_document_do_not_delay_other_documents() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("42"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(SMALL, "rust", "fn main() {\n    let x = \n}\n").await;
    // Issue 10's document: one line, 100 KB, a string never closed (seconds per keystroke when
    // parsed on the transport). All its keystrokes go first, then the other document's request.
    let slow = unterminated_string(100_000, false);
    client.open(SLOW, "rust", &slow).await;
    let (line, col) = end_of(&slow);
    for i in 0..10u32 {
        let at = (line, col + i);
        client.change(SLOW, 2 + i as i32, at, at, "a").await;
    }
    assert_eq!(client.inline(SMALL, 1, 12, true).await, ["42"]);
    // And the document itself still gets suggestions (no tree: over the line limit).
    assert_eq!(client.inline(SLOW, line, col + 10, true).await, ["42"]);
}

#[tokio::test]
async fn documents_without_a_tree_still_get_suggestions_on_plain_text() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("total += 1"));
    let client = Client::start(baton!(), rich_capabilities(), small_window_options(&model.base_url())).await;
    let (text, line, col) = long_function("fn tally(items: &[i32]) -> i32 {", "let value_");
    // Over the line limit (a long comment line): no tree, so no scope header in the prompt, but a
    // suggestion all the same.
    let over_limit = format!("// {}\n{text}", "x".repeat(40 * 1024));
    client.open("file:///p/long_line.rs", "rust", &over_limit).await;
    assert_eq!(client.inline("file:///p/long_line.rs", line + 1, col, true).await, ["total += 1"]);
    let prompt = prompts(&model).pop().unwrap_or_default();
    assert!(prompt.contains("let value_39;\n    <|fim_suffix|>"), "{prompt}");
    assert!(!prompt.contains("fn tally"), "no tree, no scope header: {prompt}");

    // The same text within the limits has a tree, and its header reaches the prompt.
    client.open("file:///p/short.rs", "rust", &text).await;
    assert_eq!(client.inline("file:///p/short.rs", line, col, true).await, ["total += 1"]);
    let prompt = prompts(&model).pop().unwrap_or_default();
    assert!(prompt.contains("<|fim_prefix|>fn tally(items: &[i32]) -> i32 {\n"), "{prompt}");

    // A suggestion that breaks the parse is dropped where a tree can tell, and kept where
    // none can (there is nothing to compare it with). Fresh documents: no cached answers.
    model.set_default(Reply::text("let x = [1, 2;"));
    client.open("file:///p/short2.rs", "rust", &text).await;
    assert_eq!(client.inline("file:///p/short2.rs", line, col, true).await, Vec::<String>::new());
    client.open("file:///p/long_line2.rs", "rust", &over_limit).await;
    assert_eq!(client.inline("file:///p/long_line2.rs", line + 1, col, true).await, ["let x = [1, 2;"]);
}

#[tokio::test]
async fn a_document_without_a_tree_keeps_its_languages_comment_syntax() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("pass"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open("file:///p/util.py", "python", "def helper():\n    return 7\n").await;
    // Over the line limit: no tree, but still Python: excerpts are headed with `#`, not `//`.
    // (It calls `helper`: other documents' context is ranked by similarity to the cursor's code.)
    let text = format!("# {}\ndef main():\n    helper()\n    x = ", "x".repeat(40 * 1024));
    client.open("file:///p/main.py", "python", &text).await;
    client.inline("file:///p/main.py", 3, 8, true).await;
    let prompt = prompts(&model).pop().unwrap_or_default();
    assert!(prompt.starts_with("<|fim_prefix|># Path: /p/util.py\ndef helper():\n"), "{prompt}");
}

#[tokio::test]
async fn the_tree_always_belongs_to_the_newest_text() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("done()"));
    let client = Client::start_with(
        baton!(),
        rich_capabilities(),
        small_window_options(&model.base_url()),
        &[("BATON_SYNTAX_BUDGET_MS", "600000")],
        None,
    )
    .await;
    let uri = "file:///p/replaced.rs";
    // First a text whose parse takes seconds (a function, then a string never closed)...
    let slow = format!("fn alpha() {{\n{}", unterminated_string(100_000, true));
    client.open(uri, "rust", &slow).await;
    // ...replaced whole while it parses, by one whose function starts 20 lines further down.
    let (body, line, col) = long_function("fn beta(items: &[i32]) -> i32 {", "let step_");
    let filler: String = (0..20).map(|i| format!("// filler {i}\n")).collect();
    let text = format!("{filler}{body}");
    client
        .notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": 2 }, "contentChanges": [{ "text": text }] }),
        )
        .await;
    // The new text's tree arrives without waiting for the old parse (the replacement stops it),
    // and no request ever sees a tree of the old text: that one would put the old function's
    // range, from byte 0, on the new text and bring its first line into the prompt.
    let header = "<|fim_prefix|>fn beta(items: &[i32]) -> i32 {\n";
    let mut seen = Vec::new();
    while !seen.last().is_some_and(|p: &String| p.contains(header)) {
        assert!(seen.len() < 50, "no prompt with the new text's scope header: {seen:#?}");
        assert_eq!(client.inline(uri, line + 20, col, true).await, ["done()"]);
        let prompt = prompts(&model).pop().unwrap_or_default();
        assert!(!prompt.contains("filler 0") && !prompt.contains("alpha"), "{prompt}");
        seen.push(prompt);
    }
    // One parse at a time per document: if the old text's parse had begun (the replacement can
    // also arrive first), it ended before the new text's began, stopped rather than installed.
    let log = client.log();
    let first: Vec<_> = parse_finished_for(&log, uri).into_iter().filter(|l| l.contains("revision=1 ")).collect();
    assert!(first.len() <= 1 && first.iter().all(|l| l.contains("outcome=\"cancelled\"")), "{first:#?}\n{log}");
}

#[tokio::test]
async fn the_language_id_chooses_the_grammar_over_the_extension() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("next();"));
    let client = Client::start(baton!(), rich_capabilities(), small_window_options(&model.base_url())).await;
    // JavaScript in a file named .rs, opened as JavaScript: parsed as JavaScript (its function's
    // header comes from the tree).
    let (js, line, col) = long_function("function beta(items) {", "let step_");
    client.open("file:///p/bundle.rs", "javascript", &js).await;
    let prompt =
        prompt_with(&client, &model, "file:///p/bundle.rs", (line, col), "<|fim_prefix|>function beta(items) {\n")
            .await;
    assert!(prompt.contains("<|fim_prefix|>function beta(items) {\n"), "{prompt}");
    // Rust opened as plain text: no grammar, whatever the extension.
    let (rust, line, col) = long_function("fn beta(items: &[i32]) -> i32 {", "let step_");
    client.open("file:///p/notes.rs", "plaintext", &rust).await;
    assert_eq!(client.inline("file:///p/notes.rs", line, col, true).await, ["next();"]);
    let prompt = prompts(&model).pop().unwrap_or_default();
    assert!(!prompt.contains("fn beta"), "{prompt}");
    // No language id at all: the extension decides.
    client.open("file:///p/lib.rs", "", &rust).await;
    let prompt = prompt_with(
        &client,
        &model,
        "file:///p/lib.rs",
        (line, col),
        "<|fim_prefix|>fn beta(items: &[i32]) -> i32 {\n",
    )
    .await;
    assert!(prompt.contains("<|fim_prefix|>fn beta(items: &[i32]) -> i32 {\n"), "{prompt}");
}

/// The prompt of the first of up to 5 invoked requests whose prompt contains `header`, else the
/// last prompt: a document is parsed when first asked about, and on a loaded machine the first
/// request may come back before its tree. Each request is one column further left (the same
/// position would be answered from the cache, without a prompt).
async fn prompt_with(client: &Client, model: &ModelServer, uri: &str, at: (u32, u32), header: &str) -> String {
    let mut prompt = String::new();
    for back in 0..5 {
        assert_eq!(client.inline(uri, at.0, at.1 - back, true).await, ["next();"]);
        prompt = prompts(model).pop().unwrap_or_default();
        if prompt.contains(header) {
            break;
        }
    }
    prompt
}
