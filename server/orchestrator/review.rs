//! Human actions on local pull requests: read the diff, apply it as edits, merge it (signed
//! off), request changes, discard it, and find conflicts before they happen. The user's files
//! are never touched when an action is refused.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::git::user_identity;
use super::git::{self, Git, GitError, MODE_EXEC, MODE_FILE, MODE_GITLINK, MODE_SYMLINK, is_null_oid};
use super::pr::ranges_overlap;
use super::store::now_ms;
use super::task::{PullRequest, Signoff, SignoffAction, Task, TaskId, TaskState};
use super::worktree;
use super::{Orchestrator, OrchestratorError, pipeline, store};

/// One file of a pull request as it should be after applying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct FileChange {
    /// Absolute path in the user's tree (always UTF-8: [`Orchestrator::apply`] refuses others).
    pub(crate) path: PathBuf,
    /// The file's current content (equal to the base commit's); `None` when the file is new.
    pub(crate) old_content: Option<String>,
    /// The content after applying; `None` when the pull request deletes the file.
    pub(crate) new_content: Option<String>,
}

/// Two ready pull requests that change overlapping lines of the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Overlap {
    pub(crate) first: TaskId,
    pub(crate) second: TaskId,
    /// Paths relative to the repository root.
    pub(crate) files: Vec<String>,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Merged {
    /// The merge commit on the user's branch.
    pub(crate) commit: String,
    /// Who signed it off (`Name <email>`).
    pub(crate) signed_off_by: String,
}

/// A repository path as bytes, shown on one line: control characters and bytes that are not
/// UTF-8 are escaped (`\n`, `\xE9`).
pub(crate) fn show_path(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02X}"));
        }
    }
    out
}

/// Git commands on the user's repository of `task`: `.gitattributes` are read from the user's
/// HEAD, never from a task branch.
fn user_repo(task: &Task) -> Git {
    Git::repo(&task.repo_root).with_attr_source("HEAD")
}

/// A side of a pull request: its base commit or its head commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Base,
    Head,
}

/// One file a pull request changes, for an editor's diff view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChangedFile {
    /// The path in the repository (`/`-separated, UTF-8; others are shown escaped, see
    /// [`show_path`], and cannot be opened).
    pub(crate) path: String,
    /// The file exists in the base commit (false: the pull request adds it).
    pub(crate) in_base: bool,
    /// The file exists in the head commit (false: the pull request deletes it).
    pub(crate) in_head: bool,
}

impl Orchestrator {
    /// The pull request of `id` as `git diff-tree -r -z --raw --no-renames` lists it (exact
    /// names, object ids of both sides), with the user's repository.
    async fn diff_entries(&self, id: TaskId) -> Result<(Git, Vec<git::RawEntry>), OrchestratorError> {
        let task = self.inner.store.task(id)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        let repo = user_repo(&task);
        let raw = repo
            .bytes(&["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", &pr.base_commit, &pr.head_commit])
            .await?;
        let entries =
            git::parse_raw_z(&raw).ok_or_else(|| GitError::Malformed { args: "diff-tree -r -z --raw".to_owned() })?;
        Ok((repo, entries))
    }

    /// The files the pull request of `id` changes, in git's order.
    ///
    /// Errors: no task, no pull request, git failures.
    pub(crate) async fn changed_files(&self, id: TaskId) -> Result<Vec<ChangedFile>, OrchestratorError> {
        let (_, entries) = self.diff_entries(id).await?;
        Ok(entries
            .iter()
            .map(|e| ChangedFile {
                path: show_path(&e.path),
                in_base: !is_null_oid(&e.old_oid),
                in_head: !is_null_oid(&e.new_oid),
            })
            .collect())
    }

