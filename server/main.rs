//! The `baton` executable: the stdio language server by default, or a CLI mode.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Baton: AI coding assistance in any LSP editor.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about)]
struct Args {
    /// Write logs to this file (appending) instead of stderr.
    #[arg(long, global = true, value_name = "PATH")]
    log_file: Option<PathBuf>,
    /// Log filter (tracing's env-filter syntax: `info`, `baton=debug`); overrides BATON_LOG.
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    /// Accepted for editors that pass it (the server always speaks LSP over stdio).
    #[arg(long, global = true, hide = true)]
    stdio: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the language server over stdio (the default).
    Serve,
    /// Print the inline suggestion for FILE:LINE:COL (1-based; columns in characters).
    Complete {
        #[arg(value_name = "FILE:LINE:COL")]
        location: String,
    },
    /// Every agent profile (the built-in presets and yours): installed, version, runtime, login.
    Agents {
        /// Print JSON (the `baton/agents` answer) instead of a table.
        #[arg(long)]
        json: bool,
        /// A directory inside the repository whose `baton.toml` applies (the current directory
        /// when absent).
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
    },
    /// Background agent tasks: start one, list them, show one.
    Task {
        #[command(subcommand)]
        command: baton::cli_task::TaskCommand,
    },
}

fn init_logging(args: &Args) -> anyhow::Result<()> {
    let filter = match &args.log_level {
        Some(f) => EnvFilter::try_new(f)?,
        None => EnvFilter::try_from_env("BATON_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match &args.log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open log file {}: {e}", path.display()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// Sends panic reports to the log (stderr or `--log-file`) instead of the default hook's bare
/// stderr line: the transport turns a handler's panic into an error answer and the session goes
/// on, so the log is where the bug shows.
fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        let message = baton::lsp::transport::panic_message(info.payload());
        let backtrace = std::backtrace::Backtrace::capture();
        tracing::error!(location, "panic: {message}\n{backtrace}");
    }));
}

// Before logging is set up, and for the CLI's own failure, stderr is the only place to say so.
//
// One thread runs every task: the session is one task (the transport drives every handler inside
// it), parses and file work run on the blocking pool, and the rest is I/O. A second worker gained
// the session nothing and cost every request cross-core wake-ups: the model's answer arrived on
// the other worker, which woke the first (tests/bench/perf/RESULTS.md, "A reference server").
// The current-thread scheduler, not the multi-thread one with one worker: the same one thread
// without the work-stealing scheduler's bookkeeping at each poll (RESULTS.md, "One thread").
#[allow(clippy::print_stderr)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logging(&args) {
        eprintln!("baton: {e}");
        return std::process::ExitCode::from(2);
    }
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "baton language server starting on stdio");
            log_panics();
            let (service, shortcut) = baton::server::Server::session();
            let activity = baton::memory::Activity::new();
            tokio::spawn(baton::memory::trim_when_quiet(
                activity.clone(),
                baton::memory::QUIET,
                baton::memory::release_free_memory,
            ));
            // The session runs as a task, polled by the runtime's thread when the input (or the
            // model's answer) arrives.
            let session = tokio::spawn(baton::lsp::transport::serve(
                baton::memory::Watched::new(baton::lsp::stdio::stdin(), activity),
                baton::memory::Settled::new(baton::lsp::stdio::stdout()),
                service,
                shortcut,
                baton::server::CONCURRENCY,
            ));
            let outcome = match session.await {
                Ok(outcome) => outcome,
                Err(e) => {
                    tracing::error!("baton language server stopped: the session task failed ({e})");
                    return std::process::ExitCode::FAILURE;
                }
            };
            if let Err(e) = baton::step_marks::dump() {
                tracing::warn!("cannot write the step marks ({}): {e}", baton::step_marks::ENV);
            }
            // LSP: exit status 0 only when `shutdown` came before `exit`, 1 otherwise.
            match outcome.failure() {
                None => {
                    tracing::info!("baton language server stopped after shutdown ({:?})", outcome.end);
                    std::process::ExitCode::SUCCESS
                }
                Some(reason) => {
                    tracing::error!("baton language server exits with status 1: {reason}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Complete { location } => match baton::cli::complete(&location).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baton complete: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Agents { json, repo } => {
            let dir = match repo.map_or_else(std::env::current_dir, Ok) {
                Ok(d) => d,
                Err(e) => {
                    eprintln!("baton agents: no current directory: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            match baton::cli::agents(&dir, json).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("baton agents: {e:#}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Task { command } => match baton::cli_task::run(baton::cli_task::TaskArgs { command }).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baton task: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
