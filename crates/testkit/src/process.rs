//! One child process, owned by PID, stopped on drop.
//!
//! The [`std::process::Child`] is kept unreaped until we stop it, so its PID cannot be
//! recycled by the kernel while we hold it: signalling that PID always reaches our child and
//! never a stranger. Nothing here looks processes up by name.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::KitError;

/// How long a program gets to exit after SIGTERM before SIGKILL (qBittorrent needs ~2 s).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);
/// After SIGKILL the kernel reaps promptly; this bound only guards against a stuck D state.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// How much of the log an error message quotes.
const LOG_TAIL_BYTES: u64 = 4096;

/// A running reference program.
pub(crate) struct Proc {
    /// Short client name for messages.
    name: &'static str,
    pid: u32,
    /// `None` once stopped and reaped.
    child: Mutex<Option<Child>>,
    /// Where the program's stdout/stderr (or its own log) go; quoted in errors.
    log: PathBuf,
    grace: Duration,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `log` (stdin is closed).
    pub(crate) fn spawn(name: &'static str, cmd: Command, log: &Path) -> Result<Self, KitError> {
        let out = log_file(log)?;
        let err = out
            .try_clone()
            .map_err(|e| KitError::io("duplicating a log handle", e))?;
        Self::spawn_with(name, cmd, log, Stdio::null(), out.into(), err.into())
    }

    /// Starts `cmd` with the given stdio (the libtorrent driver keeps stdin/stdout as pipes).
    pub(crate) fn spawn_with(
        name: &'static str,
        mut cmd: Command,
        log: &Path,
        stdin: Stdio,
        stdout: Stdio,
        stderr: Stdio,
    ) -> Result<Self, KitError> {
        cmd.stdin(stdin).stdout(stdout).stderr(stderr);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent. It makes the
        // kernel SIGKILL the child if the test binary dies without running our Drop (an abort,
        // a kill -9), so no reference program outlives its test. See `spawn_from_keeper`.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let program = cmd.get_program().to_string_lossy().into_owned();
        let child = spawn_from_keeper(cmd).map_err(|source| KitError::Spawn { program, source })?;
        Ok(Self {
            name,
            pid: child.id(),
            child: Mutex::new(Some(child)),
            log: log.to_path_buf(),
            grace: DEFAULT_GRACE,
        })
    }

