//! Task worktrees' lifecycle: one git branch and worktree per task, outside the user's tree,
//! created, re-created and removed (serialized per repository; the git commands themselves are
//! `git.rs`'s), the data directory layout, `.worktreeinclude` copying, the setup command and
//! garbage collection of orphans.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use parking_lot::Mutex;

use super::git::{self, Git, GitError};
use crate::process::RunError;

/// How much of the setup command's output is kept for its error message, in bytes.
const SETUP_TAIL_BYTES: usize = 4096;

/// Errors creating, setting up or removing a worktree.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WorktreeError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error("the repository has no commit yet: {0}")]
    NoCommit(GitError),
    /// A folder or file of the data directory, the user's tree (`.worktreeinclude`) or the
    /// worktree could not be read, written or removed.
    #[error("{what}: {error}")]
    File { what: String, error: std::io::Error },
    #[error("setup command {command:?}: {error}")]
    SetupNotRun { command: String, error: RunError },
    #[error("setup command {command:?} was stopped after {ms} ms: {output}")]
    SetupTimedOut { command: String, ms: u64, output: String },
    #[error("setup command {command:?} failed: {output}")]
    SetupFailed { command: String, output: String },
}

/// Maps an I/O error to [`WorktreeError::File`] saying what was being done.
fn file(what: String) -> impl FnOnce(std::io::Error) -> WorktreeError {
    move |error| WorktreeError::File { what, error }
}

/// Baton's data directory: `$BATON_DATA_DIR`, else the platform's data directory + `/baton`.
pub(crate) fn default_data_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BATON_DATA_DIR") {
        return Some(PathBuf::from(p));
    }
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy().ok().map(|s| s.data_dir().join("baton"))
}

/// The task database inside a data directory.
pub(crate) fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join("baton.db")
}

/// A branch-name slug from a prompt: ASCII lowercase letters and digits joined by `-`, at most
/// 40 bytes, `task` when nothing is left.
pub(crate) fn slug(prompt: &str) -> String {
    let mut out = String::new();
    for c in prompt.chars() {
        if c.is_ascii_alphanumeric() {
            if out.len() >= 40 {
                break;
            }
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            if out.len() >= 39 {
                break;
            }
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-').to_owned();
    if out.is_empty() { "task".to_owned() } else { out }
}

/// A stable short hash of a repository path (FNV-1a, 64 bits, hex) with the directory's name,
/// so each repository's worktrees live in their own folder.
pub(crate) fn repo_key(repo_root: &Path) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in repo_root.to_string_lossy().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let name = repo_root.file_name().map(|n| slug(&n.to_string_lossy())).unwrap_or_default();
    format!("{name}-{h:016x}")
}

/// Where task worktrees of `repo_root` live under the data directory.
pub(crate) fn worktrees_dir(data_dir: &Path, repo_root: &Path) -> PathBuf {
    data_dir.join("worktrees").join(repo_key(repo_root))
}

/// One lock per repository for `git worktree add/remove` (git takes repository-wide locks).
fn repo_lock(repo_root: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut map = LOCKS.get_or_init(Default::default).lock();
    map.entry(repo_root.to_path_buf()).or_default().clone()
}

/// A created worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Worktree {
    pub(crate) branch: String,
    pub(crate) path: PathBuf,
    /// The commit the branch starts at (the repository's HEAD when created).
    pub(crate) base_commit: String,
    /// Git's admin directory for the worktree (`<repo>/.git/worktrees/<name>`): every later git
    /// command on the worktree names it explicitly.
    pub(crate) git_dir: PathBuf,
}

