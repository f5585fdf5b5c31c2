//! The built-in agent's tools (`list_files`, `read_file`, `search`, `write_file`, `edit_file`,
//! `run_command`, `finish`): their JSON schemas for the model, and their execution confined to
//! the task's worktree. Every failure becomes a tool error the model reads; nothing here panics
//! on what a model sends.

use std::path::{Component, Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::AgentError;
use super::sandbox::{Confinement, Mode};
use crate::providers::{ToolCall, ToolSpec};
use crate::secrets::Secrets;

/// Largest file `read_file` returns, in bytes (longer files are cut with a note).
const MAX_READ_BYTES: usize = 100_000;
/// Largest file `read_file` and `edit_file` open at all, in bytes.
const MAX_OPEN_BYTES: u64 = 20_000_000;
/// Longest step shown for a call, in characters.
const STEP_CHARS: usize = 120;
/// Most entries `list_files` returns.
const MAX_LIST_ENTRIES: usize = 500;
/// Most matching lines `search` returns.
const MAX_SEARCH_RESULTS: usize = 100;
/// Files larger than this are skipped by `search`, in bytes.
const MAX_SEARCH_FILE_BYTES: u64 = 1_000_000;
/// Last bytes of each of stdout and stderr `run_command` returns.
const COMMAND_TAIL_BYTES: usize = 8_000;
/// Most files `search` looks at.
const MAX_SEARCH_FILES: usize = 50_000;
/// Folders `list_files` and `search` never enter, ignored or not: git's own, and build and
/// dependency output that can hold more files than the project itself.
const SKIPPED_DIRS: [&str; 3] = [".git", "target", "node_modules"];
/// Default and largest `run_command` time limit, in milliseconds.
const DEFAULT_COMMAND_MS: u64 = 120_000;
const MAX_COMMAND_MS: u64 = 600_000;

/// The built-in agent's tools, by the names the model calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ToolName {
    ListFiles,
    ReadFile,
    Search,
    WriteFile,
    EditFile,
    RunCommand,
    /// Ends the run with a summary.
    Finish,
}

impl ToolName {
    /// Every tool, in the order they are offered.
    pub(crate) const ALL: [ToolName; 7] = [
        ToolName::ListFiles,
        ToolName::ReadFile,
        ToolName::Search,
        ToolName::WriteFile,
        ToolName::EditFile,
        ToolName::RunCommand,
        ToolName::Finish,
    ];

    /// The name the model sees and calls.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ToolName::ListFiles => "list_files",
            ToolName::ReadFile => "read_file",
            ToolName::Search => "search",
            ToolName::WriteFile => "write_file",
            ToolName::EditFile => "edit_file",
            ToolName::RunCommand => "run_command",
            ToolName::Finish => "finish",
        }
    }

    /// The tool a model's call names, if there is one.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether a successful call changes the worktree (a command may).
    pub(crate) fn changes_files(self) -> bool {
        matches!(self, ToolName::WriteFile | ToolName::EditFile | ToolName::RunCommand)
    }
}

/// The tool definitions offered to the model.
pub(crate) fn specs() -> Vec<ToolSpec> {
    let spec = |name: ToolName, description: &str, parameters: Value| ToolSpec {
        name: name.as_str().to_owned(),
        description: description.to_owned(),
        parameters,
    };
    let path = json!({"type": "string", "description": "Path relative to the repository root"});
    vec![
        spec(
            ToolName::ListFiles,
            "List files and directories (directories end with /).",
            json!({"type": "object", "properties": {"path": path, "recursive": {"type": "boolean"}}}),
        ),
        spec(
            ToolName::ReadFile,
            "Read a text file, optionally only lines start_line..=end_line (1-based).",
            json!({"type": "object", "properties": {"path": path, "start_line": {"type": "integer"},
                "end_line": {"type": "integer"}}, "required": ["path"]}),
        ),
        spec(
            ToolName::Search,
            "Search files for a regular expression; returns path:line: text for each match.",
            json!({"type": "object", "properties": {"pattern": {"type": "string"}, "path": path},
                "required": ["pattern"]}),
        ),
        spec(
            ToolName::WriteFile,
            "Create or overwrite a file with the given content.",
            json!({"type": "object", "properties": {"path": path, "content": {"type": "string"}},
                "required": ["path", "content"]}),
        ),
        spec(
            ToolName::EditFile,
            "Replace old_string with new_string in a file; old_string must occur exactly once.",
            json!({"type": "object", "properties": {"path": path, "old_string": {"type": "string"},
                "new_string": {"type": "string"}}, "required": ["path", "old_string", "new_string"]}),
        ),
        spec(
            ToolName::RunCommand,
            "Run a shell command in the repository root (no network). Returns the exit code and the end of its output.",
            json!({"type": "object", "properties": {"command": {"type": "string", "description": "Run with sh -c"},
                "argv": {"type": "array", "items": {"type": "string"}, "description": "Run directly instead of command"},
                "timeout_ms": {"type": "integer"}}}),
        ),
        spec(
            ToolName::Finish,
            "Finish the task with a summary of what was done.",
            json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}),
        ),
    ]
}

