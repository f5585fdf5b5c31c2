//! Suffix-aware multi-line suggestions (issue 12): when the rest of the cursor's line is only
//! closing brackets and quotes (an editor's auto-closing), the inline completion item's range
//! covers them (LSP 3.18 `InlineCompletionItem.range`) and its text keeps every closer once, so
//! a body can follow an auto-closed `)`.

use serde_json::json;

use baton_test_support::baton;
use baton_test_support::client::{Client, inline_params, plain_capabilities, range, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{cursor, openai_options};

#[tokio::test]
async fn a_body_follows_an_auto_closed_paren_and_replaces_it() {
    let model = ModelServer::start().await;
    model.push(Reply::text(") -> bool:\n        return key in self.data\n\nx = 1\n"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///work/project/store.py";
    let (text, line, col) = cursor("class Store:\n    def f(self, key$0)\n\nx = 1\n");
    client.open(uri, "python", &text).await;
    let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, col, true)).await;
    let item = &resp["result"]["items"][0];
    assert_eq!(item["insertText"], ") -> bool:\n        return key in self.data", "{resp}");
    assert_eq!(item["range"], range((line, col), (line, col + 1)), "the range covers the auto-closed `)`");
    // The model saw the suffix without the closer, so it could write past it.
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("a FIM request");
    let prompt = req.body["prompt"].as_str().unwrap_or_default();
    assert!(prompt.contains("def f(self, key<|fim_suffix|>\n\nx = 1"), "{prompt}");
}

#[tokio::test]
async fn a_suggestion_that_stays_inside_keeps_the_closers_after_it() {
    let model = ModelServer::start().await;
    model.push(Reply::text(", 3"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///work/project/src/lib.rs";
    let (text, line, col) = cursor("fn main() {\n    let v = vec![1, 2$0]\n}\n");
    client.open(uri, "rust", &text).await;
    let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, col, true)).await;
    let item = &resp["result"]["items"][0];
    assert_eq!(item["insertText"], ", 3]", "{resp}");
    assert_eq!(item["range"], range((line, col), (line, col + 1)));
}

#[tokio::test]
async fn text_other_than_closers_after_the_cursor_is_never_replaced() {
    let model = ModelServer::start().await;
    model.push(Reply::text("a, b);\n    more()\n"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///work/project/src/lib.rs";
    let (text, line, col) = cursor("fn main() {\n    total = compute($0);\n}\n");
    client.open(uri, "rust", &text).await;
    let resp = client.request("textDocument/inlineCompletion", inline_params(uri, line, col, true)).await;
    let item = &resp["result"]["items"][0];
    assert_eq!(item["insertText"], "a, b", "{resp}");
    assert_eq!(item["range"], range((line, col), (line, col)), "`);` is not a tail of closers: nothing replaced");
}

#[tokio::test]
async fn the_completion_item_fallback_replaces_the_same_tail() {
    let model = ModelServer::start().await;
    model.push(Reply::text(", 3"));
    let client = Client::start(baton!(), plain_capabilities(), openai_options(&model.base_url())).await;
    let uri = "file:///work/project/src/lib.rs";
    let (text, line, col) = cursor("fn main() {\n    let v = vec![1, 2$0]\n}\n");
    client.open(uri, "rust", &text).await;
    let resp = client
        .request(
            "textDocument/completion",
            json!({ "textDocument": { "uri": uri }, "position": { "line": line, "character": col }, "context": { "triggerKind": 1 } }),
        )
        .await;
    let item = &resp["result"]["items"][0];
    // The word before the cursor (`2`) and the suggestion, over the `]` it keeps.
    assert_eq!(item["textEdit"]["newText"], "2, 3]", "{resp}");
    assert_eq!(item["textEdit"]["range"], range((line, col - 1), (line, col + 1)));
}