    /// The text of `path` on `side` of the pull request of `id`, `None` where the file does not
    /// exist on that side (added or deleted). Only a file the pull request changes can be read:
    /// the content is found by the object id `git diff-tree` gives for that exact path and read
    /// with `git cat-file`, so no path or revision the client sends reaches git's command line.
    ///
    /// Errors: [`OrchestratorError::NotInDiff`] for any other path (`..`, an unchanged file, an
    /// absolute path); [`OrchestratorError::NotText`] for a submodule, a link or content that is
    /// not UTF-8; no task, no pull request, git failures.
    pub(crate) async fn file_text(
        &self,
        id: TaskId,
        path: &str,
        side: Side,
    ) -> Result<Option<String>, OrchestratorError> {
        let (repo, entries) = self.diff_entries(id).await?;
        let entry = entries
            .iter()
            .find(|e| e.path == path.as_bytes())
            .ok_or_else(|| OrchestratorError::NotInDiff { id, path: path.to_owned() })?;
        let (mode, oid) = match side {
            Side::Base => (entry.old_mode, &entry.old_oid),
            Side::Head => (entry.new_mode, &entry.new_oid),
        };
        if is_null_oid(oid) {
            return Ok(None);
        }
        let not_text = |why| OrchestratorError::NotText { path: path.to_owned(), why };
        if mode != MODE_FILE && mode != MODE_EXEC {
            return Err(not_text(if mode == MODE_GITLINK { "a submodule" } else { "a symbolic link" }));
        }
        let blob = repo.blobs(std::slice::from_ref(oid)).await?.into_iter().next().flatten();
        let blob = blob.ok_or(GitError::Malformed { args: "cat-file --batch".to_owned() })?;
        String::from_utf8(blob).map(Some).map_err(|_| not_text("not UTF-8"))
    }
}

impl Orchestrator {
    fn ready_pr(&self, id: TaskId, action: &'static str) -> Result<(Task, PullRequest), OrchestratorError> {
        let task = self.inner.expect_state(id, &[TaskState::Ready], action)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        Ok((task, pr))
    }

    /// The pull request's full unified diff (base commit to head commit), for review.
    ///
    /// Errors: no pull request, git failures.
    pub(crate) async fn diff(&self, id: TaskId) -> Result<String, OrchestratorError> {
        let task = self.inner.store.task(id)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        user_repo(&task)
            .text(&["diff", "--no-color", "--no-ext-diff", "--no-textconv", &pr.base_commit, &pr.head_commit])
            .await
            .map_err(OrchestratorError::from)
    }