/// What one tool call produced for the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolOutput {
    pub(crate) content: String,
    pub(crate) is_error: bool,
}

/// A worktree the tools act on.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// The canonical worktree path.
    root: PathBuf,
    confinement: Confinement,
    mode: Mode,
    secrets: Secrets,
    cancel: CancellationToken,
}

impl Workspace {
    /// The tools over `confinement.worktree`; commands start under `mode`, and what the tools
    /// return is kept clear of `secrets` (secret files are not read, known values are redacted).
    ///
    /// Errors: [`AgentError::Worktree`] when the worktree does not exist.
    pub(crate) fn new(
        confinement: &Confinement,
        mode: Mode,
        secrets: Secrets,
        cancel: CancellationToken,
    ) -> Result<Self, AgentError> {
        let worktree = &confinement.worktree;
        let root =
            worktree.canonicalize().map_err(|error| AgentError::Worktree { path: worktree.to_path_buf(), error })?;
        Ok(Self { root, confinement: confinement.clone(), mode, secrets, cancel })
    }

    /// The one-line step shown for a call, e.g. `edit_file src/lib.rs`.
    pub(crate) fn describe(call: &ToolCall) -> String {
        let arg = |key: &str| call.arguments.get(key).and_then(Value::as_str);
        let detail = match ToolName::parse(&call.name) {
            Some(ToolName::RunCommand) => arg("command").map(str::to_owned).or_else(|| {
                call.arguments
                    .get("argv")
                    .and_then(Value::as_array)
                    .map(|argv| argv.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            }),
            Some(ToolName::Search) => arg("pattern").map(str::to_owned),
            Some(ToolName::Finish) => None,
            _ => arg("path").map(str::to_owned),
        };
        let line = match detail {
            Some(detail) => format!("{} {detail}", call.name),
            None => call.name.clone(),
        };
        crate::text::first_line(&line, STEP_CHARS)
    }

    /// Executes one call; failures come back as `is_error` outputs for the model.
    pub(crate) async fn execute(&self, call: &ToolCall) -> ToolOutput {
        let result = match call.arguments {
            Value::Object(_) => self.dispatch(call).await,
            _ => Err(anyhow!("the arguments must be a JSON object, got {}", call.arguments)),
        };
        // Whatever a tool read or a command printed, a known key's value never reaches the model.
        match result {
            Ok(content) => ToolOutput { content: self.secrets.redactor.redact(&content), is_error: false },
            Err(e) => ToolOutput { content: self.secrets.redactor.redact(&format!("error: {e:#}")), is_error: true },
        }
    }

    async fn dispatch(&self, call: &ToolCall) -> anyhow::Result<String> {
        let args = &call.arguments;
        let Some(tool) = ToolName::parse(&call.name) else {
            let names: Vec<&str> = ToolName::ALL.iter().map(|t| t.as_str()).collect();
            bail!("there is no tool named {:?}; the tools are {}", call.name, names.join(", "));
        };
        match tool {
            ToolName::ListFiles => {
                let path = self.resolve(opt_str(args, "path").unwrap_or("."))?;
                let recursive = args.get("recursive").and_then(Value::as_bool).unwrap_or(false);
                let root = self.root.clone();
                blocking(move || list_files(&root, &path, recursive)).await
            }
            ToolName::ReadFile => {
                let path = self.resolve(str_arg(args, "path")?)?;
                self.refuse_secret(&path)?;
                let start = args.get("start_line").and_then(Value::as_u64);
                let end = args.get("end_line").and_then(Value::as_u64);
                read_file(&path, start, end).await
            }
            ToolName::Search => {
                let pattern = regex::Regex::new(str_arg(args, "pattern")?)
                    .context("the pattern is not a valid regular expression")?;
                let path = self.resolve(opt_str(args, "path").unwrap_or("."))?;
                self.refuse_secret(&path)?;
                let root = self.root.clone();
                let secrets = self.secrets.clone();
                blocking(move || search(&root, &path, &pattern, &secrets)).await
            }
            ToolName::WriteFile => {
                let path = self.resolve_writable(str_arg(args, "path")?)?;
                let content = str_arg(args, "content")?;
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::write(&path, content).await?;
                Ok(format!("wrote {} bytes to {}", content.len(), self.relative(&path)))
            }
            ToolName::EditFile => {
                let path = self.resolve_writable(str_arg(args, "path")?)?;
                let old = str_arg(args, "old_string")?;
                let new = str_arg(args, "new_string")?;
                edit_file(&path, old, new).await?;
                Ok(format!("edited {}", self.relative(&path)))
            }
            ToolName::RunCommand => self.run(args).await,
            ToolName::Finish => Ok("finished".to_owned()),
        }
    }

    async fn run(&self, args: &Value) -> anyhow::Result<String> {
        let argv: Vec<String> = match (args.get("argv"), opt_str(args, "command")) {
            (Some(Value::Array(items)), _) if !items.is_empty() => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
            (_, Some(command)) if !command.trim().is_empty() => {
                vec!["sh".to_owned(), "-c".to_owned(), command.to_owned()]
            }
            _ => bail!("give either command (a shell string) or argv (a list of strings)"),
        };
        let limit =
            args.get("timeout_ms").and_then(Value::as_u64).unwrap_or(DEFAULT_COMMAND_MS).clamp(1, MAX_COMMAND_MS);
        // The built-in agent's commands never get the network, whatever the profile says.
        let command = self.confinement.command(self.mode, &argv, false).context("empty command")?;
        let output = crate::process::run_with_limit(command, limit, COMMAND_TAIL_BYTES, &self.cancel).await?;
        let status = match (output.timed_out, output.code) {
            (true, _) => format!("killed after its time limit of {limit} ms"),
            (false, Some(code)) => format!("exit code {code}"),
            (false, None) => "killed by a signal".to_owned(),
        };
        let failed = output.timed_out || output.code != Some(0);
        let text = format!(
            "{status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            output.stdout.trim_end(),
            output.stderr.trim_end()
        );
        if failed { Err(anyhow!(text)) } else { Ok(text) }
    }

    /// Resolves a model-given relative path inside the worktree. Refuses absolute paths, `..`,
    /// and paths whose existing part resolves (through symlinks) outside the worktree.
    pub(crate) fn resolve(&self, given: &str) -> anyhow::Result<PathBuf> {
        resolve_in(&self.root, given)
    }

    /// Refuses a file matching the secret file patterns: its content must not reach the model.
    fn refuse_secret(&self, path: &Path) -> anyhow::Result<()> {
        if path != self.root && self.secrets.is_secret_path(&path.to_string_lossy()) {
            bail!(
                "{} matches the secret file patterns ([secrets] patterns); its content is not shown to the model",
                self.relative(path)
            );
        }
        Ok(())
    }

    /// [`Workspace::resolve`], also refusing the repository's `.git` folder.
    fn resolve_writable(&self, given: &str) -> anyhow::Result<PathBuf> {
        let path = self.resolve(given)?;
        if path
            .strip_prefix(&self.root)
            .is_ok_and(|rel| rel.components().next().is_some_and(|c| c.as_os_str() == ".git"))
        {
            bail!("writing inside .git is not allowed");
        }
        Ok(path)
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.root).unwrap_or(path).display().to_string()
    }
}

