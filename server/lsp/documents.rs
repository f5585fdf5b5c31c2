//! Open documents: their text, changed in order on the transport, and their syntax trees, parsed
//! off the transport (tokio's blocking pool) within a time budget and carried across edits.
//!
//! The rules this file keeps (ARCHITECTURE.md, rule 8):
//! - `didOpen`/`didChange` change the text and edit the tree's positions (`Tree::edit`, cheap)
//!   synchronously; the parse follows in a worker task, one per document at a time.
//! - A document is parsed when it is first changed or asked about, not when it opens (editors
//!   open many files nobody edits), and at most [`MAX_TREES`] documents, the most recently used,
//!   keep a tree; the others drop theirs and parse again when next changed or asked about.
//! - A parse result is installed only into the opening it was started for (`epoch`), only if it
//!   is newer than the tree in place, and after the edits that arrived while it ran are applied to
//!   it, so it never undoes a change and never lands out of order.
//! - A snapshot carries a tree only when it was parsed from exactly the snapshot's text; otherwise
//!   the conductor works on plain text. Except an inline completion's ([`snapshot_following`]):
//!   the earlier tree edited to follow the text, marked inexact, rather than a wait per keystroke.
//! - A parse over budget is abandoned; the next attempt waits a backoff (1 s, doubling to 30 s) and
//!   a change to the text. Documents over the size limits are not parsed at all.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use ropey::Rope;
use tokio::sync::{Semaphore, watch};
use tree_sitter::Tree;

use crate::conductor::DocSnapshot;
use crate::syntax::limits::LimitsDelta;
use crate::syntax::{self, Language, ParseError, Syntax};
use crate::text::{Document, Edit, Encoding, Pos};
pub(crate) use history::Change;
use history::History;

/// How long a completion waits for the tree of the text it was asked on, when that parse is under
/// way: a typical reparse takes a millisecond, a 2 MB file's ~120 ms (README "Syntax").
pub(crate) const TREE_WAIT: Duration = Duration::from_millis(200);

/// Documents that keep a syntax tree at once, the most recently changed or asked about. A tree
/// costs about 0.8 KB a line (230 KB for a 300-line Python file, measured with heaptrack), the
/// most of a document's memory, and an editor may hold hundreds of files open (issue 13: memory
/// with 100 open files). A document without one parses again when next changed or asked about.
pub(crate) const MAX_TREES: usize = 8;

/// How long a reparse waits after the latest change, so a burst of typing is parsed once and the
/// completion request that follows each key does not share the cores with a reparse of the whole
/// document (issue 13: a one-character change to a 10,000-line module costs ~5 ms of parsing;
/// the inline completion uses the earlier tree, edited, meanwhile). Never longer than
/// [`REPARSE_MAX_DELAY`] after the first change not yet parsed. The first parse does not wait.
pub(crate) const REPARSE_DELAY: Duration = Duration::from_millis(30);
pub(crate) const REPARSE_MAX_DELAY: Duration = Duration::from_millis(150);

/// Edits kept for a parse in flight; past this many its result is dropped (the next parse starts
/// from scratch) rather than keeping an unbounded list.
const MAX_EDITS_IN_FLIGHT: usize = 4096;

/// First wait before retrying a document whose parse ran over budget; doubles up to the maximum.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where a parse worker finds the open documents: the server's `State`, or a bare map in tests.
pub(crate) trait DocumentStore: Send + Sync + 'static {
    fn documents(&self) -> &DashMap<String, OpenDocument>;
}

impl DocumentStore for DashMap<String, OpenDocument> {
    fn documents(&self) -> &DashMap<String, OpenDocument> {
        self
    }
}

/// An open document: its text as the client last described it, and its syntax.
#[derive(Debug)]
pub(crate) struct OpenDocument {
    pub(crate) doc: Document,
    /// How prompts, messages and secret-file checks name it ([`super::convert::display_path`] of
    /// its URI, which an open document keeps): decoded once at open, not on every request that
    /// reads it (a completion request reads every open document of its language).
    pub(crate) path: String,
    parse: ParseState,
    /// The latest `didChange` notifications, to put a late one back in order.
    history: History,
}

