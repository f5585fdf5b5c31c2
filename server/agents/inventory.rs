//! What `baton agents` and `baton/agents` report: for every agent profile (presets included),
//! whether its command is installed (where, and its `--version`), whether its runtime fits (the
//! Node.js major version a preset needs) and whether it has a login, where that can be known
//! without starting a task. Runs `--version` outside the sandbox, with a short time limit, and
//! only for programs found through `PATH` (never a path a repository's `baton.toml` may name).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::presets::{self, Preset};
use super::{AgentKind, AgentProfile};

/// How long `<command> --version` (and `node --version`) may take, in milliseconds.
pub(crate) const VERSION_LIMIT_MS: u64 = 10_000;

/// One agent profile's state on this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AgentReport {
    pub(crate) name: String,
    pub(crate) kind: AgentKind,
    /// `builtin`, `preset`, `preset+profile` (a user profile changes the preset) or `profile`.
    pub(crate) source: &'static str,
    /// The program the profile runs (`gemini`); absent for the built-in agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) command: Option<String>,
    /// Whether the program was found (always true for the built-in agent).
    pub(crate) installed: bool,
    /// Where it was found in `PATH`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) path: Option<String>,
    /// The first line of its `--version` output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
    /// The runtime check (`node v20.20.2, needs >= 22`); absent when the agent needs none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) runtime: Option<String>,
    /// Whether the runtime fits; absent when there is nothing to check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) runtime_ok: Option<bool>,
    /// Whether it can run a task now (installed, runtime fits, a login or key found); absent
    /// when that cannot be known without starting it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ready: Option<bool>,
    /// What to do, or what was found: "install it with `npm install -g ...`", the login hint,
    /// "logged in (~/.codex/auth.json)".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// The package verified with Baton: `npm @google/gemini-cli@0.61.0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) package: Option<String>,
    /// The words every view shows (`baton agents`, the editors' agent menus), from the fields
    /// above: `missing`, `old runtime`, `needs login`, `ready`, or `installed` where readiness
    /// cannot be known without starting the agent.
    pub(crate) state: &'static str,
}

impl AgentReport {
    fn state_of(&self) -> &'static str {
        match (self.installed, self.runtime_ok, self.ready) {
            (false, _, _) => "missing",
            (true, Some(false), _) => "old runtime",
            (true, _, Some(true)) => "ready",
            (true, _, Some(false)) => "needs login",
            (true, _, None) => "installed",
        }
    }
}

/// What the checks read from the machine: `PATH`, `HOME` and the environment, passed in so
/// tests give their own.
#[derive(Debug, Clone)]
pub(crate) struct Machine {
    pub(crate) path: Option<std::ffi::OsString>,
    pub(crate) home: Option<PathBuf>,
    /// Names of the variables set (non-empty) in Baton's environment.
    pub(crate) set_vars: Vec<String>,
    /// How long a `--version` may take, in milliseconds.
    pub(crate) limit_ms: u64,
}

