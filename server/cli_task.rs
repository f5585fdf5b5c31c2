//! `baton task start|list|show|gc`: the orchestrator from the shell. `start` runs the task's
//! pipeline in this process and waits for it, with progress on stderr and the result on stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Layers;
use crate::orchestrator::task::title;
use crate::orchestrator::{AgentRunners, Orchestrator, TaskDetails};

/// `baton task` subcommands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Delegate a task to a background agent and wait until its pull request is ready.
    Start {
        /// What the agent should do.
        prompt: String,
        /// The agent profile to use (the configured default when absent).
        #[arg(long)]
        agent: Option<String>,
        /// A directory inside the repository (the current directory when absent).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
    },
    /// List every task.
    List,
    /// Show a task with its log and pull request.
    Show {
        /// The task's id.
        id: i64,
    },
    /// Remove worktrees that no live task uses (left by crashes or deleted tasks).
    Gc,
}

/// Arguments of `baton task`.
#[derive(Debug)]
pub struct TaskArgs {
    pub command: TaskCommand,
}

fn out(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Runs a `baton task` command. Errors name what went wrong (not a repository, unknown agent,
/// no data directory).
pub async fn run(args: TaskArgs) -> anyhow::Result<()> {
    let cwd = std::env::current_dir().context("no current directory")?;
    let repo = match &args.command {
        TaskCommand::Start { repo: Some(r), .. } => r.clone(),
        _ => cwd,
    };
    let (layers, errors) = Layers::load_files(Some(&repo));
    let (settings, more) = layers.resolve();
    for e in errors.iter().chain(&more) {
        tracing::warn!("{e}");
    }
    let orch = Orchestrator::open_default(settings.orchestrator_config(), AgentRunners::standard())?;
    match args.command {
        TaskCommand::Start { prompt, agent, .. } => {
            let mut events = orch.subscribe();
            let id = orch.start_task(&repo, &prompt, serde_json::Value::Null, agent.as_deref()).await?;
            let mut stderr = std::io::stderr();
            let _ = writeln!(stderr, "task {id} started");
            loop {
                match events.recv().await {
                    Ok(ev) if ev.task_id == id => {
                        let _ = writeln!(stderr, "[{}] {}", ev.state, ev.message);
                        if !ev.state.is_working() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        if !orch.show(id)?.task.state.is_working() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
            out(&render(&orch.show(id)?, false))?;
        }
        TaskCommand::List => {
            let mut text = String::new();
            for t in orch.list()? {
                text.push_str(&format!(
                    "{:>4}  {:<22}  {:<10}  {}\n",
                    t.id,
                    t.state.as_str(),
                    t.agent,
                    title(&t.prompt)
                ));
            }
            out(&text)?;
        }
        TaskCommand::Show { id } => out(&render(&orch.show(id)?, true))?,
        TaskCommand::Gc => {
            let removed = orch.gc().await?;
            let mut text = format!("removed {} orphan worktree(s)\n", removed.len());
            for p in removed {
                text.push_str(&format!("  {}\n", p.display()));
            }
            out(&text)?;
        }
    }
    Ok(())
}

/// A task as text: state, branch, worktree, pull request summary (and the log with `log`).
pub(crate) fn render(d: &TaskDetails, log: bool) -> String {
    let t = &d.task;
    let mut s = format!("task {}: {}\nstate: {}\nagent: {}\n", t.id, title(&t.prompt), t.state, t.agent);
    if let Some(b) = &t.branch {
        s.push_str(&format!("branch: {b}\n"));
    }
    if let Some(w) = &t.worktree {
        s.push_str(&format!("worktree: {}\n", w.display()));
    }
    if let Some(e) = &t.error {
        s.push_str(&format!("error: {e}\n"));
    }
    if let Some(p) = &t.plan {
        s.push_str(&format!("plan:\n{p}\n"));
    }
    if let Some(pr) = &d.pull_request {
        s.push_str(&format!(
            "pull request: {}\n  {} file(s) changed, +{} -{}; checks: {}; tokens: {}\n",
            pr.title,
            pr.stat.files_changed,
            pr.stat.insertions,
            pr.stat.deletions,
            pr.check.label(),
            pr.tokens
        ));
        for f in &pr.files {
            let ranges: Vec<String> =
                f.ranges.iter().map(|r| format!("{}-{}", r.new_start, r.new_start + r.new_count.max(1) - 1)).collect();
            s.push_str(&format!("  {} (lines {})\n", f.path, ranges.join(", ")));
        }
        if let Some(u) = &pr.github_url {
            s.push_str(&format!("  {u}\n"));
        }
        if !pr.description.is_empty() {
            s.push_str(&format!("\n{}\n", pr.description));
        }
    }
    for so in &d.signoffs {
        s.push_str(&format!("signed off ({}) by {} at {}\n", so.action.label(), so.who, so.head_commit));
    }
    if log && !d.log.is_empty() {
        s.push_str("\nlog:\n");
        for l in &d.log {
            s.push_str(&format!("  {}\n", l.line));
        }
    }
    s
}
