//! Position encodings over the wire: changes and cursors in UTF-8, UTF-16 and UTF-32 land where
//! the client meant them, with emoji, CJK and CRLF; out-of-range positions clamp.

use serde_json::json;

use baton_test_support::baton;
use baton_test_support::client::{Client, inline_params};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::openai_options;

const URI: &str = "file:///p/enc.rs";
const TEXT: &str = "fn f() {\r\n    let s = \"😀中\";\r\n    \r\n}\r\n";

/// Opens TEXT, inserts `X` after `中` (given in the encoding's units), and asks for a suggestion
/// at the end of line 2; returns the FIM prompt the model saw.
async fn prompt_after_insert(encoding: &str, col_after_cjk: u32) -> String {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("1"));
    let caps = json!({ "general": { "positionEncodings": [encoding] }, "textDocument": { "inlineCompletion": {} } });
    let client = Client::start(baton!(), caps, openai_options(&model.base_url())).await;
    assert_eq!(client.initialize_result["capabilities"]["positionEncoding"], encoding);
    client.open(URI, "rust", TEXT).await;
    client.change(URI, 2, (1, col_after_cjk), (1, col_after_cjk), "X").await;
    client.inline(URI, 2, 4, true).await;
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("request");
    req.body["prompt"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn utf16_utf8_and_utf32_offsets_all_land_after_the_cjk_character() {
    // `    let s = "` is 13 units in every encoding; 😀 is 2 UTF-16 units, 4 bytes, 1 scalar;
    // 中 is 1 UTF-16 unit, 3 bytes, 1 scalar.
    for (encoding, col) in [("utf-16", 16), ("utf-8", 20), ("utf-32", 15)] {
        let prompt = prompt_after_insert(encoding, col).await;
        assert!(prompt.contains("let s = \"😀中X\";\r\n    <|fim_suffix|>\r\n}"), "{encoding}: {prompt}");
    }
}

#[tokio::test]
async fn positions_inside_a_surrogate_pair_or_past_the_end_clamp() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("1"));
    let caps = json!({ "textDocument": { "inlineCompletion": {} } });
    let client = Client::start(baton!(), caps, openai_options(&model.base_url())).await;
    client.open(URI, "rust", TEXT).await;
    // Character 14 is between the two halves of 😀: the insert goes before the emoji.
    client.change(URI, 2, (1, 14), (1, 14), "A").await;
    // Far past the end of line 0 and past the last line.
    client.change(URI, 3, (0, 500), (0, 900), "B").await;
    client.change(URI, 4, (99, 0), (120, 7), "// end").await;
    let resp = client.request("textDocument/inlineCompletion", inline_params(URI, 2, 999, true)).await;
    assert!(resp.get("error").is_none(), "{resp}");
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("request");
    let prompt = req.body["prompt"].as_str().unwrap_or_default();
    assert!(prompt.contains("fn f() {B\r\n    let s = \"A😀中\";\r\n    <|fim_suffix|>\r\n}\r\n// end"), "{prompt}");
}
