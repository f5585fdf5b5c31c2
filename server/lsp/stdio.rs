//! The server's standard input and output as the transport reads and writes them: registered
//! with tokio's event loop when they are pipes or sockets (what editors give a language server),
//! else tokio's blocking-thread wrappers.
//!
//! Why not always `tokio::io::stdin()`/`stdout()`: those run every read and write on a blocking
//! thread and hand the result over to the runtime, a thread switch per message each way, and
//! std's line-buffered `Stdout` cuts each frame into two writes (its header lines, then the
//! body). On a small machine those switches were a measurable part of a request's time
//! (tests/bench/perf/RESULTS.md). A pipe or socket registered with the event loop is read and
//! written by the task that serves the session, one write per frame.
//!
//! The descriptors are duplicated, and the duplicates are put in non-blocking mode. That mode
//! belongs to the open file description, which the editor's end of a pipe or socket does not
//! share; Baton's children never inherit the server's standard input or output (each is given
//! explicit stdio), so nothing else reads or writes through them.

use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};

/// Standard input, for [`crate::lsp::transport::serve`].
pub fn stdin() -> Pin<Box<dyn AsyncRead + Send>> {
    open::<Pin<Box<dyn AsyncRead + Send>>>(
        "stdin",
        std::io::stdin().as_fd(),
        |file| Ok(Box::pin(tokio::net::unix::pipe::Receiver::from_file(file)?)),
        |socket| Box::pin(socket),
        || Box::pin(tokio::io::stdin()),
    )
}

/// Standard output, for [`crate::lsp::transport::serve`].
pub fn stdout() -> Pin<Box<dyn AsyncWrite + Send>> {
    open::<Pin<Box<dyn AsyncWrite + Send>>>(
        "stdout",
        std::io::stdout().as_fd(),
        |file| Ok(Box::pin(tokio::net::unix::pipe::Sender::from_file(file)?)),
        |socket| Box::pin(socket),
        || Box::pin(tokio::io::stdout()),
    )
}

/// `fd` (the standard stream `name`) through `pipe` or `socket` when it is one, else through
/// `fallback` (tokio's blocking-thread wrapper); the log says which.
fn open<T>(
    name: &str,
    fd: std::os::fd::BorrowedFd<'_>,
    pipe: impl FnOnce(File) -> std::io::Result<T>,
    socket: impl FnOnce(tokio::net::UnixStream) -> T,
    fallback: impl FnOnce() -> T,
) -> T {
    match registered(fd.try_clone_to_owned()) {
        Some(Registered::Pipe(file)) => match pipe(file) {
            Ok(stream) => {
                tracing::debug!("{name}: a pipe, on the event loop");
                return stream;
            }
            Err(e) => tracing::debug!("{name}: a pipe tokio refused ({e})"),
        },
        Some(Registered::Socket(s)) => {
            tracing::debug!("{name}: a socket, on the event loop");
            return socket(s);
        }
        None => {}
    }
    tracing::debug!("{name}: through a blocking thread");
    fallback()
}

/// A standard stream the event loop can watch.
enum Registered {
    /// A pipe.
    Pipe(File),
    /// A socket (libuv-based editors, Neovim and VS Code, give their servers socket pairs),
    /// registered.
    Socket(tokio::net::UnixStream),
}

/// `fd` (a duplicate of a standard stream) in non-blocking mode when it is a pipe or a socket;
/// `None` for anything else (a terminal, a file, `/dev/null`) or when a step fails.
fn registered(fd: std::io::Result<OwnedFd>) -> Option<Registered> {
    let file = File::from(fd.ok()?);
    let kind = file.metadata().ok()?.file_type();
    if kind.is_fifo() {
        // tokio checks the access mode and sets the non-blocking mode.
        return Some(Registered::Pipe(file));
    }
    if kind.is_socket() {
        let socket = std::os::unix::net::UnixStream::from(OwnedFd::from(file));
        socket.set_nonblocking(true).ok()?;
        return tokio::net::UnixStream::from_std(socket).ok().map(Registered::Socket);
    }
    None
}