/// [`OpenDocument::tree_stamp`]: the document's revision (its changes, counted from open) and
/// the revision its tree was parsed at. Compared, never shown; not the client's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TreeStamp {
    revision: u64,
    parsed: Option<u64>,
}

#[derive(Debug)]
struct ParseState {
    /// Chosen at open by [`syntax::language_for`]; `None`: plain text, never parsed.
    language: Option<&'static Language>,
    /// Unique per `didOpen`: a worker or result of an earlier opening of the URI is ignored.
    epoch: u64,
    /// Counts applied changes (from 1 at open): the text's own version, whatever the client sends.
    revision: u64,
    /// The latest parse, edited by every change since so its positions follow the text: the old
    /// tree of the next incremental parse. It matches the text exactly when `parsed == revision`.
    tree: Option<Tree>,
    parsed: Option<u64>,
    /// The revision of the last finished attempt, successful or not.
    tried: Option<u64>,
    worker: Worker,
    in_flight: Option<InFlight>,
    /// Consecutive attempts that ran over budget (or failed), and when the next may start.
    failures: u32,
    retry_at: Option<Instant>,
    /// Why the document has no tree (logged when it changes).
    last_error: Option<ParseError>,
    /// The revision of the last finished attempt (0: none yet), for requests that wait for a tree.
    tried_tx: watch::Sender<u64>,
    /// What changed since the text last passed the size limits, so the next parse rescans only
    /// those lines, not the whole document, for [`syntax::MAX_LINE_BYTES`].
    limits: LimitsDelta,
    /// When the document was last opened, changed or asked about ([`tick`]), for [`MAX_TREES`].
    used: AtomicU64,
    /// The latest change, and the first one since the last parse took the text ([`REPARSE_DELAY`]).
    changed_at: Option<Instant>,
    unparsed_since: Option<Instant>,
    /// [`REPARSE_DELAY`] and [`REPARSE_MAX_DELAY`] (zero in the unit tests that step by hand).
    delays: (Duration, Duration),
    /// The imports of the current text up to [`syntax::IMPORTS_HEAD_BYTES`] ([`Syntax::imports_head`]),
    /// when known: found by a parse, kept across changes that touch neither that head nor an
    /// import (an import's node does not depend on the text after it), so completion requests do
    /// not search the tree for them on every version (in a 32 KB head of functions the search
    /// takes ~2 ms). A change in the head that touches no import shifts them and marks them
    /// `imports_stale`: requests use them (a new import shows up at most one parse late) and the
    /// next parse searches again.
    imports: Option<Arc<Vec<Range<usize>>>>,
    imports_stale: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Worker {
    Idle,
    Running,
    /// Sleeping until `retry_at` after a parse ran over budget.
    Waiting,
}

/// A parse under way: the revision it parses, and the changes applied since it took the text.
#[derive(Debug)]
struct InFlight {
    revision: u64,
    edits: Vec<Edit>,
    /// Its result is of no use (too many edits to carry, or the whole text was replaced).
    overflowed: bool,
    /// Set when the document closes, is reopened or replaced whole: the parse stops at its next
    /// progress check.
    cancel: Arc<AtomicBool>,
}

/// One parse to run on the blocking pool.
struct Job {
    /// The last attempt ran over budget: this one takes the retry lane.
    retry: bool,
    language: &'static Language,
    rope: Rope,
    old: Option<Tree>,
    revision: u64,
    budget: Duration,
    cancel: Arc<AtomicBool>,
    /// What changed since the text last passed the size limits.
    limits: LimitsDelta,
    /// Search the new tree for the imports ([`ParseState::imports`] is not known).
    imports: bool,
}

enum Next {
    Done,
    /// A backoff after a parse over budget: requests do not wait for it.
    Wait(Instant),
    /// A burst of changes may go on ([`REPARSE_DELAY`]): requests wait for the parse after it.
    Debounce(Instant),
    Parse(Job),
}

impl OpenDocument {
    /// A document just opened. `uri` and the document's language id choose the grammar
    /// ([`syntax::language_for`]); call [`open`] to store it and start its first parse.
    pub(crate) fn new(doc: Document, uri: &str) -> Self {
        static EPOCHS: AtomicU64 = AtomicU64::new(1);
        let language = syntax::language_for(&doc.language_id, uri);
        let parse = ParseState {
            language,
            epoch: EPOCHS.fetch_add(1, Ordering::Relaxed),
            revision: 1,
            tree: None,
            parsed: None,
            tried: None,
            worker: Worker::Idle,
            in_flight: None,
            failures: 0,
            retry_at: None,
            last_error: None,
            tried_tx: watch::Sender::new(0),
            limits: LimitsDelta::Unknown,
            used: AtomicU64::new(tick()),
            changed_at: None,
            unparsed_since: None,
            delays: (REPARSE_DELAY, REPARSE_MAX_DELAY),
            imports: None,
            imports_stale: false,
        };
        let history = History::new(doc.version);
        Self { doc, path: super::convert::display_path(uri), parse, history }
    }