    /// Runs `f` on the child while it is not yet reaped (e.g. to take its piped stdio).
    pub(crate) fn with_child<R>(&self, f: impl FnOnce(&mut Child) -> R) -> Option<R> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        guard.as_mut().map(f)
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// `Ok` while the program runs; otherwise the error that says how it ended.
    pub(crate) fn check_alive(&self) -> Result<(), KitError> {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let Some(child) = guard.as_mut() else {
            return Err(self.ended("stopped by the kit".into(), false));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.exit_error(status)),
            Err(e) => Err(KitError::io(
                format!("checking {} (pid {})", self.name, self.pid),
                e,
            )),
        }
    }

    /// Waits (bounded) for the program to exit by itself, and returns how it ended.
    pub(crate) fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.with_child(|c| c.try_wait().ok().flatten()).flatten();
            if status.is_some() || Instant::now() >= deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The error describing an exit with `status`.
    pub(crate) fn exit_error(&self, status: ExitStatus) -> KitError {
        match status.signal() {
            Some(sig) => self.ended(format!("killed by signal {sig}"), true),
            None => self.ended(format!("{status}"), false),
        }
    }

    fn ended(&self, status: String, crashed: bool) -> KitError {
        let log_tail = self.log_tail();
        if crashed {
            KitError::Crashed {
                client: self.name,
                status,
                log_tail,
            }
        } else {
            KitError::Exited {
                client: self.name,
                status,
                log_tail,
            }
        }
    }

    /// The last few KiB of the log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        tail(&self.log, LOG_TAIL_BYTES)
    }

    /// SIGTERM, a bounded wait, then SIGKILL, then reap. Idempotent.
    pub(crate) fn stop(&self) {
        let mut guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        let Some(mut child) = guard.take() else {
            return;
        };
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        signal(self.pid, libc::SIGTERM);
        if wait_reaped(&mut child, self.grace) {
            return;
        }
        signal(self.pid, libc::SIGKILL);
        if !wait_reaped(&mut child, KILL_WAIT) {
            eprintln!(
                "testkit: {} (pid {}) did not exit after SIGKILL within {:?}",
                self.name, self.pid, KILL_WAIT
            );
        }
    }

    /// Sends `sig` to exactly this child, if it has not been reaped yet.
    pub(crate) fn send_signal(&self, sig: libc::c_int) -> Result<(), KitError> {
        let guard = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            return Err(self.ended("stopped by the kit".into(), false));
        }
        // Holding the lock keeps the child unreaped, so the PID is still ours.
        if signal(self.pid, sig) {
            Ok(())
        } else {
            Err(KitError::io(
                format!("signalling {} (pid {})", self.name, self.pid),
                std::io::Error::last_os_error(),
            ))
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Forks every child from one thread that lives as long as the test binary.
///
/// PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process. If
/// test threads forked directly, a client started in a short-lived helper thread (to start
/// several clients in parallel) would be killed the moment that thread returned.
fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        // The keeper runs until the binary exits; if it cannot be created, every spawn
        // reports the error below instead of hanging.
        let _ = std::thread::Builder::new()
            .name("testkit-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    // If the requester gave up waiting, nobody owns the child: end it here.
                    if let Err(mpsc::SendError(Ok(mut orphan))) = reply.send(cmd.spawn()) {
                        let _ = orphan.kill();
                        let _ = orphan.wait();
                    }
                }
            });
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = keeper
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, reply_tx));
    if sent.is_err() {
        return Err(std::io::Error::other("the spawner thread is gone"));
    }
    // fork+exec takes milliseconds; the bound only guards against a wedged keeper.
    reply_rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| Err(std::io::Error::other("the spawner thread did not answer")))
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with a positive PID of our own unreaped child; no memory is shared.
    unsafe { libc::kill(pid, sig) == 0 }
}

fn wait_reaped(child: &mut Child, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) => {}
            Err(_) => return false,
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn log_file(path: &Path) -> Result<File, KitError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| KitError::io(format!("opening log {}", path.display()), e))
}

/// The last `max` bytes of a file, lossily decoded; empty if it cannot be read.
pub(crate) fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if f.seek(SeekFrom::Start(len.saturating_sub(max))).is_err() {
        return String::new();
    }
    let mut buf = Vec::new();
    // `take` bounds the read even if the file grows meanwhile.
    if f.take(max).read_to_end(&mut buf).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_kills_a_sleeping_child_and_reports_it_gone() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("600");
        let p = Proc::spawn("sleep", cmd, &dir.path().join("log")).unwrap();
        p.check_alive().unwrap();
        p.stop();
        assert!(matches!(p.check_alive(), Err(KitError::Exited { .. })));
        // The PID no longer names a process of ours (reaped): kill(pid, 0) fails or names
        // an unrelated process, so only check that our handle is gone.
        assert!(p.with_child(|_| ()).is_none());
    }

    #[test]
    fn a_signal_death_is_a_crash_and_an_exit_code_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo bye; kill -SEGV $$"]);
        let p = Proc::spawn("sh", cmd, &dir.path().join("log")).unwrap();
        let status = p.wait_exit(Duration::from_secs(10)).unwrap();
        let err = p.exit_error(status);
        assert!(err.is_reference_crash(), "{err}");
        assert!(err.to_string().contains("bye"));

        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exit 3"]);
        let p = Proc::spawn("sh", cmd, &dir.path().join("log2")).unwrap();
        p.wait_exit(Duration::from_secs(10)).unwrap();
        assert!(matches!(p.check_alive(), Err(KitError::Exited { .. })));
    }

    #[test]
    fn tail_returns_the_end_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(tail(&path, 4), "6789");
        assert_eq!(tail(&path, 100), "0123456789");
        assert_eq!(tail(&dir.path().join("missing"), 4), "");
    }
}
