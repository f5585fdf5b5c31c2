//! The one place Baton runs the git CLI: every command gets a hardened environment in which
//! nothing a repository, a worktree or an agent can write makes git run a program, and commands
//! on a task worktree address it explicitly (`--git-dir` of its admin directory, recorded when
//! the worktree was created, and `--work-tree`) after checking that its `.git` file is still the
//! one git wrote.
//!
//! What is closed, and how (ARCHITECTURE.md lists the same set):
//! - the worktree's `.git` (a file an agent can replace with a repository of its own): never
//!   read; `--git-dir`/`--work-tree` are explicit and the file is checked before each command;
//! - hooks of every kind: `core.hooksPath=/dev/null`; config-defined hooks (`hook.<name>.command`)
//!   emptied;
//! - `core.fsmonitor=false`;
//! - drivers that `.gitattributes` can name (`filter.<d>.clean/smudge/process`, `diff.<d>.command`
//!   and `textconv`, `merge.<d>.driver`) and `diff.external`, `trailer.<t>.command/cmd`,
//!   `tar.<f>.command`: every one defined in the config git would read is listed first (`git
//!   config --list`, includes followed) and overridden with an empty command (git then runs
//!   nothing), and `filter.<d>.required=false`; diffs pass `--no-ext-diff --no-textconv`;
//! - system config (`GIT_CONFIG_NOSYSTEM`), system attributes (`GIT_ATTR_NOSYSTEM`) and the
//!   user's global config (`GIT_CONFIG_GLOBAL` points at a file Baton writes with the user's
//!   identity only, or `/dev/null`); every `GIT_*` variable of Baton's own environment is removed;
//! - the network (`protocol.allow=never`, `GIT_NO_LAZY_FETCH`, `core.sshCommand=false`), except
//!   for [`Git::for_push`], where only the user's global config may name network programs;
//! - pager (`--no-pager`), editor (`GIT_EDITOR=:`, which git never runs), prompts
//!   (`GIT_TERMINAL_PROMPT=0`), signing and signature checks, rerere, auto-stash, automatic gc
//!   and maintenance, submodule recursion, and discovery of embedded bare repositories
//!   (`safe.bareRepository=explicit`).
//!
//! Aliases never apply: Baton only runs built-in commands, which aliases cannot shadow.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use tokio::process::Command;
use tokio::sync::OnceCell;

/// The oldest git that honours `GIT_CONFIG_COUNT` (2.31), which the hardening relies on.
const MIN_VERSION: (u32, u32) = (2, 31);

/// Settings that hold for every command (command-line scope: they beat every config file).
const FIXED: &[(&str, &str)] = &[
    ("core.hooksPath", "/dev/null"),
    ("core.fsmonitor", "false"),
    ("core.quotePath", "false"),
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("commit.gpgSign", "false"),
    ("tag.gpgSign", "false"),
    ("push.gpgSign", "false"),
    ("merge.verifySignatures", "false"),
    ("merge.autoStash", "false"),
    ("log.showSignature", "false"),
    ("rerere.enabled", "false"),
    ("submodule.recurse", "false"),
    ("diff.ignoreSubmodules", "all"),
    ("status.submoduleSummary", "false"),
    ("fetch.recurseSubmodules", "false"),
    ("safe.bareRepository", "explicit"),
    ("worktree.useRelativePaths", "false"),
];

/// How much of `git checkout`'s stderr is kept for its error message, in bytes.
const CHECKOUT_TAIL_BYTES: usize = 2048;
/// Longest progress line read from `git checkout`, in bytes.
const PROGRESS_LINE_BYTES: usize = 256;

/// Settings that keep git off the network (all commands but [`Git::for_push`]).
const OFFLINE: &[(&str, &str)] = &[("protocol.allow", "never"), ("core.sshCommand", "false")];