/// Creates branch `baton/<id>-<slug>` at the repository's HEAD and its worktree under the data
/// directory, checked out in two steps (`--no-checkout`, then a checkout) so large repositories
/// report progress through `step`; then copies `.worktreeinclude` files.
///
/// Errors: not a git repository, no commit yet, git failures (with git's message).
pub(crate) async fn create(
    data_dir: &Path,
    repo_root: &Path,
    id: i64,
    prompt: &str,
    step: &(dyn Fn(String) + Send + Sync),
) -> Result<Worktree, WorktreeError> {
    // The first line is the instruction; editor context folded in below it is not a name.
    let name = format!("{id}-{}", slug(prompt.lines().next().unwrap_or("")));
    let branch = format!("baton/{name}");
    let path = worktrees_dir(data_dir, repo_root).join(&name);
    let repo = Git::repo(repo_root);
    let base_commit = repo.line(&["rev-parse", "--verify", "HEAD^{commit}"]).await.map_err(WorktreeError::NoCommit)?;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file(format!("cannot create {}", parent.display())))?;
    }
    // The resolved path: git records real paths, and processes' working directories in /proc are
    // real paths, so a data folder behind a symbolic link must not make them disagree.
    let path = resolved(path);
    {
        let lock = repo_lock(repo_root);
        let _guard = lock.lock().await;
        step(format!("creating worktree {}", path.display()));
        let args: [&OsStr; 6] = [
            "worktree".as_ref(),
            "add".as_ref(),
            "--no-checkout".as_ref(),
            "-b".as_ref(),
            branch.as_ref(),
            path.as_os_str(),
        ];
        let mut args = args.to_vec();
        args.push(base_commit.as_ref());
        repo.bytes(&args).await?;
    }
    let git_dir = git::new_worktree_git_dir(&path)?;
    let wt = Git::worktree(&git_dir, &path).with_attr_source(&base_commit);
    step("checking out files".to_owned());
    wt.checkout_with_progress(step).await?;
    let count = wt.bytes(&["ls-files", "-z"]).await.map(|s| s.iter().filter(|&&b| b == 0).count()).unwrap_or(0);
    step(format!("checked out {count} files"));
    let copied = copy_includes(repo_root, &path).await?;
    if !copied.is_empty() {
        step(format!("copied {} file(s) from .worktreeinclude", copied.len()));
    }
    Ok(Worktree { branch, path, base_commit, git_dir })
}

/// `path` with its (existing) parent folder resolved through symbolic links; as given when that fails.
fn resolved(path: PathBuf) -> PathBuf {
    match (path.parent().map(Path::canonicalize), path.file_name()) {
        (Some(Ok(parent)), Some(name)) => parent.join(name),
        _ => path,
    }
}

/// Re-creates the worktree of an existing task branch (for a resumed task whose worktree folder
/// was removed), checking out the branch as it is. Returns the worktree path and its admin
/// directory.
///
/// Errors: the branch does not exist, git failures.
pub(crate) async fn reattach(
    data_dir: &Path,
    repo_root: &Path,
    branch: &str,
    step: &(dyn Fn(String) + Send + Sync),
) -> Result<(PathBuf, PathBuf), WorktreeError> {
    let name = branch.strip_prefix("baton/").unwrap_or(branch);
    let path = worktrees_dir(data_dir, repo_root).join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(file(format!("cannot create {}", parent.display())))?;
    }
    // The resolved path: git records real paths, and processes' working directories in /proc are
    // real paths, so a data folder behind a symbolic link must not make them disagree.
    let path = resolved(path);
    {
        let lock = repo_lock(repo_root);
        let _guard = lock.lock().await;
        // The branch holds the agent's commits: .gitattributes come from the user's HEAD commit
        // (by id: the checkout git starts in the new worktree would read `HEAD` as the branch).
        let head = Git::repo(repo_root).line(&["rev-parse", "--verify", "HEAD^{commit}"]).await?;
        let repo = Git::repo(repo_root).with_attr_source(&head);
        repo.bytes(&["worktree", "prune"]).await?;
        step(format!("re-creating worktree {} from branch {branch}", path.display()));
        let args: [&OsStr; 5] =
            ["worktree".as_ref(), "add".as_ref(), "--quiet".as_ref(), path.as_os_str(), branch.as_ref()];
        repo.bytes(&args).await?;
    }
    let git_dir = git::new_worktree_git_dir(&path)?;
    copy_includes(repo_root, &path).await?;
    Ok((path, git_dir))
}

