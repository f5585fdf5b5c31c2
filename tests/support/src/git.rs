//! Git repositories made with the real git, for tests: plain `git` with the test's own
//! environment (not Baton's hardened runner).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Plain `git <args>` in `dir`, whatever its exit status.
pub fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git").args(args).current_dir(dir).output().expect("git runs")
}

/// Plain `git <args>` in `dir`; its stdout. Panics with git's stderr when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new empty repository in `dir` (created) on branch `main`, committed to by `name`
/// `<ada@example.com>` without signing.
pub fn git_init(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["config", "user.name", name]);
    git(dir, &["config", "user.email", "ada@example.com"]);
    git(dir, &["config", "commit.gpgsign", "false"]);
}

/// A new repository ([`git_init`]) holding `files` (path, content) in one commit. Returns its
/// canonical path (git reports paths with symlinks resolved).
pub fn git_repo(dir: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    git_init(dir, name);
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
