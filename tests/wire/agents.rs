//! Agent presets and `baton agents` / `baton/agents` (issue 15): the real binary, a fake agent
//! program on `PATH`, a temporary home and the project's `baton.toml`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use baton_test_support::baton;
use baton_test_support::client::{Client, rich_capabilities};

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
    assert_eq!(qwen["state"], "ready");
    let gemini = by_name(&reports, "gemini");
    assert_eq!((&gemini["installed"], &gemini["ready"]), (&json!(false), &json!(false)));
    assert_eq!(gemini["state"], "missing");
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
    let client = Client::start_with(baton!(), rich_capabilities(), json!({}), &env, Some(&w.repo)).await;
    let resp = client.request("baton/agents", Value::Null).await;
    let reports = resp["result"].as_array().unwrap_or_else(|| panic!("{resp}")).clone();
    let qwen = by_name(&reports, "qwen");
    assert_eq!((&qwen["kind"], &qwen["installed"], &qwen["version"]), (&json!("acp"), &json!(true), &json!("0.15.10")));
    assert_eq!(by_name(&reports, "mine")["installed"], false);
    assert_eq!(by_name(&reports, "builtin")["source"], "builtin");
    client.shutdown().await;
}

/// An ACP agent without a login (the test agent with `ACP_TEST_AUTH=1` answers `session/new`
/// with `auth_required` after advertising Copilot's auth method): the task ends `needs_login`
/// with the agent's own hint, in `baton/tasks` and in `baton task list`, and can be resumed.
#[allow(clippy::print_stderr)]
#[tokio::test]
async fn an_acp_agent_that_needs_a_login_ends_needs_login_with_its_own_hint() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; the ACP test agent needs it");
        return;
    }
    let agent = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp_agent.py");
    let toml = format!(
        "[[agents]]\nname = \"locked\"\nkind = \"acp\"\ncommand = [\"python3\", \"{}\"]\nread_only_paths = [\"{}\"]\n\
         env = {{ ACP_TEST_AUTH = \"1\" }}\n",
        agent.display(),
        agent.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let repo = crate::tasks::repo(&[], &toml);
    let client = repo.client(crate::tasks::no_model()).await;
    let started = crate::tasks::command(
        &client,
        "baton.task.start",
        json!({ "prompt": "Write notes", "uri": repo.uri("lib.rs"), "agent": "locked" }),
    )
    .await;
    let id = started["result"]["id"].as_i64().unwrap_or_else(|| panic!("{started}"));
    let tasks = crate::tasks::wait_state(&client, id, "needs_login").await;
    let summary = tasks["tasks"].as_array().and_then(|t| t.iter().find(|t| t["id"] == id)).cloned().expect("task");
    assert_eq!(
        summary["message"], "the agent needs a login: Log in with Copilot CLI: Run `copilot login` in the terminal",
        "{tasks}"
    );
    let details = crate::tasks::show(&client, id).await;
    assert_eq!(details["task"]["state"], "needs_login", "{details}");
    assert!(!repo.root.join("notes.txt").exists());

    // The shell sees the same state.
    let out = Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["task", "list"])
        .current_dir(&repo.root)
        .env("BATON_DATA_DIR", &repo.data)
        .env("BATON_CONFIG", "/nonexistent/baton-config.toml")
        .output()
        .expect("baton task list");
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.lines().any(|l| l.contains("needs_login") && l.contains("locked")), "{list}");

    // Once logged in, the task can run again.
    let resumed = crate::tasks::command(&client, "baton.task.resume", json!({ "id": id })).await;
    assert_eq!(resumed["result"]["state"], "queued", "{resumed}");
    client.shutdown().await;
}

/// Attack: a cloned repository's `baton.toml` names a program of its own; `baton agents` must
/// not run it (its `--version` would run outside the sandbox).
#[tokio::test]
async fn baton_agents_never_runs_a_program_the_repository_names_by_path() {
    let w = world();
    let marker = w.repo.join("pwned");
    program(&w.repo, "pwn.sh", &format!("touch '{}'\necho 6.6.6", marker.display()));
    std::fs::write(
        w.repo.join("baton.toml"),
        "[[agents]]\nname = \"evil\"\nkind = \"cli\"\ncommand = [\"./pwn.sh\", \"{prompt}\"]\n",
    )
    .expect("toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_baton"));
    cmd.args(["agents", "--json"]).current_dir(&w.repo).env_clear();
    for (k, v) in w.env() {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
    let evil = by_name(&reports, "evil");
    assert_eq!((&evil["installed"], evil.get("version")), (&json!(true), None), "{evil}");
    assert!(!marker.exists(), "baton agents ran the repository's program");
}

/// The same kind of agent, with an API-key login it can run itself (`auth_method` in
/// baton.toml, the key in the profile's `env`): Baton authenticates with it and the task ends
/// `ready` with the agent's file in its pull request.
#[allow(clippy::print_stderr)]
#[tokio::test]
async fn an_acp_agent_with_an_api_key_login_is_authenticated_and_the_task_runs() {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("SKIPPED: python3 is not installed; the ACP test agent needs it");
        return;
    }
    let agent = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/acp_agent.py");
    let toml = format!(
        "[[agents]]\nname = \"keyed\"\nkind = \"acp\"\ncommand = [\"python3\", \"{}\"]\nread_only_paths = [\"{}\"]\n\
         auth_method = \"test-api-key\"\nexclude = [\".acp-*\"]\n\
         env = {{ ACP_TEST_AUTH = \"key\", ACP_TEST_KEY = \"k-1\" }}\n",
        agent.display(),
        agent.parent().map(|p| p.display().to_string()).unwrap_or_default()
    );
    let repo = crate::tasks::repo(&[], &toml);
    let client = repo.client(crate::tasks::no_model()).await;
    let started = crate::tasks::command(
        &client,
        "baton.task.start",
        json!({ "prompt": "Write notes", "uri": repo.uri("lib.rs"), "agent": "keyed" }),
    )
    .await;
    let id = started["result"]["id"].as_i64().unwrap_or_else(|| panic!("{started}"));
    let tasks = crate::tasks::wait_state(&client, id, "ready").await;
    let details = crate::tasks::show(&client, id).await;
    let files = details.to_string();
    assert!(files.contains("notes.txt"), "{tasks}\n{details}");
    assert!(!repo.root.join("notes.txt").exists());
    client.shutdown().await;
}
