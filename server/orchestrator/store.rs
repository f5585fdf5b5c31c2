//! The orchestrator's SQLite store: tasks, their logs, local pull requests and sign-offs. One
//! database per user, shared by every Baton server of that user (WAL mode and a busy timeout, so
//! two editors on the same repository can use it at once).

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use super::task::{
    CheckResult, DiffStat, LogLine, PullRequest, Signoff, SignoffAction, Task, TaskId, TaskState, transition_allowed,
};
use crate::process::GroupRecord;

/// How long a statement waits for another server's write lock, in milliseconds.
const BUSY_TIMEOUT_MS: u64 = 5_000;

/// Errors of the task store.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("cannot open the task database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("task database error: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("there is no task {0}")]
    NoTask(TaskId),
    #[error("task {id} cannot go from {from} to {to}")]
    IllegalTransition { id: TaskId, from: TaskState, to: TaskState },
    #[error("task {id} has a corrupt record: {reason}")]
    Corrupt { id: TaskId, reason: String },
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    repo_root TEXT NOT NULL,
    prompt TEXT NOT NULL,
    context TEXT NOT NULL DEFAULT 'null',
    agent TEXT NOT NULL,
    state TEXT NOT NULL,
    branch TEXT,
    worktree TEXT,
    base_commit TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    summary TEXT,
    error TEXT,
    tokens INTEGER NOT NULL DEFAULT 0,
    plan TEXT,
    plan_approved INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS tasks_state ON tasks(state);
CREATE TABLE IF NOT EXISTS task_log (
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    time_ms INTEGER NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_log_task ON task_log(task_id);
CREATE TABLE IF NOT EXISTS pull_requests (
    task_id INTEGER PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    base_commit TEXT NOT NULL,
    head_commit TEXT NOT NULL,
    branch TEXT NOT NULL,
    files_changed INTEGER NOT NULL,
    insertions INTEGER NOT NULL,
    deletions INTEGER NOT NULL,
    changed_files TEXT NOT NULL,
    check_command TEXT,
    check_result TEXT NOT NULL,
    check_output TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    github_url TEXT
);
CREATE TABLE IF NOT EXISTS signoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    who TEXT NOT NULL,
    when_ms INTEGER NOT NULL,
    action TEXT NOT NULL,
    head_commit TEXT NOT NULL,
    checks TEXT NOT NULL
);
";

/// Version 2: the worktree's git admin directory.
const SCHEMA_V2_GIT_DIR: &str = "ALTER TABLE tasks ADD COLUMN git_dir TEXT;";

/// Version 3: the agent's process group (leader pid and its start time), recorded while it runs.
const SCHEMA_V3_PROCESS: &str = "
ALTER TABLE tasks ADD COLUMN process_group INTEGER;
ALTER TABLE tasks ADD COLUMN process_start INTEGER;
";

/// Version 4: the question a task in `needs_input` waits on, and its answer once given (by any
/// server or `baton task answer`; the server running the agent reads it).
const SCHEMA_V4_QUESTION: &str = "
ALTER TABLE tasks ADD COLUMN question TEXT;
ALTER TABLE tasks ADD COLUMN answer TEXT;
";

/// Migrations in order: `MIGRATIONS[n]` takes the schema from `user_version` n to n + 1.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2_GIT_DIR, SCHEMA_V3_PROCESS, SCHEMA_V4_QUESTION];

/// Columns [`Store::set_field`] may write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    Prompt,
    Summary,
    Error,
    Tokens,
    Plan,
    PlanApproved,
    Owner,
}

impl Field {
    fn column(self) -> &'static str {
        match self {
            Field::Prompt => "prompt",
            Field::Summary => "summary",
            Field::Error => "error",
            Field::Tokens => "tokens",
            Field::Plan => "plan",
            Field::PlanApproved => "plan_approved",
            Field::Owner => "owner",
        }
    }
}

/// The task database. Calls are short synchronous statements behind a mutex.
#[derive(Debug)]
pub(crate) struct Store {
    conn: Mutex<Connection>,
}

