use super::*;

const RUST: &str = "use std::fmt;\n\nfn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n";

/// A Rust document whose reparses start at once (no [`REPARSE_DELAY`]), for tests that step the
/// worker by hand.
fn rust_doc(text: &str) -> OpenDocument {
    let mut open = OpenDocument::new(Document::new(text, 1, "rust"), "file:///p/lib.rs");
    open.parse.delays = (Duration::ZERO, Duration::ZERO);
    open
}

fn fresh_sexp(open: &OpenDocument) -> String {
    let lang = open.language().expect("rust");
    Syntax::parse(lang, &open.doc.rope).expect("parses").tree.root_node().to_sexp()
}

/// Runs the worker's next step by hand: the job it would start, if any.
fn job(open: &mut OpenDocument, budget: Duration) -> Option<Job> {
    match open.parse.next(&open.doc.rope, budget, Instant::now()) {
        Next::Parse(job) => Some(job),
        Next::Done | Next::Wait(_) | Next::Debounce(_) => None,
    }
}

fn insert(open: &mut OpenDocument, line: u32, character: u32, text: &str) {
    let p = Pos::new(line, character);
    open.apply_change(Some((p, p)), text, Encoding::Utf16);
}

#[test]
fn edits_made_while_a_parse_runs_are_carried_onto_its_tree() {
    let mut open = rust_doc(RUST);
    let first = job(&mut open, syntax::PARSE_BUDGET).expect("a first parse");
    // Typing goes on while the first parse is in flight.
    insert(&mut open, 3, 9, " * 2");
    insert(&mut open, 0, 0, "// 😀 header\n");
    let revision = first.revision;
    let outcome = open.parse.finish("u", revision, first.run(), Instant::now());
    assert_eq!(outcome, "installed");
    assert!(open.syntax().is_none(), "the tree is of an older text: no snapshot gets it");
    // The next parse starts from the carried tree and matches a parse from scratch.
    let second = job(&mut open, syntax::PARSE_BUDGET).expect("a parse of the new text");
    assert!(second.old.is_some());
    let revision = second.revision;
    assert_eq!(open.parse.finish("u", revision, second.run(), Instant::now()), "installed");
    let tree = open.syntax().expect("a tree of exactly this text");
    assert_eq!(tree.tree.root_node().to_sexp(), fresh_sexp(&open));
    let body = open.doc.rope.to_string().find("a + b * 2").expect("edited body");
    let scope = tree.enclosing_scopes(&open.doc.rope, body);
    assert!(scope.first().is_some_and(|r| open.doc.rope.byte_slice(r.clone()).to_string().starts_with("fn add")));
    assert!(job(&mut open, syntax::PARSE_BUDGET).is_none(), "nothing left to parse");
}

#[test]
fn a_result_that_is_not_the_parse_in_flight_never_replaces_the_tree() {
    let mut open = rust_doc(RUST);
    let first = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let stale_tree = first.run();
    // A result for revision 1 arriving twice, or for a revision never started, is dropped.
    assert_eq!(open.parse.finish("u", 1, stale_tree.clone(), Instant::now()), "installed");
    insert(&mut open, 3, 9, " * 2");
    let second = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let revision = second.revision;
    assert_eq!(open.parse.finish("u", 1, stale_tree, Instant::now()), "dropped: not the parse in flight");
    assert_eq!(open.parse.finish("u", revision, second.run(), Instant::now()), "installed");
    assert_eq!(open.syntax().expect("tree").tree.root_node().to_sexp(), fresh_sexp(&open));
}

