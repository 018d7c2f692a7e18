//! One error type for the kit, shaped by what an interop test does next.

use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;

/// Why a launcher, a reference client or a content check failed.
///
/// The variants split along the question an interop test must answer: is this shoal's
/// fault, the reference program's fault, or the machine's? See [`KitError::blame`].
#[derive(Debug, Error)]
pub enum KitError {
    /// The program could not be started (not installed, not executable). The test cannot run
    /// on this machine; nothing about shoal is known.
    #[error("cannot start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    /// A local file or socket operation of the kit itself failed (temp dir, config file,
    /// picking a port). The machine is at fault, not a client.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// The reference program died from a signal (SIGSEGV, SIGABRT, ...). Count it as the
    /// reference client's failure and retry it once (see [`crate::retry_on_reference_crash`]).
    #[error("{client} crashed ({status}); last log lines:\n{log_tail}")]
    Crashed {
        client: &'static str,
        status: String,
        log_tail: String,
    },
    /// The reference program exited on its own while it was still needed (bad configuration,
    /// port already taken). Read the log tail; retrying rarely helps.
    #[error("{client} exited unexpectedly ({status}); last log lines:\n{log_tail}")]
    Exited {
        client: &'static str,
        status: String,
        log_tail: String,
    },
    /// A bounded wait ran out. `what` names the condition that never became true.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout { what: String, after: Duration },
    /// The client answered, but not in the shape the launcher expects (RPC or driver reply).
    /// A launcher bug or an unexpected program version.
    #[error("{client} gave an unexpected reply: {detail}")]
    Protocol {
        client: &'static str,
        detail: String,
    },
    /// The client understood the request and refused it (RPC error, unknown torrent,
    /// duplicate torrent, a torrent in an error state).
    #[error("{client} refused: {detail}")]
    Rejected {
        client: &'static str,
        detail: String,
    },
    /// The client cannot do this at all (Transmission and aria2 cannot be told to dial a peer).
    /// Rewrite the test so that shoal dials instead.
    #[error("{client} does not support {what}")]
    Unsupported {
        client: &'static str,
        what: &'static str,
    },
    /// A .torrent file could not be made or read.
    #[error("torrent {path}: {detail}")]
    Torrent { path: PathBuf, detail: String },
    /// Downloaded data differs from the source. This is the finding an interop test looks for.
    #[error("content mismatch at {path}: {detail}")]
    Mismatch { path: PathBuf, detail: String },
}

/// Who is to blame for a [`KitError`], for test reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    /// The reference program misbehaved (crash, unexpected exit): not shoal's failure.
    Reference,
    /// The machine or the kit (missing program, I/O, launcher bug).
    Environment,
    /// The outcome of the transfer itself (timeout waiting for completion, wrong bytes):
    /// attribute to the system under test unless the reference is known to be at fault.
    Outcome,
}

impl KitError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn timeout(what: impl Into<String>, after: Duration) -> Self {
        Self::Timeout {
            what: what.into(),
            after,
        }
    }

    /// Paths travel in JSON and config files as text, so they must be UTF-8 (temp dirs are).
    pub(crate) fn utf8_path<'p>(
        client: &'static str,
        path: &'p std::path::Path,
    ) -> Result<&'p str, Self> {
        path.to_str().ok_or_else(|| Self::Rejected {
            client,
            detail: format!("path {} is not UTF-8", path.display()),
        })
    }

    /// True when the reference program died from a signal; the policy is to retry it once.
    pub fn is_reference_crash(&self) -> bool {
        matches!(self, Self::Crashed { .. })
    }

    /// Who this failure should be attributed to.
    pub fn blame(&self) -> Blame {
        match self {
            Self::Crashed { .. } | Self::Exited { .. } | Self::Rejected { .. } => Blame::Reference,
            Self::Spawn { .. }
            | Self::Io { .. }
            | Self::Protocol { .. }
            | Self::Unsupported { .. }
            | Self::Torrent { .. } => Blame::Environment,
            Self::Timeout { .. } | Self::Mismatch { .. } => Blame::Outcome,
        }
    }
}

/// Runs `attempt`, and runs it once more if it failed because a reference program crashed
/// (INTEROP quirk: python-libtorrent 2.0.8 segfaults in a few percent of leecher runs).
///
/// `attempt` must start its reference clients itself, so that the retry gets fresh ones.
/// A second crash is returned as is: two in a row are worth a look.
pub fn retry_on_reference_crash<T>(
    mut attempt: impl FnMut() -> Result<T, KitError>,
) -> Result<T, KitError> {
    match attempt() {
        Err(e) if e.is_reference_crash() => {
            eprintln!("reference client crashed, retrying once: {e}");
            attempt()
        }
        other => other,
    }
}
