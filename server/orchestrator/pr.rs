//! Local pull requests: committing an agent's work on its task branch, the project's checks,
//! the diff stat and changed line ranges, and (optionally) publishing the branch as a GitHub
//! pull request.

use std::path::Path;

use anyhow::{Context, bail};

use super::git::{self, Git, MODE_EXEC, MODE_FILE, MODE_SYMLINK, RawEntry};
use super::task::{ChangedFile, CheckResult, DiffStat, FileNote, LineRange};
use crate::agents::Confinement;
use crate::agents::sandbox::Mode;

/// How much of the check command's output is kept, in bytes.
pub(crate) const CHECK_TAIL_BYTES: usize = 4096;

/// Size limits on what an agent's change may add to the repository, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest single file.
    pub(crate) file_bytes: u64,
    /// Largest sum of the sizes of the files the change adds or modifies.
    pub(crate) change_bytes: u64,
}

/// Stages everything in the worktree except the `exclude` pathspec patterns and commits it on the
/// task branch, authored by `Baton agent <agent>` (with the user's email) and committed with the
/// user's identity. `wt` is the task worktree's runner (see [`Git::worktree`]), with the identity
/// file as its global config. Returns false when there was nothing to commit.
///
/// Before anything is staged (and so written into the repository's object store, which the
/// worktree shares with the user's repository), the changed files are measured against
/// `limits` (`lstat` sizes of the files `git status` lists).
///
/// Errors: a file or the whole change is above the limits (the message names the sizes and the
/// largest files), git failures (a tampered `.git` among them), no git identity configured.
pub(crate) async fn commit(
    wt: &Git,
    agent: &str,
    title: &str,
    summary: &str,
    exclude: &[String],
    limits: Limits,
    email: &str,
) -> anyhow::Result<bool> {
    let mut pathspec = vec!["--".to_owned(), ".".to_owned()];
    pathspec.extend(exclude.iter().map(|glob| format!(":(exclude){glob}")));
    let mut status_args: Vec<String> =
        ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames", "--ignore-submodules=all"]
            .map(str::to_owned)
            .to_vec();
    status_args.extend(pathspec.iter().cloned());
    let status = wt.bytes(&status_args).await?;
    check_sizes(wt.dir(), &git::parse_status_z(&status), limits)?;

    let mut add = vec!["add".to_owned(), "-A".to_owned()];
    add.extend(pathspec);
    wt.bytes(&add).await?;
    let quiet = wt.output(&["diff-index", "--cached", "--quiet", "--ignore-submodules=all", "HEAD"]).await?;
    match quiet.status.code() {
        Some(0) => return Ok(false),
        Some(1) => {}
        _ => bail!("git diff-index --cached failed: {}", String::from_utf8_lossy(&quiet.stderr).trim()),
    }
    let author = format!("Baton agent {agent} <{email}>");
    let body = if summary.trim().is_empty() { "(no summary)" } else { summary.trim() };
    wt.bytes(&["commit", "--no-verify", "--quiet", "--author", &author, "-m", title, "-m", body]).await?;
    Ok(true)
}

