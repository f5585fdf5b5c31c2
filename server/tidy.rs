//! Tidy tests: the layering ARCHITECTURE.md states, checked on the source text. The layer table
//! under its `## Layers` heading is the data (one row a layer, outermost first; its `modules`
//! column names the top-level modules of `server/`), so the document and the code cannot drift
//! apart. Also the LSP layer's own rules ("The LSP layer") and that every file the two documents
//! name exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn server_dir() -> PathBuf {
    repo_dir().join("server")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every `.rs` file under `dir`: the module of `dir` it belongs to (its first path component
/// without `.rs`: `documents/tests.rs` belongs to `documents`), its path, and its code without
/// comment lines.
fn sources(dir: &Path) -> Vec<(String, PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read the source folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).expect("under dir");
                let first = rel.components().next().expect("a component").as_os_str().to_string_lossy();
                let module = first.trim_end_matches(".rs").to_owned();
                let text = read(&path);
                let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                out.push((module, path, code.join("\n")));
            }
        }
    }
    out.sort();
    out
}

/// The first path segments that follow `prefix` (`super::`, `crate::`) in `code`: `a` for
/// `super::a::b`, `a` and `b` for `super::{a, b::c}`.
fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
    let ident = |s: &str| s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices(prefix) {
        // `baton::` must not match the end of `my_baton::`.
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &code[at + prefix.len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or_default();
                out.extend(group.split(',').map(ident).filter(|i| !i.is_empty()));
            }
            // `super::*` in a test module names no sibling.
            None => out.extend(Some(ident(rest)).filter(|i| !i.is_empty())),
        }
    }
    out
}

/// The cells of a Markdown table row.
fn cells(row: &str) -> Vec<&str> {
    row.trim().trim_start_matches('|').trim_end_matches('|').split('|').map(str::trim).collect()
}

/// The text between backticks in `text`.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The layer table of ARCHITECTURE.md: its rows' modules, outermost layer first (`lsp/` and
/// `cli.rs` in the document are `lsp` and `cli` here).
fn layers(architecture: &str) -> Vec<Vec<String>> {
    let (_, section) = architecture.split_once("\n## Layers\n").expect("ARCHITECTURE.md has a `## Layers` section");
    let mut rows = section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|'));
    let header = cells(rows.next().expect("the layer table's header"));
    let column = header.iter().position(|c| *c == "modules").expect("the layer table has a `modules` column");
    rows.skip(1)
        .map(|row| {
            let modules = cells(row).get(column).copied().unwrap_or_default();
            backticked(modules).map(|m| m.trim_end_matches('/').trim_end_matches(".rs").to_owned()).collect()
        })
        .collect()
}

/// Each module's layer: its row's index in the table (0 the outermost).
fn layer_of_each_module() -> BTreeMap<String, usize> {
    let mut rank = BTreeMap::new();
    for (i, row) in layers(&read(&repo_dir().join("ARCHITECTURE.md"))).into_iter().enumerate() {
        assert!(!row.is_empty(), "row {} of the layer table names no module", i + 1);
        for module in row {
            assert!(rank.insert(module.clone(), i).is_none(), "`{module}` is in two rows of the layer table");
        }
    }
    rank
}

/// `crate::` paths (and `baton::` ones in the binary, which uses the library by name) that go to
/// a module of the same row of the layer table or of a row above, as `file: uses crate::x (...)`.
fn imports_against_the_layers(files: &[(String, PathBuf, String)], rank: &BTreeMap<String, usize>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, path, code) in files {
        // The crate root declares the modules; this file names them in its messages.
        if module == "lib" || module == "tidy" {
            continue;
        }
        let Some(&own) = rank.get(module) else {
            wrong.push(format!("{}: module `{module}` is in no row of ARCHITECTURE.md's layer table", path.display()));
            continue;
        };
        let mut used = targets(code, "crate::");
        if module == "main" {
            used.extend(targets(code, "baton::"));
        }
        for used in used.iter().filter(|u| *u != module) {
            let Some(&theirs) = rank.get(used) else { continue };
            let rel = path.strip_prefix(repo_dir()).unwrap_or(path).display();
            if theirs < own {
                wrong.push(format!("{rel}: uses crate::{used}, a layer above `{module}`"));
            } else if theirs == own {
                wrong.push(format!("{rel}: uses crate::{used}, in the same layer as `{module}` (peers stay apart)"));
            }
        }
    }
    wrong
}