#[test]
fn an_abandoned_parse_leaves_plain_text_and_a_backoff_then_edits_still_reparse_correctly() {
    let many: String = (0..300).map(|i| format!("fn f{i}(x: i32) -> i32 {{\n    x * {i}\n}}\n")).collect();
    let mut open = rust_doc(&format!("{RUST}{many}"));
    let first = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let r = first.revision;
    open.parse.finish("u", r, first.run(), Instant::now());
    // An opening quote makes the rest of the file a string; that parse gets no budget at all.
    insert(&mut open, 3, 4, "\"");
    let slow = job(&mut open, Duration::ZERO).expect("parse");
    assert!(!slow.retry);
    let r = slow.revision;
    let now = Instant::now();
    assert_eq!(open.parse.finish("u", r, slow.run(), now), "abandoned");
    assert!(open.syntax().is_none());
    assert!(open.parse.pending().is_none(), "requests do not wait on a document that runs over budget");
    assert!(job(&mut open, syntax::PARSE_BUDGET).is_none(), "the same text is not retried");
    // The quote is deleted again: the retry waits out the backoff...
    open.apply_change(Some((Pos::new(3, 4), Pos::new(3, 5))), "", Encoding::Utf16);
    assert!(open.parse.wants_worker());
    match open.parse.next(&open.doc.rope, syntax::PARSE_BUDGET, now) {
        Next::Wait(at) => assert_eq!(at, now + BACKOFF_FIRST),
        _ => panic!("expected a backoff"),
    }
    // ...then parses from the old tree, edited by both changes, and matches a fresh parse.
    let retry = match open.parse.next(&open.doc.rope, syntax::PARSE_BUDGET, now + BACKOFF_FIRST) {
        Next::Parse(job) => job,
        _ => panic!("expected a parse after the backoff"),
    };
    assert!(retry.old.is_some(), "the abandoned parse kept the older tree as a starting point");
    assert!(retry.retry, "a retry takes the retry lane, not a slot quick parses need");
    let r = retry.revision;
    assert_eq!(open.parse.finish("u", r, retry.run(), Instant::now()), "installed");
    assert_eq!(open.syntax().expect("tree").tree.root_node().to_sexp(), fresh_sexp(&open));
    assert_eq!(open.parse.failures, 0);
}

#[test]
fn replacing_the_whole_text_stops_the_parse_in_flight_and_drops_its_tree() {
    let mut open = rust_doc(RUST);
    let first = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    open.apply_change(None, "struct Replaced;\n", Encoding::Utf16);
    assert!(first.cancel.load(Ordering::Relaxed), "the running parse is told to stop");
    let r = first.revision;
    assert_eq!(open.parse.finish("u", r, Err(ParseError::Cancelled), Instant::now()), "cancelled");
    let next = job(&mut open, syntax::PARSE_BUDGET).expect("the new text is parsed");
    assert!(next.old.is_none(), "nothing of the old tree is reused");
    let r = next.revision;
    assert_eq!(open.parse.finish("u", r, next.run(), Instant::now()), "installed");
    assert_eq!(open.syntax().expect("tree").tree.root_node().to_sexp(), fresh_sexp(&open));
}

#[test]
fn documents_over_a_limit_or_without_a_grammar_get_no_tree() {
    let mut open = rust_doc(&format!("// {}\nfn main() {{}}\n", "x".repeat(syntax::MAX_LINE_BYTES)));
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let r = j.revision;
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "skipped: over a size limit");
    assert!(open.syntax().is_none());
    let mut plain = OpenDocument::new(Document::new("fn main() {}", 1, "plaintext"), "file:///p/a.rs");
    assert!(plain.language().is_none());
    assert!(!plain.parse.wants_worker(), "no grammar: no worker");
    assert!(job(&mut plain, syntax::PARSE_BUDGET).is_none());
}

#[test]
fn a_line_grown_past_the_limit_by_small_edits_is_caught_though_only_changed_lines_are_rescanned() {
    let half = "x".repeat(syntax::MAX_LINE_BYTES / 2 - 4);
    let mut open = rust_doc(&format!("// {half}\nfn main() {{}}\n"));
    let parse = |open: &mut OpenDocument| {
        let j = job(open, syntax::PARSE_BUDGET).expect("parse");
        assert!(j.limits != LimitsDelta::Unknown || open.parse.parsed.is_none(), "a passed check is built on");
        let r = j.revision;
        open.parse.finish("u", r, j.run(), Instant::now())
    };
    assert_eq!(parse(&mut open), "installed");
    // Edits on line 0, each followed by a parse: the line passes the limit on the second.
    insert(&mut open, 0, 3, &half);
    assert_eq!(parse(&mut open), "installed");
    insert(&mut open, 0, 3, "y".repeat(9).as_str());
    assert_eq!(parse(&mut open), "skipped: over a size limit");
    assert!(open.syntax().is_none());
    assert_eq!(open.parse.limits, LimitsDelta::Unknown, "the next check scans the whole text");
    // Splitting the line brings the tree back.
    insert(&mut open, 0, 3 + half.len() as u32, "\n// ");
    assert_eq!(parse(&mut open), "installed");
    assert_eq!(open.syntax().expect("tree").tree.root_node().to_sexp(), fresh_sexp(&open));
    // Joining two lines (deleting the break) into one over the limit is caught too.
    let half = "x".repeat(syntax::MAX_LINE_BYTES / 2);
    let mut open = rust_doc(&format!("// {half}\n// {half}\nfn main() {{}}\n"));
    assert_eq!(parse(&mut open), "installed");
    open.apply_change(Some((Pos::new(0, half.len() as u32 + 3), Pos::new(1, 0))), "", Encoding::Utf16);
    assert_eq!(parse(&mut open), "skipped: over a size limit");
}