/// [`Workspace::resolve`] against a canonical `root`.
pub(crate) fn resolve_in(root: &Path, given: &str) -> anyhow::Result<PathBuf> {
    let given_path = Path::new(given.trim());
    if given_path.is_absolute() {
        bail!(
            "{given:?} is an absolute path; use a path relative to the repository root (the tools cannot reach outside it)"
        );
    }
    let mut joined = root.to_path_buf();
    for component in given_path.components() {
        match component {
            Component::Normal(part) => joined.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                bail!("{given:?} leaves the repository; `..` is not allowed in paths")
            }
        }
    }
    // Canonicalize the longest existing ancestor, so symlinks anywhere on the way are followed.
    let mut existing = joined.as_path();
    let mut missing = Vec::new();
    while !existing.exists() && existing.symlink_metadata().is_err() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                missing.push(name.to_owned());
                existing = parent;
            }
            _ => break,
        }
    }
    let mut resolved =
        existing.canonicalize().with_context(|| format!("{given:?} cannot be resolved (a broken symlink?)"))?;
    if !resolved.starts_with(root) {
        bail!("{given:?} resolves outside the repository (through a symlink); refused");
    }
    resolved.extend(missing.iter().rev());
    Ok(resolved)
}

fn str_arg<'a>(args: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => bail!("argument {key:?} must be a string, got {other}"),
        None => bail!("missing argument {key:?}"),
    }
}

fn opt_str<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow!("the tool failed: {e}"))?
}

