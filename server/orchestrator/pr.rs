//! Local pull requests: committing an agent's work on its task branch, the project's checks,
//! the diff stat and changed line ranges, and (optionally) publishing the branch as a GitHub
//! pull request.

use std::path::Path;

use anyhow::{Context, bail};

use super::store::{ChangedFile, CheckResult, DiffStat, LineRange};
use super::worktree::{git, git_output, user_identity};
use crate::agents::Confinement;
use crate::agents::sandbox::Mode;

/// How much of the check command's output is kept, in bytes.
pub(crate) const CHECK_TAIL_BYTES: usize = 4096;

/// Stages everything in the worktree except the `exclude` pathspec patterns and commits it on the
/// task branch, authored by `Baton agent <agent>` (with the user's email) and committed with the
/// user's identity; repository hooks do not run. Returns false when there was nothing to commit.
///
/// Errors: git failures, no git identity configured.
pub(crate) async fn commit(
    worktree: &Path,
    agent: &str,
    title: &str,
    summary: &str,
    exclude: &[String],
) -> anyhow::Result<bool> {
    let mut add = vec!["add".to_owned(), "-A".to_owned(), "--".to_owned(), ".".to_owned()];
    add.extend(exclude.iter().map(|glob| format!(":(exclude){glob}")));
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    git(worktree, &add).await?;
    let quiet = git_output(worktree, &["diff", "--cached", "--quiet"]).await?;
    match quiet.status.code() {
        Some(0) => return Ok(false),
        Some(1) => {}
        _ => bail!("git diff --cached failed: {}", String::from_utf8_lossy(&quiet.stderr).trim()),
    }
    let (_, email) = user_identity(worktree).await?;
    let author = format!("Baton agent {agent} <{email}>");
    let body = if summary.trim().is_empty() { "(no summary)" } else { summary.trim() };
    git(
        worktree,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "--no-verify",
            "--quiet",
            "--author",
            &author,
            "-m",
            title,
            "-m",
            body,
        ],
    )
    .await?;
    Ok(true)
}

/// A pull request title from a prompt: its first line, at most 72 characters.
pub(crate) fn title(prompt: &str) -> String {
    let line = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("Task").trim();
    if line.chars().count() > 72 {
        let cut: String = line.chars().take(71).collect();
        format!("{cut}…")
    } else {
        line.to_owned()
    }
}

/// `git diff --shortstat base head`, parsed.
pub(crate) async fn diff_stat(dir: &Path, base: &str, head: &str) -> anyhow::Result<DiffStat> {
    let out = git(dir, &["diff", "--shortstat", base, head]).await?;
    Ok(parse_shortstat(&out))
}

/// Parses ` 2 files changed, 5 insertions(+), 1 deletion(-)`.
pub(crate) fn parse_shortstat(s: &str) -> DiffStat {
    let mut stat = DiffStat::default();
    for part in s.trim().split(',') {
        let mut words = part.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u32>() else { continue };
        if what.starts_with("file") {
            stat.files_changed = n;
        } else if what.starts_with("insertion") {
            stat.insertions = n;
        } else if what.starts_with("deletion") {
            stat.deletions = n;
        }
    }
    stat
}

/// The files changed between `base` and `head` with their changed line ranges (from the hunk
/// headers of `git diff -U0`).
pub(crate) async fn changed_files(dir: &Path, base: &str, head: &str) -> anyhow::Result<Vec<ChangedFile>> {
    let out = git(
        dir,
        &["-c", "core.quotePath=false", "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", base, head],
    )
    .await?;
    Ok(parse_unified_zero(&out))
}

fn unquote(path: &str) -> String {
    let p = path.trim();
    let p = p.strip_prefix('"').and_then(|p| p.strip_suffix('"')).unwrap_or(p);
    p.to_owned()
}

