//! Which files to download.

use shoal_picker::Priority;

use crate::swarm::Swarm;

impl Swarm {
    /// Downloads only the files flagged `true` (`lengths` and `wanted` in file order, pad
    /// files included). Returns false when the lists do not fit the torrent.
    pub fn set_wanted_files(&mut self, lengths: &[u64], wanted: &[bool]) -> bool {
        if lengths.len() != wanted.len() {
            return false;
        }
        let files: Vec<(u64, Priority)> = lengths
            .iter()
            .zip(wanted)
            .map(|(len, w)| (*len, if *w { Priority::NORMAL } else { Priority::SKIP }))
            .collect();
        if self.picker.set_file_priorities(&files).is_err() {
            return false;
        }
        if self.picker.is_finished() && !self.completed {
            self.completed = true;
            self.choker.set_seeding(true);
            self.events.push_back(crate::SwarmEvent::Completed);
        }
        true
    }
}
