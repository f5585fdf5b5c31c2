//! Child processes, below the agents and the orchestrator: one process-group guard and killer
//! (on rustix, no `kill` binary), one bounded tail reader, one run-with-a-time-limit, and the
//! liveness checks recovery relies on (a pid's start time, the processes working in a folder).
//!
//! Linux facts used here: `/proc/<pid>/stat` field 22 is the process's start time in clock ticks
//! since boot, which tells a process from a later one that reuses its pid; `/proc/<pid>/cwd` is
//! its working directory as seen from Baton's mount namespace (a bubblewrap sandbox binds the
//! worktree at the same path, so sandboxed processes show the worktree too).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// A process group Baton started, as recorded in the task database: the leader's pid (which is
/// the group id) and the leader's start time, so a later process reusing the pid is never taken
/// for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub(crate) struct GroupRecord {
    pub(crate) pgid: u32,
    /// Clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub(crate) start_time: u64,
}

impl GroupRecord {
    /// The record of the group led by `pid` (a child spawned with `process_group(0)`), or `None`
    /// when it has already gone or `/proc` is not available.
    pub(crate) fn of(pid: u32) -> Option<Self> {
        Some(GroupRecord { pgid: pid, start_time: start_time(pid)? })
    }

    /// Whether the leader still runs and is the process recorded (same start time).
    pub(crate) fn is_alive(&self) -> bool {
        start_time(self.pgid) == Some(self.start_time) && !is_zombie(self.pgid)
    }

    /// Kills the group (SIGKILL) if its leader is still the recorded process. Returns whether a
    /// signal was sent.
    pub(crate) fn kill_if_alive(&self) -> bool {
        if !self.is_alive() {
            return false;
        }
        kill_group(self.pgid);
        true
    }
}

/// Sends SIGKILL to process group `pgid` and to the children of its leader (pid `pgid`) with
/// their own process groups. Group ids 0 and 1 (our own group, init's) are refused.
///
/// Why the children: bubblewrap's `--new-session` starts the sandbox in a session of its own,
/// led by the leader's child (the init of the sandbox's pid namespace), outside the group.
/// `--die-with-parent` makes that child die with the leader only once it has set it up: killed
/// in the first milliseconds, the leader left the sandbox running the agent, unsupervised. The
/// group is stopped first, so the leader cannot start a child between the look and the kill.
pub(crate) fn kill_group(pgid: u32) {
    if pgid <= 1 {
        return;
    }
    let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else {
        return;
    };
    let _ = rustix::process::kill_process_group(pid, Signal::STOP);
    let children = children_of(pgid);
    let _ = rustix::process::kill_process_group(pid, Signal::KILL);
    for child in children.into_iter().filter_map(|c| i32::try_from(c).ok().and_then(Pid::from_raw)) {
        // Killing a pid namespace's init kills every process in the namespace.
        let _ = rustix::process::kill_process(child, Signal::KILL);
        let _ = rustix::process::kill_process_group(child, Signal::KILL);
    }
}

/// The processes whose parent is `pid` (from `/proc/*/stat`; empty where there is no `/proc`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|&p| parent_of(p) == Some(pid))
        .collect()
}

/// Field `n` (counted from 1, as in proc(5); 3 or more) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?).map(str::to_owned)
}

/// The parent of process `pid` (field 4 of `/proc/<pid>/stat`).
fn parent_of(pid: u32) -> Option<u32> {
    stat_field(pid, 4)?.parse().ok()
}

/// Kills a child's whole process group (SIGKILL) when dropped or on [`ProcessGroup::kill`].
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Option<u32>,
}

impl ProcessGroup {
    /// Guards the group led by `pid` (a child spawned with `process_group(0)`); `None` (a child
    /// that already exited) guards nothing.
    pub(crate) fn new(pid: Option<u32>) -> Self {
        Self { pgid: pid }
    }

    /// Sends SIGKILL to the group (once; later calls do nothing).
    pub(crate) fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            kill_group(pgid);
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The start time of process `pid` in clock ticks since boot, or `None` when there is no such
/// process (or no `/proc`).
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    stat_field(pid, 22)?.parse().ok()
}

/// Whether `pid` is a zombie (exited, waiting for its parent to reap it): gone for our purposes.
fn is_zombie(pid: u32) -> bool {
    stat_field(pid, 3).is_some_and(|state| state.starts_with(['Z', 'X']))
}

