//! Running agents' child processes: the bubblewrap sandbox for the built-in agent's commands
//! (writes only inside the worktree, no network), process groups killed on timeout, cancel or
//! drop, and bounded capture of a child's output.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// How commands run: inside bubblewrap, or directly when `bwrap` is missing or cannot create
/// namespaces here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sandbox {
    Bwrap,
    None,
}

static DETECTED: OnceCell<Sandbox> = OnceCell::const_new();

impl Sandbox {
    /// Checks once per process whether `bwrap` runs here with the flags commands use (a read-only
    /// root, private /proc, /dev, /tmp and network namespace).
    pub(crate) async fn detect() -> Sandbox {
        *DETECTED
            .get_or_init(|| async {
                let status = Command::new("bwrap")
                    .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
                    .args(["--tmpfs", "/tmp", "--unshare-net", "--die-with-parent", "true"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .kill_on_drop(true)
                    .status();
                match tokio::time::timeout(Duration::from_secs(10), status).await {
                    Ok(Ok(status)) if status.success() => Sandbox::Bwrap,
                    outcome => {
                        tracing::info!(?outcome, "bwrap is not usable; commands run unsandboxed");
                        Sandbox::None
                    }
                }
            })
            .await
    }

    /// A command running `argv` with `cwd` = `worktree`, wrapped in bwrap when sandboxed:
    /// `bwrap --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp --bind W W --unshare-net
    /// --die-with-parent --chdir W -- argv...` (the worktree bind comes after `--tmpfs /tmp` so a
    /// worktree under /tmp stays visible). Stdin is null, stdout and stderr piped, and the child
    /// leads its own process group.
    pub(crate) fn command(self, worktree: &Path, argv: &[String]) -> Option<Command> {
        let (program, args) = argv.split_first()?;
        let mut command = match self {
            Sandbox::Bwrap => {
                let mut command = Command::new("bwrap");
                command
                    .args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
                    .args(["--tmpfs", "/tmp", "--bind"])
                    .arg(worktree)
                    .arg(worktree)
                    .args(["--unshare-net", "--die-with-parent", "--chdir"])
                    .arg(worktree)
                    .arg("--")
                    .arg(program)
                    .args(args);
                command
            }
            Sandbox::None => {
                let mut command = Command::new(program);
                command.args(args);
                command
            }
        };
        command
            .current_dir(worktree)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        Some(command)
    }
}

/// Kills a child's whole process group (SIGKILL) when dropped or on [`ProcessGroup::kill`].
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pid: Option<rustix::process::Pid>,
}

impl ProcessGroup {
    /// Guards the group led by `pid` (a child spawned with `process_group(0)`); `None` (a child
    /// that already exited) guards nothing.
    pub(crate) fn new(pid: Option<u32>) -> Self {
        let pid = pid.and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw);
        Self { pid }
    }

    /// Sends SIGKILL to the group (once; later calls do nothing).
    pub(crate) fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads `reader` to its end, keeping only the last `cap` bytes. Returns the kept bytes as
/// (lossy) UTF-8 and whether anything was dropped.
pub(crate) async fn read_tail<R: AsyncRead + Unpin>(mut reader: R, cap: usize) -> (String, bool) {
    let mut kept: Vec<u8> = Vec::new();
    let mut cut = false;
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > cap {
                    let excess = kept.len() - cap;
                    kept.drain(..excess);
                    cut = true;
                }
            }
        }
    }
    (String::from_utf8_lossy(&kept).into_owned(), cut)
}

/// How a command ended.
#[derive(Debug)]
pub(crate) struct CommandOutput {
    /// The exit code; `None` when killed by a signal.
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// Stopped at its time limit.
    pub(crate) timed_out: bool,
}

/// Why a command did not produce a [`CommandOutput`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    #[error("cannot start {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("empty command")]
    Empty,
    #[error("cancelled")]
    Cancelled,
}

/// Runs `argv` in the worktree under `sandbox`, with a time limit (milliseconds) after which the
/// whole process group is killed, and each of stdout and stderr capped to its last
/// `tail_bytes` bytes. Cancelling `cancel` kills the group too.
pub(crate) async fn run_command(
    sandbox: Sandbox,
    worktree: &Path,
    argv: &[String],
    time_limit_ms: u64,
    tail_bytes: usize,
    cancel: &CancellationToken,
) -> Result<CommandOutput, CommandError> {
    let mut command = sandbox.command(worktree, argv).ok_or(CommandError::Empty)?;
    let mut child = command.spawn().map_err(|e| CommandError::Spawn {
        program: argv.first().cloned().unwrap_or_default(),
        reason: e.to_string(),
    })?;
    let mut group = ProcessGroup::new(child.id());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let out = tokio::spawn(async move {
        match stdout {
            Some(s) => read_tail(s, tail_bytes).await.0,
            None => String::new(),
        }
    });
    let err = tokio::spawn(async move {
        match stderr {
            Some(s) => read_tail(s, tail_bytes).await.0,
            None => String::new(),
        }
    });
    let limit = Duration::from_millis(time_limit_ms);
    let (code, timed_out) = tokio::select! {
        waited = tokio::time::timeout(limit, child.wait()) => match waited {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(_)) => (None, false),
            Err(_) => (None, true),
        },
        () = cancel.cancelled() => {
            group.kill();
            let _ = child.wait().await;
            return Err(CommandError::Cancelled);
        }
    };
    // Kill what the command left running (background jobs holding the pipes open).
    group.kill();
    let _ = child.wait().await;
    let grace = Duration::from_secs(2);
    let stdout = tokio::time::timeout(grace, out).await.ok().and_then(Result::ok).unwrap_or_default();
    let stderr = tokio::time::timeout(grace, err).await.ok().and_then(Result::ok).unwrap_or_default();
    Ok(CommandOutput { code, stdout, stderr, timed_out })
}
