//! The sandbox profile: how every process an agent can influence is started (the built-in
//! agent's commands, `cli` and `acp` agent processes, the setup and check commands).
//!
//! Sandboxed (the default), a process runs under bubblewrap on a new, read-only root that holds
//! only the system folders (`/usr`, `/etc`, `/opt`, ... read-only), the task's worktree
//! (writable; its `.git` file read-only) and the repository's git directories (read-only); its
//! own `/tmp`, `/var/tmp` and `/run`; an empty writable home folder with only the configured
//! read-only paths bound back; the deny list (`~/.ssh`, `~/.aws`, ...) hidden even inside
//! those; Baton's data directory and the user's checkout empty and read-only. Every other folder
//! of the machine (other repositories and their `.env` files, other users' homes) is absent.
//! New PID, IPC and UTS namespaces with a fresh `/proc` (Baton and every other process
//! invisible), a new session, no capabilities, killed with Baton, the network namespace
//! unshared unless the process must reach its model API, and the environment cleared to an
//! allowlist plus what the profile declares.
//!
//! Unsandboxed (`sandbox = false` in the profile), a process runs as Baton does, under a small
//! supervisor (`setpriv --pdeathsig` and a shell that kills its process group) so it still dies
//! with Baton. Either way it starts in the worktree with `PWD`, `OLDPWD` and `INIT_CWD` naming
//! it, leads its own process group, and its stdout and stderr are piped.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

/// Home-relative paths the sandbox never shows, even inside a configured read-only path.
pub(crate) const DENY_LIST: &[&str] = &[
    ".ssh",
    ".aws",
    ".gnupg",
    ".config/gcloud",
    ".kube",
    ".docker",
    ".netrc",
    ".git-credentials",
    ".config/gh",
    ".npmrc",
    ".pypirc",
    ".cargo/credentials",
    ".cargo/credentials.toml",
];

/// Absolute paths hidden the same way (readable only when Baton runs as root).
const DENY_ABSOLUTE: &[&str] = &[
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
];

/// The system folders the sandbox's root holds (read-only, or as the same symlink where the
/// host has one, as merged-/usr systems do for `/bin` and `/lib`).
const SYSTEM_DIRS: &[&str] =
    &["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt", "/nix", "/sys"];

/// Folders replaced by private, writable, empty ones.
const PRIVATE_DIRS: &[&str] = &["/tmp", "/var/tmp", "/run"];

/// Variables kept from Baton's environment in the sandbox; everything else is cleared.
pub(crate) const ENV_ALLOWLIST: &[&str] =
    &["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "USER", "LOGNAME", "TZ"];

/// Folders under `/run` bound back into the sandbox's empty `/run`: name resolution needs them
/// where `/etc/resolv.conf` points there.
const RUN_KEEP: &[&str] = &["/run/systemd/resolve", "/run/resolvconf"];

/// The supervisor script of unsandboxed processes: `setpriv --pdeathsig TERM` delivers SIGTERM
/// when Baton dies, and the trap kills the whole process group. The command runs in the
/// background (so the trap can run while waiting) with the script's stdin passed on explicitly.
const SUPERVISOR: &str = "trap 'kill -KILL 0' TERM HUP; exec 3<&0; \"$@\" <&3 3<&- & wait $!";

/// How processes are started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Under bubblewrap with the sandbox profile.
    Bwrap,
    /// Directly, under the supervisor (the profile says `sandbox = false`).
    Unsandboxed,
}

/// Why a sandboxed process cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the sandbox cannot run here: {reason}. Install bubblewrap (`apt-get install bubblewrap`) and \
     allow user namespaces, or set `sandbox = false` in the agent profile to run it unsandboxed"
)]
pub(crate) struct Unavailable {
    pub(crate) reason: String,
}