#[test]
fn imports_are_searched_once_and_kept_across_versions_until_a_change_touches_the_head() {
    // Imports, then more than the head of code after them, so a change can fall past the head.
    let mut text = String::from("use std::fmt;\nuse std::io;\n\n");
    while text.len() <= syntax::IMPORTS_HEAD_BYTES + 1000 {
        text.push_str("fn f() -> i32 {\n    1\n}\n");
    }
    let lines = text.lines().count() as u32;
    let mut open = rust_doc(&text);
    let fresh = |open: &OpenDocument| {
        let s = Syntax::parse(open.language().expect("rust"), &open.doc.rope).expect("parses");
        s.imports(&open.doc.rope, syntax::IMPORTS_HEAD_BYTES)
    };
    let parse = |open: &mut OpenDocument| {
        let j = job(open, syntax::PARSE_BUDGET).expect("parse");
        let (r, searched) = (j.revision, j.imports);
        assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
        searched
    };
    assert!(parse(&mut open), "the first parse searches for the imports");
    let kept = open.syntax().and_then(|s| s.imports_head).expect("imports kept beside the tree");
    assert_eq!(*kept, fresh(&open));
    assert_eq!(kept.len(), 2);
    // A change past the head: the next version keeps them, and its parse does not search again.
    insert(&mut open, lines - 2, 4, "2");
    assert!(!parse(&mut open), "not searched again");
    let syntax = open.syntax().expect("tree");
    assert!(syntax.imports_head.as_ref().is_some_and(|i| Arc::ptr_eq(i, &kept)));
    assert_eq!(syntax.imports(&open.doc.rope, 10), fresh(&open)[..1]);
    // A change in the head that touches no import (here a new one): the imports found are kept,
    // moved by the change, for the requests until the next parse, which searches again.
    let before = fresh(&open);
    insert(&mut open, 2, 0, "use std::env;\n");
    let shifted = open.parse.following().and_then(|s| s.imports_head).expect("kept, moved");
    assert_eq!(*shifted, before, "both are before the change: not moved");
    assert!(open.parse.imports_stale);
    assert!(parse(&mut open), "searched again");
    assert!(!open.parse.imports_stale);
    let imports = open.syntax().and_then(|s| s.imports_head).expect("searched again");
    assert_eq!(imports.len(), 3);
    assert_eq!(*imports, fresh(&open));
    // A change during the parse that searches them, in the head: its result is not taken as is.
    insert(&mut open, 0, 0, "x");
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    assert!(j.imports);
    insert(&mut open, 0, 0, "use a;\n");
    let r = j.revision;
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
    assert!(
        open.parse.imports.is_none() || open.parse.imports_stale,
        "a result older than a change in the head is dropped, or kept moved until the next parse searches again"
    );
    assert!(job(&mut open, syntax::PARSE_BUDGET).expect("parse").imports, "the next parse searches again");
    // Replacing the whole text drops them.
    assert!(parse(&mut open));
    open.apply_change(None, "use b;\n", Encoding::Utf16);
    assert!(open.parse.imports.is_none());
}