/// Whether process `pid` runs and, when `start` is given, is the process that started then.
/// Where `/proc` is missing, a pid that can be signalled counts as alive.
pub(crate) fn pid_alive(pid: u32, start: Option<u64>) -> bool {
    if Path::new("/proc/self/stat").exists() {
        return match start_time(pid) {
            None => false,
            Some(t) => start.is_none_or(|s| s == t) && !is_zombie(pid),
        };
    }
    i32::try_from(pid).ok().and_then(Pid::from_raw).is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// A process whose working directory is inside a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Resident {
    pub(crate) pid: u32,
    /// Its command name (`/proc/<pid>/comm`).
    pub(crate) name: String,
    pub(crate) cwd: PathBuf,
}

impl std::fmt::Display for Resident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {})", self.name, self.pid)
    }
}

/// The processes (other than zombies) whose working directory is `dir` or inside it. Empty
/// where `/proc` is not available. Processes Baton may not inspect (other users') are skipped.
pub(crate) fn residents(dir: &Path) -> Vec<Resident> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(cwd) = std::fs::read_link(entry.path().join("cwd")) else {
            continue;
        };
        if !cwd.starts_with(&dir) || is_zombie(pid) {
            continue;
        }
        let name = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default().trim().to_owned();
        found.push(Resident { pid, name, cwd });
    }
    found.sort_by_key(|r| r.pid);
    found
}

/// The last bytes of a stream, kept as it is read: at most `cap` bytes, whatever the stream's
/// length.
#[derive(Debug)]
pub(crate) struct Tail {
    kept: Vec<u8>,
    cap: usize,
    cut: bool,
}

impl Tail {
    /// Keeps at most `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self { kept: Vec::new(), cap, cut: false }
    }

    /// Adds what was read next.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > self.cap {
            let excess = self.kept.len() - self.cap;
            self.kept.drain(..excess);
            self.cut = true;
        }
    }

    /// The kept bytes as (lossy) UTF-8, and whether anything was dropped. A cut that split a
    /// character drops its leftover continuation bytes.
    pub(crate) fn finish(mut self) -> (String, bool) {
        if self.cut {
            let skip = self.kept.iter().take(3).take_while(|b| (**b & 0b1100_0000) == 0b1000_0000).count();
            self.kept.drain(..skip);
        }
        (String::from_utf8_lossy(&self.kept).into_owned(), self.cut)
    }
}

/// Reads `reader` to its end, keeping only the last `cap` bytes ([`Tail`]). Returns the kept
/// bytes as (lossy) UTF-8 and whether anything was dropped. Read errors end the reading.
pub(crate) async fn read_tail<R: AsyncRead + Unpin>(mut reader: R, cap: usize) -> (String, bool) {
    let mut tail = Tail::new(cap);
    let mut buffer = [0u8; 8192];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => tail.push(&buffer[..n]),
        }
    }
    tail.finish()
}

/// How a command run by [`run_with_limit`] ended.
#[derive(Debug)]
pub(crate) struct CommandOutput {
    /// The exit code; `None` when killed by a signal.
    pub(crate) code: Option<i32>,
    /// The end of stdout (at most the `tail_bytes` given).
    pub(crate) stdout: String,
    /// The end of stderr.
    pub(crate) stderr: String,
    /// Stopped at its time limit.
    pub(crate) timed_out: bool,
}

/// Why [`run_with_limit`] produced no [`CommandOutput`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum RunError {
    #[error("cannot start {program}: {reason}")]
    Spawn { program: String, reason: String },
    #[error("cancelled")]
    Cancelled,
}

/// How long the output readers may take after the process group is gone, in milliseconds.
const READ_GRACE_MS: u64 = 2_000;