/// The files and folders under `path` as git sees the project: `.gitignore`d ones left out (in
/// a git repository, as the worktree is), [`SKIPPED_DIRS`] never entered, links not followed,
/// hidden files kept; sorted by name, depth first. `max_depth` 1 lists `path`'s own entries.
fn walk(path: &Path, max_depth: Option<usize>) -> impl Iterator<Item = ignore::DirEntry> {
    ignore::WalkBuilder::new(path)
        .hidden(false)
        // `.ignore` files are ripgrep's, and the user's global excludes are not the project's.
        .ignore(false)
        .git_global(false)
        .follow_links(false)
        .max_depth(max_depth)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| !(e.depth() > 0 && is_dir(e) && SKIPPED_DIRS.iter().any(|d| e.file_name() == *d)))
        .build()
        .filter_map(Result::ok)
        .filter(|e| e.depth() > 0)
}

fn is_dir(entry: &ignore::DirEntry) -> bool {
    entry.file_type().is_some_and(|t| t.is_dir())
}

fn list_files(root: &Path, path: &Path, recursive: bool) -> anyhow::Result<String> {
    if !path.is_dir() {
        bail!("{} is not a directory", path.display());
    }
    let mut entries = Vec::new();
    let mut truncated = false;
    for entry in walk(path, if recursive { None } else { Some(1) }) {
        if entries.len() >= MAX_LIST_ENTRIES {
            truncated = true;
            break;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if is_dir(&entry) {
            entries.push(format!("{}/", rel.display()));
        } else {
            entries.push(rel.display().to_string());
        }
    }
    entries.sort();
    if truncated {
        entries.push(format!("… (stopped at {MAX_LIST_ENTRIES} entries)"));
    }
    if entries.is_empty() {
        return Ok("(empty directory)".to_owned());
    }
    Ok(entries.join("\n"))
}

async fn read_file(path: &Path, start: Option<u64>, end: Option<u64>) -> anyhow::Result<String> {
    let size = tokio::fs::metadata(path).await.with_context(|| format!("cannot read {}", path.display()))?.len();
    if size > MAX_OPEN_BYTES {
        bail!("{} is {size} bytes, too large to read (limit {MAX_OPEN_BYTES})", path.display());
    }
    let bytes = tokio::fs::read(path).await.with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let text = match (start, end) {
        (None, None) => text.into_owned(),
        (start, end) => {
            let start = start.unwrap_or(1).max(1) as usize;
            let end = end.map_or(usize::MAX, |e| e as usize);
            text.lines()
                .enumerate()
                .filter(|(i, _)| (start..=end).contains(&(i + 1)))
                .map(|(_, line)| line)
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    if text.len() <= MAX_READ_BYTES {
        return Ok(text);
    }
    let mut cut = MAX_READ_BYTES;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(format!("{}\n… (cut at {MAX_READ_BYTES} bytes; read a line range for more)", &text[..cut]))
}

fn search(root: &Path, path: &Path, pattern: &regex::Regex, secrets: &Secrets) -> anyhow::Result<String> {
    let mut results = Vec::new();
    // A file given as the path is searched alone (the walk yields nothing below a file).
    let files: Box<dyn Iterator<Item = PathBuf>> = if path.is_dir() {
        Box::new(
            walk(path, None).filter(|e| e.file_type().is_some_and(|t| t.is_file())).map(ignore::DirEntry::into_path),
        )
    } else {
        Box::new(std::iter::once(path.to_path_buf()))
    };
    for current in files.take(MAX_SEARCH_FILES) {
        let Ok(meta) = std::fs::symlink_metadata(&current) else {
            continue;
        };
        if !meta.is_file() || meta.len() > MAX_SEARCH_FILE_BYTES || secrets.is_secret_path(&current.to_string_lossy()) {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&current) else {
            continue;
        };
        let rel = current.strip_prefix(root).unwrap_or(&current).display().to_string();
        for (i, line) in text.lines().enumerate() {
            if pattern.is_match(line) {
                if results.len() >= MAX_SEARCH_RESULTS {
                    results.push(format!("… (stopped at {MAX_SEARCH_RESULTS} matches)"));
                    return Ok(results.join("\n"));
                }
                let line: String = line.chars().take(300).collect();
                results.push(format!("{rel}:{}: {line}", i + 1));
            }
        }
    }
    if results.is_empty() {
        return Ok("no matches".to_owned());
    }
    Ok(results.join("\n"))
}

async fn edit_file(path: &Path, old: &str, new: &str) -> anyhow::Result<()> {
    if old.is_empty() {
        bail!("old_string is empty; to create a file use write_file");
    }
    let text = tokio::fs::read_to_string(path).await.with_context(|| format!("cannot read {}", path.display()))?;
    match text.matches(old).count() {
        0 => bail!("old_string was not found in the file; read the file and copy the text exactly"),
        1 => {}
        n => {
            bail!("old_string occurs {n} times in the file; include more surrounding lines so it matches exactly once")
        }
    }
    tokio::fs::write(path, text.replacen(old, new, 1)).await?;
    Ok(())
}
