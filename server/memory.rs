//! The server process's own heap: free memory returned to the system once the editor has been
//! quiet for a moment (glibc's malloc_trim(3)), and the small blocks a request freed merged once
//! its answer is written ([`Settled`]).
//!
//! glibc keeps memory that was freed in the middle of its heaps (between blocks still in use) and
//! in each thread's arena: a parse, a burst of `didOpen`s or a long prompt leaves megabytes
//! resident that no allocation is using. With 100 open files that was 1.5 of Baton's 4.7 MiB of
//! private memory (issue 13's memory row, `scripts/bench-perf.sh`). Trimming costs a walk of the
//! free lists and, later, a page fault for each page used again, so it runs only when no message
//! has come from the editor for [`QUIET`], once per quiet spell, on a blocking thread: never
//! while the user types and a request is on its way.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How long the editor sends nothing before free memory is returned: longer than the gaps
/// between keys and a debounced request, short enough that an editor left alone holds no more
/// than it uses.
pub const QUIET: Duration = Duration::from_millis(500);

/// When the editor last sent something, and whether memory was trimmed since.
#[derive(Debug)]
pub struct Activity {
    start: Instant,
    /// Milliseconds from `start` to the last input.
    last_ms: AtomicU64,
    /// True once trimmed and until the next input, which then wakes the trimming task.
    trimmed: AtomicBool,
    wake: Notify,
}