/// Errors of running git.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GitError {
    /// The task worktree's `.git` is not the file git wrote when Baton created it.
    #[error(
        "the worktree {} has a changed .git ({found}; git wrote the file `gitdir: {}`): Baton runs no git command there",
        .worktree.display(),
        .git_dir.display()
    )]
    Tampered { worktree: PathBuf, git_dir: PathBuf, found: String },
    #[error("Baton needs git {}.{} or newer to run git safely; found {found}", MIN_VERSION.0, MIN_VERSION.1)]
    TooOld { found: String },
    #[error("cannot run git {args}: {reason}")]
    Spawn { args: String, reason: String },
    #[error("git {args} failed ({status}): {stderr}")]
    Failed { args: String, status: String, stderr: String },
    /// Git answered in a form Baton cannot read.
    #[error("cannot read the output of git {args}")]
    Malformed { args: String },
    /// An object the repository should have is missing.
    #[error("git has no object {0}")]
    MissingObject(String),
    /// The user's git identity (`user.name`, `user.email`) is not configured.
    #[error("git {key} is not set")]
    NoIdentity { key: &'static str },
    /// No admin directory of the repository names the worktree.
    #[error("git has no record of the worktree {}", .0.display())]
    UnknownWorktree(PathBuf),
    /// A file Baton keeps for git (the identity file) or git's own records could not be read or
    /// written.
    #[error("{what}: {error}")]
    File { what: String, error: std::io::Error },
    /// What git wrote for a new worktree is not what `git worktree add` writes.
    #[error("the new worktree {} is not as git makes one: {why}", .worktree.display())]
    NewWorktree { worktree: PathBuf, why: String },
}

/// Where a command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A directory of the user's repository (git discovers the repository from it).
    Repo(PathBuf),
    /// A task worktree: its admin directory (`<repo>/.git/worktrees/<name>`) and its folder.
    Worktree { git_dir: PathBuf, work_tree: PathBuf },
}

/// A hardened git runner for one repository or task worktree. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Git {
    target: Target,
    /// `GIT_CONFIG_GLOBAL`: `/dev/null`, or a file holding the user's identity.
    global: PathBuf,
    /// `GIT_ATTR_SOURCE`: the tree `.gitattributes` are read from, when set.
    attr_source: Option<String>,
    /// Network and the user's own global config (pushing a task branch).
    push: bool,
}

impl Git {
    /// Commands in `dir`, a directory of the user's repository (or any directory, to discover one).
    pub(crate) fn repo(dir: &Path) -> Git {
        Git { target: Target::Repo(dir.to_path_buf()), global: "/dev/null".into(), attr_source: None, push: false }
    }

    /// Commands on a task worktree: `--git-dir=<git_dir> --work-tree=<work_tree>`, after checking
    /// that `<work_tree>/.git` is exactly `gitdir: <git_dir>`.
    pub(crate) fn worktree(git_dir: &Path, work_tree: &Path) -> Git {
        Git {
            target: Target::Worktree { git_dir: git_dir.to_path_buf(), work_tree: work_tree.to_path_buf() },
            global: "/dev/null".into(),
            attr_source: None,
            push: false,
        }
    }

    /// The same runner with `GIT_CONFIG_GLOBAL` at `file` (see [`identity_file`]).
    pub(crate) fn with_global(mut self, file: &Path) -> Git {
        self.global = file.to_path_buf();
        self
    }

    /// The same runner reading `.gitattributes` from `treeish` (`GIT_ATTR_SOURCE`) instead of the
    /// working tree and index, so files an agent wrote there are not consulted.
    pub(crate) fn with_attr_source(mut self, treeish: &str) -> Git {
        self.attr_source = Some(treeish.to_owned());
        self
    }

    /// The one exception to the hardening: pushing needs the network and the user's own global
    /// config (credentials, ssh settings). Hooks, fsmonitor and drivers stay off, the repository
    /// is still addressed explicitly, and only the global config names network programs: ssh is
    /// its `core.sshCommand` or `ssh` (`GIT_SSH_COMMAND`), credential helpers are its own, the
    /// `ext::` and `git://` transports are off, and `git push` runs git's own `git-receive-pack`
    /// (`--receive-pack`), whatever `remote.<name>.receivepack` says.
    pub(crate) fn for_push(mut self) -> Git {
        self.push = true;
        self
    }

