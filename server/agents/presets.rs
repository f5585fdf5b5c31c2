//! Built-in agent profiles (presets): the agents users already run, with the flags, environment,
//! sandbox paths and capabilities each needs under Baton, from `presets.toml` (embedded, parsed
//! once). The settings layer merges a user profile of the same name over its preset key by key
//! (`crate::config`); `baton agents` reads the descriptive keys.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

/// The presets' source, verified by `scripts/e2e-agents.sh` (see its comments).
const PRESETS_TOML: &str = include_str!("presets.toml");

/// Keys of a preset table that describe the agent rather than configure its profile.
const INFO_KEYS: [&str; 6] =
    ["package", "version_args", "min_node", "login_files", "auth_hint", "local_model_template"];

/// One built-in profile.
#[derive(Debug, Clone)]
pub(crate) struct Preset {
    /// The name users pick it by (`gemini`, `codex-cli`, ...).
    pub(crate) name: String,
    /// Its profile keys, shaped like an `[[agents]]` entry (JSON, `name` included).
    pub(crate) profile: Map<String, Value>,
    pub(crate) info: PresetInfo,
}

/// What a preset says about its agent beyond the profile.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct PresetInfo {
    /// Where the verified version comes from.
    pub(crate) package: Option<Package>,
    /// Arguments that make the command print its version (`["--version"]`).
    pub(crate) version_args: Vec<String>,
    /// The lowest Node.js major version the agent runs on; 0 when it needs no Node.
    pub(crate) min_node: u32,
    /// Files (`~/` = home) whose presence means the agent has a login.
    pub(crate) login_files: Vec<String>,
    /// What to tell a user whose agent needs a login.
    pub(crate) auth_hint: Option<String>,
    /// How the profile's `local_model` is applied.
    pub(crate) local_model_template: Option<LocalModelTemplate>,
}

/// A registry package and the exact version checked with Baton.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Package {
    /// `npm`, `pypi`, or where else it comes from (`github-release`, ...).
    pub(crate) registry: String,
    pub(crate) name: String,
    /// Empty when no version was verified here.
    pub(crate) version: String,
}

/// Variables and arguments that point an agent at a model server; `{base_url}` (no `/v1`) and
/// `{model}` are substituted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LocalModelTemplate {
    /// The API the agent speaks to the server (`openai-chat`, `openai-responses`,
    /// `anthropic-messages`, `gemini`).
    pub(crate) wire: String,
    pub(crate) env: BTreeMap<String, String>,
    /// Appended to the command.
    pub(crate) args: Vec<String>,
}

static PRESETS: LazyLock<Vec<Preset>> = LazyLock::new(|| match parse(PRESETS_TOML) {
    Ok(presets) => presets,
    Err(e) => {
        // Only a broken build gets here (a unit test parses the file); Baton still runs without.
        tracing::error!("the built-in agent presets do not parse: {e}");
        Vec::new()
    }
});

/// Every preset, sorted by name.
pub(crate) fn all() -> &'static [Preset] {
    &PRESETS
}

/// The preset called `name`.
pub(crate) fn find(name: &str) -> Option<&'static Preset> {
    all().iter().find(|p| p.name == name)
}

fn parse(text: &str) -> Result<Vec<Preset>, String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut presets = Vec::new();
    for (name, value) in table {
        let Value::Object(mut profile) = serde_json::to_value(value).map_err(|e| e.to_string())? else {
            return Err(format!("preset {name} is not a table"));
        };
        let mut info = Map::new();
        for key in INFO_KEYS {
            if let Some(v) = profile.remove(key) {
                info.insert(key.to_owned(), v);
            }
        }
        let info: PresetInfo =
            serde_json::from_value(Value::Object(info)).map_err(|e| format!("preset {name}: {e}"))?;
        profile.insert("name".to_owned(), Value::String(name.clone()));
        presets.push(Preset { name, profile, info });
    }
    Ok(presets)
}

/// Adds a preset's `local_model_template` to `profile` (an `[[agents]]` entry as JSON) when the
/// profile sets `local_model`: the template's variables under the profile's `env` (the profile's
/// own win) and its arguments after the command.
pub(crate) fn expand_local_model(profile: &mut Map<String, Value>, template: &LocalModelTemplate) {
    let Some(local) = profile.get("local_model").and_then(Value::as_object) else {
        return;
    };
    let base_url = local.get("base_url").and_then(Value::as_str).unwrap_or_default().trim_end_matches('/').to_owned();
    let model = local.get("model").and_then(Value::as_str).unwrap_or_default().to_owned();
    let fill = |s: &str| s.replace("{base_url}", &base_url).replace("{model}", &model);
    let env = profile.entry("env").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(env) = env {
        for (k, v) in &template.env {
            env.entry(k.clone()).or_insert_with(|| Value::String(fill(v)));
        }
    }
    if let Some(Value::Array(command)) = profile.get_mut("command") {
        command.extend(template.args.iter().map(|a| Value::String(fill(a))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::{AgentKind, AgentProfile};

    #[test]
    fn every_preset_is_a_valid_profile_with_a_command_and_version_args() {
        let presets = parse(PRESETS_TOML).expect("presets.toml parses");
        let names: Vec<&str> = presets.iter().map(|p| p.name.as_str()).collect();
        for wanted in [
            "claude",
            "claude-cli",
            "codex",
            "codex-cli",
            "gemini",
            "qwen",
            "opencode",
            "opencode-cli",
            "copilot",
            "goose",
            "cursor",
            "aider",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        for p in &presets {
            let profile: AgentProfile = serde_json::from_value(Value::Object(p.profile.clone()))
                .unwrap_or_else(|e| panic!("preset {}: {e}", p.name));
            assert_ne!(profile.kind, AgentKind::Builtin, "{}", p.name);
            assert!(!profile.command.is_empty(), "{}", p.name);
            assert!(!p.info.version_args.is_empty(), "{}", p.name);
            if profile.kind == AgentKind::Cli {
                assert!(profile.command.iter().any(|a| a.contains("{prompt}")), "{}", p.name);
            }
        }
        assert!(!find("gemini").map(|p| p.profile["client_fs"].clone()).expect("gemini").as_bool().unwrap_or(true));
    }

    #[test]
    fn a_local_model_fills_the_template_and_the_profiles_own_env_wins() {
        let template = find("aider").and_then(|p| p.info.local_model_template.clone()).expect("aider template");
        let mut profile = find("aider").expect("aider").profile.clone();
        profile.insert("local_model".into(), serde_json::json!({"base_url": "http://127.0.0.1:9/", "model": "m"}));
        profile.insert("env".into(), serde_json::json!({"OPENAI_API_KEY": "mine"}));
        expand_local_model(&mut profile, &template);
        let p: AgentProfile = serde_json::from_value(Value::Object(profile)).expect("profile");
        assert_eq!(p.env.get("OPENAI_API_BASE").map(String::as_str), Some("http://127.0.0.1:9/v1"));
        assert_eq!(p.env.get("OPENAI_API_KEY").map(String::as_str), Some("mine"));
        assert!(p.command.windows(2).any(|w| w[0] == "--model" && w[1] == "openai/m"), "{:?}", p.command);
    }
}