/// A size in bytes for people: `200.0 MB`, `812 bytes`.
pub(crate) fn human_size(bytes: u64) -> String {
    if bytes < 1_000 {
        return format!("{bytes} bytes");
    }
    let units = [("kB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12)];
    let (unit, scale) = units.iter().rev().find(|(_, s)| bytes as f64 >= *s).copied().unwrap_or(units[0]);
    format!("{:.1} {unit}", bytes as f64 / scale)
}

/// Measures the files `git status` lists as added or modified (their `lstat` size; links count
/// their target's length) against the limits.
fn check_sizes(worktree: &Path, entries: &[git::StatusEntry], limits: Limits) -> anyhow::Result<()> {
    let mut sizes: Vec<(u64, String)> = Vec::new();
    for entry in entries {
        if entry.xy[1] == b'D' || (entry.xy[0] == b'D' && entry.xy[1] == b' ') {
            continue;
        }
        let path = git::path_from_bytes(&entry.path);
        let Ok(meta) = std::fs::symlink_metadata(worktree.join(&path)) else { continue };
        if meta.is_dir() {
            // An embedded repository, staged as a gitlink: no content.
            continue;
        }
        sizes.push((meta.len(), String::from_utf8_lossy(&entry.path).into_owned()));
    }
    sizes.sort_by(|a, b| b.cmp(a));
    if let Some((size, name)) = sizes.first()
        && *size > limits.file_bytes
    {
        let more = sizes.iter().filter(|(s, _)| *s > limits.file_bytes).count() - 1;
        let more = if more > 0 { format!(" (and {more} more file(s) above it)") } else { String::new() };
        bail!(
            "the agent's change is too large, nothing was committed: {name} is {} and the limit is {} per file{more} (orchestrator.max_file_bytes)",
            human_size(*size),
            human_size(limits.file_bytes)
        );
    }
    let total: u64 = sizes.iter().map(|(s, _)| s).sum();
    if total > limits.change_bytes {
        let largest: Vec<String> = sizes.iter().take(3).map(|(s, n)| format!("{n} {}", human_size(*s))).collect();
        bail!(
            "the agent's change is too large, nothing was committed: {} file(s) add up to {} and the limit is {} per change (orchestrator.max_change_bytes); the largest: {}",
            sizes.len(),
            human_size(total),
            human_size(limits.change_bytes),
            largest.join(", ")
        );
    }
    Ok(())
}

/// A pull request title from a prompt: the task's title ([`super::task::title`]), `Task` when
/// the prompt is blank.
pub(crate) fn title(prompt: &str) -> String {
    match super::task::title(prompt) {
        t if t.is_empty() => "Task".to_owned(),
        t => t,
    }
}

/// The files changed between `base` and `head` (`git diff-tree -r -z --raw`, exact names), each
/// with its changed line ranges (from the hunk headers of `git diff-tree -p -U0`) and its notes
/// (links pointing outside the tree, binary content, executable bits), and the diff stat (lines
/// counted from the same hunks; binary files count none).
///
/// Errors: git failures, or git's two outputs do not line up.
pub(crate) async fn changed_files(git: &Git, base: &str, head: &str) -> anyhow::Result<(DiffStat, Vec<ChangedFile>)> {
    let raw = git.bytes(&["diff-tree", "-r", "-z", "--raw", "--no-renames", "--no-abbrev", base, head]).await?;
    let entries = git::parse_raw_z(&raw).context("cannot read git diff-tree's file list")?;
    let patch = git
        .bytes(&[
            "diff-tree",
            "-r",
            "-p",
            "-U0",
            "--no-renames",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            base,
            head,
        ])
        .await?;
    let sections = split_patch(&patch);
    let wanted: usize = entries.iter().map(|e| if e.status == b'T' { 2 } else { 1 }).sum();
    anyhow::ensure!(
        sections.len() == wanted,
        "git diff-tree listed {} file(s) but its patch has {} section(s)",
        entries.len(),
        sections.len()
    );
    // Contents of new links (their targets) and new regular files (binary or not).
    let wanted_blobs: Vec<(usize, String)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.status != b'D' && matches!(e.new_mode, MODE_FILE | MODE_EXEC | MODE_SYMLINK))
        .map(|(i, e)| (i, e.new_oid.clone()))
        .collect();
    let oids: Vec<String> = wanted_blobs.iter().map(|(_, o)| o.clone()).collect();
    let contents = git.blobs(&oids).await?;
    let mut notes: Vec<Vec<FileNote>> = entries.iter().map(file_mode_notes).collect();
    for ((i, _), content) in wanted_blobs.iter().zip(contents) {
        let Some(content) = content else { continue };
        let entry = &entries[*i];
        if entry.new_mode == MODE_SYMLINK {
            if symlink_outside(&entry.path, &content) {
                notes[*i]
                    .insert(0, FileNote::SymlinkOutside { target: String::from_utf8_lossy(&content).into_owned() });
            }
        } else if is_binary(&content) {
            notes[*i].insert(0, FileNote::Binary);
        }
    }
    let mut stat = DiffStat { files_changed: entries.len() as u32, ..DiffStat::default() };
    let mut files = Vec::with_capacity(entries.len());
    let mut sections = sections.into_iter();
    for (entry, notes) in entries.iter().zip(notes) {
        let mut ranges = Vec::new();
        for _ in 0..if entry.status == b'T' { 2 } else { 1 } {
            ranges.extend(sections.next().map(hunk_ranges).unwrap_or_default());
        }
        for r in &ranges {
            stat.insertions += r.new_count;
            stat.deletions += r.old_count;
        }
        files.push(ChangedFile { path: String::from_utf8_lossy(&entry.path).into_owned(), ranges, notes });
    }
    Ok((stat, files))
}

/// Executable-bit notes from an entry's modes.
fn file_mode_notes(e: &RawEntry) -> Vec<FileNote> {
    let exec = |m: u32| m == MODE_EXEC;
    let regular = |m: u32| matches!(m, MODE_FILE | MODE_EXEC);
    match e.status {
        b'A' if exec(e.new_mode) => vec![FileNote::Executable { set: true }],
        b'D' => vec![],
        _ if regular(e.old_mode) && regular(e.new_mode) && exec(e.old_mode) != exec(e.new_mode) => {
            vec![FileNote::Executable { set: exec(e.new_mode) }]
        }
        _ if !regular(e.old_mode) && exec(e.new_mode) => vec![FileNote::Executable { set: true }],
        _ => vec![],
    }
}

/// Git's own test for binary content (a NUL byte in the first 8000 bytes), or content that is not
/// UTF-8 text (which no editor edit can carry).
pub(crate) fn is_binary(content: &[u8]) -> bool {
    content.iter().take(8000).any(|&b| b == 0) || std::str::from_utf8(content).is_err()
}

/// Whether a link at `link` (a repository path) pointing at `target` leaves the repository's
/// tree: an absolute target, one whose `..` climb above the root, or one into `.git`. Decided on
/// the names alone (nothing is resolved on disk).
pub(crate) fn symlink_outside(link: &[u8], target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return true;
    }
    let mut at: Vec<&[u8]> = link.split(|&b| b == b'/').collect();
    at.pop();
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if at.pop().is_none() {
                    return true;
                }
            }
            name => at.push(name),
        }
    }
    at.first() == Some(&b".git".as_slice())
}