/// `-12,3` / `+5` → (start, count).
fn parse_range(s: &str) -> Option<(u32, u32)> {
    let s = &s[1..];
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

/// Parses `git diff -U0` output into files and hunk ranges. Lines it does not understand are
/// skipped.
pub(crate) fn parse_unified_zero(diff: &str) -> Vec<ChangedFile> {
    let mut files: Vec<ChangedFile> = Vec::new();
    let mut old_path: Option<String> = None;
    for line in diff.lines() {
        if let Some(rest) = line.strip_prefix("--- ") {
            old_path = Some(unquote(rest.strip_prefix("a/").unwrap_or(rest)));
        } else if let Some(rest) = line.strip_prefix("+++ ") {
            let rest = unquote(rest);
            let path = if rest == "/dev/null" {
                old_path.take().unwrap_or_default()
            } else {
                rest.strip_prefix("b/").unwrap_or(&rest).to_owned()
            };
            files.push(ChangedFile { path, ranges: Vec::new() });
        } else if let Some(rest) = line.strip_prefix("@@ ") {
            let mut parts = rest.split_whitespace();
            let (Some(old), Some(new)) = (parts.next(), parts.next()) else {
                continue;
            };
            let (Some((old_start, old_count)), Some((new_start, new_count))) = (parse_range(old), parse_range(new))
            else {
                continue;
            };
            if let Some(f) = files.last_mut() {
                f.ranges.push(LineRange { old_start, old_count, new_start, new_count });
            }
        }
    }
    files
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
    pub api_url: String,
    /// The git remote to push the task branch to.
    pub remote: String,
    /// The token (read from the environment variable the config names; never logged).
    pub token: String,
    pub draft: bool,
}

/// Pushes the task branch to the remote and opens a pull request against `base_branch`
/// (`POST /repos/{o}/{r}/pulls`). Returns the pull request's `html_url`.
///
/// Errors: the push fails, the remote URL names no owner/repository, GitHub answers with an
/// error status (its message is included; the token never is).
pub(crate) async fn publish_github(
    worktree: &Path,
    target: &GithubTarget,
    branch: &str,
    base_branch: &str,
    title: &str,
    body: &str,
) -> anyhow::Result<String> {
    let url = git(worktree, &["remote", "get-url", &target.remote]).await?;
    let (owner, repo) = owner_repo(&url).with_context(|| format!("cannot tell owner/repo from remote {url:?}"))?;
    git(worktree, &["push", "--quiet", &target.remote, &format!("{branch}:refs/heads/{branch}")]).await?;
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
    fn unified_zero_hunks_become_ranges() {
        let diff = "diff --git a/src/lib.rs b/src/lib.rs\nindex 1..2 100644\n--- a/src/lib.rs\n+++ b/src/lib.rs\n\
@@ -3,0 +4,2 @@ fn a() {}\n+x\n+y\n@@ -10 +12 @@\n-a\n+b\n\
diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\n--- a/gone.txt\n+++ /dev/null\n@@ -1,2 +0,0 @@\n-a\n-b\n";
        expect_test::expect![[r#"
            [
                ChangedFile {
                    path: "src/lib.rs",
                    ranges: [
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
                },
                ChangedFile {
                    path: "gone.txt",
                    ranges: [
                        LineRange {
                            old_start: 1,
                            old_count: 2,
                            new_start: 0,
                            new_count: 0,
                        },
                    ],
                },
            ]
        "#]]
        .assert_debug_eq(&parse_unified_zero(diff));
    }

    #[test]
    fn shortstat_and_remote_urls_parse() {
        assert_eq!(
            parse_shortstat(" 2 files changed, 5 insertions(+), 1 deletion(-)\n"),
            DiffStat { files_changed: 2, insertions: 5, deletions: 1 }
        );
        assert_eq!(parse_shortstat(" 1 file changed, 1 deletion(-)").deletions, 1);
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

        let tmp = tempfile::tempdir().expect("tempdir");
        let git = |dir: &Path, args: &[&str]| {
            let out = std::process::Command::new("git").args(args).current_dir(dir).output().expect("git");
            assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let remote = tmp.path().join("acme/widget.git");
        std::fs::create_dir_all(&remote).expect("mkdir");
        git(&remote, &["init", "-q", "--bare"]);
        let repo = tmp.path().join("repo");
        std::fs::create_dir_all(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["-c", "user.name=A", "-c", "user.email=a@x", "commit", "-q", "--allow-empty", "-m", "x"]);
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
        let url = publish_github(&repo, &target, "baton/1-x", "main", "Add x", "Did x").await.expect("publish");
        assert_eq!(url, "https://github.example/acme/widget/pull/7");
        let seen = seen_rx.recv().await.expect("request");
        expect_test::expect![[r#"acme/widget 2022-11-28 Bearer t0ken {"title":"Add x","head":"baton/1-x","base":"main","body":"Did x","draft":true}"#]]
            .assert_eq(&seen);
        git(&remote, &["rev-parse", "--verify", "refs/heads/baton/1-x"]);
    }
}
