//! The command line: `--version` and `baton complete FILE:LINE:COL`.

use std::process::Command;

use baton_test_support::baton;
use baton_test_support::model_server::{ModelServer, Reply};

fn baton() -> Command {
    let mut c = Command::new(baton!());
    c.env("BATON_CONFIG", "/nonexistent/baton-config.toml");
    c
}

#[test]
fn version_prints_the_crate_version() {
    let out = baton().arg("--version").output().expect("run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("baton {}", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn complete_prints_the_suggestion_using_the_projects_baton_toml() {
    let model = ModelServer::start().await;
    model.set_default(Reply::text("n * factorial(n - 1)"));
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("baton.toml"),
        format!("[provider]\nbase_url = \"{}/v1\"\nmodel = \"qwen2.5-coder\"\n", model.base_url()),
    )
    .expect("write");
    let file = dir.path().join("fact.py");
    std::fs::write(&file, "def factorial(n):\n    if n == 0:\n        return 1\n    return \n").expect("write");
    let location = format!("{}:4:12", file.display());
    let out = tokio::task::spawn_blocking(move || baton().args(["complete", &location]).output())
        .await
        .expect("join")
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "n * factorial(n - 1)\n");
}

#[test]
fn complete_explains_a_bad_location_or_a_missing_file() {
    let out = baton().args(["complete", "nowhere.rs:1"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FILE:LINE:COL"));
    let out = baton().args(["complete", "/nonexistent/x.rs:1:1"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/x.rs"));
}
