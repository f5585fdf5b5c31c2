//! Debounce that adapts to typing speed: wait a little longer than the user's recent gap between
//! keystrokes, so a fast typist does not trigger a model call between two keys.

use std::time::{Duration, Instant};

use super::CompletionConfig;

/// Gaps longer than this are pauses, not typing, and reset the average.
const PAUSE: Duration = Duration::from_millis(1500);

/// Keystroke timing for one document.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Typing {
    last_change: Option<Instant>,
    /// Exponentially weighted mean gap between changes, in milliseconds.
    mean_gap_ms: Option<f64>,
}

impl Typing {
    /// Records a document change at `now`.
    pub(crate) fn record(&mut self, now: Instant) {
        if let Some(last) = self.last_change {
            let gap = now.saturating_duration_since(last);
            if gap > PAUSE {
                self.mean_gap_ms = None;
            } else {
                let g = gap.as_secs_f64() * 1000.0;
                self.mean_gap_ms = Some(match self.mean_gap_ms {
                    Some(m) => 0.7 * m + 0.3 * g,
                    None => g,
                });
            }
        }
        self.last_change = Some(now);
    }

    /// How long to wait before asking the model: `debounce_ms`, stretched to 1.3 × the mean gap
    /// between keystrokes when adaptive, never beyond `max_debounce_ms`.
    pub(crate) fn debounce(&self, settings: &CompletionConfig) -> Duration {
        let base = settings.debounce_ms as f64;
        let ms = match (settings.adaptive_debounce, self.mean_gap_ms) {
            (true, Some(gap)) => (gap * 1.3).clamp(base, settings.max_debounce_ms.max(settings.debounce_ms) as f64),
            _ => base,
        };
        Duration::from_millis(ms as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debounce_stretches_with_the_typing_gap_within_bounds() {
        let s = CompletionConfig::default();
        let t0 = Instant::now();
        let mut t = Typing::default();
        assert_eq!(t.debounce(&s), Duration::from_millis(75), "no history: the base");
        for i in 0..10 {
            t.record(t0 + Duration::from_millis(150 * i));
        }
        assert_eq!(t.debounce(&s).as_millis(), 195, "150 ms gaps: 1.3 × 150");
        t.record(t0 + Duration::from_secs(60));
        assert_eq!(t.debounce(&s), Duration::from_millis(75), "a pause resets");
        for i in 1..10 {
            t.record(t0 + Duration::from_secs(60) + Duration::from_millis(900 * i));
        }
        assert_eq!(t.debounce(&s), Duration::from_millis(300), "slow typing is capped");
        let fixed = CompletionConfig { adaptive_debounce: false, ..s };
        assert_eq!(t.debounce(&fixed), Duration::from_millis(75));
    }
}