    /// The directory commands run in.
    pub(crate) fn dir(&self) -> &Path {
        match &self.target {
            Target::Repo(dir) => dir,
            Target::Worktree { work_tree, .. } => work_tree,
        }
    }

    /// Checks the worktree's `.git` (nothing to check for a repository).
    ///
    /// Errors: [`GitError::Tampered`].
    pub(crate) fn check(&self) -> Result<(), GitError> {
        let Target::Worktree { git_dir, work_tree } = &self.target else { return Ok(()) };
        let dotgit = work_tree.join(".git");
        let tampered =
            |found: String| GitError::Tampered { worktree: work_tree.clone(), git_dir: git_dir.clone(), found };
        let meta = std::fs::symlink_metadata(&dotgit).map_err(|e| tampered(format!("cannot read it: {e}")))?;
        if meta.file_type().is_symlink() {
            return Err(tampered("it is a symbolic link".to_owned()));
        }
        if meta.is_dir() {
            return Err(tampered("it is a directory".to_owned()));
        }
        if !meta.is_file() || meta.len() > 64 * 1024 {
            return Err(tampered("it is not the small file git writes".to_owned()));
        }
        let content = std::fs::read(&dotgit).map_err(|e| tampered(format!("cannot read it: {e}")))?;
        if content != dotgit_content(git_dir) {
            let shown = String::from_utf8_lossy(&content);
            return Err(tampered(format!("it says {:?}", shown.trim_end())));
        }
        Ok(())
    }

