//! Saving resume data from the torrent actor without blocking it: every few seconds when
//! pieces were added, one save at a time, on the blocking pool; and once more at stop.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_core::Bitfield;
use shoal_storage::Storage;

use crate::resume::{self, ResumeData};

/// How often resume data is saved at most while pieces keep arriving.
const SAVE_EVERY: Duration = Duration::from_secs(5);

pub(crate) struct ResumeWriter {
    path: Option<PathBuf>,
    info_hash: [u8; 20],
    /// Pieces recorded by the last save started.
    saved_count: Option<u32>,
    last_save: Instant,
    busy: Arc<AtomicBool>,
}

impl ResumeWriter {
    pub fn new(path: Option<PathBuf>, info_hash: [u8; 20]) -> Self {
        Self {
            path,
            info_hash,
            saved_count: None,
            last_save: Instant::now(),
            busy: Arc::default(),
        }
    }

    /// Starts a save in the background when something changed and enough time passed.
    pub fn maybe_save(&mut self, storage: &Arc<dyn Storage>, have: &Bitfield) {
        if self.path.is_none()
            || self.saved_count == Some(have.count_ones())
            || self.last_save.elapsed() < SAVE_EVERY
            || self.busy.swap(true, Ordering::AcqRel)
        {
            return;
        }
        self.last_save = Instant::now();
        self.saved_count = Some(have.count_ones());
        let job = self.job(storage, have);
        let busy = Arc::clone(&self.busy);
        tokio::task::spawn_blocking(move || {
            if let Some(job) = job {
                job();
            }
            busy.store(false, Ordering::Release);
        });
    }

    /// Saves now and waits (at stop).
    pub async fn save_now(&mut self, storage: &Arc<dyn Storage>, have: &Bitfield) {
        // Wait for a background save to finish so the final one is written last.
        for _ in 0..100 {
            if !self.busy.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(job) = self.job(storage, have) {
            let _ = tokio::task::spawn_blocking(job).await;
        }
    }

    /// The save: flush the data first, then record the files as they are now. `have` is
    /// captured before the flush, so every piece it lists is on disk once the flush returns.
    fn job(
        &self,
        storage: &Arc<dyn Storage>,
        have: &Bitfield,
    ) -> Option<impl FnOnce() + Send + 'static> {
        let path = self.path.clone()?;
        let storage = Arc::clone(storage);
        let have = have.clone();
        let info_hash = self.info_hash;
        Some(move || {
            if let Err(e) = storage.flush() {
                tracing::warn!(error = %e, "flush before saving resume data failed");
                return;
            }
            let files = match storage.file_sizes_and_mtimes() {
                Ok(states) => resume::file_records(&states),
                Err(e) => {
                    tracing::warn!(error = %e, "reading file states for resume data failed");
                    return;
                }
            };
            if let Err(e) = resume::save(
                &path,
                &ResumeData {
                    info_hash,
                    have,
                    files,
                },
            ) {
                tracing::warn!(error = %e, path = %path.display(), "saving resume data failed");
            }
        })
    }
}