const TASK_COLUMNS: &str = "id, repo_root, prompt, context, agent, state, branch, worktree, base_commit, \
     created_ms, updated_ms, summary, error, tokens, plan, plan_approved, owner, git_dir, process_group, \
     process_start, question";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<(Task, String)> {
    let context: String = row.get(3)?;
    let state: String = row.get(5)?;
    let task = Task {
        id: row.get(0)?,
        repo_root: PathBuf::from(row.get::<_, String>(1)?),
        prompt: row.get(2)?,
        context: serde_json::from_str(&context).unwrap_or(serde_json::Value::Null),
        agent: row.get(4)?,
        state: TaskState::Queued,
        branch: row.get(6)?,
        worktree: row.get::<_, Option<String>>(7)?.map(PathBuf::from),
        base_commit: row.get(8)?,
        created_ms: row.get(9)?,
        updated_ms: row.get(10)?,
        summary: row.get(11)?,
        error: row.get(12)?,
        tokens: row.get::<_, i64>(13)?.max(0) as u64,
        plan: row.get(14)?,
        plan_approved: row.get::<_, i64>(15)? != 0,
        owner: row.get(16)?,
        git_dir: row.get::<_, Option<String>>(17)?.map(PathBuf::from),
        process: match (row.get::<_, Option<i64>>(18)?, row.get::<_, Option<i64>>(19)?) {
            (Some(pgid), Some(start)) => Some(GroupRecord {
                pgid: u32::try_from(pgid).unwrap_or(0),
                start_time: u64::try_from(start).unwrap_or(0),
            }),
            _ => None,
        },
        question: row.get(20)?,
    };
    Ok((task, state))
}

fn finish_task((mut task, state): (Task, String)) -> Result<Task, StoreError> {
    task.state = TaskState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt { id: task.id, reason: format!("unknown state {state:?}") })?;
    Ok(task)
}