#[tokio::test]
async fn a_completion_snapshot_takes_the_edited_earlier_tree_instead_of_waiting_for_the_reparse() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    let mut open = rust_doc(RUST);
    // No tree yet: nothing to take.
    assert!(open.parse.following().is_none());
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let r = j.revision;
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
    insert(&mut open, 3, 9, " * 2");
    // A parse of the new text is under way (and never finishes here).
    let pending = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    assert!(open.parse.pending().is_some());
    store.insert(uri.to_owned(), open);
    let wait = Duration::from_secs(60);
    let (snap, _) = tokio::time::timeout(Duration::from_secs(10), snapshot_following(&store, uri, wait))
        .await
        .expect("no wait for the reparse")
        .expect("open");
    let syntax = snap.syntax.expect("the earlier tree, edited");
    assert!(!syntax.exact);
    // Its positions follow the text: the scope around the edit is the function, edit included.
    let body = snap.rope.to_string().find("a + b * 2").expect("edited body");
    let scope = syntax.enclosing_scopes(&snap.rope, body);
    assert!(scope.first().is_some_and(|r| snap.rope.byte_slice(r.clone()).to_string().starts_with("fn add")));
    assert!(scope.first().is_some_and(|r| snap.rope.byte_slice(r.clone()).to_string().contains("a + b * 2")));
    // Once the reparse is in, the tree is this text's own.
    let r = pending.revision;
    let finished = store.get_mut(uri).map(|mut o| o.parse.finish("u", r, pending.run(), Instant::now()));
    assert_eq!(finished, Some("installed"));
    let (snap, _) = snapshot_following(&store, uri, wait).await.expect("open");
    assert!(snap.syntax.expect("tree").exact);
}

#[test]
fn too_many_edits_during_one_parse_drop_its_result_instead_of_growing() {
    let mut open = rust_doc(RUST);
    let first = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    for _ in 0..=MAX_EDITS_IN_FLIGHT {
        insert(&mut open, 4, 0, " ");
    }
    assert!(open.parse.in_flight.as_ref().is_some_and(|f| f.overflowed && f.edits.is_empty()));
    let r = first.revision;
    assert_eq!(
        open.parse.finish("u", r, first.run(), Instant::now()),
        "dropped: too many changes, or a replaced text, while it ran"
    );
    let next = job(&mut open, syntax::PARSE_BUDGET).expect("parse");
    let r = next.revision;
    assert_eq!(open.parse.finish("u", r, next.run(), Instant::now()), "installed");
    assert_eq!(open.syntax().expect("tree").tree.root_node().to_sexp(), fresh_sexp(&open));
}

/// Waits (bounded) until `uri` has a tree of its current text.
async fn parsed(store: &Arc<DashMap<String, OpenDocument>>, uri: &str) -> Syntax {
    let (snap, _) = snapshot_with_tree(store, uri, Duration::from_secs(20)).await.expect("open");
    snap.syntax.expect("a tree of the current text")
}

#[tokio::test]
async fn the_worker_follows_a_burst_of_changes_to_a_tree_of_the_last_text() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    open(&*store, uri.to_owned(), rust_doc(RUST));
    for i in 0..200u32 {
        let mut entry = store.get_mut(uri).expect("open");
        insert(&mut entry, 3, 9, if i % 7 == 0 { " * (y - 1)" } else { " + x" });
        changed(&store, uri, &mut entry);
    }
    let tree = parsed(&store, uri).await;
    let entry = store.get(uri).expect("open");
    assert_eq!(tree.tree.root_node().to_sexp(), fresh_sexp(&entry));
}

#[tokio::test]
async fn a_reopened_document_never_gets_the_tree_of_its_earlier_opening() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    open(&*store, uri.to_owned(), rust_doc(RUST));
    let epoch = store.get(uri).expect("open").parse.epoch;
    open(&*store, uri.to_owned(), rust_doc("struct Reopened;\n"));
    let tree = parsed(&store, uri).await;
    assert!(tree.tree.root_node().to_sexp().contains("struct_item"), "{}", tree.tree.root_node().to_sexp());
    assert_ne!(store.get(uri).expect("open").parse.epoch, epoch);
    close(&*store, uri);
    assert!(snapshot_with_tree(&store, uri, Duration::from_secs(1)).await.is_none());
}

#[tokio::test]
async fn a_document_is_parsed_when_first_asked_about_not_when_it_opens() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    open(&*store, uri.to_owned(), rust_doc(RUST));
    {
        let entry = store.get(uri).expect("open");
        assert_eq!(entry.parse.worker, Worker::Idle, "no parse at open");
        assert!(entry.parse.tree.is_none());
    }
    // A request waits for the parse it starts.
    let tree = parsed(&store, uri).await;
    assert_eq!(tree.tree.root_node().to_sexp(), fresh_sexp(&store.get(uri).expect("open")));
}

