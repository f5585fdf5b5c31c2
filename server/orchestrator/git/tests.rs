//! Each way a repository, a worktree or an agent could make git run a program, tried on real
//! git: first with plain git (the control: the program runs and writes its marker file), then
//! through [`Git`] (it does not).

use std::path::{Path, PathBuf};

use super::*;
use baton_test_support::git::{git, git_output, git_repo};

/// A repository with one commit, a task worktree made by `git worktree add`, and a marker path
/// the planted commands touch.
struct Setup {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    worktree: PathBuf,
    git_dir: PathBuf,
    marker: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().canonicalize().expect("canonical");
    let repo = git_repo(&root.join("repo"), "Ada", &[("a.txt", "one\ntwo\n")]);
    let worktree = root.join("wt");
    git(&repo, &["worktree", "add", "-q", "-b", "task", worktree.to_str().expect("utf-8"), "HEAD"]);
    let git_dir = repo.join(".git/worktrees/wt");
    assert_eq!(std::fs::read(worktree.join(".git")).expect("dotgit"), dotgit_content(&git_dir));
    let marker = root.join("MARKER");
    Setup { _tmp: tmp, repo, worktree, git_dir, marker }
}

impl Setup {
    fn wt(&self) -> Git {
        Git::worktree(&self.git_dir, &self.worktree)
    }

    fn touch(&self) -> String {
        format!("touch '{}'", self.marker.display())
    }

    fn fired(&self) -> bool {
        self.marker.exists()
    }

    fn reset(&self) {
        let _ = std::fs::remove_file(&self.marker);
    }

    /// Baton's commit step on the worktree, through [`Git`].
    async fn baton_commit(&self) {
        let wt = self.wt().with_attr_source("HEAD");
        let _ = wt.bytes(&["status", "--porcelain=v1", "-z", "--untracked-files=all"]).await;
        let _ = wt.bytes(&["add", "-A"]).await;
        let _ = wt.bytes(&["commit", "--quiet", "-m", "agent"]).await;
        let _ = wt.bytes(&["diff-tree", "-r", "-p", "--no-ext-diff", "--no-textconv", "main", "HEAD"]).await;
        let _ = wt.bytes(&["diff", "--no-ext-diff", "--no-textconv", "main", "HEAD"]).await;
        let _ = wt.bytes(&["checkout", "--force", "HEAD"]).await;
    }
}

#[test]
fn a_worktree_named_through_a_symbolic_link_is_accepted() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let real = tmp.path().canonicalize().expect("canonical").join("real");
    std::fs::create_dir(&real).expect("mkdir");
    let link = real.with_file_name("link");
    std::os::unix::fs::symlink(&real, &link).expect("link");
    let repo = git_repo(&link.join("repo"), "Ada", &[("a.txt", "one\n")]);
    let worktree = link.join("wt");
    git(&repo, &["worktree", "add", "-q", "-b", "task", worktree.to_str().expect("utf-8"), "HEAD"]);
    let dir = new_worktree_git_dir(&worktree).expect("git's real paths match the linked name");
    assert_eq!(dir.canonicalize().expect("dir"), real.join("repo/.git/worktrees/wt"));
    // A gitdir file naming another worktree is still refused.
    std::fs::write(dir.join("gitdir"), format!("{}\n", real.join("other/.git").display())).expect("write");
    let err = new_worktree_git_dir(&worktree).expect_err("refused");
    assert!(err.to_string().contains("does not point back"), "{err}");
}

