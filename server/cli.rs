//! Command-line modes other than the stdio server: `baton complete FILE:LINE:COL` prints the
//! suggestion the server's engine would give at that place; `baton agents` reports every agent
//! profile (presets included): installed, version, runtime, login.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::conductor::{CompletionRequest, Conductor, DocSnapshot, Outcome};
use crate::config::Layers;
use crate::providers::Provider;
use crate::syntax::{Syntax, language_for};
use crate::text::{Encoding, Pos, position};

/// A place in a file: 1-based line and column, the column counted in characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) path: PathBuf,
    pub(crate) line: u32,
    pub(crate) column: u32,
}

/// Parses `FILE:LINE:COL` (1-based). The file name itself may contain colons.
pub(crate) fn parse_location(s: &str) -> anyhow::Result<Location> {
    let mut parts = s.rsplitn(3, ':');
    let (col, line, path) = (parts.next(), parts.next(), parts.next());
    let (Some(col), Some(line), Some(path)) = (col, line, path) else {
        bail!("expected FILE:LINE:COL (1-based), got {s:?}");
    };
    let line: u32 = line.parse().with_context(|| format!("line {line:?} is not a number"))?;
    let column: u32 = col.parse().with_context(|| format!("column {col:?} is not a number"))?;
    if line == 0 || column == 0 {
        bail!("line and column start at 1");
    }
    Ok(Location { path: PathBuf::from(path), line, column })
}

/// Runs `baton complete`: prints the suggestion (nothing when there is none) to stdout and the
/// time it took to stderr. Errors name what is missing or misconfigured.
pub async fn complete(location: &str) -> anyhow::Result<()> {
    let loc = parse_location(location)?;
    let text = std::fs::read_to_string(&loc.path).with_context(|| format!("cannot read {}", loc.path.display()))?;
    let dir = loc.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let (layers, errors) = Layers::load_files(Some(&dir));
    for e in errors {
        tracing::warn!("{e}");
    }
    let (settings, errors) = layers.resolve();
    for e in errors {
        tracing::warn!("{e}");
    }
    let path = loc.path.display().to_string();
    if crate::secrets::is_secret_path(&path, &settings.secrets.patterns) {
        anyhow::bail!("{path} matches the secret file patterns ([secrets] patterns); Baton never sends it to a model");
    }
    let provider = std::sync::Arc::new(Provider::new(settings.provider.clone())?);
    let rope = ropey::Rope::from_str(&text);
    let language = language_for("", &path);
    let syntax = language.and_then(|l| Syntax::parse(l, &rope));
    let cursor = position::to_char(&rope, Pos::new(loc.line - 1, loc.column - 1), Encoding::Utf32);
    let doc = DocSnapshot {
        key: path.clone(),
        path,
        rope,
        syntax,
        language_id: language.map(|l| l.info.name.clone()).unwrap_or_default(),
    };
    let conductor = Conductor::default();
    let ticket = conductor.begin(&doc.key);
    let started = Instant::now();
    let request = CompletionRequest {
        ticket: &ticket,
        doc: &doc,
        cursor,
        others: &[],
        config: settings.completion_config(),
        provider: &provider,
        debounce: None,
    };
    let outcome = conductor.complete(request, || ()).await?;
    let ms = started.elapsed().as_millis();
    match outcome {
        Outcome::Suggestion(s) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", s.text)?;
            tracing::info!("suggestion in {ms} ms from {} ({})", provider.config().model, provider.config().base_url);
        }
        Outcome::Nothing(why) => tracing::info!("no suggestion ({why}) after {ms} ms"),
        Outcome::Superseded => {}
    }
    Ok(())
}

/// Runs `baton agents`: one line per agent profile of the settings in force for `dir` (the
/// user's file, the project's `baton.toml`, the presets): name, kind, where it comes from,
/// whether it is ready, its version and a note on what to do. `json` prints the reports as a
/// JSON array instead (the `baton/agents` answer's shape).
pub async fn agents(dir: &Path, json: bool) -> anyhow::Result<()> {
    let (layers, errors) = Layers::load_files(Some(dir));
    for e in errors {
        tracing::warn!("{e}");
    }
    let (settings, errors) = layers.resolve();
    for e in errors {
        tracing::warn!("{e}");
    }
    let profiles = crate::orchestrator::with_builtin(settings.agents.clone());
    let reports = crate::agents::inventory::inventory(&profiles, &crate::agents::inventory::Machine::current()).await;
    let text = if json { serde_json::to_string_pretty(&reports)? + "\n" } else { agents_table(&reports) };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The reports as aligned columns: NAME KIND SOURCE STATE VERSION NOTE.
fn agents_table(reports: &[crate::agents::inventory::AgentReport]) -> String {
    let rows: Vec<[String; 6]> = reports
        .iter()
        .map(|r| {
            let kind =
                serde_json::to_value(r.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            let mut note = r.note.clone().unwrap_or_default();
            if let Some(runtime) = &r.runtime {
                note = if note.is_empty() { runtime.clone() } else { format!("{note}; {runtime}") };
            }
            if let Some(path) = &r.path {
                note = if note.is_empty() { path.clone() } else { format!("{note}; {path}") };
            }
            [
                r.name.clone(),
                kind,
                r.source.to_owned(),
                r.state.to_owned(),
                r.version.clone().unwrap_or("-".into()),
                note,
            ]
        })
        .collect();
    let header = ["NAME", "KIND", "SOURCE", "STATE", "VERSION", "NOTE"].map(str::to_owned);
    let mut widths = [0usize; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter().zip(row.iter()) {
            text.push_str(&format!("{cell:<w$}  "));
        }
        text.push_str(&row[5]);
        let trimmed = text.trim_end().len();
        text.truncate(trimmed);
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_from_the_right() {
        let l = parse_location("C:/x:y.rs:3:7").expect("parses");
        assert_eq!((l.path.to_str(), l.line, l.column), (Some("C:/x:y.rs"), 3, 7));
        assert!(parse_location("a.rs:0:1").is_err());
        assert!(parse_location("a.rs:1").is_err());
    }
}