#[tokio::test]
async fn only_the_most_recently_used_documents_keep_a_tree_and_the_others_parse_again_when_asked() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = |i: usize| format!("file:///p/m{i}.rs");
    let freed_at_start = freed();
    for i in 0..MAX_TREES + 3 {
        open(&*store, uri(i), rust_doc(RUST));
        parsed(&store, &uri(i)).await;
    }
    let with_trees = || {
        let mut v: Vec<String> = store.iter().filter(|e| e.parse.tree.is_some()).map(|e| e.key().clone()).collect();
        v.sort();
        v
    };
    // The first three, least recently used, dropped theirs, through free_later.
    assert_eq!(freed() - freed_at_start, 3);
    let mut expected: Vec<String> = (3..MAX_TREES + 3).map(uri).collect();
    expected.sort();
    assert_eq!(with_trees(), expected);
    // A change to a dropped one parses it again from scratch, and drops the next oldest.
    {
        let mut entry = store.get_mut(&uri(0)).expect("open");
        insert(&mut entry, 3, 9, " * 2");
        changed(&store, &uri(0), &mut entry);
    }
    let tree = parsed(&store, &uri(0)).await;
    assert_eq!(tree.tree.root_node().to_sexp(), fresh_sexp(&store.get(&uri(0)).expect("open")));
    assert!(with_trees().contains(&uri(0)));
    assert!(!with_trees().contains(&uri(3)), "the least recently used one gave its tree up");
    assert_eq!(with_trees().len(), MAX_TREES);
    // A request about a dropped one parses it again too.
    let tree = parsed(&store, &uri(1)).await;
    assert!(tree.tree.root_node().to_sexp().contains("function_item"));
    assert_eq!(with_trees().len(), MAX_TREES);
}

#[tokio::test]
async fn a_burst_of_changes_is_reparsed_once_after_it_and_a_request_waits_for_that_parse() {
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    let mut doc = rust_doc(RUST);
    // Long enough that the checks below run well inside it on a loaded machine.
    doc.parse.delays = (Duration::from_secs(1), Duration::from_secs(3));
    open(&*store, uri.to_owned(), doc);
    parsed(&store, uri).await;
    let first_parse = store.get(uri).expect("open").parse.tried;
    for _ in 0..5 {
        let mut entry = store.get_mut(uri).expect("open");
        insert(&mut entry, 3, 9, " + x");
        changed(&store, uri, &mut entry);
    }
    {
        let entry = store.get(uri).expect("open");
        assert!(entry.parse.in_flight.is_none(), "no reparse during the burst");
        assert_eq!(entry.parse.tried, first_parse);
        assert!(entry.parse.pending().is_some(), "a request would wait for the reparse");
    }
    let tree = parsed(&store, uri).await;
    let entry = store.get(uri).expect("open");
    assert_eq!(tree.tree.root_node().to_sexp(), fresh_sexp(&entry));
    assert!(entry.doc.rope.to_string().contains("a + b + x + x + x + x + x"));
}

#[test]
fn imports_are_moved_by_a_change_that_touches_none_and_dropped_by_one_that_does() {
    let edit = |start: usize, old_end: usize, new_end: usize| Edit {
        start_byte: start,
        old_end_byte: old_end,
        new_end_byte: new_end,
        start_point: (0, 0),
        old_end_point: (0, 0),
        new_end_point: (0, 0),
    };
    let imports = [10..20, 30..40];
    // Typing between them moves the second.
    assert_eq!(imports_shifted(&imports, &edit(25, 25, 28)), Some(vec![10..20, 33..43]));
    // Deleting before the first moves both.
    assert_eq!(imports_shifted(&imports, &edit(2, 5, 2)), Some(vec![7..17, 27..37]));
    // After both: nothing moves.
    assert_eq!(imports_shifted(&imports, &edit(50, 50, 51)), Some(vec![10..20, 30..40]));
    // Inside one, at its first byte, or right after its end (extending it): dropped.
    for e in [edit(15, 15, 16), edit(10, 10, 11), edit(20, 20, 21), edit(5, 12, 5), edit(18, 35, 18)] {
        assert_eq!(imports_shifted(&imports, &e), None, "{e:?}");
    }
}