impl Activity {
    /// A new record, as if trimmed: the first input starts the first quiet watch.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            trimmed: AtomicBool::new(true),
            wake: Notify::new(),
        })
    }

    /// Notes input from the editor: two atomic operations, and a wake-up only for the first
    /// input after a trim.
    pub fn input(&self) {
        self.last_ms.store(self.elapsed_ms(), Ordering::Relaxed);
        if self.trimmed.swap(false, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long since the last input.
    fn quiet_for(&self) -> Duration {
        Duration::from_millis(self.elapsed_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A reader (the server's standard input) that notes every read that returned bytes.
pub struct Watched<R> {
    inner: R,
    activity: Arc<Activity>,
}

impl<R> Watched<R> {
    /// `inner`, its reads noted in `activity` (see [`trim_when_quiet`]).
    pub fn new(inner: R, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for Watched<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.input();
        }
        polled
    }
}

/// A writer (the server's standard output) that settles the heap ([`settle_free_blocks`]) after
/// each flush: the transport flushes once per message, so the blocks a request freed are merged
/// once its answer is out, while the server waits for the editor.
pub struct Settled<W> {
    inner: W,
}

impl<W> Settled<W> {
    /// `inner`, the heap settled after each of its flushes that succeeds.
    pub fn new(inner: W) -> Self {
        Self { inner }
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Settled<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            settle_free_blocks();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Runs `trim` on a blocking thread each time the editor has been quiet for `quiet` after some
/// input, once per quiet spell. Never returns; spawn it.
pub async fn trim_when_quiet(activity: Arc<Activity>, quiet: Duration, trim: fn()) {
    loop {
        activity.wake.notified().await;
        loop {
            let quiet_for = activity.quiet_for();
            if quiet_for >= quiet {
                break;
            }
            tokio::time::sleep(quiet - quiet_for).await;
        }
        // Before the trim: input that arrives during it wakes the next watch. Input that came
        // between the check above and this store wakes nothing; the trim then runs just after
        // it, harmless, and the watch resumes at the next input.
        activity.trimmed.store(true, Ordering::Release);
        if let Err(e) = tokio::task::spawn_blocking(trim).await {
            tracing::warn!("memory: the trim failed ({e})");
        }
    }
}

/// Returns free heap memory to the system (glibc: malloc_trim(3) with no padding kept), logging
/// the private memory (RssAnon) before and after at debug level. Elsewhere: nothing to do.
pub fn release_free_memory() {
    let before = rss_anon_kib();
    let released = trim();
    tracing::debug!(
        before_kib = before,
        after_kib = rss_anon_kib(),
        released,
        "memory: the editor is quiet; free heap returned to the system"
    );
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn trim() -> bool {
    // SAFETY: malloc_trim takes no pointers and may be called from any thread at any time; it
    // locks each arena while it walks it.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}

/// The block [`settle_free_blocks`] asks for, in bytes: above glibc's per-thread cache (blocks up
/// to 1,032 bytes) and its small bins (under 1,024), so the request takes the path that first
/// merges the arena's fast bins.
const SETTLE_BYTES: usize = 4096;

/// Makes glibc merge the small blocks this thread's arena freed since its last large allocation,
/// now. glibc leaves freed small blocks unmerged in "fast bins"; the next allocation of a block
/// of 1 KiB or more from the arena first merges all of them (`malloc_consolidate`). A completion
/// request frees hundreds to thousands of small blocks (JSON values, the HTTP exchange, the parse
/// check's trees), so the next request's first large allocation (its prompt, a tree cursor's
/// stack) paid that merge on its way to the model: in the benchmark's module run, most of the
/// time of the slowest steps (tests/bench/perf/RESULTS.md, "The heap settled after each
/// answer"). [`Settled`] calls this after each message is written to the editor, when the server
/// has answered and would otherwise wait. Elsewhere than glibc: nothing to do.
pub fn settle_free_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    drop(std::hint::black_box(Vec::<u8>::with_capacity(SETTLE_BYTES)));
}

/// The process's private resident memory (`RssAnon` of /proc/self/status) in KiB, if known.
fn rss_anon_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// The free blocks in glibc's fast bins, all arenas (mallinfo(3)).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    fn fast_blocks() -> usize {
        // SAFETY: mallinfo2 takes no pointers; it locks each arena while it counts.
        unsafe { libc::mallinfo2() }.smblks
    }

    /// The small blocks freed on a thread sit in glibc's fast bins until a flush of the
    /// server's output merges them (`Settled`, `settle_free_blocks`), on that thread's arena.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn settling_merges_the_small_blocks_this_thread_freed() {
        use tokio::io::AsyncWriteExt;
        let merged = std::thread::spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
            let mut out = Settled::new(tokio::io::sink());
            runtime.block_on(out.write_all(b"Content-Length: 2\r\n\r\n{}")).expect("written");
            let blocks: Vec<Box<[u8; 40]>> = (0..5000).map(|_| Box::new([7; 40])).collect();
            std::hint::black_box(&blocks);
            // The first seven of a size go to the thread's cache, the rest to the fast bins.
            drop(blocks);
            let before = fast_blocks();
            runtime.block_on(out.flush()).expect("flushed");
            before.saturating_sub(fast_blocks())
        })
        .join()
        .expect("the thread ran");
        assert!(merged >= 4000, "only {merged} of ~4,993 freed blocks were merged by the flush");
    }

    static TRIMS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        TRIMS.fetch_add(1, Ordering::SeqCst);
    }

    fn trims() -> usize {
        TRIMS.load(Ordering::SeqCst)
    }

    /// Moves the paused clock on by `ms` in 10 ms steps, letting the watch run at each.
    async fn advance(ms: u64) {
        for _ in 0..ms / 10 {
            tokio::time::advance(Duration::from_millis(10)).await;
            // The trim runs on a blocking thread: give it real time to report back.
            for _ in 0..4 {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Waits until the blocking trim has run `n` times in all, for at most ten seconds of real
    /// time (the trim runs on a thread of its own, outside the paused clock).
    async fn trimmed(n: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while trims() < n && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
            std::thread::yield_now();
        }
    }

    // Paused time: the watch's sleeps end when the test moves the clock (tokio's `Instant`,
    // which `Activity` reads, follows it), so the test takes no real time.
    #[tokio::test(start_paused = true)]
    async fn trims_once_per_quiet_spell_and_never_while_input_arrives() {
        let activity = Activity::new();
        tokio::spawn(trim_when_quiet(activity.clone(), Duration::from_millis(500), count));
        advance(2000).await;
        assert_eq!(trims(), 0, "no input yet: nothing to return");
        for _ in 0..20 {
            activity.input();
            advance(100).await;
        }
        assert_eq!(trims(), 0, "trimmed while input kept arriving every 100 ms");
        advance(500).await;
        trimmed(1).await;
        assert_eq!(trims(), 1, "one trim 500 ms after the last input");
        advance(3000).await;
        assert_eq!(trims(), 1, "one trim per quiet spell");
        activity.input();
        advance(300).await;
        activity.input();
        advance(400).await;
        assert_eq!(trims(), 1, "the quiet spell restarts at each input");
        advance(200).await;
        trimmed(2).await;
        assert_eq!(trims(), 2);
    }

    #[test]
    fn release_reads_the_private_memory() {
        assert!(rss_anon_kib().is_some_and(|k| k > 0));
        release_free_memory();
    }
}