    /// Applies one `didChange` notification's changes in order, calling `each` with the text
    /// before each one, and takes the client's `version`. One older than the document's version
    /// (sent after a newer one) is applied where its version puts it when the notifications
    /// since are kept ([`History`]): the text is then replaced whole (the tree parsed again) and
    /// `each` is not called. Returns false then. A late one that cannot be placed is applied as
    /// it comes, as any client's change is; both are logged, and in both the document keeps its
    /// (higher) version, the one the client's text now has.
    pub(crate) fn apply_notification(
        &mut self,
        version: i32,
        changes: Vec<Change>,
        encoding: Encoding,
        mut each: impl FnMut(&Document, Option<(Pos, Pos)>, &str),
    ) -> bool {
        let late = version < self.doc.version;
        if late {
            let current = self.doc.version;
            if let Some(text) = self.history.insert_late(version, &changes, encoding) {
                tracing::warn!(version, current, "didChange came after a newer version; applied in version order");
                self.apply_change(None, &text.to_string(), encoding);
                return false;
            }
            tracing::warn!(version, current, "didChange came after a newer version; applied as it came");
        }
        let before = self.doc.rope.clone();
        for (range, text) in &changes {
            each(&self.doc, *range, text);
            self.apply_change(*range, text, encoding);
        }
        if late {
            // The kept notifications no longer tell the text at any version.
            self.history = History::new(self.doc.version);
        } else {
            self.doc.version = version;
            self.history.push(version, before, changes);
        }
        true
    }

    /// Replaces the text between two positions (or all of it) and edits the tree to match; the
    /// reparse is [`changed`]'s job. Never blocks: no parsing here.
    pub(crate) fn apply_change(&mut self, range: Option<(Pos, Pos)>, text: &str, encoding: Encoding) {
        let whole = range.is_none();
        let edit = self.doc.apply_change(range, text, encoding);
        self.parse.edit(&edit, whole);
    }

    /// The grammar chosen at open, if any.
    #[cfg(test)]
    pub(crate) fn language(&self) -> Option<&'static Language> {
        self.parse.language
    }

    /// Changes when the document's tree may no longer be the one a snapshot took: at every
    /// change (an edit copies the tree's root when a snapshot shares it) and every installed
    /// or dropped parse.
    pub(crate) fn tree_stamp(&self) -> TreeStamp {
        TreeStamp { revision: self.parse.revision, parsed: self.parse.parsed }
    }

    /// The tree of exactly the current text, when one is ready.
    pub(crate) fn syntax(&self) -> Option<Syntax> {
        self.parse.syntax()
    }

