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

// Before logging is set up, and for the CLI's own failure, stderr is the only place to say so.
#[allow(clippy::print_stderr)]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if let Err(e) = init_logging(&args) {
        eprintln!("baton: {e}");
        return std::process::ExitCode::from(2);
    }
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            tracing::info!(version = env!("CARGO_PKG_VERSION"), "baton language server starting on stdio");
            let (service, socket) = baton::server::Server::service();
            tower_lsp_server::Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
                .concurrency_level(baton::server::CONCURRENCY)
                .serve(service)
                .await;
            std::process::ExitCode::SUCCESS
        }
        Command::Complete { location } => match baton::cli::complete(&location).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baton complete: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
        Command::Task { command } => match baton::cli_task::run(baton::cli_task::TaskArgs { command }).await {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("baton task: {e:#}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}
