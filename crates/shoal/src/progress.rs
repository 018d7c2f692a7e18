//! The live line `shoal create` shows on a terminal while it hashes.
//!
//! Hashing threads report every few megabytes; the line is redrawn at most ten times a second
//! so that a fast machine does not spend its time writing to the terminal. When stderr is not
//! a terminal nothing is drawn at all: logs and pipes get no carriage-return noise.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shoal_core::create::Progress;

use crate::human;

/// Shortest time between two redraws.
const REDRAW: Duration = Duration::from_millis(100);

/// Draws progress to a writer; shared by the hashing threads.
pub struct ProgressLine<'a> {
    state: Mutex<State<'a>>,
}

struct State<'a> {
    out: &'a mut (dyn Write + Send),
    started: Instant,
    last_draw: Option<Instant>,
    drew: bool,
}

impl<'a> ProgressLine<'a> {
    pub fn new(out: &'a mut (dyn Write + Send)) -> Self {
        Self::started_at(out, Instant::now())
    }

    /// A line whose rate is measured from `started`.
    pub fn started_at(out: &'a mut (dyn Write + Send), started: Instant) -> Self {
        ProgressLine {
            state: Mutex::new(State {
                out,
                started,
                last_draw: None,
                drew: false,
            }),
        }
    }

    /// Called from the hashing threads.
    pub fn update(&self, p: Progress) {
        self.update_at(p, Instant::now());
    }

    /// [`ProgressLine::update`] with the time passed in.
    pub fn update_at(&self, p: Progress, now: Instant) {
        // A poisoned lock only means another thread panicked mid-draw; drawing is optional.
        let Ok(mut s) = self.state.lock() else { return };
        let due = s
            .last_draw
            .is_none_or(|t| now.saturating_duration_since(t) >= REDRAW);
        if !due && p.hashed < p.total {
            return;
        }
        s.last_draw = Some(now);
        s.drew = true;
        let line = render(p, now.saturating_duration_since(s.started));
        // Progress is best effort: a closed stderr must not stop the hashing.
        let _ = write!(s.out, "\r{line}\x1b[K");
        let _ = s.out.flush();
    }

    /// Ends the line so that what follows starts on a fresh one.
    pub fn finish(&self) {
        if let Ok(mut s) = self.state.lock() {
            if s.drew {
                let _ = writeln!(s.out);
            }
        }
    }
}

/// `hashing  42.0%  512 MiB of 1.2 GiB  1834.2 MB/s`
pub fn render(p: Progress, elapsed: Duration) -> String {
    let pct = if p.total == 0 {
        100.0
    } else {
        p.hashed as f64 * 100.0 / p.total as f64
    };
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        p.hashed as f64 / secs / 1e6
    } else {
        0.0
    };
    format!(
        "hashing {pct:5.1}%  {} of {}  {rate:.1} MB/s",
        human::size(p.hashed),
        human::size(p.total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_percentage_and_rate() {
        let p = Progress {
            hashed: 512 << 20,
            total: 1 << 30,
        };
        assert_eq!(
            render(p, Duration::from_secs(2)),
            "hashing  50.0%  512 MiB of 1 GiB  268.4 MB/s"
        );
        let zero = Progress {
            hashed: 0,
            total: 0,
        };
        assert_eq!(
            render(zero, Duration::ZERO),
            "hashing 100.0%  0 B of 0 B  0.0 MB/s"
        );
    }

    #[test]
    fn draws_first_and_final_update_and_ends_the_line() {
        let mut buf: Vec<u8> = Vec::new();
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let p = |hashed| Progress { hashed, total: 10 };
        {
            let line = ProgressLine::started_at(&mut buf, t0);
            line.update_at(p(1), at(1));
            // Within the redraw interval: skipped unless it is the last one.
            line.update_at(p(5), at(50));
            line.update_at(p(10), at(60));
            line.finish();
        }
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(text.matches('\r').count(), 2, "{text:?}");
        assert!(text.contains("100.0%"), "{text:?}");
        assert!(text.ends_with('\n'));
    }
}