    /// A ready-to-spawn `git <args>`: hardened environment, stdin null, stdout and stderr piped,
    /// killed on drop. Callers may change the stdio before spawning.
    ///
    /// Errors: [`GitError::Tampered`], [`GitError::TooOld`], the config cannot be listed.
    pub(crate) async fn command<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Command, GitError> {
        self.check()?;
        check_version().await?;
        let mut overrides: Vec<(String, String)> =
            FIXED.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut ssh = None;
        if self.push {
            // Only the user's global config may name network commands: credential helpers from
            // other files are reset (an empty value empties the list) and ssh is what the global
            // config says, or plain `ssh`.
            overrides.push(("credential.helper".to_owned(), String::new()));
            for helper in user_global("credential.helper").await {
                overrides.push(("credential.helper".to_owned(), helper));
            }
            overrides.push(("protocol.ext.allow".to_owned(), "never".to_owned()));
            overrides.push(("protocol.git.allow".to_owned(), "never".to_owned()));
            ssh = Some(user_global("core.sshCommand").await.pop().unwrap_or_else(|| "ssh".to_owned()));
        } else {
            overrides.extend(OFFLINE.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        }
        // The drivers the config defines, listed with the fixed settings already in force.
        let listed = self
            .base(&overrides, &["config", "-z", "--list"])
            .output()
            .await
            .map_err(|e| GitError::Spawn { args: "config --list".to_owned(), reason: e.to_string() })?;
        if !listed.status.success() {
            return Err(GitError::Failed {
                args: "config --list".to_owned(),
                status: listed.status.to_string(),
                stderr: String::from_utf8_lossy(&listed.stderr).trim().to_owned(),
            });
        }
        overrides.extend(driver_overrides(&listed.stdout));
        let mut cmd = if self.push && args.first().is_some_and(|a| a.as_ref() == "push") {
            // `remote.<name>.receivepack` keeps its first value: only the option beats it.
            let mut with: Vec<&OsStr> = vec!["push".as_ref(), "--receive-pack=git-receive-pack".as_ref()];
            with.extend(args[1..].iter().map(AsRef::as_ref));
            self.base(&overrides, &with)
        } else {
            self.base(&overrides, args)
        };
        if let Some(ssh) = ssh {
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
        if let Some(tree) = &self.attr_source {
            cmd.env("GIT_ATTR_SOURCE", tree);
        }
        Ok(cmd)
    }

    /// The command with the hardened environment and `overrides` (no checks, no listing).
    fn base<S: AsRef<OsStr>>(&self, overrides: &[(String, String)], args: &[S]) -> Command {
        let mut cmd = Command::new("git");
        for (key, _) in std::env::vars_os() {
            if key.as_bytes().starts_with(b"GIT_") || key == "SSH_ASKPASS" {
                cmd.env_remove(key);
            }
        }
        cmd.env("LC_ALL", "C")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("GIT_EDITOR", ":")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_ATTR_NOSYSTEM", "1")
            .env("GIT_NO_LAZY_FETCH", "1")
            .env("GIT_NO_REPLACE_OBJECTS", "1")
            .env("GIT_OPTIONAL_LOCKS", "0");
        if !self.push {
            cmd.env("GIT_CONFIG_GLOBAL", &self.global);
        } else if let Some(global) = std::env::var_os("GIT_CONFIG_GLOBAL") {
            cmd.env("GIT_CONFIG_GLOBAL", global);
        }
        cmd.env("GIT_CONFIG_COUNT", overrides.len().to_string());
        for (i, (key, value)) in overrides.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key).env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        cmd.arg("--no-pager");
        match &self.target {
            Target::Repo(dir) => {
                cmd.current_dir(dir);
            }
            Target::Worktree { git_dir, work_tree } => {
                let mut g = OsString::from("--git-dir=");
                g.push(git_dir);
                let mut w = OsString::from("--work-tree=");
                w.push(work_tree);
                cmd.arg(g).arg(w).current_dir(work_tree);
            }
        }
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        cmd
    }

    /// Runs `git <args>` and returns its output whatever the exit status.
    ///
    /// Errors: as [`Git::command`], or git cannot start.
    pub(crate) async fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Output, GitError> {
        let mut cmd = self.command(args).await?;
        cmd.output().await.map_err(|e| GitError::Spawn { args: shown(args), reason: e.to_string() })
    }

    /// Runs `git <args>`; returns stdout's bytes.
    ///
    /// Errors: as [`Git::output`], or [`GitError::Failed`] with git's stderr.
    pub(crate) async fn bytes<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<Vec<u8>, GitError> {
        stdout_of(args, self.output(args).await?)
    }

    /// Runs `git <args>`; returns stdout as (lossy) text.
    ///
    /// Errors: as [`Git::bytes`].
    pub(crate) async fn text<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.bytes(args).await?).into_owned())
    }

    /// Runs `git <args>` and returns its first output line (an object id, a ref name), without
    /// the line break.
    ///
    /// Errors: as [`Git::bytes`].
    pub(crate) async fn line<S: AsRef<OsStr>>(&self, args: &[S]) -> Result<String, GitError> {
        let text = self.text(args).await?;
        Ok(text.lines().next().unwrap_or("").to_owned())
    }

    /// Feeds `input` to `git <args>` on stdin and returns stdout's bytes.
    ///
    /// Errors: as [`Git::bytes`].
    pub(crate) async fn with_input<S: AsRef<OsStr>>(&self, args: &[S], input: Vec<u8>) -> Result<Vec<u8>, GitError> {
        use tokio::io::AsyncWriteExt;
        let mut cmd = self.command(args).await?;
        let spawn_err = |e: std::io::Error| GitError::Spawn { args: shown(args), reason: e.to_string() };
        let mut child = cmd.stdin(Stdio::piped()).spawn().map_err(spawn_err)?;
        let mut stdin = child.stdin.take();
        // Written concurrently with reading stdout: a large answer would fill the pipe first.
        let writer = tokio::spawn(async move {
            if let Some(stdin) = stdin.as_mut() {
                let _ = stdin.write_all(&input).await;
                let _ = stdin.shutdown().await;
            }
        });
        let out = child.wait_with_output().await.map_err(spawn_err)?;
        let _ = writer.await;
        stdout_of(args, out)
    }

    /// `git checkout --progress --force HEAD` (filling a `--no-checkout` worktree), turning git's
    /// `Updating files: 45% (450/1000)` lines into `step`s every 10 percent. Git prints them
    /// only when the checkout takes more than about two seconds.
    ///
    /// Errors: as [`Git::command`]; [`GitError::Failed`] with the last 2048 bytes of git's stderr.
    pub(crate) async fn checkout_with_progress(&self, step: &(dyn Fn(String) + Send + Sync)) -> Result<(), GitError> {
        use tokio::io::AsyncReadExt;
        let args = ["checkout", "--progress", "--force", "HEAD"];
        let spawn_error = |e: std::io::Error| GitError::Spawn { args: shown(&args), reason: e.to_string() };
        let mut child = self.command(&args).await?.stdout(Stdio::null()).spawn().map_err(spawn_error)?;
        let mut stderr = child.stderr.take().ok_or_else(|| spawn_error(std::io::Error::other("no stderr pipe")))?;
        let mut tail = crate::process::Tail::new(CHECKOUT_TAIL_BYTES);
        let mut line = Vec::new();
        let mut last_percent = 0u32;
        let mut buf = [0u8; 4096];
        loop {
            let n = stderr.read(&mut buf).await.map_err(spawn_error)?;
            if n == 0 {
                break;
            }
            tail.push(&buf[..n]);
            for &b in &buf[..n] {
                if b != b'\r' && b != b'\n' {
                    // Progress lines are short; anything longer is not one.
                    if line.len() < PROGRESS_LINE_BYTES {
                        line.push(b);
                    }
                    continue;
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                line.clear();
                if let Some(p) = progress_percent(&text)
                    && p >= last_percent + 10
                {
                    last_percent = p;
                    step(format!("checking out files: {}", text.trim().trim_start_matches("Updating files:").trim()));
                }
            }
        }
        let status = child.wait().await.map_err(spawn_error)?;
        if !status.success() {
            let (stderr, _) = tail.finish();
            return Err(GitError::Failed {
                args: shown(&args),
                status: status.to_string(),
                stderr: stderr.trim().to_owned(),
            });
        }
        Ok(())
    }

    /// The contents of `oids` (blobs), in order, read with one `git cat-file --batch`; `None` for
    /// an object git does not have.
    ///
    /// Errors: as [`Git::bytes`], or git's answer is malformed.
    pub(crate) async fn blobs(&self, oids: &[String]) -> Result<Vec<Option<Vec<u8>>>, GitError> {
        if oids.is_empty() {
            return Ok(Vec::new());
        }
        let mut input = Vec::new();
        for oid in oids {
            input.extend_from_slice(oid.as_bytes());
            input.push(b'\n');
        }
        let out = self.with_input(&["cat-file", "--batch"], input).await?;
        parse_batch(&out, oids.len()).ok_or_else(|| GitError::Malformed { args: "cat-file --batch".to_owned() })
    }
}

