//! Test support: an LSP client over the real binary, a scripted model server and a scripted
//! agent model.
#![allow(dead_code)]

pub mod agent_model;
pub mod client;
pub mod model_server;

use serde_json::{Value, json};

/// Initialization options pointing Baton at the scripted server as an OpenAI-compatible
/// provider with a Qwen model (so completions use the Qwen FIM template on /v1/completions).
pub fn openai_options(base_url: &str) -> Value {
    json!({
        "provider": { "kind": "openai", "base_url": format!("{base_url}/v1"), "model": "qwen2.5-coder-test", "max_retries": 0, "timeout_ms": 5000 },
        "completion": { "debounce_ms": 10, "max_debounce_ms": 10 },
    })
}

/// A cursor fixture: the text with `$0` removed and the cursor's (line, UTF-16 character).
pub fn cursor(fixture: &str) -> (String, u32, u32) {
    let at = fixture.find("$0").expect("fixture has a $0 cursor");
    let before = &fixture[..at];
    let line = before.matches('\n').count() as u32;
    let col = before[before.rfind('\n').map_or(0, |i| i + 1)..].encode_utf16().count() as u32;
    (fixture.replacen("$0", "", 1), line, col)
}