/// Whether bubblewrap runs here with the flags the sandbox uses: `Ok`, or why not (bwrap
/// missing, user namespaces off). Checked once per process while it works; while it does not,
/// checked again at most every 10 s (the user may install it meanwhile).
pub(crate) async fn availability() -> Result<(), Unavailable> {
    static LAST: parking_lot::Mutex<Option<(std::time::Instant, Result<(), String>)>> = parking_lot::Mutex::new(None);
    let cached = LAST.lock().clone();
    if let Some((at, result)) = cached
        && (result.is_ok() || at.elapsed() < Duration::from_secs(10))
    {
        return result.map_err(|reason| Unavailable { reason });
    }
    let result = probe().await;
    if let Err(reason) = &result {
        tracing::warn!(reason, "bubblewrap cannot run: sandboxed agents are refused");
    }
    *LAST.lock() = Some((std::time::Instant::now(), result.clone()));
    result.map_err(|reason| Unavailable { reason })
}

async fn probe() -> Result<(), String> {
    let mut command = Command::new("bwrap");
    for (path, link) in system_dirs() {
        match link {
            Some(target) => command.arg("--symlink").arg(target).arg(path),
            None => command.arg("--ro-bind").arg(&path).arg(&path),
        };
    }
    command
        .args(["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--remount-ro", "/"])
        .args(["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--new-session"])
        .args(["--die-with-parent", "--cap-drop", "ALL", "--", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    match tokio::time::timeout(Duration::from_secs(10), command.output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(()),
        Ok(Ok(out)) => Err(format!(
            "bwrap failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim().lines().next().unwrap_or("no message")
        )),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err("bwrap is not installed".to_owned()),
        Ok(Err(e)) => Err(format!("bwrap cannot start: {e}")),
        Err(_) => Err("bwrap did not answer within 10 s".to_owned()),
    }
}

/// Where and how one task's processes run: plain data the orchestrator fills from the settings,
/// the agent profile and the task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Confinement {
    /// Run under bubblewrap (the profile's `sandbox`, default true).
    pub(crate) sandbox: bool,
    /// The task's worktree: the working directory and the only writable place.
    pub(crate) worktree: PathBuf,
    /// The user's checkout: hidden (read-only) in the sandbox, except its git directory.
    pub(crate) repo_root: Option<PathBuf>,
    /// Baton's data directory: hidden (read-only) in the sandbox, except the worktree.
    pub(crate) data_dir: Option<PathBuf>,
    /// Paths bound read-only into the sandbox (`~/` is the home folder), as configured.
    pub(crate) read_only_paths: Vec<String>,
    /// Whether the agent process gets the host's network (its model API). The built-in agent's
    /// commands and the checks never do.
    pub(crate) network: bool,
    /// Variables set for the agent process (the profile's `env`).
    pub(crate) env: BTreeMap<String, String>,
    /// Variables passed from Baton's environment into the sandbox (the profile's `pass_env` and
    /// `secret_env`).
    pub(crate) pass_env: Vec<String>,
}

impl Confinement {
    /// A sandboxed confinement of `worktree` alone: nothing else hidden specially, no network,
    /// no extra environment (for tests; the orchestrator fills every field).
    #[cfg(test)]
    pub(crate) fn new(worktree: &Path) -> Self {
        Self {
            sandbox: true,
            worktree: worktree.to_path_buf(),
            repo_root: None,
            data_dir: None,
            read_only_paths: Vec::new(),
            network: false,
            env: BTreeMap::new(),
            pass_env: Vec::new(),
        }
    }

    /// The same confinement for commands that are not the agent (setup, checks): no network,
    /// and none of the profile's environment (the agent's API key stays with the agent).
    pub(crate) fn for_commands(&self) -> Self {
        Self { network: false, env: BTreeMap::new(), pass_env: Vec::new(), ..self.clone() }
    }

    /// How this confinement's processes start: [`Mode::Bwrap`] when sandboxed and bubblewrap
    /// works, [`Mode::Unsandboxed`] when the profile opted out.
    ///
    /// Errors: [`Unavailable`] when sandboxed and bubblewrap cannot run.
    pub(crate) async fn mode(&self) -> Result<Mode, Unavailable> {
        if !self.sandbox {
            return Ok(Mode::Unsandboxed);
        }
        availability().await.map(|()| Mode::Bwrap)
    }

    /// A command running `argv` in the worktree under `mode`, with the host network only when
    /// `network`. Stdin is null (set another before spawning if needed), stdout and stderr are
    /// piped, the child leads its own process group and is killed when dropped. `None` for an
    /// empty `argv`.
    pub(crate) fn command(&self, mode: Mode, argv: &[String], network: bool) -> Option<Command> {
        let (program, args) = argv.split_first()?;
        let mut command = match mode {
            Mode::Bwrap => {
                let layout = Layout::gather(self);
                // Found on Baton's PATH: the profile's `env` may set another PATH for the agent.
                let mut command = Command::new(find_program("bwrap").unwrap_or_else(|| PathBuf::from("bwrap")));
                command.args(bwrap_args(&layout, network)).arg("--").arg(program).args(args);
                // bwrap hands its own environment to the command: give it only the sandbox's
                // (not as `--setenv` arguments, which every local user could read in `ps`).
                command.env_clear().envs(self.sandbox_env());
                command
            }
            Mode::Unsandboxed => {
                let mut command = match supervisor() {
                    Some(setpriv) => {
                        let mut c = Command::new(setpriv);
                        c.args(["--pdeathsig", "TERM", "--", "sh", "-c", SUPERVISOR, "sh", program]).args(args);
                        c
                    }
                    None => {
                        let mut c = Command::new(program);
                        c.args(args);
                        c
                    }
                };
                command.envs(self.directory_env()).envs(&self.env);
                command
            }
        };
        command
            .current_dir(&self.worktree)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        Some(command)
    }

    /// Finds `program` as the process will (a path with a `/` relative to the worktree, else the
    /// `PATH` it will get) and checks that the sandbox shows it, so a missing or hidden program
    /// is named before anything starts. Returns its path.
    ///
    /// Errors: a message saying the program is not installed, or which hidden folder holds it
    /// and which setting binds it back.
    pub(crate) fn locate(&self, mode: Mode, program: &str) -> Result<PathBuf, String> {
        let found = if program.contains('/') {
            let path = self.worktree.join(program);
            path.is_file().then_some(path)
        } else {
            let path = self.env.get("PATH").cloned().or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
            std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
        };
        let Some(found) = found else {
            return Err(format!("{program} is not installed (not found on PATH)"));
        };
        if mode == Mode::Unsandboxed {
            return Ok(found);
        }
        let real = found.canonicalize().unwrap_or_else(|_| found.clone());
        let layout = Layout::gather(self);
        if layout.shows(&real) {
            return Ok(found);
        }
        Err(format!(
            "{} is in a folder the sandbox hides; add its folder to `read_only_paths` (in the agent profile \
             or [orchestrator]) to bind it back read-only",
            real.display()
        ))
    }

    /// Whether the agent process gets the environment variable `name` with a non-empty value:
    /// from the profile's `env`, else (sandboxed) from Baton's environment when it is
    /// allowlisted or passed, or (unsandboxed) from Baton's environment.
    pub(crate) fn has_variable(&self, name: &str) -> bool {
        if let Some(value) = self.env.get(name) {
            return !value.is_empty();
        }
        let reaches = !self.sandbox || ENV_ALLOWLIST.contains(&name) || self.pass_env.iter().any(|p| p == name);
        reaches && std::env::var_os(name).is_some_and(|v| !v.is_empty())
    }

    /// `PWD`, `OLDPWD` and `INIT_CWD`, all naming the worktree: tools that trust them over the
    /// real working directory must work in the worktree, not where Baton was started.
    fn directory_env(&self) -> Vec<(String, String)> {
        // Canonical: the sandbox binds the worktree at its real path only.
        let dir = self.worktree.canonicalize().unwrap_or_else(|_| self.worktree.clone());
        let dir = dir.to_string_lossy().into_owned();
        ["PWD", "OLDPWD", "INIT_CWD"].map(|k| (k.to_owned(), dir.clone())).to_vec()
    }

    /// The whole environment inside the sandbox: the allowlist from Baton's environment, the
    /// directory variables, the passed variables, then the profile's `env`.
    fn sandbox_env(&self) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for name in ENV_ALLOWLIST.iter().copied().chain(self.pass_env.iter().map(String::as_str)) {
            if let Ok(value) = std::env::var(name) {
                env.insert(name.to_owned(), value);
            }
        }
        env.extend(self.directory_env());
        env.insert("TMPDIR".to_owned(), "/tmp".to_owned());
        env.extend(self.env.clone());
        env
    }
}