/// One line per note of the pull request's files, for its description; empty when there is none.
pub(crate) fn notes_text(files: &[ChangedFile]) -> String {
    let mut lines = Vec::new();
    for f in files {
        for note in &f.notes {
            lines.push(match note {
                FileNote::SymlinkOutside { target } => {
                    format!("- symbolic link pointing outside the repository: {} -> {target}", f.path)
                }
                FileNote::Binary => format!("- binary file: {}", f.path),
                FileNote::Executable { set: true } => format!("- executable bit set: {}", f.path),
                FileNote::Executable { set: false } => format!("- executable bit cleared: {}", f.path),
            });
        }
    }
    if lines.is_empty() { String::new() } else { format!("Baton notes (review with care):\n{}", lines.join("\n")) }
}

/// The notes in a few words for a code action title (`outside link: l; binary: a.png, b.png +1;
/// exec bit: run.sh`); `None` when there is none.
pub(crate) fn notes_short(files: &[ChangedFile]) -> Option<String> {
    let mut groups: [(&str, Vec<&str>); 3] = [("outside link", vec![]), ("binary", vec![]), ("exec bit", vec![])];
    for f in files {
        for note in &f.notes {
            let g = match note {
                FileNote::SymlinkOutside { .. } => 0,
                FileNote::Binary => 1,
                FileNote::Executable { .. } => 2,
            };
            groups[g].1.push(f.path.as_str());
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .filter(|(_, names)| !names.is_empty())
        .map(|(label, names)| {
            let shown: Vec<String> = names.iter().take(2).map(|n| short_name(n)).collect();
            let more = if names.len() > 2 { format!(" +{}", names.len() - 2) } else { String::new() };
            format!("{label}: {}{more}", shown.join(", "))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A file name on one line, at most 40 characters (control characters shown escaped).
fn short_name(name: &str) -> String {
    let escaped: String = name
        .chars()
        .flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] })
        .collect();
    if escaped.chars().count() > 40 {
        format!("…{}", escaped.chars().rev().take(39).collect::<Vec<_>>().into_iter().rev().collect::<String>())
    } else {
        escaped
    }
}

/// Splits `git diff -p` output into one byte slice per `diff --git` section.
fn split_patch(patch: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut at = 0;
    for line in patch.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"diff --git ") {
            starts.push(at);
        }
        at += line.len();
    }
    let mut sections = Vec::with_capacity(starts.len());
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(patch.len());
        sections.push(&patch[s..e]);
    }
    sections
}

