//! Debounce that adapts to typing: ask the model when the user is likely to wait for the answer,
//! not in a gap between two keys. A call started in a gap that ends before the answer is in is
//! cancelled mid-answer (issue 13: 9 of 14 calls on the typing trace), and a local model may
//! still spend its prompt processing on it.
//!
//! The rule: from the last [`WINDOW`] gaps between keystrokes, wait the shortest time after which
//! few of the gaps that went on that long ended while a model call would still be answering
//! ([`WASTE_SHARE`]). A fast typist's gaps are all short, so the wait is just past them; gaps that
//! recur a little longer (the pause before a line break) are waited out once seen; a slow typist
//! whose every gap outlasts a model call is answered after the base wait.
//!
//! A key typed during a call wastes it only when the key leaves the answer: a call outlives its
//! request and serves the keys that type its answer (`in_flight`). So a gap that ends during a
//! call counts as waste in the share that keys left the answer so far (the engine's
//! `agreement`): a model whose answers the user types needs no long wait, and one whose answers
//! are never typed gets the full rule.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::CompletionConfig;

/// Gaps between keystrokes remembered per document.
const WINDOW: usize = 64;

/// Longest gap stored as is, in milliseconds: anything longer is a pause, however long.
const GAP_CAP_MS: u32 = 60_000;

/// Largest share of the remembered gaps longer than the wait that may end while the model
/// answers (a call started then is cancelled mid-answer).
const WASTE_SHARE: f64 = 0.25;

/// A wait just past a remembered gap waits this much longer than it, so that a gap a little
/// longer than one already seen does not end during the call.
const MARGIN: f64 = 1.1;

/// How long a model call takes before one has been timed, in milliseconds.
pub(crate) const DEFAULT_MODEL_MS: f64 = 150.0;

/// Keystroke timing for one document.
#[derive(Debug, Clone, Default)]
pub(crate) struct Typing {
    last_change: Option<Instant>,
    /// The latest gaps between changes, oldest first, in milliseconds.
    gaps: VecDeque<u32>,
}