#[test]
fn no_module_imports_from_its_own_layer_or_one_above() {
    let rank = layer_of_each_module();
    for module in rank.keys() {
        let exists = server_dir().join(format!("{module}.rs")).is_file() || server_dir().join(module).is_dir();
        assert!(exists, "ARCHITECTURE.md's layer table names `{module}`, which is not a module of server/");
    }
    let files = sources(&server_dir());
    let wrong = imports_against_the_layers(&files, &rank);
    assert!(wrong.is_empty(), "imports against ARCHITECTURE.md's layer table:\n{}", wrong.join("\n"));
    // The scan sees imports at all: the dispatch uses the handlers, below it.
    let server = files.iter().find(|(m, _, _)| m == "server").expect("server.rs");
    assert!(targets(&server.2, "crate::").contains("handlers"), "the scan reads `crate::` paths");
}

#[test]
fn the_layer_check_catches_an_import_from_above() {
    let rank = layer_of_each_module();
    let file =
        |module: &str, code: &str| (module.to_owned(), server_dir().join(format!("{module}.rs")), code.to_owned());
    let files = [
        file("text", "use crate::lsp::convert;\nfn f() { crate::config::Settings::default(); }"),
        file("conductor", "use crate::{orchestrator, providers::ProviderConfig};"),
        file("handlers", "use crate::lsp::session::State;\nuse crate::{conductor, text};"),
        file("main", "use baton::server;\nuse baton_test_support::x;"),
    ];
    let wrong = imports_against_the_layers(&files, &rank);
    expect_test::expect![[r#"
        server/text.rs: uses crate::config, a layer above `text`
        server/text.rs: uses crate::lsp, a layer above `text`
        server/conductor.rs: uses crate::orchestrator, in the same layer as `conductor` (peers stay apart)"#]]
    .assert_eq(&wrong.join("\n"));
}

#[test]
fn lsp_never_uses_handlers_or_server_and_handlers_never_use_server() {
    for (_, path, code) in sources(&server_dir().join("lsp")) {
        let used = targets(&code, "crate::");
        for above in ["server", "handlers"] {
            assert!(!used.contains(above), "{} uses crate::{above}, above the LSP layer's modules", path.display());
        }
    }
    for (_, path, code) in sources(&server_dir().join("handlers")) {
        assert!(!targets(&code, "crate::").contains("server"), "{} uses the dispatch (server.rs)", path.display());
    }
    let (_, _, transport) =
        sources(&server_dir().join("lsp")).into_iter().find(|(m, _, _)| m == "transport").expect("lsp/transport.rs");
    // But the step marks, the bottom layer, which any layer may note its steps in.
    let used = targets(&transport, "crate::");
    assert!(
        used.iter().all(|m| m == "step_marks") && targets(&transport, "super::").is_empty(),
        "the transport uses nothing of the crate but step_marks: {used:?}"
    );
}

#[test]
fn modules_of_the_lsp_layer_use_each_other_without_cycles() {
    let lsp = server_dir().join("lsp");
    let files = sources(&lsp);
    let modules: BTreeSet<String> = files.iter().map(|(m, _, _)| m.clone()).filter(|m| m != "mod").collect();
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path, code) in &files {
        // A test module's `super::` is its own module; only top-level files name siblings so.
        let top_level = path.parent() == Some(lsp.as_path());
        let mut used = targets(code, "crate::lsp::");
        if top_level {
            used.extend(targets(code, "super::"));
        }
        let siblings = used.into_iter().filter(|u| modules.contains(u) && u != module);
        uses.entry(module.clone()).or_default().extend(siblings);
    }
    /// A path from `at` back to `from`, if there is one.
    fn cycle(from: &str, at: &str, uses: &BTreeMap<String, BTreeSet<String>>, seen: &mut Vec<String>) -> bool {
        for next in uses.get(at).into_iter().flatten() {
            if next == from {
                return true;
            }
            if !seen.contains(next) {
                seen.push(next.clone());
                if cycle(from, next, uses, seen) {
                    return true;
                }
                seen.pop();
            }
        }
        false
    }
    for module in &modules {
        let mut path = vec![module.clone()];
        assert!(!cycle(module, module, &uses, &mut path), "a cycle in lsp/: {} -> {module}", path.join(" -> "));
    }
    let session = uses.get("session").cloned().unwrap_or_default();
    assert!(session.contains("documents") && session.contains("health"), "the scan sees uses: {uses:?}");
}

/// Every file of the repository (not `target/`, `.git/`, caches or dependencies), relative.
fn repo_files() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![repo_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read a folder").flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | ".cache" | "node_modules") {
                    stack.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(repo_dir()) {
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out
}

#[test]
fn every_file_architecture_and_readme_name_exists() {
    let files = repo_files();
    let dirs: BTreeSet<String> =
        files.iter().flat_map(|f| f.match_indices('/').map(|(at, _)| format!("{}/", &f[..at]))).collect();
    let mut missing = Vec::new();
    for doc in ["ARCHITECTURE.md", "README.md"] {
        for name in backticked(&read(&repo_dir().join(doc))) {
            let file_like = ["rs", "md", "py", "sh", "scm", "lua", "ts", "json"]
                .iter()
                .any(|ext| name.rsplit_once('.').is_some_and(|(stem, e)| e == *ext && !stem.is_empty()));
            let dir_like = name.ends_with('/') && name.len() > 1;
            // Paths on the user's machine, globs, placeholders and commands are not the repo's.
            let ours = (file_like || dir_like)
                && !name.starts_with(['/', '~', '$', '.'])
                && !name.contains(|c: char| c.is_whitespace() || "*<>{}:=".contains(c));
            if !ours {
                continue;
            }
            // Named from the repository's root, from `server/`, or relative to a folder the text
            // is about (`pipeline.rs` in the orchestrator's table): a path ending so.
            let found = if dir_like {
                dirs.iter().any(|d| *d == name || d.ends_with(&format!("/{name}")))
            } else {
                files.iter().any(|f| *f == name || f.ends_with(&format!("/{name}")))
            };
            if !found {
                missing.push(format!("{doc}: `{name}`"));
            }
        }
    }
    assert!(missing.is_empty(), "files the documents name that do not exist:\n{}", missing.join("\n"));
}

/// The crate denies `unsafe_code`; the exceptions are `memory.rs`'s `trim` (malloc_trim(3),
/// for which no safe wrapper exists) and its test's `fast_blocks` (mallinfo(3), glibc's
/// counters, to see the heap settled). Another `allow` needs a decision, not a quiet edit.
#[test]
fn unsafe_code_is_allowed_for_the_memory_trim_and_its_counters_only() {
    // Spelled in two halves so this file does not count itself.
    let needle = concat!("allow(", "unsafe_code)");
    let allows: Vec<String> = sources(&server_dir())
        .into_iter()
        .flat_map(|(_, path, code)| std::iter::repeat_n(path.display().to_string(), code.matches(needle).count()))
        .collect();
    assert_eq!(allows.len(), 2, "places that allow unsafe code: {allows:?}");
    let memory = read(&server_dir().join("memory.rs"));
    assert!(memory.contains(&format!("#[{needle}]\nfn trim()")), "an allow is not on memory::trim: {allows:?}");
    assert!(
        memory.contains(&format!("    #[{needle}]\n    fn fast_blocks()")),
        "an allow is not on memory's test counters: {allows:?}"
    );
}