/// The admin directory named by the `.git` file git just wrote in the new worktree `path`
/// (before any agent ran there), checked to be an absolute directory whose `gitdir` file points
/// back at the worktree.
///
/// Errors: [`GitError::NewWorktree`] naming what is off.
pub(crate) fn new_worktree_git_dir(path: &Path) -> Result<PathBuf, GitError> {
    let off = |why: String| GitError::NewWorktree { worktree: path.to_path_buf(), why };
    let dotgit = std::fs::read(path.join(".git")).map_err(|e| off(format!("cannot read its .git: {e}")))?;
    let line = dotgit.strip_suffix(b"\n").unwrap_or(&dotgit);
    let dir = line.strip_prefix(b"gitdir: ").ok_or_else(|| off("its .git is not a gitdir file".to_owned()))?;
    let dir = path_from_bytes(dir);
    if !dir.is_absolute() {
        return Err(off("its .git names a relative gitdir".to_owned()));
    }
    let back =
        std::fs::read(dir.join("gitdir")).map_err(|e| off(format!("cannot read {}/gitdir: {e}", dir.display())))?;
    let back = path_from_bytes(back.strip_suffix(b"\n").unwrap_or(&back));
    // git writes real paths; the worktree may have been named through a symbolic link (a home or
    // data folder behind a link, macOS's /tmp), so both sides are compared resolved.
    let same = |a: &Path, b: &Path| a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
    if !same(&back, &path.join(".git")) {
        return Err(off(format!("{} does not point back at it", dir.display())));
    }
    Ok(dir)
}