    /// A snapshot for the conductor (cheap: ropes and trees are shared), with the tree only when
    /// it matches the text.
    pub(crate) fn snapshot(&self, uri: &str) -> (DocSnapshot, Document) {
        let snap = DocSnapshot {
            key: uri.to_owned(),
            path: self.path.clone(),
            rope: self.doc.rope.clone(),
            syntax: self.syntax(),
            language_id: self.doc.language_id.clone(),
        };
        (snap, self.doc.clone())
    }
}

impl ParseState {
    /// Follows one change: `whole` when it replaced the whole text (nothing of a tree is reusable
    /// then, and a parse in flight is stopped).
    fn edit(&mut self, edit: &Edit, whole: bool) {
        self.revision += 1;
        *self.used.get_mut() = tick();
        let now = Instant::now();
        self.changed_at = Some(now);
        self.unparsed_since.get_or_insert(now);
        if whole {
            self.limits = LimitsDelta::Unknown;
            self.imports = None;
            self.imports_stale = false;
            if let Some(tree) = self.tree.take() {
                free_later(tree);
            }
            self.parsed = None;
            if let Some(f) = &mut self.in_flight {
                f.cancel.store(true, Ordering::Relaxed);
                f.overflowed = true;
                f.edits = Vec::new();
            }
            return;
        }
        self.limits.edit(edit.start_byte, edit.old_end_byte, edit.new_end_byte);
        if let Some(imports) = &self.imports
            && !imports_survive(imports, edit)
        {
            self.imports = imports_shifted(imports, edit).map(Arc::new);
            self.imports_stale = self.imports.is_some();
        }
        if let Some(tree) = &mut self.tree {
            syntax::edit_tree(tree, edit);
        }
        if let Some(f) = &mut self.in_flight
            && !f.overflowed
        {
            if f.edits.len() >= MAX_EDITS_IN_FLIGHT {
                f.overflowed = true;
                f.edits = Vec::new();
            } else {
                f.edits.push(*edit);
            }
        }
    }

    fn syntax(&self) -> Option<Syntax> {
        let (language, tree) = (self.language?, self.tree.as_ref()?);
        (self.parsed == Some(self.revision)).then(|| Syntax {
            language,
            tree: tree.clone(),
            imports_head: self.imports.clone(),
            exact: true,
        })
    }

    /// The latest tree edited to follow the text ([`Syntax::exact`] false unless it is the tree
    /// of this very text), when there is one.
    fn following(&self) -> Option<Syntax> {
        let (language, tree) = (self.language?, self.tree.as_ref()?);
        self.parsed?;
        Some(Syntax {
            language,
            tree: tree.clone(),
            imports_head: self.imports.clone(),
            exact: self.parsed == Some(self.revision),
        })
    }

    /// Takes away the tree of a document nobody is using ([`MAX_TREES`]), unless a parse is under
    /// way or waiting; the next change or request parses it again from scratch. Returns the tree
    /// taken, for the caller to free off the session's thread ([`free_later`]).
    fn evict(&mut self) -> Option<Tree> {
        if self.tree.is_none() || self.worker != Worker::Idle || self.in_flight.is_some() {
            return None;
        }
        let tree = self.tree.take();
        self.parsed = None;
        self.imports = None;
        self.imports_stale = false;
        self.tried = None;
        // Requests that wait for the next parse wait for a revision above this.
        self.tried_tx.send_replace(0);
        tree
    }

    /// Marks a worker as needed; true when the caller must start one (none is running).
    fn wants_worker(&mut self) -> bool {
        let wanted = self.language.is_some() && self.worker == Worker::Idle && self.tried != Some(self.revision);
        if wanted {
            self.worker = Worker::Running;
        }
        wanted
    }

