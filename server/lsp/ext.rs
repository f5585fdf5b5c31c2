//! Baton's protocol extensions: the one source of truth for `baton/...` methods, command names
//! and the settings schema. `editors/protocol.json` is generated from here (a test keeps it in
//! sync) and the editors' tests check their copies against that file.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tower_lsp_server::gen_lsp_types::{LspNotificationMethod, MessageDirection, Notification};

use crate::config::Settings;

/// Server → client notification `baton/status`, sent only to clients that declare
/// `capabilities.experimental.baton.status = true` in `initialize`.
pub const STATUS: &str = "baton/status";
/// Client → server notification `baton/didShowCompletion`: a suggestion was shown
/// (params: [`DidShowParams`]).
pub const DID_SHOW_COMPLETION: &str = "baton/didShowCompletion";
/// Client → server request `baton/health`: a snapshot for editors' health checks
/// (result: version, provider, model, reachability, encoding, counters).
pub const HEALTH: &str = "baton/health";

/// `workspace/executeCommand` command: rewrite a range following an instruction.
/// Arguments: `[{ "uri": string, "range": Range, "instruction"?: string }]`. Without an
/// instruction the server offers a few with `window/showMessageRequest`.
pub const CMD_EDIT: &str = "baton.edit";
/// Command: fix a diagnostic with the model. Arguments: `[{ "uri": string, "diagnostic": Diagnostic }]`.
pub const CMD_FIX: &str = "baton.fix";
/// Command run by the client when the user accepts a suggestion (the inline completion item's
/// `command`). Arguments: `[{ "uri": string, "length": number (UTF-16 code units) }]`.
pub const CMD_ACCEPTED: &str = "baton.accepted";

/// Every command the server executes.
pub const COMMANDS: &[&str] = &[CMD_EDIT, CMD_FIX, CMD_ACCEPTED];

/// The states a status bar shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// Ready; no model request in flight.
    Idle,
    /// At least one model request in flight.
    Working,
    /// The last model request failed (message says why).
    Error,
    /// No model server answers at the configured URL (message says how to configure one).
    Unreachable,
}

/// Params of `baton/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusParams {
    pub state: StatusState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Provider kind (`openai`, `anthropic`, `ollama`, `llamacpp`).
    pub provider: String,
    pub model: String,
}

/// The `baton/status` notification type.
pub enum Status {}

impl Notification for Status {
    type Params = StatusParams;
    const METHOD: LspNotificationMethod<'static> = LspNotificationMethod::Custom(STATUS);
    const MESSAGE_DIRECTION: MessageDirection = MessageDirection::ServerToClient;
}

/// Params of `baton/didShowCompletion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DidShowParams {
    pub uri: String,
    /// Length of the shown text, in UTF-16 code units.
    #[serde(default)]
    pub length: u32,
}

/// Arguments of [`CMD_EDIT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditArgs {
    pub uri: String,
    pub range: tower_lsp_server::gen_lsp_types::Range,
    #[serde(default)]
    pub instruction: Option<String>,
}

/// Arguments of [`CMD_FIX`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixArgs {
    pub uri: String,
    pub diagnostic: tower_lsp_server::gen_lsp_types::Diagnostic,
}

/// Arguments of [`CMD_ACCEPTED`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedArgs {
    pub uri: String,
    #[serde(default)]
    pub length: u32,
}

/// The machine-readable description of the protocol extensions and settings, written to
/// `editors/protocol.json`.
pub fn protocol_description() -> Value {
    let settings = serde_json::to_value(Settings::default()).unwrap_or(Value::Null);
    json!({
        "notifications": {
            "serverToClient": [STATUS],
            "clientToServer": [DID_SHOW_COMPLETION],
        },
        "requests": { "clientToServer": [HEALTH] },
        "commands": COMMANDS,
        "clientCapability": "experimental.baton.status",
        "statusStates": ["idle", "working", "error", "unreachable"],
        "settings": flatten("", &settings),
    })
}

/// Settings as dotted keys with their defaults (`completion.debounce_ms` → 75).
fn flatten(prefix: &str, v: &Value) -> Value {
    let mut out = serde_json::Map::new();
    fn walk(prefix: &str, v: &Value, out: &mut serde_json::Map<String, Value>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_owned(), other.clone());
            }
        }
    }
    walk(prefix, v, &mut out);
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn editors_protocol_json_is_generated_from_the_server() {
        let text = serde_json::to_string_pretty(&super::protocol_description()).unwrap_or_default() + "\n";
        expect_test::expect_file!["../../editors/protocol.json"].assert_eq(&text);
    }
}
