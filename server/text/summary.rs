//! Short one-line summaries of longer text (titles, steps, messages): the first non-blank line,
//! trimmed and cut at a character limit with an ellipsis.

/// The first line of `text` that is not blank, trimmed, at most `max_chars` characters (Unicode
/// scalar values) including a trailing `…` when it had to be cut; `""` when every line is blank.
pub fn first_line(text: &str, max_chars: usize) -> String {
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() <= max_chars {
        return line.to_owned();
    }
    if max_chars == 0 {
        return String::new();
    }
    let mut cut: String = line.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::first_line;

    #[test]
    fn the_first_non_blank_line_is_cut_with_an_ellipsis_within_the_limit() {
        assert_eq!(first_line("\n  \n  Add a retry  \nmore", 72), "Add a retry");
        assert_eq!(first_line("héllo wörld", 6), "héllo…");
        assert_eq!(first_line("abc", 3), "abc");
        assert_eq!(first_line(" \n\t", 10), "");
        assert_eq!(first_line("abc", 0), "");
    }
}
