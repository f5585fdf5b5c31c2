//! Human actions on local pull requests: read the diff, apply it as edits, merge it (signed
//! off), request changes, discard it, and find conflicts before they happen. The user's files
//! are never touched when an action is refused.

use std::path::PathBuf;

use serde::Serialize;

use super::pr::ranges_overlap;
use super::store::{CheckResult, PullRequest, Signoff, SignoffAction, Task, TaskId, TaskState, now_ms};
use super::worktree::{self, git, git_output, user_identity};
use super::{Orchestrator, OrchestratorError, spawn_pipeline, store};

/// One file of a pull request as it should be after applying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Absolute path in the user's tree.
    pub path: PathBuf,
    /// The file's current content (equal to the base commit's); `None` when the file is new.
    pub old_content: Option<String>,
    /// The content after applying; `None` when the pull request deletes the file.
    pub new_content: Option<String>,
}

/// Two ready pull requests that change overlapping lines of the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub first: TaskId,
    pub second: TaskId,
    /// Paths relative to the repository root.
    pub files: Vec<String>,
}

/// The result of a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// The merge commit on the user's branch.
    pub commit: String,
    /// Who signed it off (`Name <email>`).
    pub signed_off_by: String,
}

fn git_err(e: anyhow::Error) -> OrchestratorError {
    OrchestratorError::Git(e)
}

/// A file's content at a commit; `None` when it does not exist there.
async fn show_at(repo: &std::path::Path, commit: &str, path: &str) -> Result<Option<Vec<u8>>, OrchestratorError> {
    let out = git_output(repo, &["show", &format!("{commit}:{path}")]).await.map_err(git_err)?;
    Ok(out.status.success().then_some(out.stdout))
}

fn text(path: &str, bytes: Vec<u8>) -> Result<String, OrchestratorError> {
    String::from_utf8(bytes)
        .map_err(|_| OrchestratorError::Git(anyhow::anyhow!("{path} is not UTF-8 text; merge instead")))
}

impl Orchestrator {
    fn ready_pr(&self, id: TaskId, action: &'static str) -> Result<(Task, PullRequest), OrchestratorError> {
        let task = self.inner.expect_state(id, &[TaskState::Ready], action, "ready")?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        Ok((task, pr))
    }

    /// The pull request's full unified diff (base commit to head commit), for review.
    ///
    /// Errors: no pull request, git failures.
    pub async fn diff(&self, id: TaskId) -> Result<String, OrchestratorError> {
        let task = self.inner.store.task(id)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        git(&task.repo_root, &["diff", "--no-color", "--no-ext-diff", &pr.base_commit, &pr.head_commit])
            .await
            .map_err(git_err)
    }