impl Store {
    /// Opens (creating it and its directory if needed) the database at `path`, in WAL mode with a
    /// busy timeout of 5000 ms, and brings its schema up to date.
    ///
    /// Errors: the directory or file cannot be created or is not a database.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        let open_err = |reason: String| StoreError::Open { path: path.display().to_string(), reason };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)).map_err(|e| open_err(e.to_string()))?;
        let _mode: String =
            conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| open_err(e.to_string()))?;
        conn.execute_batch("PRAGMA foreign_keys=ON; PRAGMA synchronous=NORMAL;")
            .map_err(|e| open_err(e.to_string()))?;
        migrate(&mut conn).map_err(|e| open_err(e.to_string()))?;
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // parking_lot's lock is not poisoned: a panic while holding it leaves the connection
        // usable (every statement is its own transaction).
        self.conn.lock()
    }

    /// Records a new task in `queued`; returns its id.
    pub(crate) fn insert_task(
        &self,
        repo_root: &Path,
        prompt: &str,
        context: &serde_json::Value,
        agent: &str,
        owner: &str,
    ) -> Result<TaskId, StoreError> {
        let now = now_ms();
        let conn = self.conn();
        conn.execute(
            "INSERT INTO tasks (repo_root, prompt, context, agent, state, created_ms, updated_ms, owner) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
            params![
                repo_root.to_string_lossy(),
                prompt,
                context.to_string(),
                agent,
                TaskState::Queued.as_str(),
                now,
                owner
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// The task `id`. Errors: [`StoreError::NoTask`].
    pub(crate) fn task(&self, id: TaskId) -> Result<Task, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1"), [id], task_from_row)
            .optional()?;
        finish_task(row.ok_or(StoreError::NoTask(id))?)
    }

    /// Every task, oldest first.
    pub(crate) fn tasks(&self) -> Result<Vec<Task>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT {TASK_COLUMNS} FROM tasks ORDER BY id"))?;
        let rows = stmt.query_map([], task_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish_task).collect()
    }

    /// The tasks not yet merged, applied or discarded, oldest first.
    pub(crate) fn unfinished_tasks(&self) -> Result<Vec<Task>, StoreError> {
        let conn = self.conn();
        // The names are the enum's own ([`TaskState::as_str`]): no user text reaches the SQL.
        let finals: Vec<String> = TaskState::finals().into_iter().map(|s| format!("'{}'", s.as_str())).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state NOT IN ({}) ORDER BY id",
            finals.join(", ")
        ))?;
        let rows = stmt.query_map([], task_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(finish_task).collect()
    }

    /// Moves task `id` to `to` (checked by [`transition_allowed`]) and returns the state it was in.
    ///
    /// Errors: [`StoreError::NoTask`], [`StoreError::IllegalTransition`].
    pub(crate) fn set_state(&self, id: TaskId, to: TaskState) -> Result<TaskState, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let from: Option<String> =
            tx.query_row("SELECT state FROM tasks WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        let from = from.ok_or(StoreError::NoTask(id))?;
        let from = TaskState::parse(&from)
            .ok_or_else(|| StoreError::Corrupt { id, reason: format!("unknown state {from:?}") })?;
        if !transition_allowed(from, to) {
            return Err(StoreError::IllegalTransition { id, from, to });
        }
        tx.execute("UPDATE tasks SET state = ?1, updated_ms = ?2 WHERE id = ?3", params![to.as_str(), now_ms(), id])?;
        tx.commit()?;
        Ok(from)
    }

    /// Sets one column of task `id`.
    pub(crate) fn set_field(&self, id: TaskId, field: Field, value: impl rusqlite::ToSql) -> Result<(), StoreError> {
        let n = self.conn().execute(
            &format!("UPDATE tasks SET {} = ?1, updated_ms = ?2 WHERE id = ?3", field.column()),
            params![value, now_ms(), id],
        )?;
        if n == 0 {
            return Err(StoreError::NoTask(id));
        }
        Ok(())
    }

    /// Records where task `id` works: its branch, worktree and base commit.
    pub(crate) fn set_worktree(
        &self,
        id: TaskId,
        branch: &str,
        worktree: &Path,
        base_commit: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE tasks SET branch = ?1, worktree = ?2, base_commit = ?3, updated_ms = ?4 WHERE id = ?5",
            params![branch, worktree.to_string_lossy(), base_commit, now_ms(), id],
        )?;
        Ok(())
    }

    /// Records task `id`'s worktree admin directory (see [`Task::git_dir`]).
    pub(crate) fn set_git_dir(&self, id: TaskId, git_dir: &Path) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE tasks SET git_dir = ?1, updated_ms = ?2 WHERE id = ?3",
            params![git_dir.to_string_lossy(), now_ms(), id],
        )?;
        Ok(())
    }

    /// Records (or, with `None`, clears) the process group of task `id`'s running agent.
    pub(crate) fn set_process(&self, id: TaskId, process: Option<GroupRecord>) -> Result<(), StoreError> {
        let (pgid, start) = match process {
            Some(p) => (Some(i64::from(p.pgid)), Some(i64::try_from(p.start_time).unwrap_or(i64::MAX))),
            None => (None, None),
        };
        self.conn().execute(
            "UPDATE tasks SET process_group = ?1, process_start = ?2 WHERE id = ?3",
            params![pgid, start, id],
        )?;
        Ok(())
    }

    /// Appends a line to task `id`'s log.
    pub(crate) fn append_log(&self, id: TaskId, line: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO task_log (task_id, time_ms, line) VALUES (?1, ?2, ?3)",
            params![id, now_ms(), line],
        )?;
        Ok(())
    }

    /// Task `id`'s log, oldest first.
    pub(crate) fn log(&self, id: TaskId) -> Result<Vec<LogLine>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT time_ms, line FROM task_log WHERE task_id = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([id], |r| Ok(LogLine { time_ms: r.get(0)?, line: r.get(1)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records (or replaces) task `pr.task_id`'s pull request.
    pub(crate) fn put_pull_request(&self, pr: &PullRequest) -> Result<(), StoreError> {
        let files = serde_json::to_string(&pr.files).unwrap_or_else(|_| "[]".to_owned());
        self.conn().execute(
            "INSERT OR REPLACE INTO pull_requests (task_id, title, description, base_commit, head_commit, branch, \
             files_changed, insertions, deletions, changed_files, check_command, check_result, check_output, tokens, \
             github_url) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                pr.task_id,
                pr.title,
                pr.description,
                pr.base_commit,
                pr.head_commit,
                pr.branch,
                pr.stat.files_changed,
                pr.stat.insertions,
                pr.stat.deletions,
                files,
                pr.check_command,
                pr.check.as_str(),
                pr.check_output,
                pr.tokens as i64,
                pr.github_url,
            ],
        )?;
        Ok(())
    }

    /// Task `id`'s pull request, if it has one.
    pub(crate) fn pull_request(&self, id: TaskId) -> Result<Option<PullRequest>, StoreError> {
        let conn = self.conn();
        let pr = conn
            .query_row(
                "SELECT task_id, title, description, base_commit, head_commit, branch, files_changed, insertions, \
                 deletions, changed_files, check_command, check_result, check_output, tokens, github_url \
                 FROM pull_requests WHERE task_id = ?1",
                [id],
                |r| {
                    let files: String = r.get(9)?;
                    let check: String = r.get(11)?;
                    Ok(PullRequest {
                        task_id: r.get(0)?,
                        title: r.get(1)?,
                        description: r.get(2)?,
                        base_commit: r.get(3)?,
                        head_commit: r.get(4)?,
                        branch: r.get(5)?,
                        stat: DiffStat { files_changed: r.get(6)?, insertions: r.get(7)?, deletions: r.get(8)? },
                        files: serde_json::from_str(&files).unwrap_or_default(),
                        check_command: r.get(10)?,
                        check: CheckResult::parse(&check),
                        check_output: r.get(12)?,
                        tokens: r.get::<_, i64>(13)?.max(0) as u64,
                        github_url: r.get(14)?,
                    })
                },
            )
            .optional()?;
        Ok(pr)
    }

    /// Records a sign-off.
    pub(crate) fn add_signoff(&self, s: &Signoff) -> Result<(), StoreError> {
        let action = s.action.as_str();
        self.conn().execute(
            "INSERT INTO signoffs (task_id, who, when_ms, action, head_commit, checks) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![s.task_id, s.who, s.when_ms, action, s.head_commit, s.checks.as_str()],
        )?;
        Ok(())
    }

    /// Task `id`'s sign-offs, oldest first.
    pub(crate) fn signoffs(&self, id: TaskId) -> Result<Vec<Signoff>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT task_id, who, when_ms, action, head_commit, checks FROM signoffs WHERE task_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            let action: String = r.get(3)?;
            let checks: String = r.get(5)?;
            Ok(Signoff {
                task_id: r.get(0)?,
                who: r.get(1)?,
                when_ms: r.get(2)?,
                action: SignoffAction::parse(&action),
                head_commit: r.get(4)?,
                checks: CheckResult::parse(&checks),
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Records the question task `id` waits on (`None` clears it), forgetting any earlier answer.
    ///
    /// Errors: [`StoreError::NoTask`].
    pub(crate) fn set_question(&self, id: TaskId, question: Option<&str>) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE tasks SET question = ?1, answer = NULL, updated_ms = ?2 WHERE id = ?3",
            params![question, now_ms(), id],
        )?;
        if n == 0 {
            return Err(StoreError::NoTask(id));
        }
        Ok(())
    }

    /// Records `answer` for task `id` if it is in `needs_input` with no answer yet (one
    /// statement, so two answers at once cannot both count). Returns whether it was recorded.
    pub(crate) fn put_answer(&self, id: TaskId, answer: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE tasks SET answer = ?1 WHERE id = ?2 AND state = ?3 AND answer IS NULL AND question IS NOT NULL",
            params![answer, id, TaskState::NeedsInput.as_str()],
        )?;
        Ok(n == 1)
    }

    /// The answer recorded for task `id`'s question, if any.
    pub(crate) fn answer(&self, id: TaskId) -> Result<Option<String>, StoreError> {
        let row: Option<Option<String>> =
            self.conn().query_row("SELECT answer FROM tasks WHERE id = ?1", [id], |r| r.get(0)).optional()?;
        row.ok_or(StoreError::NoTask(id))
    }

    /// Marks `interrupted` every task that a server was working on (queued, preparing, running,
    /// checking) whose owner is no longer alive according to `owner_alive`, calling `stop` on
    /// each first (to stop what the dead server left running). Returns the tasks, as they were.
    pub(crate) fn interrupt_orphans(
        &self,
        owner_alive: impl Fn(&str) -> bool,
        stop: impl Fn(&Task),
    ) -> Result<Vec<Task>, StoreError> {
        let orphans: Vec<Task> =
            self.unfinished_tasks()?.into_iter().filter(|t| t.state.is_working() && !owner_alive(&t.owner)).collect();
        let mut done = Vec::new();
        for task in orphans {
            stop(&task);
            match self.set_state(task.id, TaskState::Interrupted) {
                Ok(_) => {
                    let _ = self.set_process(task.id, None);
                    done.push(task);
                }
                // Another server got there first or the task moved on: nothing to do.
                Err(StoreError::IllegalTransition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

/// A server instance's owner string: `<pid>:<instance>:<start time>` (the start time tells the
/// server from a later process that reuses its pid).
pub(crate) fn owner_string(pid: u32, instance: u64) -> String {
    match crate::process::start_time(pid) {
        Some(start) => format!("{pid}:{instance}:{start}"),
        None => format!("{pid}:{instance}"),
    }
}

/// The pid and, when recorded, the process start time of an owner string.
pub(crate) fn parse_owner(owner: &str) -> Option<(u32, Option<u64>)> {
    let mut parts = owner.split(':');
    let pid = parts.next()?.parse().ok()?;
    let _instance = parts.next()?;
    let start = parts.next().and_then(|s| s.parse().ok());
    Some((pid, start))
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (n, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("PRAGMA user_version = {}", n + 1))?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_is_enforced_in_one_place() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("baton.db")).expect("open");
        let id = store
            .insert_task(Path::new("/repo"), "p", &serde_json::json!({"file": "a.rs"}), "builtin", "x")
            .expect("insert");
        assert_eq!(store.set_state(id, TaskState::Preparing).expect("ok"), TaskState::Queued);
        let err = store.set_state(id, TaskState::Merged).expect_err("illegal");
        expect_test::expect!["task 1 cannot go from preparing to merged"].assert_eq(&err.to_string());
        assert_eq!(store.task(id).expect("task").context["file"], "a.rs");
        // Reopening keeps the schema version and the data.
        drop(store);
        let store = Store::open(&dir.path().join("baton.db")).expect("reopen");
        assert_eq!(store.task(id).expect("task").state, TaskState::Preparing);
    }

    /// An answer counts only for a task waiting in `needs_input` with a question, once; a new
    /// question forgets the old answer.
    #[test]
    fn an_answer_is_recorded_once_and_only_for_a_waiting_task() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("baton.db")).expect("open");
        let id = store.insert_task(Path::new("/repo"), "p", &serde_json::Value::Null, "acp", "x").expect("insert");
        for to in [TaskState::Preparing, TaskState::Running] {
            store.set_state(id, to).expect("state");
        }
        assert!(!store.put_answer(id, "allow").expect("put"), "running: nothing to answer");
        store.set_question(id, Some("may I?")).expect("question");
        store.set_state(id, TaskState::NeedsInput).expect("needs input");
        assert_eq!(store.task(id).expect("task").question.as_deref(), Some("may I?"));
        assert!(store.put_answer(id, "allow").expect("put"));
        assert!(!store.put_answer(id, "reject").expect("put"), "a second answer does not count");
        assert_eq!(store.answer(id).expect("answer").as_deref(), Some("allow"));
        store.set_question(id, Some("again?")).expect("question");
        assert_eq!(store.answer(id).expect("answer"), None);
        assert!(!store.put_answer(id + 1, "allow").expect("put"), "no such task");
        assert!(matches!(store.answer(id + 1), Err(StoreError::NoTask(_))));
    }
}