    /// What the worker does next. Decided under the document's map guard, so a change either
    /// sees the worker running (and is picked up by this loop) or sees it idle (and starts one).
    fn next(&mut self, rope: &Rope, budget: Duration, now: Instant) -> Next {
        let Some(language) = self.language else {
            self.worker = Worker::Idle;
            return Next::Done;
        };
        if self.tried == Some(self.revision) {
            self.worker = Worker::Idle;
            return Next::Done;
        }
        if let Some(at) = self.retry_at
            && at > now
        {
            self.worker = Worker::Waiting;
            return Next::Wait(at);
        }
        self.worker = Worker::Running;
        if self.tree.is_some()
            && let (Some(last), Some(first)) = (self.changed_at, self.unparsed_since)
        {
            let (delay, max_delay) = self.delays;
            let due = (last + delay).min(first + max_delay);
            if due > now {
                return Next::Debounce(due);
            }
        }
        self.unparsed_since = None;
        let cancel = Arc::new(AtomicBool::new(false));
        self.in_flight =
            Some(InFlight { revision: self.revision, edits: Vec::new(), overflowed: false, cancel: cancel.clone() });
        Next::Parse(Job {
            retry: self.failures > 0,
            language,
            rope: rope.clone(),
            old: self.tree.clone(),
            revision: self.revision,
            budget,
            cancel,
            // Assumes this job's check passes; `finish` forgets it when it did not.
            limits: std::mem::replace(&mut self.limits, LimitsDelta::Passed(None)),
            imports: self.imports.is_none() || self.imports_stale,
        })
    }

    /// Installs a finished parse of `revision`. Returns what happened, for the log.
    fn finish(&mut self, uri: &str, revision: u64, result: Result<Parsed, ParseError>, now: Instant) -> &'static str {
        if matches!(result, Err(ParseError::TooLarge { .. } | ParseError::LineTooLong { .. } | ParseError::Refused)) {
            // The check failed, or may not have run: the next one scans the whole text.
            self.limits = LimitsDelta::Unknown;
        }
        // A tree that is not installed is freed off the session's thread, as a replaced one is.
        let Some(in_flight) = self.in_flight.take_if(|f| f.revision == revision) else {
            free_later(result);
            return "dropped: not the parse in flight";
        };
        self.tried = Some(revision);
        self.tried_tx.send_replace(revision);
        match result {
            Ok(Parsed { mut tree, imports }) => {
                self.failures = 0;
                self.retry_at = None;
                if self.last_error.take().is_some() {
                    tracing::info!(uri, "syntax: parsed again; suggestions use the tree");
                }
                if in_flight.overflowed {
                    free_later(tree);
                    return "dropped: too many changes, or a replaced text, while it ran";
                }
                if self.parsed.is_some_and(|p| p > revision) {
                    free_later(tree);
                    return "dropped: a newer tree is in place";
                }
                // The imports the job found, following the changes made while it ran.
                let (mut imports, mut stale) = (imports, false);
                for e in &in_flight.edits {
                    syntax::edit_tree(&mut tree, e);
                    if let Some(found) = &imports
                        && !imports_survive(found, e)
                    {
                        imports = imports_shifted(found, e).map(Arc::new);
                        stale = true;
                    }
                }
                if let Some(found) = imports
                    && (self.imports.is_none() || self.imports_stale)
                {
                    self.imports = Some(found);
                    self.imports_stale = stale;
                }
                // The tree replaced is freed off the session's thread: it walks every node the
                // new one does not share (the root's thousand children in a 10,000-line module,
                // ~130 µs cold).
                if let Some(old) = self.tree.replace(tree) {
                    free_later(old);
                }
                self.parsed = Some(revision);
                "installed"
            }
            Err(e) => {
                let outcome = match e {
                    ParseError::TooLarge { .. } | ParseError::LineTooLong { .. } => {
                        // Over a limit: no tree to keep up, and no retry until the text changes.
                        if let Some(tree) = self.tree.take() {
                            free_later(tree);
                        }
                        self.parsed = None;
                        self.imports = None;
                        self.imports_stale = false;
                        "skipped: over a size limit"
                    }
                    ParseError::Cancelled => return "cancelled",
                    ParseError::OverBudget { .. } | ParseError::Refused => {
                        // The old tree stays as the next attempt's starting point (its positions
                        // follow the text); the next attempt waits out a backoff.
                        self.failures += 1;
                        let backoff = BACKOFF_FIRST.saturating_mul(1 << (self.failures - 1).min(5)).min(BACKOFF_MAX);
                        self.retry_at = Some(now + backoff);
                        "abandoned"
                    }
                };
                if self.last_error.as_ref() != Some(&e) {
                    tracing::info!(uri, "syntax: {e}; suggestions use plain-text context");
                    self.last_error = Some(e);
                }
                outcome
            }
        }
    }

    /// Stops the parse in flight, if any (the document closed or was reopened).
    fn stop(&self) {
        if let Some(f) = &self.in_flight {
            f.cancel.store(true, Ordering::Relaxed);
        }
    }

    /// What a request waits on for the tree of the current text: `None` when no parse of it is
    /// under way or the document's parses have been running over budget.
    fn pending(&self) -> Option<(u64, u64, watch::Receiver<u64>)> {
        let expected = self.language.is_some()
            && self.worker == Worker::Running
            && self.failures == 0
            && self.tried != Some(self.revision);
        expected.then(|| (self.epoch, self.revision, self.tried_tx.subscribe()))
    }
}