/// `setpriv` when it is installed (util-linux), found once.
fn supervisor() -> Option<PathBuf> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            let found = find_program("setpriv");
            if found.is_none() {
                tracing::warn!(
                    "setpriv is not installed: unsandboxed agents' processes may outlive Baton until the next start"
                );
            }
            found
        })
        .clone()
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
}

/// What the file system looks like around a confinement, gathered once per command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Layout {
    /// The worktree (canonical).
    pub(crate) worktree: PathBuf,
    /// The worktree's `.git` file, when it has one (bound read-only over itself).
    pub(crate) worktree_git_file: Option<PathBuf>,
    /// Git directories the worktree needs (its admin directory and the common one).
    pub(crate) git_dirs: Vec<PathBuf>,
    /// Home folders to replace: `$HOME` and the account's home from /etc/passwd.
    pub(crate) homes: Vec<PathBuf>,
    /// Existing folders to hide read-only: the data directory, the user's checkout.
    pub(crate) hidden: Vec<PathBuf>,
    /// Existing paths bound read-only (canonical), deny list removed.
    pub(crate) read_only: Vec<PathBuf>,
    /// Configured read-only paths that reach their folder through a symlink, bound at the
    /// configured path too: (canonical source, configured path).
    pub(crate) aliases: Vec<(PathBuf, PathBuf)>,
    /// Existing deny-list entries inside a read-only path: (path, is a directory).
    pub(crate) denied: Vec<(PathBuf, bool)>,
    /// Existing folders under `/run` to keep.
    pub(crate) run_keep: Vec<PathBuf>,
    /// The existing system folders, with their symlink target where they are symlinks.
    pub(crate) system: Vec<(PathBuf, Option<PathBuf>)>,
}