impl Machine {
    /// This process's environment.
    pub(crate) fn current() -> Self {
        Self {
            path: std::env::var_os("PATH"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            set_vars: std::env::vars_os()
                .filter(|(_, v)| !v.is_empty())
                .filter_map(|(k, _)| k.into_string().ok())
                .collect(),
            limit_ms: VERSION_LIMIT_MS,
        }
    }

    /// `program` as the agent's spawn finds it: a path as given, else the first executable
    /// file of that name in `PATH`.
    fn find(&self, program: &str) -> Option<PathBuf> {
        if program.contains('/') {
            return is_executable(Path::new(program)).then(|| PathBuf::from(program));
        }
        let path = self.path.as_ref()?;
        std::env::split_paths(path).map(|dir| dir.join(program)).find(|p| is_executable(p))
    }

    fn expand(&self, configured: &str) -> Option<PathBuf> {
        match configured.strip_prefix("~/") {
            Some(rest) => self.home.as_ref().map(|h| h.join(rest)),
            None => Some(PathBuf::from(configured)),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Reports every profile, in the order given; `--version` runs happen concurrently.
pub(crate) async fn inventory(profiles: &[AgentProfile], machine: &Machine) -> Vec<AgentReport> {
    let node = node_version(machine).await;
    futures::future::join_all(profiles.iter().map(|p| report(p, machine, node.as_deref()))).await
}

async fn report(profile: &AgentProfile, machine: &Machine, node: Option<&str>) -> AgentReport {
    let mut r = examine(profile, machine, node).await;
    r.state = r.state_of();
    r
}

async fn examine(profile: &AgentProfile, machine: &Machine, node: Option<&str>) -> AgentReport {
    let preset = presets::find(&profile.name);
    let mut r = AgentReport {
        name: profile.name.clone(),
        kind: profile.kind,
        source: source(profile, preset),
        command: None,
        installed: false,
        path: None,
        version: None,
        runtime: None,
        runtime_ok: None,
        ready: None,
        note: None,
        package: preset
            .and_then(|p| p.info.package.as_ref())
            .filter(|p| !p.version.is_empty())
            .map(|p| format!("{} {}@{}", p.registry, p.name, p.version)),
        state: "",
    };
    if profile.kind == AgentKind::Builtin {
        r.installed = true;
        r.version = Some(format!("baton {}", env!("CARGO_PKG_VERSION")));
        r.note = Some(match &profile.model {
            Some(m) => format!("model {} at {}", m.model, m.base_url),
            None => "uses the completion model ([provider])".to_owned(),
        });
        return r;
    }
    let Some(program) = profile.command.first() else {
        r.note = Some("the profile has no command".to_owned());
        r.ready = Some(false);
        return r;
    };
    r.command = Some(program.clone());
    let Some(found) = machine.find(program) else {
        r.ready = Some(false);
        r.note = Some(match preset.and_then(|p| p.info.package.as_ref()) {
            Some(p) if p.registry == "npm" && !p.version.is_empty() => {
                format!("not installed: `npm install -g {}@{}`", p.name, p.version)
            }
            Some(p) if p.registry == "pypi" && !p.version.is_empty() => {
                format!("not installed: `pipx install {}=={}`", p.name, p.version)
            }
            _ => format!("not installed: no `{program}` in PATH"),
        });
        return r;
    };
    r.installed = true;
    r.path = Some(found.display().to_string());
    let version_args = match preset {
        Some(p) if !p.info.version_args.is_empty() => p.info.version_args.clone(),
        _ => vec!["--version".to_owned()],
    };
    // `--version` runs outside the sandbox, so only for a program found in the user's own PATH:
    // a path (`./tool`, `/tmp/x`) may come from a cloned repository's baton.toml, and asking it
    // its version would run the repository's code unconfined.
    let by_path = program.contains('/');
    if !by_path {
        r.version = first_line_of(&found, &version_args, machine).await;
    }
    let min_node = preset.map_or(0, |p| p.info.min_node);
    if min_node > 0 {
        let major = node.and_then(node_major);
        r.runtime = Some(match node {
            Some(v) => format!("node {v}, needs >= {min_node}"),
            None => format!("no node in PATH, needs >= {min_node}"),
        });
        r.runtime_ok = Some(major.is_some_and(|m| m >= min_node));
    }
    let login = preset.map(|p| login(profile, p, machine));
    if r.runtime_ok == Some(false) {
        r.ready = Some(false);
        r.note = Some(format!("needs Node.js {min_node} or newer first in PATH"));
    } else if let Some((ready, note)) = login {
        r.ready = ready;
        r.note = note;
    }
    if by_path && r.note.is_none() {
        r.note = Some("version not asked: the command is a path (Baton runs it only in its sandbox)".to_owned());
    }
    r
}

/// Whether the resolved profile is the bare preset, a preset a user profile changed, or the
/// user's own.
fn source(profile: &AgentProfile, preset: Option<&Preset>) -> &'static str {
    if profile.kind == AgentKind::Builtin && profile.name == "builtin" {
        return "builtin";
    }
    let Some(preset) = preset else { return "profile" };
    let bare: Option<AgentProfile> = serde_json::from_value(serde_json::Value::Object(preset.profile.clone())).ok();
    if bare.as_ref() == Some(profile) { "preset" } else { "preset+profile" }
}

/// A preset's login, where files or variables tell: `(Some(true), "logged in (file)")`,
/// `(Some(false), hint)` when it has login files and none exists and no key is set, `(None, hint)`
/// when nothing tells.
fn login(profile: &AgentProfile, preset: &Preset, machine: &Machine) -> (Option<bool>, Option<String>) {
    if let Some(local) = &profile.local_model {
        return (Some(true), Some(format!("local model {} at {}", local.model, local.base_url)));
    }
    let key = profile.secret_env.iter().find(|k| machine.set_vars.contains(k) || profile.env.contains_key(*k));
    if let Some(key) = key {
        return (Some(true), Some(format!("key in {key}")));
    }
    let file = preset.info.login_files.iter().find(|f| machine.expand(f).is_some_and(|p| p.is_file()));
    if let Some(file) = file {
        return (Some(true), Some(format!("logged in ({file})")));
    }
    let hint = preset.info.auth_hint.clone();
    if preset.info.login_files.is_empty() { (None, hint) } else { (Some(false), hint) }
}

/// The first non-empty line `program args` prints (stdout, else stderr), at most 100
/// characters; `None` when it fails to start, exits non-zero, or runs past
/// `machine.limit_ms`.
async fn first_line_of(program: &Path, args: &[String], machine: &Machine) -> Option<String> {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(path) = &machine.path {
        command.env("PATH", path);
    }
    let out = crate::process::run_with_limit(command, machine.limit_ms, 4096, &CancellationToken::new()).await.ok()?;
    if out.timed_out || out.code != Some(0) {
        return None;
    }
    [out.stdout.as_str(), out.stderr.as_str()]
        .iter()
        .flat_map(|s| s.lines())
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(100).collect())
}

async fn node_version(machine: &Machine) -> Option<String> {
    let node = machine.find("node")?;
    first_line_of(&node, &["--version".to_owned()], machine).await
}

/// `v22.23.5` → 22.
fn node_major(version: &str) -> Option<u32> {
    version.trim().trim_start_matches('v').split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_program(dir: &Path, name: &str, script: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    fn profile(name: &str) -> AgentProfile {
        let value = serde_json::Value::Object(presets::find(name).expect("preset").profile.clone());
        serde_json::from_value(value).expect("profile")
    }

    #[tokio::test]
    async fn installed_versions_node_fit_and_logins_are_told_and_a_hanging_version_is_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&bin).expect("bin");
        std::fs::create_dir_all(home.join(".codex")).expect("home");
        write_program(&bin, "node", "echo v20.20.2");
        write_program(&bin, "qwen", "echo 0.15.10");
        write_program(&bin, "codex", "echo 'codex-cli 0.169.0' >&2");
        write_program(&bin, "gemini", "exec /bin/sleep 600");
        write_program(&bin, "opencode", "echo 'error: unexpected argument' >&2; exit 2");
        std::fs::write(home.join(".codex/auth.json"), "{}").expect("login");
        let machine =
            Machine { path: Some(bin.clone().into_os_string()), home: Some(home), set_vars: vec![], limit_ms: 1_000 };
        let mut claude = profile("claude");
        claude.command = vec!["claude-agent-acp".into()];
        let mut mine = AgentProfile { name: "mine".into(), kind: AgentKind::Cli, ..AgentProfile::default() };
        mine.command = vec![bin.join("qwen").display().to_string(), "{prompt}".into()];
        let mut gemini = profile("gemini");
        gemini.env.insert("GEMINI_API_KEY".into(), "k".into());
        let profiles = [
            AgentProfile::default(),
            profile("qwen"),
            profile("codex-cli"),
            gemini,
            claude,
            mine,
            profile("aider"),
            profile("opencode"),
        ];
        let started = std::time::Instant::now();
        let reports = inventory(&profiles, &machine).await;
        let took = started.elapsed().as_millis();
        assert!(
            (1_000..60_000).contains(&took),
            "gemini's hang is cut at the limit, the rest run beside it: {took} ms"
        );
        let by = |n: &str| reports.iter().find(|r| r.name == n).cloned().expect(n);

        assert_eq!((by("builtin").source, by("builtin").installed), ("builtin", true));
        let qwen = by("qwen");
        assert_eq!((qwen.source, qwen.installed, qwen.version.as_deref()), ("preset", true, Some("0.15.10")));
        assert_eq!((qwen.runtime.as_deref(), qwen.runtime_ok), (Some("node v20.20.2, needs >= 20"), Some(true)));
        // No OAuth file and no key: not ready, with the agent's own hint.
        assert_eq!((qwen.ready, qwen.state), (Some(false), "needs login"));
        assert!(qwen.note.as_deref().is_some_and(|n| n.contains("qwen auth")), "{qwen:?}");
        let codex = by("codex-cli");
        assert_eq!((codex.version.as_deref(), codex.ready), (Some("codex-cli 0.169.0"), Some(true)));
        assert_eq!(codex.state, "ready");
        assert_eq!(codex.note.as_deref(), Some("logged in (~/.codex/auth.json)"));
        // A version command that hangs is cut at the limit: installed, no version.
        let gemini = by("gemini");
        assert_eq!((gemini.installed, gemini.version.as_deref(), gemini.source), (true, None, "preset+profile"));
        assert_eq!((gemini.ready, gemini.note.as_deref()), (Some(true), Some("key in GEMINI_API_KEY")));
        let claude = by("claude");
        assert!(!claude.installed && claude.ready == Some(false));
        assert_eq!(claude.state, "missing");
        assert_eq!(
            claude.note.as_deref(),
            Some("not installed: `npm install -g @zed-industries/claude-agent-acp@0.23.1`")
        );
        // A version flag it refuses: installed, no version.
        let opencode = by("opencode");
        assert_eq!((opencode.installed, opencode.version.as_deref()), (true, None));
        assert_eq!(by("mine").source, "profile");
        // A command given as a path is found but never run outside the sandbox.
        assert_eq!((by("mine").installed, by("mine").version.as_deref()), (true, None));
        assert!(by("mine").note.as_deref().is_some_and(|n| n.starts_with("version not asked")), "{:?}", by("mine"));
        assert!(by("aider").note.as_deref().is_some_and(|n| n.contains("pipx install aider-chat==0.86.2")));

        // Node 18 is too old for a preset that needs 20: not ready, whatever the login says.
        write_program(&bin, "node", "echo v18.19.0");
        let reports = inventory(&[profile("qwen")], &machine).await;
        assert_eq!((reports[0].runtime_ok, reports[0].ready), (Some(false), Some(false)));
        assert_eq!(reports[0].state, "old runtime");
        assert_eq!(reports[0].note.as_deref(), Some("needs Node.js 20 or newer first in PATH"));
    }
}