/// A finished parse: the tree, and the imports when the job was asked to find them.
#[derive(Clone)]
struct Parsed {
    tree: Tree,
    imports: Option<Arc<Vec<Range<usize>>>>,
}

impl Job {
    fn run(self) -> Result<Parsed, ParseError> {
        syntax::limits::check_limits_since(&self.rope, &self.limits)?;
        let tree = syntax::parse_within(self.language, &self.rope, self.old.as_ref(), self.budget, &self.cancel)?;
        if !self.imports {
            return Ok(Parsed { tree, imports: None });
        }
        let syntax = Syntax { language: self.language, tree, imports_head: None, exact: true };
        let imports = Some(syntax.search_imports_head(&self.rope));
        Ok(Parsed { tree: syntax.tree, imports })
    }
}

/// Whether imports found before `edit` still hold after it: it changed nothing in the first
/// [`syntax::IMPORTS_HEAD_BYTES`] nor in (or right after) an import, so their nodes and bytes
/// are the same.
fn imports_survive(imports: &[Range<usize>], edit: &Edit) -> bool {
    edit.start_byte > syntax::IMPORTS_HEAD_BYTES && imports.iter().all(|r| r.end < edit.start_byte)
}

/// The imports found before `edit`, moved by it, when it touched none of them (nor the byte
/// right after one, where typing extends it); `None` when it did. What the edit may have added
/// is not there: the next parse searches again.
fn imports_shifted(imports: &[Range<usize>], edit: &Edit) -> Option<Vec<Range<usize>>> {
    if imports.iter().any(|r| edit.start_byte <= r.end && r.start <= edit.old_end_byte) {
        return None;
    }
    let moved = |b: usize| if b >= edit.old_end_byte { b - edit.old_end_byte + edit.new_end_byte } else { b };
    Some(imports.iter().map(|r| moved(r.start)..moved(r.end)).collect())
}

/// The budget of a document parse: [`syntax::PARSE_BUDGET`], or `BATON_SYNTAX_BUDGET_MS` when set
/// (for diagnosing a slow grammar, and for tests that need a parse that lasts).
fn parse_budget() -> Duration {
    static BUDGET: OnceLock<Duration> = OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var("BATON_SYNTAX_BUDGET_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(syntax::PARSE_BUDGET, Duration::from_millis)
    })
}

/// Parses at once across all documents, first attempts: as many as the cores, at least two (so
/// one document's first slow parse cannot hold up every other document's) and at most four. A
/// burst of openings queues here instead of splitting the cores so thinly that every parse runs
/// past its budget.
fn parse_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Semaphore::new(cores.clamp(2, 4))
    })
}

/// Retries of documents whose last parse ran over budget take turns in a lane of their own, so
/// they never hold a slot the documents that parse in milliseconds need.
fn retry_slot() -> &'static Semaphore {
    static SLOT: Semaphore = Semaphore::const_new(1);
    &SLOT
}