impl Layout {
    pub(crate) fn gather(c: &Confinement) -> Self {
        let canonical = |p: &Path| p.canonicalize().ok();
        let worktree = canonical(&c.worktree).unwrap_or_else(|| c.worktree.clone());
        let git_file = worktree.join(".git");
        let worktree_git_file = git_file.is_file().then(|| git_file.clone());
        let mut git_dirs = Vec::new();
        if let Some(admin) = std::fs::read_to_string(&git_file)
            .ok()
            .and_then(|s| s.trim().strip_prefix("gitdir:").map(|g| PathBuf::from(g.trim())))
            .map(|g| if g.is_absolute() { g } else { worktree.join(g) })
            .and_then(|g| canonical(&g))
        {
            let common = std::fs::read_to_string(admin.join("commondir"))
                .ok()
                .map(|s| admin.join(s.trim()))
                .and_then(|g| canonical(&g));
            git_dirs.push(admin);
            git_dirs.extend(common);
        }
        if let Some(root) = &c.repo_root
            && let Some(dot_git) = canonical(&root.join(".git")).filter(|g| g.is_dir())
            && !git_dirs.iter().any(|g| dot_git.starts_with(g))
        {
            git_dirs.push(dot_git);
        }
        let mut homes: Vec<PathBuf> = Vec::new();
        for home in [std::env::var_os("HOME").map(PathBuf::from), passwd_home()].into_iter().flatten() {
            if let Some(home) = canonical(&home).filter(|h| h.is_dir() && h != Path::new("/"))
                && !homes.contains(&home)
            {
                homes.push(home);
            }
        }
        let hidden: Vec<PathBuf> = [&c.data_dir, &c.repo_root]
            .into_iter()
            .flatten()
            .filter_map(|p| canonical(p))
            .filter(|p| p.is_dir() && p.parent().is_some() && *p != worktree)
            .collect();
        let denied_paths: Vec<PathBuf> = homes
            .iter()
            .flat_map(|h| DENY_LIST.iter().map(move |d| h.join(d)))
            .chain(DENY_ABSOLUTE.iter().map(PathBuf::from))
            .collect();
        let home_env = std::env::var_os("HOME").map(PathBuf::from);
        let mut read_only = Vec::new();
        let mut aliases = Vec::new();
        for configured in &c.read_only_paths {
            let expanded = match (configured.strip_prefix("~/"), configured.as_str(), &home_env) {
                (Some(rest), _, Some(home)) => home.join(rest),
                (None, "~", Some(home)) => home.clone(),
                (Some(_), _, None) | (None, "~", None) => continue,
                _ => PathBuf::from(configured),
            };
            let Some(path) = canonical(&expanded) else { continue };
            if denied_paths.iter().any(|d| path.starts_with(d) || canonical(d).is_some_and(|d| path.starts_with(d))) {
                tracing::warn!(path = %path.display(), "a read-only path is on the sandbox's deny list; not bound");
                continue;
            }
            if expanded.is_absolute() && expanded != path && !aliases.iter().any(|(_, a)| *a == expanded) {
                aliases.push((path.clone(), expanded));
            }
            if !read_only.contains(&path) {
                read_only.push(path);
            }
        }
        let mut denied = Vec::new();
        for path in denied_paths {
            let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
            let shown = SYSTEM_DIRS.iter().any(|d| path.starts_with(d)) && !homes.iter().any(|h| path.starts_with(h))
                || read_only.iter().any(|r| path.starts_with(r));
            if shown {
                denied.push((path, meta.is_dir()));
            }
        }
        let run_keep = RUN_KEEP.iter().map(PathBuf::from).filter(|p| p.is_dir()).collect();
        let system = system_dirs();
        Layout { worktree, worktree_git_file, git_dirs, homes, hidden, read_only, aliases, denied, run_keep, system }
    }

