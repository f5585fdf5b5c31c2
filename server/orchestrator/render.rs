//! A task as text, rendered once for every front end: `baton task show` and `start`, the
//! `details` of `baton.task.show` and of each task in `baton/tasks` (editors show it as is).

use super::TaskDetails;
use super::task::{ChangedFile, FileNote, PullRequest, title};

/// What to include beyond the task's header and pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Header, plan, pull request and sign-offs: a few lines, for status bars' tooltips and pickers.
    Brief,
    /// Also the full prompt, the check output and the log (`HH:MM:SS` UTC per line).
    Full,
}

/// `HH:MM:SS` (UTC) of `ms` milliseconds since the Unix epoch.
pub(crate) fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// The lines `f` changes in the pull request's version: `2-4, 9`.
fn line_ranges(f: &ChangedFile) -> String {
    let ranges: Vec<String> = f
        .ranges
        .iter()
        .map(|r| {
            let last = r.new_start + r.new_count.max(1) - 1;
            if last == r.new_start { r.new_start.to_string() } else { format!("{}-{last}", r.new_start) }
        })
        .collect();
    ranges.join(", ")
}

fn note(n: &FileNote) -> String {
    match n {
        FileNote::SymlinkOutside { target } => format!("symbolic link to {target}, outside the repository"),
        FileNote::Binary => "binary".to_owned(),
        FileNote::Executable { set: true } => "made executable".to_owned(),
        FileNote::Executable { set: false } => "no longer executable".to_owned(),
    }
}

fn pull_request(s: &mut String, pr: &PullRequest, detail: Detail) {
    let files = if pr.stat.files_changed == 1 { "file" } else { "files" };
    s.push_str(&format!("\nPull request: {}\n", pr.title));
    s.push_str(&format!(
        "  +{} -{} in {} {files}; checks: {}{}; tokens: {}\n",
        pr.stat.insertions,
        pr.stat.deletions,
        pr.stat.files_changed,
        pr.check.as_str(),
        pr.check_command.as_deref().map(|c| format!(" ({c})")).unwrap_or_default(),
        pr.tokens
    ));
    for f in &pr.files {
        let notes: Vec<String> = f.notes.iter().map(note).collect();
        let notes = if notes.is_empty() { String::new() } else { format!("; {}", notes.join(", ")) };
        s.push_str(&format!("  {} (lines {}{notes})\n", f.path, line_ranges(f)));
    }
    if let Some(u) = &pr.github_url {
        s.push_str(&format!("  GitHub: {u}\n"));
    }
    if !pr.description.trim().is_empty() {
        s.push_str(&format!("\nDescription:\n{}\n", pr.description.trim_end()));
    }
    if detail == Detail::Full && !pr.check_output.trim().is_empty() {
        s.push_str(&format!("\nCheck output:\n{}\n", pr.check_output.trim_end()));
    }
}

impl TaskDetails {
    /// The task as lines of text (ends with a newline). Paths are shown as recorded (absolute).
    pub(crate) fn render(&self, detail: Detail) -> String {
        let t = &self.task;
        let mut s = format!("Task #{}: {}\nstate: {}   agent: {}\n", t.id, title(&t.prompt), t.state, t.agent);
        if let Some(b) = &t.branch {
            s.push_str(&format!("branch: {b}\n"));
        }
        if let Some(w) = &t.worktree {
            s.push_str(&format!("worktree: {}\n", w.display()));
        }
        s.push_str(&format!("repository: {}\n", t.repo_root.display()));
        if let Some(e) = &t.error {
            s.push_str(&format!("error: {e}\n"));
        }
        if let Some(q) = t.question.as_ref().filter(|_| t.state == super::TaskState::NeedsInput) {
            s.push_str(&format!("question: {q}\n"));
        }
        if detail == Detail::Full && t.prompt.trim().contains('\n') {
            s.push_str(&format!("\nPrompt:\n{}\n", t.prompt.trim_end()));
        }
        if let Some(p) = &t.plan {
            let status = if t.plan_approved { "approved" } else { "awaiting approval" };
            s.push_str(&format!("\nPlan ({status}):\n{}\n", p.trim_end()));
        }
        if let Some(pr) = &self.pull_request {
            pull_request(&mut s, pr, detail);
        }
        if !self.signoffs.is_empty() {
            s.push_str("\nSign-offs:\n");
            for so in &self.signoffs {
                let head: String = so.head_commit.chars().take(12).collect();
                s.push_str(&format!(
                    "  {} by {} at {} UTC (head {head}, checks {})\n",
                    so.action.as_str(),
                    so.who,
                    clock(so.when_ms),
                    so.checks.as_str()
                ));
            }
        }
        if detail == Detail::Full && !self.log.is_empty() {
            s.push_str("\nLog:\n");
            for l in &self.log {
                s.push_str(&format!("  {}  {}\n", clock(l.time_ms), l.line));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_and_survives_times_before_the_epoch() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(((13 * 60 + 5) * 60 + 9) * 1000 + 999), "13:05:09");
        assert_eq!(clock(-1000), "23:59:59");
        assert_eq!(clock(i64::MIN), clock(i64::MIN), "no overflow");
    }
}