/// `-12,3` / `+5` → (start, count).
fn parse_range(s: &str) -> Option<(u32, u32)> {
    let s = s.get(1..)?;
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

/// The hunk ranges of one file's `-U0` patch section. Lines it does not understand are skipped.
fn hunk_ranges(section: &[u8]) -> Vec<LineRange> {
    let mut ranges = Vec::new();
    for line in section.split(|&b| b == b'\n') {
        let Some(rest) = line.strip_prefix(b"@@ ") else { continue };
        let rest = String::from_utf8_lossy(rest);
        let mut parts = rest.split_whitespace();
        let (Some(old), Some(new)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Some((old_start, old_count)), Some((new_start, new_count))) = (parse_range(old), parse_range(new)) else {
            continue;
        };
        ranges.push(LineRange { old_start, old_count, new_start, new_count });
    }
    ranges
}

/// Whether two hunks against the same base touch overlapping or adjacent base lines.
pub(crate) fn ranges_overlap(a: &LineRange, b: &LineRange) -> bool {
    // An insertion (count 0) after line n occupies the gap [n, n+1).
    let span = |r: &LineRange| {
        if r.old_count == 0 { (r.old_start, r.old_start + 1) } else { (r.old_start, r.old_start + r.old_count) }
    };
    let (a0, a1) = span(a);
    let (b0, b1) = span(b);
    a0 < b1 && b0 < a1 || a0 == b0
}

/// Runs the check command (`sh -c`) in the worktree, confined like the agent but without
/// network or the agent's environment (it runs the agent's code), with a time limit in
/// milliseconds: pass or fail and the last 4 KB of its output. A command that cannot start or
/// runs out of time counts as failed; `None` when `cancel` fires.
pub(crate) async fn run_checks(
    confinement: &Confinement,
    mode: Mode,
    command: &str,
    limit_ms: u64,
    cancel: &tokio_util::sync::CancellationToken,
) -> Option<(CheckResult, String)> {
    let argv = ["sh".to_owned(), "-c".to_owned(), format!("exec 2>&1; {command}")];
    let Some(child) = confinement.command(mode, &argv, false) else {
        return Some((CheckResult::Fail, "empty check command".to_owned()));
    };
    match crate::process::run_with_limit(child, limit_ms, CHECK_TAIL_BYTES, cancel).await {
        Ok(out) if out.timed_out => {
            Some((CheckResult::Fail, format!("{}\n[baton: stopped after {limit_ms} ms]", out.stdout)))
        }
        Ok(out) if out.code == Some(0) => Some((CheckResult::Pass, out.stdout)),
        Ok(out) => Some((CheckResult::Fail, out.stdout)),
        Err(crate::process::RunError::Cancelled) => None,
        Err(e) => Some((CheckResult::Fail, e.to_string())),
    }
}

/// `owner/repo` from a remote URL (`git@github.com:o/r.git`, `https://github.com/o/r`, or any
/// URL or path whose last two segments are owner and repository).
pub(crate) fn owner_repo(url: &str) -> Option<(String, String)> {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let mut segs = url.rsplit(['/', ':']);
    let repo = segs.next()?.to_owned();
    let owner = segs.next()?.to_owned();
    (!owner.is_empty() && !repo.is_empty()).then_some((owner, repo))
}

/// Where and how to publish pull requests on GitHub.
#[derive(Debug, Clone)]
pub(crate) struct GithubTarget {
    /// API root, `https://api.github.com` normally.
    pub(crate) api_url: String,
    /// The git remote to push the task branch to.
    pub(crate) remote: String,
    /// The token (read from the environment variable the config names; never logged).
    pub(crate) token: String,
    pub(crate) draft: bool,
}

/// Pushes the task branch to the remote and opens a pull request against `base_branch`
/// (`POST /repos/{o}/{r}/pulls`). Returns the pull request's `html_url`.
///
/// Errors: the push fails, the remote URL names no owner/repository, GitHub answers with an
/// error status (its message is included; the token never is).
pub(crate) async fn publish_github(
    wt: &Git,
    target: &GithubTarget,
    branch: &str,
    base_branch: &str,
    title: &str,
    body: &str,
) -> anyhow::Result<String> {
    let url = wt.line(&["remote", "get-url", &target.remote]).await?;
    let (owner, repo) = owner_repo(&url).with_context(|| format!("cannot tell owner/repo from remote {url:?}"))?;
    wt.clone().for_push().bytes(&["push", "--quiet", &target.remote, &format!("{branch}:refs/heads/{branch}")]).await?;
    let endpoint = format!("{}/repos/{owner}/{repo}/pulls", target.api_url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&endpoint)
        .bearer_auth(&target.token)
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .header("User-Agent", concat!("baton/", env!("CARGO_PKG_VERSION")))
        .json(&serde_json::json!({
            "title": title, "head": branch, "base": base_branch, "body": body, "draft": target.draft,
        }))
        .send()
        .await
        .with_context(|| format!("POST {endpoint}"))?;
    let status = resp.status();
    let value: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
    if !status.is_success() {
        let msg = value.get("message").and_then(|m| m.as_str()).unwrap_or("");
        bail!("GitHub refused the pull request ({status}): {msg}");
    }
    value.get("html_url").and_then(|u| u.as_str()).map(str::to_owned).context("GitHub's answer has no html_url")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_sections_become_hunk_ranges() {
        let diff = b"diff --git a/src/lib.rs b/src/lib.rs\nindex 1..2 100644\n--- a/src/lib.rs\n+++ b/src/lib.rs\n\
@@ -3,0 +4,2 @@ fn a() {}\n+x\n+diff --git a b\n@@ -10 +12 @@\n-a\n+b\n\
diff --git \"a/we\\nird\" \"b/we\\nird\"\ndeleted file mode 100644\n--- \"a/we\\nird\"\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n";
        let sections = split_patch(diff);
        assert_eq!(sections.len(), 2);
        expect_test::expect![[r#"
            [
                [
                    LineRange {
                        old_start: 3,
                        old_count: 0,
                        new_start: 4,
                        new_count: 2,
                    },
                    LineRange {
                        old_start: 10,
                        old_count: 1,
                        new_start: 12,
                        new_count: 1,
                    },
                ],
                [
                    LineRange {
                        old_start: 1,
                        old_count: 2,
                        new_start: 0,
                        new_count: 0,
                    },
                ],
            ]
        "#]]
        .assert_debug_eq(&sections.into_iter().map(hunk_ranges).collect::<Vec<_>>());
    }

    #[test]
    fn links_leaving_the_tree_are_told_apart_from_links_inside_it() {
        let out = |link: &str, target: &str| symlink_outside(link.as_bytes(), target.as_bytes());
        assert!(out("l", "/etc/passwd"));
        assert!(out("l", ".."));
        assert!(out("a/b/l", "../../../x"));
        assert!(out("l", ".git/config"));
        assert!(out("a/l", "../.git"));
        assert!(!out("a/b/l", "../../x"));
        assert!(!out("l", "src/lib.rs"));
        assert!(!out("a/l", "./b/../c"));
        assert!(is_binary(b"PNG\0\x01"));
        assert!(is_binary(b"caf\xe9"));
        assert!(!is_binary("café\n".as_bytes()));
        assert_eq!(human_size(200_000_000), "200.0 MB");
        assert_eq!(human_size(10_000_000), "10.0 MB");
        assert_eq!(human_size(812), "812 bytes");
    }

    #[test]
    fn notes_name_the_files_in_descriptions_and_titles() {
        let file = |path: &str, notes: Vec<FileNote>| ChangedFile { path: path.to_owned(), ranges: vec![], notes };
        let files = [
            file("link", vec![FileNote::SymlinkOutside { target: "/etc/passwd".to_owned() }]),
            file("a.png", vec![FileNote::Binary]),
            file("b.png", vec![FileNote::Binary]),
            file("c.png", vec![FileNote::Binary]),
            file("run.sh", vec![FileNote::Executable { set: true }]),
            file("lib.rs", vec![]),
        ];
        expect_test::expect![[r#"
            Baton notes (review with care):
            - symbolic link pointing outside the repository: link -> /etc/passwd
            - binary file: a.png
            - binary file: b.png
            - binary file: c.png
            - executable bit set: run.sh"#]]
        .assert_eq(&notes_text(&files));
        expect_test::expect!["outside link: link; binary: a.png, b.png +1; exec bit: run.sh"]
            .assert_eq(&notes_short(&files).unwrap_or_default());
        assert_eq!(notes_short(&files[5..]), None);
        assert_eq!(notes_text(&files[5..]), "");
    }

    #[test]
    fn remote_urls_parse() {
        let or = |u: &str| owner_repo(u).map(|(o, r)| format!("{o}/{r}"));
        assert_eq!(or("git@github.com:acme/widget.git").as_deref(), Some("acme/widget"));
        assert_eq!(or("https://github.com/acme/widget").as_deref(), Some("acme/widget"));
        assert_eq!(or("/tmp/x/acme/widget.git").as_deref(), Some("acme/widget"));
    }

    #[test]
    fn overlapping_ranges() {
        let r = |old_start, old_count| LineRange { old_start, old_count, new_start: 0, new_count: 0 };
        assert!(ranges_overlap(&r(3, 2), &r(4, 1)));
        assert!(!ranges_overlap(&r(3, 2), &r(5, 1)));
        assert!(ranges_overlap(&r(3, 0), &r(3, 0)));
        assert!(ranges_overlap(&r(3, 0), &r(3, 1)));
    }

    #[tokio::test]
    async fn publish_pushes_the_branch_and_opens_a_pull_request_on_a_fake_github() {
        use axum::extract::Path as UrlPath;
        use axum::http::{HeaderMap, StatusCode};
        use axum::routing::post;

        use baton_test_support::git::{git, git_repo};

        let tmp = tempfile::tempdir().expect("tempdir");
        let remote = tmp.path().join("acme/widget.git");
        std::fs::create_dir_all(&remote).expect("mkdir");
        git(&remote, &["init", "-q", "--bare"]);
        let repo = git_repo(&tmp.path().join("repo"), "A", &[]);
        git(&repo, &["branch", "baton/1-x"]);
        git(&repo, &["remote", "add", "origin", &remote.to_string_lossy()]);

        let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let app = axum::Router::new().route(
            "/repos/{o}/{r}/pulls",
            post(move |UrlPath((o, r)): UrlPath<(String, String)>, headers: HeaderMap, body: String| {
                let seen = seen_tx.clone();
                async move {
                    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    let _ = seen.send(format!("{o}/{r} {} {} {body}", h("x-github-api-version"), h("authorization")));
                    (StatusCode::CREATED, r#"{"number":7,"html_url":"https://github.example/acme/widget/pull/7"}"#)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });

        let target = GithubTarget {
            api_url: format!("http://{addr}"),
            remote: "origin".to_owned(),
            token: "t0ken".to_owned(),
            draft: true,
        };
        let url =
            publish_github(&Git::repo(&repo), &target, "baton/1-x", "main", "Add x", "Did x").await.expect("publish");
        assert_eq!(url, "https://github.example/acme/widget/pull/7");
        let seen = seen_rx.recv().await.expect("request");
        expect_test::expect![[r#"acme/widget 2022-11-28 Bearer t0ken {"title":"Add x","head":"baton/1-x","base":"main","body":"Did x","draft":true}"#]]
            .assert_eq(&seen);
        git(&remote, &["rev-parse", "--verify", "refs/heads/baton/1-x"]);
    }
}
