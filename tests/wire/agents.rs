//! Agent presets and `baton agents` / `baton/agents` (issue 15): the real binary, a fake agent
//! program on `PATH`, a temporary home and the project's `baton.toml`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::support::client::{Client, rich_capabilities};

/// A folder with `bin/` (fake `qwen` and `node`), an empty `home/` and `repo/baton.toml` that
/// overrides the `qwen` preset key by key and adds a profile of its own.
struct World {
    _tmp: tempfile::TempDir,
    bin: std::path::PathBuf,
    home: std::path::PathBuf,
    repo: std::path::PathBuf,
}

fn program(dir: &Path, name: &str, body: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn world() -> World {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let (bin, home, repo) = (root.join("bin"), root.join("home"), root.join("repo"));
    for d in [&bin, &home, &repo] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    program(&bin, "qwen", "echo 0.15.10");
    program(&bin, "node", "echo v22.1.0");
    std::fs::write(
        repo.join("baton.toml"),
        "[[agents]]\nname = \"qwen\"\nenv = { QWEN_EXTRA = \"1\" }\nsecret_env = [\"MY_QWEN_KEY\"]\n\n\
         [[agents]]\nname = \"mine\"\nkind = \"cli\"\ncommand = [\"not-installed-anywhere\", \"{prompt}\"]\n",
    )
    .expect("toml");
    World { _tmp: tmp, bin, home, repo }
}

impl World {
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PATH", format!("{}:/usr/bin:/bin", self.bin.display())),
            ("HOME", self.home.display().to_string()),
            ("BATON_CONFIG", "/nonexistent/baton-config.toml".to_owned()),
            ("MY_QWEN_KEY", "k".to_owned()),
        ]
    }
}

fn by_name<'a>(reports: &'a [Value], name: &str) -> &'a Value {
    reports.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no {name} in {reports:#?}"))
}

#[tokio::test]
async fn baton_agents_lists_presets_and_profiles_with_what_is_installed_and_ready() {
    let w = world();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(["agents", "--json"]).current_dir(&w.repo).env_clear();
    for (k, v) in w.env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(reports[0]["name"], "builtin");
    // Every preset is there without a line of configuration.
    for preset in ["claude", "claude-cli", "codex", "codex-cli", "gemini", "qwen", "opencode", "copilot", "aider"] {
        by_name(&reports, preset);
    }
    let qwen = by_name(&reports, "qwen");
    assert_eq!(qwen["source"], "preset+profile");
    assert_eq!(qwen["installed"], true);
    assert_eq!(qwen["path"], w.bin.join("qwen").display().to_string());
    assert_eq!(qwen["version"], "0.15.10");
    assert_eq!((qwen["runtime"].as_str(), &qwen["runtimeOk"]), (Some("node v22.1.0, needs >= 20"), &json!(true)));
    assert_eq!((&qwen["ready"], qwen["note"].as_str()), (&json!(true), Some("key in MY_QWEN_KEY")));
    let gemini = by_name(&reports, "gemini");
    assert_eq!((&gemini["installed"], &gemini["ready"]), (&json!(false), &json!(false)));
    assert_eq!(gemini["note"], "not installed: `npm install -g @google/gemini-cli@0.61.0`");
    let mine = by_name(&reports, "mine");
    assert_eq!((&mine["source"], &mine["installed"]), (&json!("profile"), &json!(false)));
    assert_eq!(mine["note"], "not installed: no `not-installed-anywhere` in PATH");

    // The table says the same in words.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.arg("agents").current_dir(&w.repo).env_clear();
    for (k, v) in w.env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run");
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table.lines().find(|l| l.starts_with("qwen ")).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(" ready ") && line.contains("0.15.10"), "{line}");
    let line = table.lines().find(|l| l.starts_with("gemini ")).unwrap_or_else(|| panic!("{table}"));
    assert!(line.contains(" missing ") && line.contains("npm install -g @google/gemini-cli@0.61.0"), "{line}");
}

#[tokio::test]
async fn baton_agents_request_answers_the_editor_with_the_sessions_profiles() {
    let w = world();
    let env = w.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let client = Client::start_with(rich_capabilities(), json!({}), &env, Some(&w.repo)).await;
    let resp = client.request("baton/agents", Value::Null).await;
    let reports = resp["result"].as_array().unwrap_or_else(|| panic!("{resp}")).clone();
    let qwen = by_name(&reports, "qwen");
    assert_eq!((&qwen["kind"], &qwen["installed"], &qwen["version"]), (&json!("acp"), &json!(true), &json!("0.15.10")));
    assert_eq!(by_name(&reports, "mine")["installed"], false);
    assert_eq!(by_name(&reports, "builtin")["source"], "builtin");
    client.shutdown().await;
}
