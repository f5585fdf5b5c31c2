//! `baton task start|list|show|answer|gc`: the orchestrator from the shell. `start` runs the task's
//! pipeline in this process and waits for it, with progress on stderr and the result on stdout.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Layers;
use crate::orchestrator::render::Detail;
use crate::orchestrator::task::title;
use crate::orchestrator::{AgentRunners, Orchestrator, Task};

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
    /// List the current repository's tasks, newest first.
    List {
        /// Every repository's tasks.
        #[arg(long)]
        all: bool,
    },
    /// Show a task with its log and pull request.
    Show {
        /// The task's id.
        id: i64,
    },
    /// Answer the question of a task in needs_input (an agent's permission request): `allow` or
    /// `reject`. The server running the task picks the answer up within a second.
    Answer {
        /// The task's id.
        id: i64,
        /// `allow` or `reject`.
        answer: String,
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
            out(&orch.show(id)?.render(Detail::Brief))?;
        }
        TaskCommand::List { all } => {
            let mine = if all {
                None
            } else {
                Some(Orchestrator::repo_root(&repo).await.with_context(|| {
                    format!("{} is not in a git repository (baton task list --all lists every one)", repo.display())
                })?)
            };
            let mut tasks: Vec<Task> =
                orch.list()?.into_iter().filter(|t| mine.as_ref().is_none_or(|r| *r == t.repo_root)).collect();
            tasks.reverse();
            out(&list_table(&tasks))?;
        }
        TaskCommand::Show { id } => out(&orch.show(id)?.render(Detail::Full))?,
        TaskCommand::Answer { id, answer } => {
            let answer = orch.answer(id, &answer)?;
            out(&format!("task {id}: answered {}; the agent goes on\n", answer.as_str()))?;
        }
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

/// `baton task list`'s table, in the order given: id, state, agent, repository (its top-level
/// directory) and title.
fn list_table(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return "no tasks\n".to_owned();
    }
    let repos: Vec<String> = tasks.iter().map(|t| t.repo_root.display().to_string()).collect();
    let width = repos.iter().map(|r| r.chars().count()).max().unwrap_or(0).max("REPOSITORY".len());
    let mut text = format!("{:>4}  {:<22}  {:<10}  {:<width$}  TITLE\n", "ID", "STATE", "AGENT", "REPOSITORY");
    for (t, r) in tasks.iter().zip(&repos) {
        text.push_str(&format!(
            "{:>4}  {:<22}  {:<10}  {:<width$}  {}\n",
            t.id,
            t.state.as_str(),
            t.agent,
            r,
            title(&t.prompt)
        ));
    }
    text
}