/// What `git worktree add` writes into `<worktree>/.git`.
pub(crate) fn dotgit_content(git_dir: &Path) -> Vec<u8> {
    let mut expected = b"gitdir: ".to_vec();
    expected.extend_from_slice(git_dir.as_os_str().as_bytes());
    expected.push(b'\n');
    expected
}

/// The percentage of a git progress line (`Updating files:  45% (450/1000)`).
fn progress_percent(line: &str) -> Option<u32> {
    let (before, _) = line.split_once('%')?;
    before.rsplit(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Plain git for reading what runs nothing (its version, the user's own config): every `GIT_*`
/// variable of Baton's environment removed but `keep`, stdin closed, stderr dropped, killed on
/// drop.
fn reader(keep: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    for (k, _) in std::env::vars_os() {
        if k.as_bytes().starts_with(b"GIT_") && !keep.iter().any(|x| k == *x) {
            cmd.env_remove(k);
        }
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
    cmd
}

/// The stdout of a finished `git <args>`, or [`GitError::Failed`] with its stderr.
fn stdout_of<S: AsRef<OsStr>>(args: &[S], out: Output) -> Result<Vec<u8>, GitError> {
    if !out.status.success() {
        return Err(GitError::Failed {
            args: shown(args),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

fn shown<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ")
}

/// Fails once per process when git is older than [`MIN_VERSION`].
async fn check_version() -> Result<(), GitError> {
    static VERSION: OnceCell<Result<(), String>> = OnceCell::const_new();
    let result = VERSION
        .get_or_init(|| async {
            let out = reader(&[]).arg("--version").env("LC_ALL", "C").output().await;
            let text = match out {
                Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
                Err(e) => return Err(format!("no git ({e})")),
            };
            match parse_version(&text) {
                Some(v) if v >= MIN_VERSION => Ok(()),
                _ => Err(text),
            }
        })
        .await;
    result.clone().map_err(|found| GitError::TooOld { found })
}

/// `git version 2.47.3` → (2, 47).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let v = text.strip_prefix("git version ")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Empty commands for every driver `git config -z --list` output defines, and
/// `filter.<d>.required=false` so an emptied filter is not an error.
fn driver_overrides(list: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in list.split(|&b| b == 0) {
        let key = entry.split(|&b| b == b'\n').next().unwrap_or_default();
        let Ok(key) = std::str::from_utf8(key) else { continue };
        let Some((section, rest)) = key.split_once('.') else { continue };
        let section = section.to_ascii_lowercase();
        let (sub, var) = match rest.rsplit_once('.') {
            Some((sub, var)) => (Some(sub), var.to_ascii_lowercase()),
            None => (None, rest.to_ascii_lowercase()),
        };
        let dangerous = matches!(
            (section.as_str(), sub, var.as_str()),
            ("filter", Some(_), "clean" | "smudge" | "process")
                | ("diff", Some(_), "command" | "textconv")
                | ("diff", None, "external")
                | ("merge", Some(_), "driver")
                | ("hook", Some(_), "command")
                | ("trailer", Some(_), "command" | "cmd")
                | ("tar", Some(_), "command")
        );
        if !dangerous {
            continue;
        }
        out.push((key.to_owned(), String::new()));
        if let ("filter", Some(sub)) = (section.as_str(), sub) {
            out.push((format!("filter.{sub}.required"), "false".to_owned()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Every value of `key` in the user's global config (`git config --global`), read with
/// Baton's environment; empty when there is none.
async fn user_global(key: &str) -> Vec<String> {
    let out = reader(&["GIT_CONFIG_GLOBAL"])
        .args(["config", "--global", "-z", "--get-all", key])
        .current_dir("/")
        .output()
        .await;
    match out {
        Ok(o) if o.status.success() => o
            .stdout
            .split(|&b| b == 0)
            .filter(|v| !v.is_empty())
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect(),
        _ => Vec::new(),
    }
}

/// Parses `git cat-file --batch` output for `count` requests.
fn parse_batch(mut out: &[u8], count: usize) -> Option<Vec<Option<Vec<u8>>>> {
    let mut blobs = Vec::with_capacity(count);
    for _ in 0..count {
        let nl = out.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&out[..nl]).ok()?;
        out = &out[nl + 1..];
        if header.ends_with(" missing") || header.ends_with(" ambiguous") {
            blobs.push(None);
            continue;
        }
        let size: usize = header.rsplit(' ').next()?.parse().ok()?;
        let content = out.get(..size)?.to_vec();
        out = out.get(size + 1..)?;
        blobs.push(Some(content));
    }
    Some(blobs)
}

/// A path as git prints it in `-z` formats (raw bytes) made a path.
pub(crate) fn path_from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsString::from_vec(bytes.to_vec()))
}

/// One entry of `git diff-tree -r -z --raw --no-renames`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub(crate) old_mode: u32,
    pub(crate) new_mode: u32,
    pub(crate) old_oid: String,
    pub(crate) new_oid: String,
    /// `A`, `D`, `M`, `T`.
    pub(crate) status: u8,
    /// The path as git stores it (bytes: may not be UTF-8).
    pub(crate) path: Vec<u8>,
}

/// Mode of a regular file, an executable, a symbolic link and a gitlink (submodule).
pub(crate) const MODE_FILE: u32 = 0o100644;
pub(crate) const MODE_EXEC: u32 = 0o100755;
pub(crate) const MODE_SYMLINK: u32 = 0o120000;
pub(crate) const MODE_GITLINK: u32 = 0o160000;
/// The object id git prints for "no object" (SHA-1 or SHA-256 length).
pub(crate) fn is_null_oid(oid: &str) -> bool {
    oid.bytes().all(|b| b == b'0')
}

/// Parses `git diff-tree -r -z --raw --no-renames` output. Entries it cannot read are an error
/// (`None`): a partial list would drop files.
pub(crate) fn parse_raw_z(out: &[u8]) -> Option<Vec<RawEntry>> {
    let mut fields = out.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(meta) = fields.next() {
        if meta.is_empty() {
            continue;
        }
        let meta = std::str::from_utf8(meta.strip_prefix(b":")?).ok()?;
        let mut parts = meta.split(' ');
        let old_mode = u32::from_str_radix(parts.next()?, 8).ok()?;
        let new_mode = u32::from_str_radix(parts.next()?, 8).ok()?;
        let old_oid = parts.next()?.to_owned();
        let new_oid = parts.next()?.to_owned();
        let status = *parts.next()?.as_bytes().first()?;
        let path = fields.next().filter(|p| !p.is_empty())?.to_vec();
        if matches!(status, b'R' | b'C') {
            // Only with rename detection, which Baton never asks for: the new path follows.
            let to = fields.next().filter(|p| !p.is_empty())?.to_vec();
            entries.push(RawEntry { old_mode, new_mode, old_oid, new_oid, status, path: to });
            continue;
        }
        entries.push(RawEntry { old_mode, new_mode, old_oid, new_oid, status, path });
    }
    Some(entries)
}

/// One entry of `git status --porcelain=v1 -z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusEntry {
    /// The two status letters (`XY`): `??` untracked, ` M` modified, `D ` deleted...
    pub(crate) xy: [u8; 2],
    pub(crate) path: Vec<u8>,
}

/// Parses `git status --porcelain=v1 -z` output.
pub(crate) fn parse_status_z(out: &[u8]) -> Vec<StatusEntry> {
    let mut fields = out.split(|&b| b == 0);
    let mut entries = Vec::new();
    while let Some(field) = fields.next() {
        if field.len() < 4 {
            continue;
        }
        let xy = [field[0], field[1]];
        if matches!(xy[0], b'R' | b'C') {
            // The original path follows as its own field.
            let _ = fields.next();
        }
        entries.push(StatusEntry { xy, path: field[3..].to_vec() });
    }
    entries
}

/// Parses `git merge-tree --write-tree -z --name-only --no-messages` output: the conflicted paths.
pub(crate) fn parse_merge_tree_z(out: &[u8]) -> Vec<Vec<u8>> {
    let mut paths: Vec<Vec<u8>> = Vec::new();
    for field in out.split(|&b| b == 0).skip(1) {
        if field.is_empty() {
            break;
        }
        if !paths.iter().any(|p| p == field) {
            paths.push(field.to_vec());
        }
    }
    paths
}

/// The repository's top-level directory for any path inside it.
///
/// Errors: not in a git repository, git failures.
pub(crate) async fn repo_root(dir: &Path) -> Result<PathBuf, GitError> {
    let out = Git::repo(dir).bytes(&["rev-parse", "--show-toplevel"]).await?;
    let top = out.strip_suffix(b"\n").unwrap_or(&out);
    Ok(path_from_bytes(top))
}

/// The user's git identity `(name, email)` for `repo`, read as the user's own git would (system,
/// global and repository config, includes followed; reading runs nothing).
///
/// Errors: `user.name` or `user.email` is not set.
pub(crate) async fn user_identity(repo: &Path) -> Result<(String, String), GitError> {
    let get = |key: &'static str| async move {
        let out = reader(&["GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM"])
            .args(["config", "--get", key])
            .current_dir(repo)
            .output()
            .await
            .map_err(|e| GitError::Spawn { args: format!("config --get {key}"), reason: e.to_string() })?;
        let value = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || value.is_empty() {
            return Err(GitError::NoIdentity { key });
        }
        Ok(value)
    };
    Ok((get("user.name").await?, get("user.email").await?))
}

/// Writes the global config Baton's git commands read for `repo`: the user's identity and
/// nothing else, in `<data_dir>/git/<key>.gitconfig`. Returns its path and the identity.
///
/// Errors: no identity configured, the file cannot be written.
pub(crate) async fn identity_file(
    data_dir: &Path,
    repo: &Path,
    key: &str,
) -> Result<(PathBuf, String, String), GitError> {
    let (name, email) = user_identity(repo).await?;
    let quote = |s: &str| {
        let mut q = String::from("\"");
        for c in s.chars() {
            match c {
                '\\' => q.push_str("\\\\"),
                '"' => q.push_str("\\\""),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    };
    let content = format!(
        "# Written by Baton: the only global git config its commands read.\n[user]\n\tname = {}\n\temail = {}\n",
        quote(&name),
        quote(&email)
    );
    let dir = data_dir.join("git");
    let path = dir.join(format!("{key}.gitconfig"));
    if std::fs::read_to_string(&path).ok().as_deref() != Some(content.as_str()) {
        let file = |what: String| move |error| GitError::File { what, error };
        std::fs::create_dir_all(&dir).map_err(file(format!("cannot create {}", dir.display())))?;
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, &content).map_err(file(format!("cannot write {}", tmp.display())))?;
        std::fs::rename(&tmp, &path).map_err(file(format!("cannot write {}", path.display())))?;
    }
    Ok((path, name, email))
}

/// The admin directory git keeps for the worktree at `work_tree` (`<common>/worktrees/<name>`),
/// found from the repository's side: the one whose `gitdir` file names `<work_tree>/.git`.
/// For tasks recorded before Baton kept the admin directory in its database.
///
/// Errors: git failures, no admin directory names the worktree.
pub(crate) async fn find_git_dir(repo_root: &Path, work_tree: &Path) -> Result<PathBuf, GitError> {
    let common = Git::repo(repo_root).bytes(&["rev-parse", "--path-format=absolute", "--git-common-dir"]).await?;
    let common = path_from_bytes(common.strip_suffix(b"\n").unwrap_or(&common));
    let want = work_tree.join(".git");
    let admin = common.join("worktrees");
    let entries = std::fs::read_dir(&admin)
        .map_err(|error| GitError::File { what: format!("cannot read {}", admin.display()), error })?;
    for entry in entries.flatten() {
        let Ok(gitdir) = std::fs::read(entry.path().join("gitdir")) else { continue };
        let gitdir = gitdir.strip_suffix(b"\n").unwrap_or(&gitdir);
        if path_from_bytes(gitdir) == want {
            return Ok(entry.path());
        }
    }
    Err(GitError::UnknownWorktree(work_tree.to_path_buf()))
}

#[cfg(test)]
mod tests;