/// Copies the files `.worktreeinclude` names from the user's tree into the worktree, keeping
/// existing worktree files. The file has `.gitignore`'s syntax and meaning (matched by the
/// `ignore` crate): `#` comments, `!` re-includes, a pattern without a `/` matches at any depth,
/// a leading `/` anchors it at the repository root, a trailing `/` matches only directories, and
/// a matched directory is copied whole. `.git` is never entered and symbolic links in the user's
/// tree are not followed. Returns the copied relative paths.
///
/// Errors: `.worktreeinclude` or a folder of the user's tree cannot be read, a copy fails.
pub(crate) async fn copy_includes(repo_root: &Path, worktree: &Path) -> Result<Vec<PathBuf>, WorktreeError> {
    let list_path = repo_root.join(".worktreeinclude");
    let list = match tokio::fs::read_to_string(&list_path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file("cannot read .worktreeinclude".to_owned())(e)),
    };
    let mut builder = GitignoreBuilder::new(repo_root);
    for line in list.lines() {
        if let Err(e) = builder.add_line(Some(list_path.clone()), line) {
            tracing::warn!(pattern = line, error = %e, ".worktreeinclude: bad pattern");
        }
    }
    let include =
        builder.build().map_err(|e| file("cannot read .worktreeinclude".to_owned())(std::io::Error::other(e)))?;
    if include.is_empty() {
        return Ok(Vec::new());
    }
    let (root, worktree) = (repo_root.to_path_buf(), worktree.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let mut copied = Vec::new();
        copy_matches(&include, &root, Path::new(""), &worktree, &mut copied)?;
        Ok(copied)
    })
    .await
    .map_err(|e| file("copying .worktreeinclude files stopped".to_owned())(std::io::Error::other(e)))?
}

/// Walks `dir` (`rel` in the user's tree, sorted by name), copying what `include` matches.
fn copy_matches(
    include: &Gitignore,
    dir: &Path,
    rel: &Path,
    worktree: &Path,
    copied: &mut Vec<PathBuf>,
) -> Result<(), WorktreeError> {
    let read = std::fs::read_dir(dir).map_err(file(format!("cannot read {}", dir.display())))?;
    let mut entries: Vec<std::fs::DirEntry> = read.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        // The entry's own type: a link is neither a file nor a directory here.
        let Ok(kind) = entry.file_type() else { continue };
        if entry.file_name() == ".git" || kind.is_symlink() {
            continue;
        }
        let rel = rel.join(entry.file_name());
        if include.matched(&rel, kind.is_dir()).is_ignore() {
            if copy_path(&entry.path(), worktree, &rel)? {
                copied.push(rel);
            }
        } else if kind.is_dir() {
            copy_matches(include, &entry.path(), &rel, worktree, copied)?;
        }
    }
    Ok(())
}

/// Copies a file or a directory tree from `src` to `worktree/rel`; returns whether anything was
/// copied. Never writes through a symbolic link: the worktree may hold links an agent committed
/// (a resumed task's worktree is checked out from its branch), so a link anywhere on the way
/// skips the file, and files are created new (`O_EXCL`, which also refuses a final link).
fn copy_path(src: &Path, worktree: &Path, rel: &Path) -> Result<bool, WorktreeError> {
    let Ok(meta) = std::fs::symlink_metadata(src) else {
        return Ok(false);
    };
    if meta.is_dir() {
        let mut any = false;
        for entry in std::fs::read_dir(src).map_err(file(format!("cannot read {}", src.display())))? {
            let entry = entry.map_err(file(format!("cannot read {}", src.display())))?;
            any |= copy_path(&entry.path(), worktree, &rel.join(entry.file_name()))?;
        }
        return Ok(any);
    }
    if !meta.is_file() {
        return Ok(false);
    }
    let dst = worktree.join(rel);
    let mut at = worktree.to_path_buf();
    for component in rel.components() {
        at.push(component);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                tracing::warn!(path = %at.display(), ".worktreeinclude: not copying through a symbolic link");
                return Ok(false);
            }
            Ok(_) if at == dst => return Ok(false),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(file(format!("cannot create {}", parent.display())))?;
    }
    let mut from = std::fs::File::open(src).map_err(file(format!("cannot read {}", src.display())))?;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    // `create_new` (O_CREAT | O_EXCL) also refuses a symbolic link in the last component.
    let mut to =
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(meta.permissions().mode()).open(&dst) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(e) => return Err(file(format!("cannot create {}", dst.display()))(e)),
        };
    std::io::copy(&mut from, &mut to).map_err(file(format!("cannot copy {} to {}", src.display(), dst.display())))?;
    Ok(true)
}