impl Typing {
    /// Records a document change at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        if let Some(last) = self.last_change {
            let ms = now.saturating_duration_since(last).as_millis();
            if self.gaps.len() == WINDOW {
                self.gaps.pop_front();
            }
            self.gaps.push_back(u32::try_from(ms).unwrap_or(u32::MAX).min(GAP_CAP_MS));
        }
        self.last_change = Some(now);
    }

    /// How long to wait before asking the model, when a call takes about `model_ms`
    /// milliseconds and a key typed during a call is the start of its answer in the share
    /// `agreement` (0 to 1) of the times: `debounce_ms` without history or when not adaptive;
    /// else the shortest wait (`debounce_ms`, or [`MARGIN`] × a remembered gap) after which at
    /// most [`WASTE_SHARE`] of the remembered gaps that lasted longer ended within `model_ms`
    /// more and left the answer (that share × (1 − `agreement`)), never beyond `max_debounce_ms`.
    pub(crate) fn debounce(&self, settings: &CompletionConfig, model_ms: f64, agreement: f64) -> Duration {
        let base = settings.debounce_ms as f64;
        let max = settings.max_debounce_ms.max(settings.debounce_ms) as f64;
        if !settings.adaptive_debounce || self.gaps.is_empty() {
            return Duration::from_millis(settings.debounce_ms);
        }
        let mut waits: Vec<f64> = self.gaps.iter().map(|&g| f64::from(g) * MARGIN).filter(|&w| w > base).collect();
        waits.push(base);
        waits.sort_by(f64::total_cmp);
        let waste = |wait: f64| {
            let longer = self.gaps.iter().filter(|&&g| f64::from(g) > wait).count();
            let cut = self.gaps.iter().filter(|&&g| f64::from(g) > wait && f64::from(g) <= wait + model_ms).count();
            if longer == 0 { 0.0 } else { cut as f64 / longer as f64 * (1.0 - agreement.clamp(0.0, 1.0)) }
        };
        let wait = waits.into_iter().find(|&w| w >= max || waste(w) <= WASTE_SHARE).unwrap_or(max).min(max);
        Duration::from_millis(wait as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The debounce after changes with these gaps (ms), for a model that takes `model_ms` and
    /// whose answers are never typed.
    fn after(gaps: &[u64], settings: &CompletionConfig, model_ms: f64) -> u128 {
        after_agreeing(gaps, settings, model_ms, 0.0)
    }

    /// The debounce after changes with these gaps (ms), for a model that takes `model_ms` and
    /// whose answers keys typed during a call agree with in the share `agreement`.
    fn after_agreeing(gaps: &[u64], settings: &CompletionConfig, model_ms: f64, agreement: f64) -> u128 {
        let mut t = Typing::default();
        let mut now = Instant::now();
        t.record(now);
        for g in gaps {
            now += Duration::from_millis(*g);
            t.record(now);
        }
        t.debounce(settings, model_ms, agreement).as_millis()
    }

    #[test]
    fn the_wait_is_just_past_the_typing_gaps_and_past_the_longer_gaps_seen_before_a_key() {
        let s = CompletionConfig::default();
        assert_eq!(Typing::default().debounce(&s, 80.0, 0.0), Duration::from_millis(75), "no history: the base");
        // Fast typing, gaps up to 120 ms: wait just past the longest.
        let typing = [60, 90, 120, 80, 100, 70];
        assert_eq!(after(&typing, &s, 80.0), 132);
        // A 200 ms gap before a line break, then a key: seen once, it is waited out...
        let line = [&typing[..], &[200], &typing[..], &[600]].concat();
        assert_eq!(after(&[&line[..], &typing[..]].concat(), &s, 80.0), 220);
        // ...unless the gaps that long mostly outlast a model call anyway (a long pause each
        // time): then even a wait that the longest typing gap sometimes outlasts is worth it.
        let pauses = [&typing[..], &[200], &[600, 600, 600, 600]].concat();
        assert_eq!(after(&pauses, &s, 80.0), 110);
    }

    #[test]
    fn slow_typing_is_answered_after_the_base_and_the_wait_is_capped() {
        let s = CompletionConfig::default();
        // Every gap outlasts the base wait and a model call: each call is answered in time.
        assert_eq!(after(&[900; 10], &s, 80.0), 75);
        // Every gap ends during a slow model's call: wait as long as allowed.
        assert_eq!(after(&[900; 10], &s, 2000.0), 300);
        let fixed = CompletionConfig { adaptive_debounce: false, ..s };
        assert_eq!(after(&[150; 10], &fixed, 80.0), 75);
        let raised = CompletionConfig { debounce_ms: 400, max_debounce_ms: 100, ..s };
        assert_eq!(after(&[150; 10], &raised, 80.0), 400, "a maximum below the base is the base");
    }

    #[test]
    fn keys_that_type_the_answer_waste_no_call_so_the_wait_shortens() {
        let s = CompletionConfig::default();
        // Gaps of 60-260 ms, as the perf benchmark's trace: a call that waits past them all,
        // when no key ever types the answer...
        let gaps: Vec<u64> = (0..40).map(|i| 60 + (i * 37) % 200).collect();
        assert_eq!(after_agreeing(&gaps, &s, 150.0, 0.0), 260);
        // ...and as long when half the keys do: nearly every gap longer than a shorter wait ends
        // during the call, so half of them would still waste it...
        assert_eq!(after_agreeing(&gaps, &s, 150.0, 0.5), 260);
        // ...and the base once few enough keys leave the answer that the waste share holds
        // (1 − 0.8 of the gaps that end during a call).
        assert_eq!(after_agreeing(&gaps, &s, 150.0, 0.8), 75);
        assert_eq!(after_agreeing(&gaps, &s, 150.0, 1.0), 75);
    }

    #[test]
    fn only_the_latest_gaps_count() {
        let s = CompletionConfig::default();
        // Long-gone 200 ms gaps, then a window of fast typing: the wait follows the typing.
        let old = [200u64; 20];
        let recent = [100u64; WINDOW];
        assert_eq!(after(&[&old[..], &recent[..]].concat(), &s, 80.0), 110);
        // A gap of hours is stored capped, not overflowed.
        assert_eq!(after(&[u64::from(u32::MAX) + 5, 100], &s, 80.0), 110);
    }
}
