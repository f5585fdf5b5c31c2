//! Test support shared by the unit tests of several modules (compiled in tests only): git
//! repositories made with the real git. A leaf: it imports nothing of Baton's, so any layer's
//! tests may use it. (Helpers that need a layer's types live in that layer, such as
//! `agents::testing`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Plain `git <args>` in `dir`, with the test's own environment (not Baton's hardened runner):
/// whatever the exit status.
pub(crate) fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git").args(args).current_dir(dir).output().expect("git runs")
}

/// Plain `git <args>` in `dir`; its stdout. Panics with git's stderr when it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new repository in `dir` (created) on branch `main`, committed to by `name`
/// `<ada@example.com>` without signing, holding `files` (path, content) in one commit. Returns
/// its canonical path (git reports paths with symlinks resolved).
pub(crate) fn git_repo(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", name]);
    git(dir, &["config", "user.email", "ada@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
    for (path, content) in files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(file, content).expect("write");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", "initial"]);
    dir.canonicalize().expect("canonical")
}