/// Stores a document just opened (replacing and cancelling an earlier opening of `uri`). Its
/// first parse waits for its first change or request ([`wanted`]).
pub(crate) fn open<S: DocumentStore>(store: &S, uri: String, open: OpenDocument) {
    if let Some(previous) = store.documents().insert(uri, open) {
        previous.parse.stop();
        free_later(previous);
    }
}

#[cfg(test)]
thread_local! {
    /// Values handed to [`free_later`] on this thread: the tests check which paths free a tree
    /// through it (a tree's free cannot be seen from outside tree-sitter).
    static FREED_LATER: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Frees `value` (a tree, or a document with its tree) on the blocking pool, or here outside a
/// runtime. Freeing a tree walks every node it owns: 2.7 ms for a 10,000-line module's whole
/// tree (a scratch program, median of 7), during which the session's thread would read no
/// message.
pub(crate) fn free_later<T: Send + 'static>(value: T) {
    #[cfg(test)]
    FREED_LATER.with(|n| n.set(n.get() + 1));
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(move || drop(value))),
        Err(_) => drop(value),
    }
}

/// A request is about `uri`: marks it used and starts its parse if it has no tree of its text and
/// none is under way (never parsed, or its tree dropped for [`MAX_TREES`]).
pub(crate) fn wanted<S: DocumentStore>(store: &Arc<S>, uri: &str) {
    let spawn = {
        let Some(mut open) = store.documents().get_mut(uri) else { return };
        *open.parse.used.get_mut() = tick();
        open.parse.wants_worker().then_some(open.parse.epoch)
    };
    if let Some(epoch) = spawn {
        tokio::spawn(work(store.clone(), uri.to_owned(), epoch));
    }
}

/// A stamp for [`ParseState::used`]: larger is more recent.
fn tick() -> u64 {
    static CLOCK: AtomicU64 = AtomicU64::new(1);
    CLOCK.fetch_add(1, Ordering::Relaxed)
}

/// Drops the trees of the least recently used documents beyond [`MAX_TREES`], never `keep`'s.
/// Called without any document's guard held (it takes each in turn).
fn evict_cold<S: DocumentStore>(store: &S, keep: &str) {
    let mut with_trees: Vec<(u64, String)> = store
        .documents()
        .iter()
        .filter(|e| e.parse.tree.is_some() && e.key() != keep)
        .map(|e| (e.parse.used.load(Ordering::Relaxed), e.key().clone()))
        .collect();
    // `keep` holds one of the MAX_TREES places.
    let Some(excess) = (with_trees.len() + 1).checked_sub(MAX_TREES).filter(|n| *n > 0) else { return };
    with_trees.sort_unstable();
    for (_, uri) in with_trees.into_iter().take(excess) {
        let evicted = store.documents().get_mut(&uri).and_then(|mut open| open.parse.evict());
        if let Some(tree) = evicted {
            free_later(tree);
            tracing::debug!(uri, "syntax: tree dropped (least recently used)");
        }
    }
}

/// After changes to `open` (still under its map guard): starts a parse worker unless one runs.
pub(crate) fn changed<S: DocumentStore>(store: &Arc<S>, uri: &str, open: &mut OpenDocument) {
    if open.parse.wants_worker() {
        tokio::spawn(work(store.clone(), uri.to_owned(), open.parse.epoch));
    }
}

/// Forgets a closed document and stops its parse.
pub(crate) fn close<S: DocumentStore>(store: &S, uri: &str) {
    if let Some((_, open)) = store.documents().remove(uri) {
        open.parse.stop();
        free_later(open);
    }
}

/// A snapshot of `uri` as it is now (see [`OpenDocument::snapshot`]). When the tree of this very
/// text is being parsed, waits up to `wait` for it; the text is never newer than at the call.
pub(crate) async fn snapshot_with_tree<S: DocumentStore>(
    store: &Arc<S>,
    uri: &str,
    wait: Duration,
) -> Option<(DocSnapshot, Document)> {
    snapshot(store, uri, wait, false).await
}

