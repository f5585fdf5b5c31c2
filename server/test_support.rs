//! Test support for the cores' unit tests (compiled in tests only): git repositories made with
//! the real git, and agent run contexts with their event receivers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::agents::{AgentEvent, AgentProfile, AgentTask, Confinement, NoUser, RunContext};
use crate::providers::ProviderConfig;

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

/// A run of `profile` on task 1 (`prompt`) in `worktree`, sandboxed to the worktree alone
/// ([`Confinement::new`]), with no user to ask and the default model; and the receiver of its
/// events.
pub(crate) fn run_context(
    worktree: &Path,
    prompt: &str,
    profile: AgentProfile,
) -> (RunContext, UnboundedReceiver<AgentEvent>) {
    let (events, receiver) = unbounded_channel();
    let ctx = RunContext {
        task: AgentTask {
            id: 1,
            prompt: prompt.to_owned(),
            worktree: worktree.to_path_buf(),
            branch: "baton/task-1".to_owned(),
            planning: false,
        },
        profile,
        default_model: ProviderConfig::default(),
        events,
        cancel: CancellationToken::new(),
        asker: Arc::new(NoUser),
        confinement: Confinement::new(worktree),
        secrets: Default::default(),
    };
    (ctx, receiver)
}

/// Every event received so far.
pub(crate) fn drain(events: &mut UnboundedReceiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut all = Vec::new();
    while let Ok(event) = events.try_recv() {
        all.push(event);
    }
    all
}

/// The [`AgentEvent::Step`]s among `events`.
pub(crate) fn steps(events: &[AgentEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::Step(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}
