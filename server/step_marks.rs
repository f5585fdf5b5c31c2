//! Step marks: with `BATON_STEP_MARKS=<file>` in its environment, the server notes the
//! monotonic time at each step of a completion request's path ([`Step`]) and writes them to
//! `<file>` when it stops, for `scripts/bench-perf.sh --compare OLD,NEW --steps`
//! (tests/bench/perf/bench_perf.py, `step_table`).
//!
//! Why: a request's own time is ~0.5 ms, spread over every layer, and the benchmark's end-to-end
//! p50 moves by ~0.04 ms between two copies of one build. The median of one step over a few
//! thousand requests moves by ~1 us, so a change of a few microseconds to one step can be judged
//! (tests/bench/perf/RESULTS.md). Without the variable each mark is one atomic load.
//!
//! A mark's time is `CLOCK_MONOTONIC`, the clock of Python's `time.monotonic()` on Linux, so the
//! benchmark can set the marks beside its client's and its model's own times (which step of a
//! request the pipes and the model's socket take).

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use parking_lot::Mutex;

/// The environment variable naming the file the marks are written to.
pub const ENV: &str = "BATON_STEP_MARKS";

/// Most marks kept (16 bytes each): ~66,000 requests of the benchmark's. Later ones are dropped.
const MAX_MARKS: usize = 1 << 20;

/// A step of a completion request's path, in the order a request passes them. The number is
/// what the file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    /// Bytes read from the client.
    InputRead = 1,
    /// A message's body framed, before it is parsed.
    BodyFramed = 2,
    /// The body parsed and judged (`lsp::transport::classify`).
    BodyClassified = 3,
    /// The `didChange` handler starts.
    DidChangeStart = 4,
    /// The `didChange` handler ends.
    DidChangeEnd = 5,
    /// The inline completion handler starts.
    CompletionStart = 6,
    /// The document's snapshot taken.
    Snapshot = 7,
    /// The prompt built; the provider is asked.
    ModelAsked = 8,
    /// The request's body serialized; the request is being sent.
    RequestReady = 9,
    /// The model's answer head (status, headers) received.
    AnswerHead = 10,
    /// The answer's text collected (streamed until finished).
    TextCollected = 11,
    /// Cleaned and parse-checked.
    Checked = 12,
    /// The inline completion handler ends.
    CompletionEnd = 13,
    /// The writer got the answer's bytes.
    WriterGot = 14,
    /// The answer's frame written and flushed.
    Written = 15,
}

struct Marks {
    path: PathBuf,
    marks: Mutex<Vec<(u8, u64)>>,
}

fn marks() -> Option<&'static Marks> {
    static MARKS: OnceLock<Option<Marks>> = OnceLock::new();
    MARKS
        .get_or_init(|| {
            let path = PathBuf::from(std::env::var_os(ENV).filter(|v| !v.is_empty())?);
            Some(Marks { path, marks: Mutex::new(Vec::with_capacity(64 * 1024)) })
        })
        .as_ref()
}

/// Notes that `step` is reached now, when the marks are on.
#[inline]
pub fn mark(step: Step) {
    if let Some(m) = marks() {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
        let ns = u64::try_from(now.tv_sec)
            .unwrap_or(0)
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::try_from(now.tv_nsec).unwrap_or(0));
        let mut marks = m.marks.lock();
        if marks.len() < MAX_MARKS {
            marks.push((step as u8, ns));
        }
    }
}

/// Writes the marks, one `<step number> <CLOCK_MONOTONIC nanoseconds>` per line, to
/// the file [`ENV`] names; nothing when the marks are off.
///
/// Errors: the file's creation or write.
pub fn dump() -> std::io::Result<()> {
    let Some(m) = marks() else { return Ok(()) };
    let mut out = std::io::BufWriter::new(std::fs::File::create(&m.path)?);
    for (step, ns) in m.marks.lock().iter() {
        writeln!(out, "{step} {ns}")?;
    }
    out.flush()
}