    /// The edits that apply a ready pull request to the user's files: each changed file's
    /// current and new content, for the LSP layer's `workspace/applyEdit`. Nothing is written;
    /// call [`Orchestrator::mark_applied`] once the editor applied them.
    ///
    /// Errors: [`OrchestratorError::Diverged`] naming the first file the user changed since the
    /// base commit; the task is not ready; a file is not UTF-8; git failures.
    pub async fn apply(&self, id: TaskId) -> Result<Vec<FileChange>, OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "applying")?;
        let mut changes = Vec::new();
        for file in &pr.files {
            let abs = task.repo_root.join(&file.path);
            let base = show_at(&task.repo_root, &pr.base_commit, &file.path).await?;
            let current = match tokio::fs::read(&abs).await {
                Ok(b) => Some(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => {
                    return Err(OrchestratorError::Git(anyhow::anyhow!("cannot read {}: {e}", abs.display())));
                }
            };
            if current != base {
                return Err(OrchestratorError::Diverged { path: file.path.clone() });
            }
            let new = show_at(&task.repo_root, &pr.head_commit, &file.path).await?;
            changes.push(FileChange {
                path: abs,
                old_content: current.map(|b| text(&file.path, b)).transpose()?,
                new_content: new.map(|b| text(&file.path, b)).transpose()?,
            });
        }
        Ok(changes)
    }

    /// Records that the user applied task `id`'s pull request as edits: a sign-off, state
    /// `applied`, and the worktree removed (the branch is kept).
    ///
    /// Errors: the task is not ready, no git identity, git or database failures.
    pub async fn mark_applied(&self, id: TaskId) -> Result<(), OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "applying")?;
        let who = identity(&task).await?;
        self.inner.store.add_signoff(&Signoff {
            task_id: id,
            who,
            when_ms: now_ms(),
            action: SignoffAction::Applied,
            head_commit: pr.head_commit.clone(),
            checks: pr.check,
        })?;
        self.inner.transition(id, TaskState::Applied, "applied to the working tree".to_owned())?;
        if let Some(w) = &task.worktree {
            worktree::remove(&task.repo_root, w, None).await?;
        }
        Ok(())
    }

    /// Merges a ready pull request into the repository's current branch with `git merge --no-ff`
    /// and a `Signed-off-by:` trailer from the user's git identity; records the sign-off (who,
    /// when, head commit, checks), marks the task `merged` and removes its worktree (the branch
    /// is kept).
    ///
    /// Errors (the user's files are untouched): [`OrchestratorError::DirtyTree`] naming the
    /// modified tracked files, [`OrchestratorError::Conflicts`] naming the files `git merge-tree`
    /// predicts conflicts in, the task is not ready, no git identity, git failures.
    pub async fn merge(&self, id: TaskId) -> Result<Merged, OrchestratorError> {
        let (task, pr) = self.ready_pr(id, "merging")?;
        let repo = &task.repo_root;
        let status = git(repo, &["-c", "core.quotePath=false", "status", "--porcelain", "--untracked-files=no"])
            .await
            .map_err(git_err)?;
        let dirty: Vec<String> = status.lines().filter_map(|l| l.get(3..)).map(str::to_owned).collect();
        if !dirty.is_empty() {
            return Err(OrchestratorError::DirtyTree(dirty));
        }
        let conflicts = merge_tree_conflicts(repo, &pr.head_commit).await?;
        if !conflicts.is_empty() {
            return Err(OrchestratorError::Conflicts(conflicts));
        }
        let who = identity(&task).await?;
        let mut message = format!("Merge task {id}: {}\n\n", pr.title);
        if !pr.description.trim().is_empty() {
            message.push_str(pr.description.trim());
            message.push_str("\n\n");
        }
        let checks = match pr.check {
            CheckResult::Pass => "pass",
            CheckResult::Fail => "FAIL",
            CheckResult::None => "none",
        };
        message.push_str(&format!("Baton-Task: {id}\nBaton-Checks: {checks}\nSigned-off-by: {who}\n"));
        let merged = git(repo, &["merge", "--no-ff", "--no-edit", "-m", &message, &pr.head_commit]).await;
        if let Err(e) = merged {
            // Leave the tree as it was.
            let _ = git(repo, &["merge", "--abort"]).await;
            return Err(git_err(e));
        }
        let commit = git(repo, &["rev-parse", "HEAD"]).await.map_err(git_err)?.trim().to_owned();
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
            worktree::remove(repo, w, None).await?;
        }
        Ok(Merged { commit, signed_off_by: who })
    }

    /// Sends a ready (or failed) task back to its agent with review feedback: the task is
    /// queued again and runs in the same worktree, on top of its earlier commit.
    ///
    /// Errors: the task is in another state, database errors.
    pub fn request_changes(&self, id: TaskId, feedback: &str) -> Result<(), OrchestratorError> {
        let task = self.inner.expect_state(
            id,
            &[TaskState::Ready, TaskState::Failed, TaskState::Interrupted],
            "requesting changes",
            "ready, failed or interrupted",
        )?;
        let prompt = format!("{}\n\nReview feedback on your previous work (address it):\n{feedback}", task.prompt);
        self.inner.store.set_field(id, store::Field::Prompt, prompt)?;
        self.inner.store.set_field(id, store::Field::Error, None::<String>)?;
        self.inner.store.set_field(id, store::Field::Owner, self.inner.owner.clone())?;
        self.inner.transition(id, TaskState::Queued, "changes requested".to_owned())?;
        spawn_pipeline(self.inner.clone(), id);
        Ok(())
    }

    /// Throws a task away: stops its agent if this server runs it, removes its worktree and
    /// branch, state `discarded`.
    ///
    /// Errors: the task is already merged, applied or discarded; git or database failures.
    pub async fn discard(&self, id: TaskId) -> Result<(), OrchestratorError> {
        let task = self.inner.store.task(id)?;
        if task.state.is_final() {
            return Err(OrchestratorError::WrongState {
                id,
                state: task.state,
                action: "discarding",
                needed: "not merged, applied or discarded",
            });
        }
        self.inner.transition(id, TaskState::Discarded, "discarded".to_owned())?;
        self.inner.cancel_and_wait(id).await;
        let task = self.inner.store.task(id)?;
        if let Some(w) = &task.worktree {
            worktree::remove(&task.repo_root, w, task.branch.as_deref()).await?;
        } else if let Some(b) = &task.branch {
            let _ = git(&task.repo_root, &["branch", "-D", b]).await;
        }
        Ok(())
    }

    /// Pairs of ready pull requests of the same repository whose changed line ranges (on the
    /// base side) overlap in the same file: merging one will likely conflict with the other.
    ///
    /// Errors: database errors.
    pub fn conflicts_between_ready(&self) -> Result<Vec<Overlap>, OrchestratorError> {
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
    pub async fn predict_conflicts(&self, id: TaskId) -> Result<Vec<String>, OrchestratorError> {
        let task = self.inner.store.task(id)?;
        let pr = self.inner.store.pull_request(id)?.ok_or(OrchestratorError::NoPullRequest(id))?;
        merge_tree_conflicts(&task.repo_root, &pr.head_commit).await
    }
}

async fn identity(task: &Task) -> Result<String, OrchestratorError> {
    let (name, email) = user_identity(&task.repo_root).await.map_err(git_err)?;
    Ok(format!("{name} <{email}>"))
}

/// Conflicting files of merging `head` into the repository's HEAD, per `git merge-tree`.
async fn merge_tree_conflicts(repo: &std::path::Path, head: &str) -> Result<Vec<String>, OrchestratorError> {
    let out = git_output(
        repo,
        &["-c", "core.quotePath=false", "merge-tree", "--write-tree", "--name-only", "--no-messages", "HEAD", head],
    )
    .await
    .map_err(git_err)?;
    match out.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(1) => {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let mut files: Vec<String> =
                stdout.lines().skip(1).take_while(|l| !l.is_empty()).map(str::to_owned).collect();
            files.dedup();
            Ok(files)
        }
        _ => Err(OrchestratorError::Git(anyhow::anyhow!(
            "git merge-tree failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
    }
}
