//! The control channel between a service handle and its worker thread: an inproc PAIR pair
//! (so the worker waits on it in the same `poll` as its other sockets), and the rule that a
//! failed worker keeps answering until it is stopped, so no call waits forever.

use std::sync::atomic::{AtomicU64, Ordering};

use ringlink::{Context, Error, Result, Socket, SocketType};

/// A connected (handle end, worker end) pair on a fresh inproc name.
pub(crate) fn pair(ctx: &Context, kind: &str) -> Result<(Socket, Socket)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let ep = format!(
        "inproc://ringlink-{kind}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut handle = ctx.socket(SocketType::Pair)?;
    handle.bind(&ep)?;
    let mut worker = ctx.socket(SocketType::Pair)?;
    worker.connect(&ep)?;
    Ok((handle, worker))
}

/// The first frame of a control message as bytes.
pub(crate) fn verb(m: &[Vec<u8>]) -> Option<&[u8]> {
    m.first().map(Vec::as_slice)
}

/// Frame `i` of a control message as text.
pub(crate) fn text(m: &[Vec<u8>], i: usize) -> String {
    String::from_utf8_lossy(m.get(i).map_or(&[][..], |v| v)).into_owned()
}

/// A non-blocking call's result with `Again` (nothing more queued) as `Ok(None)`.
pub(crate) fn nowait<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::Again) => Ok(None),
        Err(e) => Err(e),
    }
}

/// After a worker failed: answer every request with `reply` until "stop" arrives (or the
/// channel itself fails, e.g. the context was shut down).
pub(crate) fn answer_until_stop(ctl: &mut Socket, reply: &[Vec<u8>]) {
    while let Ok(m) = ctl.recv_multipart(0) {
        if verb(&m) == Some(b"stop") || ctl.send_multipart(reply, 0).is_err() {
            break;
        }
    }
}

/// Wait on `cv` until notified or `deadline` (`None`: no limit); `Again` once it passed.
pub(crate) fn wait_until<'a, T>(
    cv: &std::sync::Condvar,
    g: std::sync::MutexGuard<'a, T>,
    deadline: Option<std::time::Instant>,
) -> Result<std::sync::MutexGuard<'a, T>> {
    Ok(match deadline {
        None => cv.wait(g).unwrap_or_else(|e| e.into_inner()),
        Some(d) => {
            let left = d.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Again);
            }
            cv.wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0
        }
    })
}

/// A service's worker thread.
#[derive(Debug)]
pub(crate) struct WorkerThread {
    name: &'static str,
    handle: Option<std::thread::JoinHandle<()>>,
}

/// Start `f` on a thread called `name`.
pub(crate) fn spawn(name: &'static str, f: impl FnOnce() + Send + 'static) -> Result<WorkerThread> {
    let handle = std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(Error::Io)?;
    Ok(WorkerThread {
        name,
        handle: Some(handle),
    })
}

impl WorkerThread {
    /// Ask the worker to stop over `ctl` and wait for it. If the request cannot be sent (the
    /// context is gone), the worker ends on its own and is not waited for.
    pub(crate) fn stop(&mut self, ctl: &mut Socket) {
        if ctl.send(b"stop", 0).is_ok() {
            if let Some(h) = self.handle.take() {
                if h.join().is_err() {
                    log::error!("{} worker panicked", self.name);
                }
            }
        }
    }
}