    /// Whether the sandbox shows the (canonical) host path `path`: the deepest bound or hidden
    /// folder holding it decides; outside them all nothing is shown, and the deny list always
    /// hides.
    pub(crate) fn shows(&self, path: &Path) -> bool {
        if self.denied.iter().any(|(d, _)| path.starts_with(d)) {
            return false;
        }
        let hidden = PRIVATE_DIRS
            .iter()
            .map(Path::new)
            .chain(self.homes.iter().map(PathBuf::as_path))
            .chain(self.hidden.iter().map(PathBuf::as_path))
            .map(|p| (p, false));
        let shown = self
            .system
            .iter()
            .filter(|(_, link)| link.is_none())
            .map(|(p, _)| p)
            .chain(&self.read_only)
            .chain(&self.git_dirs)
            .chain(&self.run_keep)
            .chain(std::iter::once(&self.worktree))
            .map(|p| (p.as_path(), true));
        hidden
            .chain(shown)
            .filter(|(p, _)| path.starts_with(p))
            .max_by_key(|(p, visible)| (p.components().count(), *visible))
            .is_some_and(|(_, visible)| visible)
    }
}

/// The existing [`SYSTEM_DIRS`], each with its symlink target when it is a symlink.
fn system_dirs() -> Vec<(PathBuf, Option<PathBuf>)> {
    SYSTEM_DIRS
        .iter()
        .map(PathBuf::from)
        .filter_map(|p| match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => std::fs::read_link(&p).ok().map(|t| (p, Some(t))),
            Ok(m) if m.is_dir() => Some((p, None)),
            _ => None,
        })
        .collect()
}

/// The home folder of Baton's user from `/etc/passwd` (it differs from `$HOME` when that was
/// changed, and a sandbox must hide both).
fn passwd_home() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2] == uid).then(|| PathBuf::from(fields[5]))
    })
}

/// One mount of the sandbox, applied outermost path first.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Mount {
    /// The same symlink as on the host (`/bin -> usr/bin`).
    Symlink(PathBuf),
    /// A writable empty tmpfs (the private `/tmp`, the empty home).
    Tmpfs,
    /// An empty tmpfs made read-only once everything inside it is mounted.
    HiddenReadOnly,
    BindReadOnly,
    /// A read-only bind of another host path (a configured path reached through a symlink).
    BindReadOnlyFrom(PathBuf),
    BindWritable,
}

impl Mount {
    /// Order among mounts of the same path: hide first, then bind over.
    fn rank(&self) -> u8 {
        match self {
            Mount::Symlink(_) => 0,
            Mount::Tmpfs => 1,
            Mount::HiddenReadOnly => 2,
            Mount::BindReadOnly | Mount::BindReadOnlyFrom(_) => 3,
            Mount::BindWritable => 4,
        }
    }
}