/// Runs the configured setup command (`sh -c`) in a new worktree, confined like the agent
/// (with the host network only when `network`), with a time limit in milliseconds after which
/// its whole process group is killed.
///
/// Errors carry the command's output tail: [`WorktreeError::SetupFailed`],
/// [`WorktreeError::SetupTimedOut`]; [`WorktreeError::SetupNotRun`] when it cannot start or
/// `cancel` fires.
pub(crate) async fn run_setup(
    confinement: &crate::agents::Confinement,
    mode: crate::agents::sandbox::Mode,
    command: &str,
    limit_ms: u64,
    network: bool,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<(), WorktreeError> {
    let argv = ["sh".to_owned(), "-c".to_owned(), format!("exec 2>&1; {command}")];
    let not_run = |error| WorktreeError::SetupNotRun { command: command.to_owned(), error };
    let child = confinement
        .command(mode, &argv, network)
        .ok_or_else(|| not_run(RunError::Spawn { program: "sh".to_owned(), reason: "empty command".to_owned() }))?;
    let out = crate::process::run_with_limit(child, limit_ms, SETUP_TAIL_BYTES, cancel).await.map_err(not_run)?;
    let output = out.stdout.trim().to_owned();
    if out.timed_out {
        return Err(WorktreeError::SetupTimedOut { command: command.to_owned(), ms: limit_ms, output });
    }
    if out.code != Some(0) {
        return Err(WorktreeError::SetupFailed { command: command.to_owned(), output });
    }
    Ok(())
}

/// Removes a task's worktree (forcefully: the task's work is committed on its branch) and,
/// with `delete_branch`, the branch too. Missing worktrees and branches are not errors.
pub(crate) async fn remove(repo_root: &Path, path: &Path, branch: Option<&str>) -> Result<(), WorktreeError> {
    let lock = repo_lock(repo_root);
    let _guard = lock.lock().await;
    let repo = Git::repo(repo_root);
    if path.exists() {
        let args: [&OsStr; 5] =
            ["worktree".as_ref(), "remove".as_ref(), "--force".as_ref(), "--force".as_ref(), path.as_os_str()];
        if let Err(e) = repo.bytes(&args).await {
            tracing::warn!(error = %e, "git worktree remove failed; deleting the folder");
            std::fs::remove_dir_all(path).map_err(file(format!("cannot remove {}", path.display())))?;
        }
    }
    repo.bytes(&["worktree", "prune"]).await?;
    if let Some(branch) = branch {
        let exists =
            repo.output(&["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")]).await?.status.success();
        if exists {
            repo.bytes(&["branch", "-D", branch]).await?;
        }
    }
    Ok(())
}