#[tokio::test]
async fn a_replaced_dot_git_is_refused_before_git_reads_it() {
    let s = setup();
    // The agent swaps the worktree's .git for a repository of its own with an fsmonitor command.
    std::fs::remove_file(s.worktree.join(".git")).expect("rm");
    git(&s.worktree, &["init", "-q"]);
    git(&s.worktree, &["config", "core.fsmonitor", &s.touch()]);
    std::fs::write(s.worktree.join("b.txt"), "x").expect("write");
    let _ = git_output(&s.worktree, &["status"]);
    assert!(s.fired(), "control: plain git runs the planted fsmonitor");
    s.reset();

    let err = s.wt().bytes(&["status"]).await.expect_err("refused");
    assert!(matches!(err, GitError::Tampered { .. }), "{err}");
    assert!(err.to_string().contains("it is a directory"), "{err}");
    s.baton_commit().await;
    assert!(!s.fired());

    // A file pointing elsewhere, and a link, are refused the same way.
    std::fs::remove_dir_all(s.worktree.join(".git")).expect("rm");
    std::fs::write(s.worktree.join(".git"), "gitdir: /elsewhere\n").expect("write");
    let err = s.wt().bytes(&["status"]).await.expect_err("refused");
    assert!(err.to_string().contains("it says \"gitdir: /elsewhere\""), "{err}");
    std::fs::remove_file(s.worktree.join(".git")).expect("rm");
    std::os::unix::fs::symlink(s.git_dir.join("gitdir"), s.worktree.join(".git")).expect("link");
    let err = s.wt().bytes(&["status"]).await.expect_err("refused");
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

#[tokio::test]
async fn fsmonitor_from_any_config_file_never_runs() {
    let s = setup();
    git(&s.repo, &["config", "core.fsmonitor", &s.touch()]);
    std::fs::write(s.worktree.join("a.txt"), "changed\n").expect("write");
    let _ = git_output(&s.worktree, &["status"]);
    assert!(s.fired(), "control");
    s.reset();
    s.baton_commit().await;
    assert!(!s.fired());
    // Through an include, and through the worktree's own config file.
    git(&s.repo, &["config", "--unset", "core.fsmonitor"]);
    let inc = s.repo.join("included.config");
    std::fs::write(&inc, format!("[core]\n\tfsmonitor = {}\n", s.touch())).expect("write");
    git(&s.repo, &["config", "include.path", inc.to_str().expect("utf-8")]);
    git(&s.repo, &["config", "extensions.worktreeConfig", "true"]);
    std::fs::write(s.git_dir.join("config.worktree"), format!("[core]\n\tfsmonitor = {}\n", s.touch())).expect("write");
    std::fs::write(s.worktree.join("a.txt"), "changed again\n").expect("write");
    s.baton_commit().await;
    assert!(!s.fired());
}

#[tokio::test]
async fn hooks_never_run_from_the_hooks_folder_or_a_hooks_path() {
    let s = setup();
    let hooks = [
        "pre-commit",
        "prepare-commit-msg",
        "commit-msg",
        "post-commit",
        "post-checkout",
        "post-merge",
        "pre-merge-commit",
        "reference-transaction",
        "post-index-change",
        "pre-auto-gc",
    ];
    let plant = |dir: &Path| {
        std::fs::create_dir_all(dir).expect("mkdir");
        for hook in hooks {
            let path = dir.join(hook);
            std::fs::write(&path, format!("#!/bin/sh\n{}\n", s.touch())).expect("hook");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    };
    plant(&s.repo.join(".git/hooks"));
    // A relative hooks path (husky style) resolves inside the worktree, where the agent writes.
    plant(&s.worktree.join(".husky"));
    std::fs::write(s.worktree.join("a.txt"), "changed\n").expect("write");
    let _ = git_output(&s.worktree, &["commit", "-qam", "control"]);
    assert!(s.fired(), "control");
    s.reset();
    std::fs::write(s.worktree.join("a.txt"), "changed twice\n").expect("write");
    s.baton_commit().await;
    git(&s.repo, &["config", "core.hooksPath", ".husky"]);
    std::fs::write(s.worktree.join("a.txt"), "changed thrice\n").expect("write");
    s.baton_commit().await;
    let repo = Git::repo(&s.repo).with_attr_source("HEAD");
    repo.bytes(&["merge", "--no-ff", "--no-edit", "--no-stat", "-m", "merge", "task"]).await.expect("merge");
    repo.bytes(&["branch", "-f", "other", "HEAD"]).await.expect("branch");
    assert!(!s.fired());
    assert!(git(&s.repo, &["log", "-1", "--format=%s"]).starts_with("merge"));
}

#[tokio::test]
async fn filters_diff_and_merge_drivers_named_by_gitattributes_never_run() {
    let s = setup();
    let t = s.touch();
    for (key, value) in [
        ("filter.evil.clean", format!("{t}; cat")),
        ("filter.evil.smudge", format!("{t}; cat")),
        ("filter.evil.required", "true".to_owned()),
        ("filter.proc.process", t.clone()),
        ("diff.evil.textconv", format!("{t}; cat")),
        ("diff.evil.command", t.clone()),
        ("diff.external", t.clone()),
        ("merge.evil.driver", format!("{t}; false")),
    ] {
        git(&s.repo, &["config", key, &value]);
    }
    // The agent's .gitattributes, and the user's info/attributes (which no attribute source hides).
    let attrs = "* filter=evil diff=evil merge=evil\n*.p filter=proc\n";
    std::fs::write(s.worktree.join(".gitattributes"), attrs).expect("write");
    std::fs::create_dir_all(s.repo.join(".git/info")).expect("mkdir");
    std::fs::write(s.repo.join(".git/info/attributes"), attrs).expect("write");
    std::fs::write(s.worktree.join("a.txt"), "one\ntwo\nagent\n").expect("write");
    std::fs::write(s.worktree.join("x.p"), "p\n").expect("write");
    let _ = git_output(&s.worktree, &["add", "-A"]);
    assert!(s.fired(), "control");
    s.reset();
    git(&s.worktree, &["reset", "-q"]);
    s.reset();

    s.baton_commit().await;
    assert!(!s.fired());
    // A conflicting change on the user's branch: merge-tree and merge meet the merge driver.
    std::fs::write(s.repo.join("a.txt"), "one\ntwo\nuser\n").expect("write");
    let _ =
        git_output(&s.repo, &["-c", "filter.evil.clean=cat", "-c", "filter.evil.smudge=cat", "commit", "-qam", "user"]);
    s.reset();
    let repo = Git::repo(&s.repo).with_attr_source("HEAD");
    let predicted =
        repo.output(&["merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", "HEAD", "task"]).await;
    assert!(predicted.is_ok());
    let _ = repo.bytes(&["merge", "--no-ff", "--no-edit", "--no-stat", "-m", "m", "task"]).await;
    let _ = repo.bytes(&["merge", "--abort"]).await;
    let _ = repo.bytes(&["diff", "--no-ext-diff", "--no-textconv", "HEAD", "task"]).await;
    assert!(!s.fired());
}

#[tokio::test]
async fn ssh_commands_and_the_network_are_never_reached() {
    let s = setup();
    git(&s.repo, &["remote", "add", "origin", "ssh://example.invalid/x.git"]);
    git(&s.repo, &["config", "core.sshCommand", &s.touch()]);
    let _ = git_output(&s.worktree, &["fetch", "-q", "origin"]);
    assert!(s.fired(), "control");
    s.reset();
    let out = s.wt().output(&["fetch", "-q", "origin"]).await.expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("transport 'ssh' not allowed"), "{out:?}");
    let _ = Git::repo(&s.repo).output(&["ls-remote", "origin"]).await;
    assert!(!s.fired());
}

#[tokio::test]
async fn aliases_pagers_editors_and_embedded_bare_repositories_run_nothing() {
    let s = setup();
    let t = s.touch();
    for (key, value) in [
        ("alias.status", format!("!{t}")),
        ("core.pager", t.clone()),
        ("core.editor", t.clone()),
        ("sequence.editor", t.clone()),
        ("trailer.evil.command", t.clone()),
    ] {
        git(&s.repo, &["config", key, &value]);
    }
    s.wt().bytes(&["status"]).await.expect("status");
    std::fs::write(s.worktree.join("a.txt"), "changed\n").expect("write");
    s.baton_commit().await;
    let repo = Git::repo(&s.repo).with_attr_source("HEAD");
    repo.bytes(&["merge", "--no-ff", "--no-edit", "--no-stat", "-m", "m", "task"]).await.expect("merge");
    assert!(!s.fired());
    // A bare repository an agent left inside a tree is never discovered as a repository.
    let bare = s.worktree.join("evil.git");
    git(&s.worktree, &["init", "-q", "--bare", bare.to_str().expect("utf-8")]);
    git(&bare, &["config", "core.fsmonitor", &t]);
    let err = Git::repo(&bare).bytes(&["status"]).await.expect_err("refused");
    assert!(err.to_string().contains("bare"), "{err}");
    assert!(!s.fired());
}

#[test]
fn z_formats_parse_exact_names() {
    let raw = b":100644 100755 aaaa bbbb M\0we\nird\\\"name\0:000000 120000 0000 cccc A\0\xff\xfe\0";
    let entries = parse_raw_z(raw).expect("parses");
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].path, b"we\nird\\\"name");
    assert_eq!((entries[0].old_mode, entries[0].new_mode), (MODE_FILE, MODE_EXEC));
    assert_eq!(entries[1].path, b"\xff\xfe");
    assert_eq!(entries[1].status, b'A');
    assert!(parse_raw_z(b":100644 100644 a b M\0").is_none(), "a missing path is an error, not a dropped file");
    let status = parse_status_z(b" M a\tb\0?? -dash\0R  new\0old\0");
    let paths: Vec<&[u8]> = status.iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(paths, [b"a\tb".as_slice(), b"-dash", b"new"]);
    assert_eq!(parse_merge_tree_z(b"tree\0a\nb\0c\0"), [b"a\nb".to_vec(), b"c".to_vec()]);
    assert_eq!(parse_version("git version 2.47.3"), Some((2, 47)));
    assert_eq!(parse_version("git version 2.30.1 (Apple Git-130)"), Some((2, 30)));
    let overrides =
        driver_overrides(b"core.bare\nfalse\0filter.a.b.clean\nx\0merge.M.driver\ny\0diff.external\nz\0x.y\0");
    expect_test::expect![[r#"
        [
            (
                "diff.external",
                "",
            ),
            (
                "filter.a.b.clean",
                "",
            ),
            (
                "filter.a.b.required",
                "false",
            ),
            (
                "merge.M.driver",
                "",
            ),
        ]
    "#]]
    .assert_debug_eq(&overrides);
}

#[tokio::test]
async fn a_push_runs_only_what_the_users_global_config_names() {
    let s = setup();
    let remote = s.repo.parent().expect("parent").join("remote.git");
    git(&s.repo, &["init", "-q", "--bare", remote.to_str().expect("utf-8")]);
    git(&s.repo, &["remote", "add", "origin", remote.to_str().expect("utf-8")]);
    git(&s.repo, &["remote", "add", "viassh", "ssh://127.0.0.1:9/x.git"]);
    // What an agent able to write the repository's config would plant.
    git(&s.repo, &["config", "remote.origin.receivepack", &format!("{}; git-receive-pack", s.touch())]);
    git(&s.repo, &["config", "core.sshCommand", &s.touch()]);
    git(&s.repo, &["config", "credential.helper", &format!("!{}", s.touch())]);
    let _ = git_output(&s.worktree, &["push", "-q", "origin", "task"]);
    assert!(s.fired(), "control");
    s.reset();

    let push = s.wt().for_push();
    push.bytes(&["push", "-q", "origin", "task:refs/heads/task"]).await.expect("push to the local remote");
    assert_eq!(git(&remote, &["rev-parse", "task"]), git(&s.repo, &["rev-parse", "task"]));
    let _ = push.output(&["push", "-q", "viassh", "task"]).await;
    assert!(!s.fired());
}

#[test]
fn git_progress_percentages_parse() {
    assert_eq!(progress_percent("Updating files:  45% (450/1000)"), Some(45));
    assert_eq!(progress_percent("Updating files: 100% (1000/1000), done."), Some(100));
    assert_eq!(progress_percent("warning: something"), None);
}