    /// The edits that apply a ready pull request to the user's files: every changed file's
    /// current and new content, for the LSP layer's `workspace/applyEdit`. Files are listed with
    /// `git diff-tree -z` (exact names) and read with `git cat-file`. Nothing is written; call
    /// [`Orchestrator::mark_applied`] once the editor applied them. All or nothing: a file the
    /// edit could not carry fails the whole apply.
    ///
    /// Errors: [`OrchestratorError::CannotApply`] naming the first file an edit cannot carry (a
    /// name or content that is not UTF-8, a link, a submodule, an executable bit);
    /// [`OrchestratorError::AlreadyApplied`] when every file already has the pull request's
    /// content; [`OrchestratorError::Diverged`] naming the first file the user changed since the
    /// base commit; the task is not ready; git failures.
    pub(crate) async fn apply(&self, id: TaskId) -> Result<Vec<FileChange>, OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "applying")?;
        let repo = user_repo(&task);
        let raw = repo
            .bytes(&["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", &pr.base_commit, &pr.head_commit])
            .await
            .map_err(OrchestratorError::from)?;
        let entries =
            git::parse_raw_z(&raw).ok_or_else(|| GitError::Malformed { args: "diff-tree -r -z --raw".to_owned() })?;
        let refuse =
            |path: &[u8], why: &str| OrchestratorError::CannotApply { path: show_path(path), why: why.to_owned() };
        let mut oids = Vec::new();
        for e in &entries {
            if std::str::from_utf8(&e.path).is_err() {
                return Err(refuse(&e.path, "has a name that is not UTF-8, which no editor URI can name"));
            }
            let (old, new) = (e.old_mode, e.new_mode);
            let present = |oid: &str| !is_null_oid(oid);
            for (mode, oid) in [(old, &e.old_oid), (new, &e.new_oid)] {
                if !present(oid) {
                    continue;
                }
                match mode {
                    MODE_SYMLINK => {
                        return Err(refuse(&e.path, "is a symbolic link, which an edit cannot create or change"));
                    }
                    MODE_GITLINK => return Err(refuse(&e.path, "is a submodule, which an edit cannot change")),
                    MODE_FILE | MODE_EXEC => {}
                    _ => return Err(refuse(&e.path, "has a file mode an edit cannot carry")),
                }
            }
            let exec_changes = if present(&e.old_oid) { old != new && present(&e.new_oid) } else { new == MODE_EXEC };
            if exec_changes {
                return Err(refuse(&e.path, "changes its executable bit, which an edit cannot carry"));
            }
            oids.push(e.old_oid.clone());
            oids.push(e.new_oid.clone());
        }
        let wanted: Vec<String> = oids.iter().filter(|o| !is_null_oid(o)).cloned().collect();
        let mut blobs = repo.blobs(&wanted).await.map_err(OrchestratorError::from)?.into_iter();
        let mut next = |oid: &str| {
            if is_null_oid(oid) {
                Ok(None)
            } else {
                blobs
                    .next()
                    .flatten()
                    .map(Some)
                    .ok_or_else(|| OrchestratorError::from(GitError::MissingObject(oid.to_owned())))
            }
        };
        let mut changes = Vec::new();
        let mut already = 0;
        let mut diverged: Option<String> = None;
        for e in &entries {
            let base = next(&e.old_oid)?;
            let new = next(&e.new_oid)?;
            let rel = git::path_from_bytes(&e.path);
            let abs = task.repo_root.join(&rel);
            let current = read_regular(&abs).await?;
            if current == base {
            } else if current == new {
                already += 1;
            } else if diverged.is_none() {
                diverged = Some(show_path(&e.path));
            }
            let text = |bytes: Option<Vec<u8>>| match bytes {
                None => Ok(None),
                Some(b) => String::from_utf8(b)
                    .map(Some)
                    .map_err(|_| refuse(&e.path, "is not UTF-8 text, which an edit cannot carry")),
            };
            changes.push(FileChange { path: abs, old_content: text(base)?, new_content: text(new)? });
        }
        if already == entries.len() && !entries.is_empty() {
            return Err(OrchestratorError::AlreadyApplied(id));
        }
        if let Some(path) = diverged {
            return Err(OrchestratorError::Diverged { path });
        }
        Ok(changes)
    }

    /// Records that the user applied task `id`'s pull request as edits: a sign-off (`applied`)
    /// and a log line. The pull request stays open (ready, worktree and branch kept): the user
    /// may still merge or discard it, or apply it again after undoing the edit.
    ///
    /// Errors: the task is not ready, no git identity, database failures.
    pub(crate) async fn mark_applied(&self, id: TaskId) -> Result<(), OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "applying")?;
        let who = identity(&task).await?;
        self.inner.store.add_signoff(&Signoff {
            task_id: id,
            who: who.clone(),
            when_ms: now_ms(),
            action: SignoffAction::Applied,
            head_commit: pr.head_commit.clone(),
            checks: pr.check,
        })?;
        self.inner.emit(id, TaskState::Ready, format!("applied to the working tree by {who}"));
        Ok(())
    }

    /// Merges a ready pull request into the repository's current branch with `git merge --no-ff`
    /// and a `Signed-off-by:` trailer from the user's git identity; records the sign-off (who,
    /// when, head commit, checks), marks the task `merged` and removes its worktree (the branch
    /// is kept). Git runs hardened ([`super::git`]): no hook, filter or merge driver runs, and
    /// `.gitattributes` are read from the user's HEAD.
    ///
    /// Errors (the user's files are untouched): [`OrchestratorError::DirtyTree`] naming the
    /// modified tracked files, [`OrchestratorError::Conflicts`] naming the files `git merge-tree`
    /// predicts conflicts in, the task is not ready, no git identity, git failures.
    pub(crate) async fn merge(&self, id: TaskId) -> Result<Merged, OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "merging")?;
        let key = worktree::repo_key(&task.repo_root);
        let (global, name, email) =
            git::identity_file(&self.inner.data_dir, &task.repo_root, &key).await.map_err(OrchestratorError::from)?;
        let repo = user_repo(&task).with_global(&global);
        let status = repo
            .bytes(&[
                "status",
                "--porcelain=v1",
                "-z",
                "--untracked-files=no",
                "--no-renames",
                "--ignore-submodules=all",
            ])
            .await
            .map_err(OrchestratorError::from)?;
        let dirty: Vec<String> = git::parse_status_z(&status).iter().map(|e| show_path(&e.path)).collect();
        if !dirty.is_empty() {
            return Err(OrchestratorError::DirtyTree(dirty));
        }
        let conflicts = merge_tree_conflicts(&repo, &pr.head_commit).await?;
        if !conflicts.is_empty() {
            return Err(OrchestratorError::Conflicts(conflicts));
        }
        let who = format!("{name} <{email}>");
        let mut message = format!("Merge task {id}: {}\n\n", pr.title);
        if !pr.description.trim().is_empty() {
            message.push_str(pr.description.trim());
            message.push_str("\n\n");
        }
        let checks = pr.check.trailer();
        message.push_str(&format!("Baton-Task: {id}\nBaton-Checks: {checks}\nSigned-off-by: {who}\n"));
        let merged = repo
            .bytes(&["merge", "--no-ff", "--no-edit", "--no-stat", "--no-verify", "-m", &message, &pr.head_commit])
            .await;
        if let Err(e) = merged {
            // Leave the tree as it was.
            let _ = repo.bytes(&["merge", "--abort"]).await;
            return Err(e.into());
        }
        let commit = repo.line(&["rev-parse", "HEAD"]).await.map_err(OrchestratorError::from)?;
        self.inner.store.add_signoff(&Signoff {
            task_id: id,
            who: who.clone(),
            when_ms: now_ms(),
            action: SignoffAction::Merged,
            head_commit: pr.head_commit.clone(),
            checks: pr.check,
        })?;
        self.inner.transition(id, TaskState::Merged, format!("merged as {commit}"))?;
        if let Some(w) = &task.worktree {
            worktree::remove(&task.repo_root, w, None).await?;
        }
        Ok(Merged { commit, signed_off_by: who })
    }

    /// Sends a ready (or failed) task back to its agent with review feedback: the task is
    /// queued again and runs in the same worktree, on top of its earlier commit.
    ///
    /// Errors: the task is in another state, database errors.
    pub(crate) fn request_changes(&self, id: TaskId, feedback: &str) -> Result<(), OrchestratorError> {
        let task = self.inner.expect_state(
            id,
            &[TaskState::Ready, TaskState::Failed, TaskState::Interrupted],
            "requesting changes",
        )?;
        let prompt = format!("{}\n\nReview feedback on your previous work (address it):\n{feedback}", task.prompt);
        self.inner.store.set_field(id, store::Field::Prompt, prompt)?;
        self.inner.store.set_field(id, store::Field::Error, None::<String>)?;
        self.inner.store.set_field(id, store::Field::Owner, self.inner.owner.clone())?;
        self.inner.transition(id, TaskState::Queued, "changes requested".to_owned())?;
        pipeline::spawn(self.inner.clone(), id);
        Ok(())
    }

    /// Throws a task away: stops its agent if this server runs it, removes its worktree and
    /// branch, state `discarded`.
    ///
    /// Errors: the task is already merged, applied or discarded; git or database failures.
    pub(crate) async fn discard(&self, id: TaskId) -> Result<(), OrchestratorError> {
        let task = self.inner.store.task(id)?;
        if task.state.is_final() {
            return Err(OrchestratorError::WrongState {
                id,
                state: task.state,
                action: "discarding",
                needed: format!("not {}", TaskState::either(&TaskState::finals())),
            });
        }
        self.inner.transition(id, TaskState::Discarded, "discarded".to_owned())?;
        self.inner.cancel_and_wait(id).await;
        let task = self.inner.store.task(id)?;
        if let Some(w) = &task.worktree {
            worktree::remove(&task.repo_root, w, task.branch.as_deref()).await?;
        } else if let Some(b) = &task.branch {
            let _ = Git::repo(&task.repo_root).bytes(&["branch", "-D", b]).await;
        }
        Ok(())
    }

    /// Pairs of ready pull requests of the same repository whose changed line ranges (on the
    /// base side) overlap in the same file: merging one will likely conflict with the other.
    ///
    /// Errors: database errors.
    pub(crate) fn conflicts_between_ready(&self) -> Result<Vec<Overlap>, OrchestratorError> {
        let store = &self.inner.store;
        let mut ready = Vec::new();
        for t in store.tasks()?.into_iter().filter(|t| t.state == TaskState::Ready) {
            if let Some(pr) = store.pull_request(t.id)? {
                ready.push((t, pr));
            }
        }
        let mut out = Vec::new();
        for (i, (ta, a)) in ready.iter().enumerate() {
            for (tb, b) in &ready[i + 1..] {
                if ta.repo_root != tb.repo_root {
                    continue;
                }
                let files: Vec<String> = a
                    .files
                    .iter()
                    .filter(|fa| {
                        b.files.iter().any(|fb| {
                            fb.path == fa.path
                                && fa.ranges.iter().any(|ra| fb.ranges.iter().any(|rb| ranges_overlap(ra, rb)))
                        })
                    })
                    .map(|f| f.path.clone())
                    .collect();
                if !files.is_empty() {
                    out.push(Overlap { first: ta.id, second: tb.id, files });
                }
            }
        }
        Ok(out)
    }

    /// The files merging task `id`'s pull request into the current branch would conflict in
    /// (`git merge-tree --write-tree`; nothing is written to the user's tree).
    ///
    /// Errors: no pull request, git failures.
    pub(crate) async fn predict_conflicts(&self, id: TaskId) -> Result<Vec<String>, OrchestratorError> {
        let task = self.inner.store.task(id)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        merge_tree_conflicts(&user_repo(&task), &pr.head_commit).await
    }
}

