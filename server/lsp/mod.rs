//! The LSP layer's shared parts, below the dispatch (`server.rs`) and the handlers: the stdio
//! transport (framing, JSON-RPC validation, panic containment), the session's shared state, the
//! open documents and their background parses, conversions between LSP types and Baton's plain
//! data, the workspace edits Baton sends, the status and task reporters, and Baton's protocol
//! extensions. Only this layer, `server.rs` and `handlers/` know LSP types.
//!
//! Rules (ARCHITECTURE.md, "The LSP layer"; the tests below check them): modules here never use
//! `handlers` or `server` and use each other without cycles; `transport` uses nothing of the
//! crate; `convert`, `error`, `ext` and `health` use only the layers below.

pub(crate) mod convert;
pub(crate) mod documents;
pub(crate) mod error;
pub(crate) mod ext;
pub(crate) mod health;
pub(crate) mod session;
pub(crate) mod status;
pub(crate) mod tasks;
pub mod transport;
pub(crate) mod workspace_edit;

/// The LSP layer's rules (ARCHITECTURE.md, "The LSP layer"), checked on the source text.
#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// Every `.rs` file under `dir`: the module of `dir` it belongs to (its first path component
    /// without `.rs`: `documents/tests.rs` belongs to `documents`), its path, and its code
    /// without comment lines.
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
                    let text = std::fs::read_to_string(&path).expect("read a source file");
                    let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
                    out.push((module, path, code.join("\n")));
                }
            }
        }
        out
    }

    /// The first path segments that follow `prefix` (`super::`, `crate::`) in `code`: `a` for
    /// `super::a::b`, `a` and `b` for `super::{a, b::c}`.
    fn targets(code: &str, prefix: &str) -> BTreeSet<String> {
        let ident = |s: &str| s.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
        let mut out = BTreeSet::new();
        for (at, _) in code.match_indices(prefix) {
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

    fn server_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("server")
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
        let (_, _, transport) = sources(&server_dir().join("lsp"))
            .into_iter()
            .find(|(m, _, _)| m == "transport")
            .expect("lsp/transport.rs");
        assert!(
            targets(&transport, "crate::").is_empty() && targets(&transport, "super::").is_empty(),
            "the transport uses nothing of the crate"
        );
    }

    #[test]
    fn modules_of_the_lsp_layer_use_each_other_without_cycles() {
        let files = sources(&server_dir().join("lsp"));
        let modules: BTreeSet<String> = files.iter().map(|(m, _, _)| m.clone()).filter(|m| m != "mod").collect();
        let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, path, code) in &files {
            // A test module's `super::` is its own module; only top-level files name siblings so.
            let top_level = path.parent() == Some(server_dir().join("lsp").as_path());
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
}
