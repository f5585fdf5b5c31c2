//! Secrets kept away from models: which files are secret by name (never excerpted into a
//! prompt), and redaction of known key values from text a model will read (the built-in agent's
//! tool output). Plain functions over strings; the callers read the environment.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

/// The default secret file patterns (`[secrets] patterns`): matched against a file's name, and
/// against its path relative to the repository when a pattern holds a `/`.
pub(crate) const DEFAULT_PATTERNS: &[&str] = &[".env*", "*.pem", "id_*", "*.key", "credentials*"];

/// Shortest value that is redacted, in bytes: shorter values ("1", "true", "local") are not
/// secrets, and hiding them would garble ordinary output.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// Whether `path` (a file path, a URI's path or a name) matches one of `patterns`: glob
/// patterns over the file name (`*` within a name), or over the whole path when the pattern
/// holds a `/` (`config/*.json`, matched against the path's end). Invalid patterns match
/// nothing.
pub(crate) fn is_secret_path(path: &str, patterns: &[String]) -> bool {
    let path = path.trim_end_matches('/');
    let name = Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or(path);
    let options = glob::MatchOptions { case_sensitive: true, require_literal_separator: true, ..Default::default() };
    compiled(patterns).iter().any(|pattern| match pattern.depth {
        // Match the pattern against the path's last as many components as it has.
        Some(depth) => {
            let parts: Vec<&str> = path.split('/').collect();
            let tail = parts[parts.len().saturating_sub(depth)..].join("/");
            pattern.glob.matches_with(&tail, options)
        }
        None => pattern.glob.matches_with(name, options),
    })
}

/// One valid secret file pattern, compiled.
#[derive(Debug)]
struct Compiled {
    glob: glob::Pattern,
    /// For a pattern with a `/`: how many path components it matches, from the path's end.
    depth: Option<usize>,
}

/// `patterns` compiled (invalid ones left out), from a one-entry cache. The list is the
/// settings' and changes only with them, while a completion request checks every open document
/// against it: compiling the five default patterns took ~2 µs a path (release build), 0.2 ms a
/// request with 100 documents open.
fn compiled(patterns: &[String]) -> Arc<[Compiled]> {
    /// The last list compiled, and its compiled form.
    type Last = Option<(Vec<String>, Arc<[Compiled]>)>;
    static LAST: Mutex<Last> = Mutex::new(None);
    let mut last = LAST.lock();
    if let Some((list, compiled)) = &*last
        && list.as_slice() == patterns
    {
        return Arc::clone(compiled);
    }
    let compiled: Arc<[Compiled]> = patterns
        .iter()
        .filter_map(|pattern| {
            let trimmed = pattern.trim_start_matches("**/");
            let glob = glob::Pattern::new(trimmed).ok()?;
            let depth = pattern.contains('/').then(|| trimmed.split('/').count());
            Some(Compiled { glob, depth })
        })
        .collect();
    *last = Some((patterns.to_vec(), Arc::clone(&compiled)));
    compiled
}

/// What is kept from a model: secret file patterns and known secret values.
#[derive(Debug, Clone)]
pub(crate) struct Secrets {
    /// Secret file patterns (see [`is_secret_path`]).
    pub(crate) patterns: Vec<String>,
    pub(crate) redactor: Redactor,
}

impl Default for Secrets {
    fn default() -> Self {
        Self { patterns: DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect(), redactor: Redactor::default() }
    }
}

impl Secrets {
    /// Whether `path` is a secret file by these patterns.
    pub(crate) fn is_secret_path(&self, path: &str) -> bool {
        is_secret_path(path, &self.patterns)
    }
}

/// Replaces known secret values in text with `[redacted NAME]`.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// (name, value), longest values first so a key containing another is replaced whole.
    secrets: Vec<(String, String)>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the values must never reach a log.
        f.debug_list().entries(self.secrets.iter().map(|(name, _)| name)).finish()
    }
}

impl Redactor {
    /// A redactor for `(name, value)` pairs; values shorter than [`MIN_SECRET_LEN`] bytes are
    /// ignored, duplicates kept once.
    pub(crate) fn new(secrets: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut secrets: Vec<(String, String)> =
            secrets.into_iter().filter(|(_, v)| v.trim().len() >= MIN_SECRET_LEN).collect();
        secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
        secrets.dedup_by(|a, b| a.1 == b.1);
        Self { secrets }
    }

    /// A redactor for the values of the environment variables `names` (unset or empty ones are
    /// skipped).
    pub(crate) fn from_env<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(names.into_iter().filter_map(|name| std::env::var(name).ok().map(|value| (name.to_owned(), value))))
    }

    /// `text` with every known value (also its trimmed form) replaced by `[redacted NAME]`.
    pub(crate) fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (name, value) in &self.secrets {
            for needle in [value.as_str(), value.trim()] {
                if !needle.is_empty() && out.contains(needle) {
                    out = out.replace(needle, &format!("[redacted {name}]"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Vec<String> {
        DEFAULT_PATTERNS.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn secret_files_are_known_by_name_and_by_path_pattern() {
        let p = defaults();
        for secret in [".env", "/repo/.env.local", "file:///repo/certs/server.pem", "id_ed25519", "a/b/tls.key"] {
            assert!(is_secret_path(secret, &p), "{secret}");
        }
        for plain in ["src/env.rs", "keys.rs", "README.md", "identity.rs", "environment.ts"] {
            assert!(!is_secret_path(plain, &p), "{plain}");
        }
        let custom = vec!["config/*.json".to_owned()];
        assert!(is_secret_path("/repo/config/prod.json", &custom));
        assert!(!is_secret_path("/repo/other/prod.json", &custom));
    }

    /// The compiled patterns are cached: a new list (changed settings) must be the one applied,
    /// and an invalid pattern matches nothing without hiding the valid ones.
    #[test]
    fn a_changed_pattern_list_is_applied_at_once() {
        let custom = vec!["[".to_owned(), "**/secrets/*.yaml".to_owned()];
        for _ in 0..2 {
            assert!(is_secret_path("/repo/.env", &defaults()));
            assert!(!is_secret_path("/repo/.env", &custom));
            assert!(is_secret_path("/repo/deploy/secrets/db.yaml", &custom));
            assert!(!is_secret_path("/repo/deploy/secrets/db.yaml", &defaults()));
            assert!(!is_secret_path("/repo/[", &custom), "an invalid pattern matches nothing");
        }
    }

    #[test]
    fn known_values_are_redacted_by_name_and_short_values_are_left_alone() {
        let r = Redactor::new([
            ("OPENAI_API_KEY".to_owned(), "sk-live-0123456789".to_owned()),
            ("SHORT".to_owned(), "local".to_owned()),
        ]);
        assert_eq!(r.redact("key=sk-live-0123456789 local"), "key=[redacted OPENAI_API_KEY] local");
        assert_eq!(format!("{r:?}"), r#"["OPENAI_API_KEY"]"#);
    }
}