async fn identity(task: &Task) -> Result<String, OrchestratorError> {
    let (name, email) = user_identity(&task.repo_root).await.map_err(OrchestratorError::from)?;
    Ok(format!("{name} <{email}>"))
}

/// Conflicting files of merging `head` into the repository's HEAD, per `git merge-tree`.
async fn merge_tree_conflicts(repo: &Git, head: &str) -> Result<Vec<String>, OrchestratorError> {
    let out = repo
        .output(&["merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", "HEAD", head])
        .await
        .map_err(OrchestratorError::from)?;
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(1) => Ok(git::parse_merge_tree_z(&out.stdout).iter().map(|p| show_path(p)).collect()),
        _ => Err(GitError::Failed {
            args: "merge-tree".to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
        .into()),
    }
}

/// The bytes of a regular file in the user's tree; `None` when there is none. A link or a
/// directory where the pull request has a file counts as a difference (its content cannot be
/// the base's).
async fn read_regular(path: &Path) -> Result<Option<Vec<u8>>, OrchestratorError> {
    match tokio::fs::symlink_metadata(path).await {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(OrchestratorError::File { path: path.to_path_buf(), error }),
        Ok(m) if !m.is_file() => return Ok(Some(b"\0not a regular file".to_vec())),
        Ok(_) => {}
    }
    match tokio::fs::read(path).await {
        Ok(b) => Ok(Some(b)),
        Err(error) => Err(OrchestratorError::File { path: path.to_path_buf(), error }),
    }
}