/// Records the thread it is dropped on.
struct DropProbe(std::sync::mpsc::Sender<std::thread::ThreadId>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        let _ = self.0.send(std::thread::current().id());
    }
}

#[tokio::test]
async fn free_later_frees_on_the_blocking_pool_and_inline_outside_a_runtime() {
    let (tx, rx) = std::sync::mpsc::channel();
    free_later(DropProbe(tx.clone()));
    let on = rx.recv_timeout(Duration::from_secs(20)).expect("dropped");
    assert_ne!(on, std::thread::current().id(), "freed on the blocking pool, not the caller's thread");
    // Outside a runtime there is no pool: freed at once, here.
    let here = std::thread::spawn(move || {
        free_later(DropProbe(tx));
        std::thread::current().id()
    })
    .join()
    .expect("the thread ran");
    assert_eq!(rx.recv_timeout(Duration::from_secs(20)).expect("dropped"), here);

    // A reopened and a closed document, each with its tree, go through free_later.
    let store: Arc<DashMap<String, OpenDocument>> = Arc::default();
    let uri = "file:///p/lib.rs";
    open(&*store, uri.to_owned(), rust_doc(RUST));
    let _ = parsed(&store, uri).await;
    let before = freed();
    open(&*store, uri.to_owned(), rust_doc(RUST));
    assert_eq!(freed(), before + 1, "the document a didOpen replaced");
    let _ = parsed(&store, uri).await;
    let before = freed();
    close(&*store, uri);
    assert!(store.get(uri).is_none());
    assert_eq!(freed(), before + 1, "the closed document");
}

#[test]
fn a_parse_result_that_is_not_installed_is_freed_off_the_sessions_thread() {
    let mut open = rust_doc(RUST);
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("a parse");
    let r = j.revision;
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
    // A reparse in flight when the text is replaced whole: its tree comes too late to be used.
    insert(&mut open, 3, 9, " + 1");
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("a reparse");
    let r = j.revision;
    let before = freed();
    open.apply_change(None, "fn main() {}\n", Encoding::Utf16);
    assert_eq!(freed(), before + 1, "the tree of the text replaced whole");
    let outcome = open.parse.finish("u", r, j.run(), Instant::now());
    assert_eq!(outcome, "dropped: too many changes, or a replaced text, while it ran");
    assert_eq!(freed(), before + 2, "the parse that came too late");
    // A result for a parse that is not the one in flight.
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("a parse of the new text");
    let stale = j.revision + 1;
    assert_eq!(open.parse.finish("u", stale, j.run(), Instant::now()), "dropped: not the parse in flight");
    assert_eq!(freed(), before + 3);
}

/// Values handed to `free_later` on this thread so far.
fn freed() -> usize {
    FREED_LATER.with(std::cell::Cell::get)
}

#[test]
fn the_tree_stamp_moves_with_every_change_and_installed_parse() {
    let mut open = rust_doc(RUST);
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("a parse");
    let r = j.revision;
    let before = open.tree_stamp();
    let freed_before = freed();
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
    assert_eq!(freed(), freed_before, "no tree replaced by the first parse");
    let parsed = open.tree_stamp();
    assert_ne!(parsed, before, "a parse installed");
    assert_eq!(open.tree_stamp(), parsed, "nothing happened");
    insert(&mut open, 3, 9, " + 1");
    let changed = open.tree_stamp();
    assert_ne!(changed, parsed, "a change (it copies the root a snapshot shares)");
    let j = job(&mut open, syntax::PARSE_BUDGET).expect("a reparse");
    let r = j.revision;
    assert_eq!(open.parse.finish("u", r, j.run(), Instant::now()), "installed");
    assert_ne!(open.tree_stamp(), changed, "the reparse replaced the tree");
    assert_eq!(freed(), freed_before + 1, "the tree the reparse replaced goes to free_later");
    // A text replaced whole: its tree goes too.
    open.apply_change(None, "fn main() {}\n", Encoding::Utf16);
    assert_eq!(freed(), freed_before + 2, "the tree of a text replaced whole");
}