/// bubblewrap's arguments (before `--` and the command) for `layout`. The root starts empty;
/// mounts are applied from the outermost path inward, so a folder bound back inside a hidden one
/// stays visible and a hidden folder inside a bound one stays hidden; the deny list comes last;
/// hidden folders and the root itself are made read-only at the end.
pub(crate) fn bwrap_args(layout: &Layout, network: bool) -> Vec<OsString> {
    let mut mounts: Vec<(PathBuf, Mount)> = Vec::new();
    for (path, link) in &layout.system {
        mounts.push((path.clone(), link.clone().map_or(Mount::BindReadOnly, Mount::Symlink)));
    }
    mounts.extend(PRIVATE_DIRS.iter().map(|p| (PathBuf::from(p), Mount::Tmpfs)));
    mounts.extend(layout.run_keep.iter().map(|p| (p.clone(), Mount::BindReadOnly)));
    mounts.extend(layout.homes.iter().map(|p| (p.clone(), Mount::Tmpfs)));
    mounts.extend(layout.hidden.iter().map(|p| (p.clone(), Mount::HiddenReadOnly)));
    mounts.extend(layout.read_only.iter().map(|p| (p.clone(), Mount::BindReadOnly)));
    mounts.extend(layout.aliases.iter().map(|(from, to)| (to.clone(), Mount::BindReadOnlyFrom(from.clone()))));
    mounts.extend(layout.git_dirs.iter().map(|p| (p.clone(), Mount::BindReadOnly)));
    mounts.push((layout.worktree.clone(), Mount::BindWritable));
    if let Some(git_file) = &layout.worktree_git_file {
        mounts.push((git_file.clone(), Mount::BindReadOnly));
    }
    mounts.sort_by(|a, b| a.0.components().count().cmp(&b.0.components().count()).then(a.1.rank().cmp(&b.1.rank())));
    mounts.dedup();

    let mut args: Vec<OsString> = Vec::new();
    let mut push = |items: &[&std::ffi::OsStr]| args.extend(items.iter().map(|s| s.to_os_string()));
    push(&["--dev".as_ref(), "/dev".as_ref(), "--proc".as_ref(), "/proc".as_ref()]);
    for (path, mount) in &mounts {
        let p = path.as_os_str();
        match mount {
            Mount::Symlink(target) => push(&["--symlink".as_ref(), target.as_os_str(), p]),
            Mount::Tmpfs | Mount::HiddenReadOnly => push(&["--tmpfs".as_ref(), p]),
            Mount::BindReadOnly => push(&["--ro-bind".as_ref(), p, p]),
            Mount::BindReadOnlyFrom(from) => push(&["--ro-bind".as_ref(), from.as_os_str(), p]),
            Mount::BindWritable => push(&["--bind".as_ref(), p, p]),
        }
    }
    for (path, is_dir) in &layout.denied {
        let p = path.as_os_str();
        if *is_dir {
            push(&["--tmpfs".as_ref(), p, "--remount-ro".as_ref(), p]);
        } else {
            push(&["--ro-bind".as_ref(), "/dev/null".as_ref(), p]);
        }
    }
    for (path, mount) in &mounts {
        if *mount == Mount::HiddenReadOnly {
            push(&["--remount-ro".as_ref(), path.as_os_str()]);
        }
    }
    push(&["--remount-ro".as_ref(), "/".as_ref()]);
    push(&["--unshare-pid".as_ref(), "--unshare-ipc".as_ref(), "--unshare-uts".as_ref()]);
    if !network {
        push(&["--unshare-net".as_ref()]);
    }
    push(&["--new-session".as_ref(), "--die-with-parent".as_ref(), "--cap-drop".as_ref(), "ALL".as_ref()]);
    push(&["--chdir".as_ref(), layout.worktree.as_os_str()]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_go_outermost_first_with_the_deny_list_last_and_hidden_folders_read_only() {
        let layout = Layout {
            worktree: "/home/u/.local/share/baton/worktrees/r/1-x".into(),
            worktree_git_file: Some("/home/u/.local/share/baton/worktrees/r/1-x/.git".into()),
            git_dirs: vec!["/home/u/src/r/.git".into()],
            homes: vec!["/home/u".into()],
            hidden: vec!["/home/u/.local/share/baton".into(), "/home/u/src/r".into()],
            read_only: vec!["/home/u/.cargo".into()],
            aliases: vec![("/data/rustup".into(), "/home/u/.rustup".into())],
            denied: vec![("/home/u/.cargo/credentials.toml".into(), false)],
            run_keep: vec![],
            system: vec![("/usr".into(), None), ("/bin".into(), Some("usr/bin".into())), ("/etc".into(), None)],
        };
        let args: Vec<String> = bwrap_args(&layout, false).iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let text = args.join(" ").replace(" --", "\n--");
        expect_test::expect![[r#"
            --dev /dev
            --proc /proc
            --symlink usr/bin /bin
            --tmpfs /tmp
            --tmpfs /run
            --ro-bind /usr /usr
            --ro-bind /etc /etc
            --tmpfs /var/tmp
            --tmpfs /home/u
            --ro-bind /home/u/.cargo /home/u/.cargo
            --ro-bind /data/rustup /home/u/.rustup
            --tmpfs /home/u/src/r
            --tmpfs /home/u/.local/share/baton
            --ro-bind /home/u/src/r/.git /home/u/src/r/.git
            --bind /home/u/.local/share/baton/worktrees/r/1-x /home/u/.local/share/baton/worktrees/r/1-x
            --ro-bind /home/u/.local/share/baton/worktrees/r/1-x/.git /home/u/.local/share/baton/worktrees/r/1-x/.git
            --ro-bind /dev/null /home/u/.cargo/credentials.toml
            --remount-ro /home/u/src/r
            --remount-ro /home/u/.local/share/baton
            --remount-ro /
            --unshare-pid
            --unshare-ipc
            --unshare-uts
            --unshare-net
            --new-session
            --die-with-parent
            --cap-drop ALL
            --chdir /home/u/.local/share/baton/worktrees/r/1-x"#]]
        .assert_eq(&text);
    }

    #[test]
    fn only_bound_folders_are_shown_and_the_deepest_mount_decides() {
        let layout = Layout {
            worktree: "/data/worktrees/r/1-x".into(),
            git_dirs: vec!["/src/r/.git".into()],
            homes: vec!["/home/u".into()],
            hidden: vec!["/data".into(), "/src/r".into()],
            read_only: vec!["/home/u/.cargo".into()],
            denied: vec![("/home/u/.cargo/credentials.toml".into(), false)],
            system: vec![("/usr".into(), None), ("/bin".into(), Some("usr/bin".into()))],
            ..Layout::default()
        };
        for shown in ["/usr/bin/git", "/home/u/.cargo/bin/cargo", "/src/r/.git/HEAD", "/data/worktrees/r/1-x/a.rs"] {
            assert!(layout.shows(Path::new(shown)), "{shown}");
        }
        for hidden in [
            "/home/u/.ssh/id_rsa",
            "/home/u/.cargo/credentials.toml",
            "/src/r/.env",
            "/src/other/.env",
            "/data/baton.db",
            "/data/worktrees/r/2-y/a.rs",
            "/tmp/agent.sh",
            "/work/x",
        ] {
            assert!(!layout.shows(Path::new(hidden)), "{hidden}");
        }
    }

    #[test]
    fn the_sandbox_environment_is_the_allowlist_plus_what_the_profile_declares() {
        let mut c = Confinement::new(Path::new("/w"));
        c.env.insert("OPENAI_API_BASE".to_owned(), "http://127.0.0.1:8080/v1".to_owned());
        c.pass_env.push("PATH".to_owned());
        let env = c.sandbox_env();
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert!(keys.iter().all(
            |k| ENV_ALLOWLIST.contains(k) || ["PWD", "OLDPWD", "INIT_CWD", "TMPDIR", "OPENAI_API_BASE"].contains(k)
        ));
        assert_eq!(env.get("PWD").map(String::as_str), Some("/w"));
        assert_eq!(env.get("INIT_CWD").map(String::as_str), Some("/w"));
    }
}
