//! Generated documents the wire tests and the benchmarks share, so that a test and the benchmark
//! measuring the same case work on the same text.

/// A Rust file of about `bytes` whose string is never closed, its words on one line or in lines
/// of about 70 bytes. Prose inside an unterminated string is tree-sitter-rust's worst case found
/// (issue 10: 3.7 s per keystroke at 100 KB, growing quadratically).
pub fn unterminated_string(bytes: usize, newlines: bool) -> String {
    let words = ["lorem ", "ipsum ", "dolor ", "sit ", "amet, ", "consectetur "];
    let mut s = String::from("fn main() { let s = \"");
    let mut i = 0;
    while s.len() < bytes {
        s.push_str(words[i % words.len()]);
        i += 1;
        if newlines && i % 12 == 0 {
            s.push('\n');
        }
    }
    s
}

/// A Rust file of 10,000 lines (small documented functions), and the lines (0-based) of its
/// functions' empty body lines (`    `), where completions are requested.
pub fn large_rust_file() -> (String, Vec<u32>) {
    let mut text = String::from("use std::collections::HashMap;\n\n");
    let mut n = 0u32;
    while text.lines().count() < 10_000 {
        text.push_str(&format!(
            "/// Adds {n}.\npub fn add_{n}(map: &mut HashMap<String, i64>, value: i64) -> i64 {{\n    let entry = map.entry(\"k{n}\".to_owned()).or_insert(0);\n    *entry += value;\n    \n}}\n\n"
        ));
        n += 1;
    }
    let lines = text.lines().count();
    let targets = (0..n).map(|k| 6 + 7 * k).filter(|l| (*l as usize) < lines).collect();
    (text, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_large_files_targets_are_its_empty_body_lines() {
        let (text, targets) = large_rust_file();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() >= 10_000);
        assert!(targets.len() > 1_000);
        assert!(targets.iter().all(|&l| lines[l as usize] == "    "), "every target is an empty body line");
        let s = unterminated_string(1_000, true);
        assert!(s.len() >= 1_000 && s.matches('"').count() == 1 && s.contains('\n'));
    }
}