/// Spawns `command` (which must pipe stdout and stderr and lead its own process group), waits
/// at most `limit_ms` milliseconds, then kills the whole group, including whatever the command
/// left running in the background. Each of stdout and stderr is capped to its last `tail_bytes`
/// bytes. Cancelling `cancel` kills the group and returns [`RunError::Cancelled`].
///
/// Errors: [`RunError::Spawn`] when the program cannot start.
pub(crate) async fn run_with_limit(
    mut command: Command,
    limit_ms: u64,
    tail_bytes: usize,
    cancel: &CancellationToken,
) -> Result<CommandOutput, RunError> {
    let program = command.as_std().get_program().to_string_lossy().into_owned();
    let mut child = command.spawn().map_err(|e| RunError::Spawn { program, reason: e.to_string() })?;
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
    let (code, timed_out) = tokio::select! {
        waited = tokio::time::timeout(Duration::from_millis(limit_ms), child.wait()) => match waited {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(_)) => (None, false),
            Err(_) => (None, true),
        },
        () = cancel.cancelled() => {
            group.kill();
            let _ = child.wait().await;
            return Err(RunError::Cancelled);
        }
    };
    group.kill();
    let _ = child.wait().await;
    let grace = Duration::from_millis(READ_GRACE_MS);
    let stdout = tokio::time::timeout(grace, out).await.ok().and_then(Result::ok).unwrap_or_default();
    let stderr = tokio::time::timeout(grace, err).await.ok().and_then(Result::ok).unwrap_or_default();
    Ok(CommandOutput { code, stdout, stderr, timed_out })
}

/// Test support: waits (up to 10 s) until no process works in `dir` any more; returns those
/// still there at the deadline.
#[cfg(test)]
pub(crate) async fn residents_after_exit(dir: &Path) -> Vec<Resident> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let found = residents(dir);
        if found.is_empty() || std::time::Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;

    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        c
    }

    #[tokio::test]
    async fn a_time_limit_kills_the_group_with_its_background_jobs_and_keeps_the_tails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("bg");
        let script = format!("sleep 600 & echo $! > {}; printf '%0100d' 0; echo err >&2; wait", pid_file.display());
        let out = run_with_limit(sh(&script), 300, 10, &CancellationToken::new()).await.expect("ran");
        assert!(out.timed_out);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("0000000000", "err\n"));
        let pid: u32 = std::fs::read_to_string(&pid_file).expect("pid").trim().parse().expect("number");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pid_alive(pid, None) && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert!(!pid_alive(pid, None), "the background job {pid} outlived its group");
    }

    #[tokio::test]
    async fn records_tell_a_live_leader_from_a_reused_pid_and_residents_are_found_by_cwd() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = sh("exec sleep 600");
        c.current_dir(dir.path());
        let child = c.spawn().expect("spawn");
        let pid = child.id().expect("pid");
        let record = GroupRecord::of(pid).expect("record");
        assert!(record.is_alive());
        let reused = GroupRecord { start_time: record.start_time + 1, ..record };
        assert!(!reused.is_alive(), "another start time is another process");
        assert!(!reused.kill_if_alive());
        let found = residents(dir.path());
        assert_eq!(found.iter().map(|r| r.pid).collect::<Vec<_>>(), [pid], "{found:?}");
        assert!(record.kill_if_alive());
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while record.is_alive() && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        assert!(!record.is_alive());
        assert!(residents(dir.path()).is_empty());
    }

    /// A child of the leader in a session of its own (as bubblewrap's `--new-session` makes the
    /// sandbox) is outside the group; it must die with it all the same.
    #[tokio::test]
    async fn killing_a_group_kills_the_leaders_children_in_sessions_of_their_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let pid_file = dir.path().join("escaped");
        let script = format!("setsid sleep 600 & echo $! > {}; wait", pid_file.display());
        let mut child = sh(&script).spawn().expect("spawn");
        let leader = child.id().expect("pid");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let escaped = loop {
            let pid = std::fs::read_to_string(&pid_file).ok().and_then(|s| s.trim().parse::<u32>().ok());
            // Already `sleep`, and the leader of its own session (field 6: the session id).
            let settled = pid.filter(|p| {
                let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
                comm.trim() == "sleep" && stat_field(*p, 6) == Some(p.to_string())
            });
            if let Some(p) = settled {
                break p;
            }
            assert!(std::time::Instant::now() < deadline, "the child never started its own session");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        kill_group(leader);
        let _ = child.wait().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while pid_alive(escaped, None) && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!pid_alive(escaped, None), "the child {escaped} in its own session outlived its leader's group");
    }

    #[tokio::test]
    async fn the_tail_keeps_the_last_bytes_on_a_character_boundary() {
        let text = "é".repeat(10);
        let (tail, cut) = read_tail(text.as_bytes(), 5).await;
        assert!(cut);
        assert_eq!(tail, "éé");
    }
}