/// Removes worktree folders under `data_dir/worktrees` that are not in `referenced`, then runs
/// `git worktree prune` in their repositories (found from each worktree's `.git` file).
/// Returns the removed paths.
pub(crate) async fn gc(
    data_dir: &Path,
    keep: &(dyn Fn(&Path) -> bool + Send + Sync),
) -> Result<Vec<PathBuf>, WorktreeError> {
    let root = data_dir.join("worktrees");
    let mut removed = Vec::new();
    let Ok(repos) = std::fs::read_dir(&root) else {
        return Ok(removed);
    };
    for repo_dir in repos.flatten() {
        let Ok(entries) = std::fs::read_dir(repo_dir.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() || keep(&path) {
                continue;
            }
            let main_repo = std::fs::read_to_string(path.join(".git")).ok().and_then(|s| {
                // `gitdir: <repo>/.git/worktrees/<name>`
                // Written by git, but an agent may have rewritten it: only a `.git/worktrees/<name>`
                // path names a repository to prune.
                let gitdir = PathBuf::from(s.trim().strip_prefix("gitdir:")?.trim());
                let worktrees = gitdir.parent()?;
                let dotgit = worktrees.parent()?;
                (worktrees.file_name()? == "worktrees" && dotgit.file_name()? == ".git" && dotgit.is_dir())
                    .then(|| dotgit.parent().map(Path::to_path_buf))
                    .flatten()
            });
            std::fs::remove_dir_all(&path).map_err(file(format!("cannot remove {}", path.display())))?;
            if let Some(repo) = main_repo
                && repo.exists()
            {
                let lock = repo_lock(&repo);
                let _guard = lock.lock().await;
                if let Err(e) = Git::repo(&repo).bytes(&["worktree", "prune"]).await {
                    tracing::warn!(error = %e, "git worktree prune failed");
                }
            }
            tracing::info!(path = %path.display(), "removed orphan worktree");
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_short_lowercase_ascii() {
        expect_test::expect!["add-a-fn-to-lib-rs-please"].assert_eq(&slug("Add a fn to `lib.rs`, please!"));
        assert_eq!(slug("!!!"), "task");
        let long = slug(&"word ".repeat(30));
        assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
        assert_eq!(slug("日本語 ok"), "ok");
    }

    #[tokio::test]
    async fn worktreeinclude_never_writes_through_a_link_an_agent_committed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, wt, outside) = (tmp.path().join("repo"), tmp.path().join("wt"), tmp.path().join("outside"));
        for d in [&repo, &wt, &outside, &repo.join("dir")] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(repo.join(".worktreeinclude"), ".env\ndir/key\nplain\n").expect("write");
        for f in [".env", "dir/key", "plain"] {
            std::fs::write(repo.join(f), "secret").expect("write");
        }
        // A resumed task's worktree is checked out from its branch: links the agent committed.
        std::os::unix::fs::symlink(outside.join("dropped"), wt.join(".env")).expect("link");
        std::os::unix::fs::symlink(&outside, wt.join("dir")).expect("link");
        let copied = copy_includes(&repo, &wt).await.expect("copy");
        assert_eq!(copied, [PathBuf::from("plain")]);
        assert!(std::fs::read_dir(&outside).expect("outside").next().is_none(), "nothing written outside");
    }

    #[tokio::test]
    async fn worktreeinclude_has_gitignore_semantics() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let (repo, wt) = (tmp.path().join("repo"), tmp.path().join("wt"));
        for d in
            [&repo, &wt, &repo.join("app/config"), &repo.join("secrets/deep"), &repo.join(".git"), &repo.join("sub")]
        {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let list =
            "# comments and blank lines are ignored\n\n*.local\n!keep.local\n/top.env\nsecrets/\napp/config/*.json\n";
        std::fs::write(repo.join(".worktreeinclude"), list).expect("write");
        for f in [
            "a.local",
            "sub/b.local",
            "keep.local",
            "top.env",
            "sub/top.env",
            "secrets/deep/key",
            "app/config/dev.json",
            "app/dev.json",
            ".git/x.local",
        ] {
            std::fs::write(repo.join(f), f).expect("write");
        }
        let copied = copy_includes(&repo, &wt).await.expect("copy");
        let copied: Vec<String> = copied.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(copied, ["a.local", "app/config/dev.json", "secrets", "sub/b.local", "top.env"]);
        assert_eq!(std::fs::read_to_string(wt.join("secrets/deep/key")).expect("whole folder"), "secrets/deep/key");
        for absent in ["keep.local", "sub/top.env", "app/dev.json", ".git"] {
            assert!(!wt.join(absent).exists(), "{absent} was copied");
        }
    }
}
