//! Cross-file context in the prompt: the window of another open document most similar to the
//! code before the cursor, not that document's first lines (and never a secret among them).

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};
use baton_test_support::model_server::{ModelServer, Reply};
use baton_test_support::{cursor, openai_options};

const CURRENT: &str = "file:///work/project/app/report.py";
const SETTINGS: &str = "file:///work/project/app/settings.py";

/// A settings module: a secret and 60 lines of constants first, then code like the cursor's.
fn settings_module() -> String {
    let mut s = String::from("SECRET_KEY = \"django-insecure-0123456789abcdef\"\nFIRST_LINE_MARKER = 1\n");
    for i in 0..60 {
        s.push_str(&format!("OPTION_{i} = {i}\n"));
    }
    s.push_str(
        "\n\ndef load_rows(path):\n    rows = []\n    with open(path) as handle:\n        for record in csv.reader(handle):\n            rows.append(normalize_record(record))\n    return rows\n",
    );
    s
}

/// The code at the cursor: a loop over CSV records, the cursor at the start of its body's line
/// (`$0`) after `typed`.
fn current_document(typed: &str) -> String {
    format!(
        "import csv\n\n\ndef read_table(path):\n    rows = []\n    with open(path) as handle:\n        for record in csv.reader(handle):\n            {typed}$0\n"
    )
}

/// The prompt Baton sends for a suggestion at the cursor of `current_document(typed)`, with the
/// settings module open beside it.
async fn prompt_after(typed: &str) -> String {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("rows.append(normalize_record(record))"));
    let client = Client::start(baton!(), rich_capabilities(), openai_options(&model.base_url())).await;
    client.open(SETTINGS, "python", &settings_module()).await;
    let (text, line, col) = cursor(&current_document(typed));
    client.open(CURRENT, "python", &text).await;
    client.inline(CURRENT, line, col, true).await;
    let req = model.requests().into_iter().find(|r| r.path == "/v1/completions").expect("a FIM request");
    req.body["prompt"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn the_prompt_holds_the_most_similar_snippet_of_another_document_not_its_first_lines() {
    let prompt = prompt_after("rows.").await;
    let snippet = "def load_rows(path):\n    rows = []\n    with open(path) as handle:\n        for record in csv.reader(handle):\n            rows.append(normalize_record(record))\n    return rows\n";
    let header = prompt.find("# Path: /work/project/app/settings.py\n").expect("the other document's path");
    assert!(prompt[header..].contains(snippet), "the similar window is in the prompt: {prompt}");
    assert!(prompt.contains("# Path: /work/project/app/report.py\n"), "{prompt}");
    assert!(!prompt.contains("FIRST_LINE_MARKER"), "not the other document's first lines: {prompt}");
    assert!(!prompt.contains("django-insecure"), "never its secret: {prompt}");
}

/// On a line not yet begun the prompt holds no other document: there the cross-file benchmark
/// found that other code leads the model away (conductor/context.rs `offered_at`).
#[tokio::test]
async fn an_empty_line_gets_no_other_document() {
    let prompt = prompt_after("").await;
    assert!(prompt.starts_with("<|fim_prefix|>import csv\n"), "the document's own text only: {prompt}");
    assert!(!prompt.contains("Path:") && !prompt.contains("load_rows"), "{prompt}");
}