/// A snapshot of `uri` for an inline completion: like [`snapshot_with_tree`], but when the tree
/// of this very text is still being parsed and an earlier one (edited to follow the changes since)
/// is at hand, that one at once ([`Syntax::exact`] false), instead of waiting for the reparse of a
/// document's every version: the completion uses the tree to find scopes and imports, and judges
/// a parse only on the text itself (`syntax::InsertionCheck`).
pub(crate) async fn snapshot_following<S: DocumentStore>(
    store: &Arc<S>,
    uri: &str,
    wait: Duration,
) -> Option<(DocSnapshot, Document)> {
    snapshot(store, uri, wait, true).await
}

/// [`snapshot_with_tree`], or with `following` [`snapshot_following`]: one look at the document
/// (marking it used), then at most one wait for its parse.
async fn snapshot<S: DocumentStore>(
    store: &Arc<S>,
    uri: &str,
    wait: Duration,
    following: bool,
) -> Option<(DocSnapshot, Document)> {
    wanted(store, uri);
    let docs = store.documents();
    let (mut snap, doc, pending) = {
        let open = docs.get(uri)?;
        let (mut snap, doc) = open.snapshot(uri);
        if snap.syntax.is_none()
            && following
            && let Some(syntax) = open.parse.following()
        {
            snap.syntax = Some(syntax);
            return Some((snap, doc));
        }
        let pending = if snap.syntax.is_none() { open.parse.pending() } else { None };
        (snap, doc, pending)
    };
    if let Some((epoch, revision, mut tried)) = pending {
        // Ends early when the document closes (the sender drops).
        let _ = tokio::time::timeout(wait, tried.wait_for(|t| *t >= revision)).await;
        if let Some(open) = docs.get(uri)
            && open.parse.epoch == epoch
            && open.parse.revision == revision
        {
            snap.syntax = open.syntax();
        }
    }
    Some((snap, doc))
}

/// Parses `uri` until its tree matches its text, the document closes or is reopened, or a parse
/// fails (then after a backoff, on the next change). One worker per opening at a time.
async fn work<S: DocumentStore>(store: Arc<S>, uri: String, epoch: u64) {
    loop {
        let next = {
            let Some(mut open) = store.documents().get_mut(&uri) else { return };
            let open = &mut *open;
            if open.parse.epoch != epoch {
                return;
            }
            open.parse.next(&open.doc.rope, parse_budget(), Instant::now())
        };
        let job = match next {
            Next::Done => return,
            Next::Wait(at) | Next::Debounce(at) => {
                tokio::time::sleep_until(at.into()).await;
                continue;
            }
            Next::Parse(job) => job,
        };
        let (revision, bytes) = (job.revision, job.rope.len_bytes());
        let started = Instant::now();
        let result = {
            // The semaphore is never closed; without a slot, parse anyway rather than never.
            let _slot = if job.retry { retry_slot() } else { parse_slots() }.acquire().await.ok();
            tokio::task::spawn_blocking(move || job.run()).await.unwrap_or_else(|e| {
                tracing::error!("syntax: a parse failed ({e})");
                Err(ParseError::Refused)
            })
        };
        let ms = started.elapsed().as_millis();
        let Some(mut open) = store.documents().get_mut(&uri) else {
            tracing::debug!(uri, revision, bytes, ms, outcome = "dropped: closed", "parse finished");
            free_later(result);
            return;
        };
        if open.parse.epoch != epoch {
            drop(open);
            tracing::debug!(uri, revision, bytes, ms, outcome = "dropped: reopened", "parse finished");
            free_later(result);
            return;
        }
        let had_tree = open.parse.tree.is_some();
        let outcome = open.parse.finish(&uri, revision, result, Instant::now());
        let gained_tree = !had_tree && open.parse.tree.is_some();
        drop(open);
        tracing::debug!(uri, revision, bytes, ms, outcome, "parse finished");
        if gained_tree {
            evict_cold(&*store, &uri);
        }
    }
}

mod history;
#[cfg(test)]
mod tests;
