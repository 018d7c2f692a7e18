//! `shoal demo` with its dashboard in a real terminal, and without it.
//!
//! The dashboard's screens are tested from fixed snapshots inside `crates/tui`; what those
//! tests cannot see is the terminal itself: raw mode, the alternate screen, keys arriving as
//! bytes from a pseudo-terminal, and the state the program leaves behind. tmux gives the
//! program a real terminal of a fixed size, lets the test type (`send-keys`) and read the
//! screen (`capture-pane`), and reports the terminal's modes (`display-message`). The program
//! runs in a plain `/bin/sh` inside the pane, followed by `stty -a`, so what the shell sees
//! after the dashboard quits is checked the way a user would notice it.
//!
//! Each test runs its own tmux server on a private socket (`tmux -L <unique name>`), killed
//! when the test ends however it ends, so no other tmux session is touched. Every wait polls
//! with a deadline; the deadlines only turn a hang into a failure and assert nothing about
//! speed.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shoal_tests::shoal_bin::shoal_bin;
use tempfile::TempDir;

/// Pause between two looks at the screen.
const POLL: Duration = Duration::from_millis(100);
/// Longest any one tmux client command may take.
const TMUX_CALL: Duration = Duration::from_secs(10);
/// Until the shell in the pane shows its prompt.
const SHELL_UP: Duration = Duration::from_secs(15);
/// Until the dashboard is drawn: includes writing and hashing the demo content.
const DASHBOARD_UP: Duration = Duration::from_secs(90);
/// Until the demo download completes.
const DOWNLOAD: Duration = Duration::from_secs(180);
/// Until the screen shows the effect of a key.
const REACT: Duration = Duration::from_secs(15);
/// Until the program has stopped its torrents and the shell runs again.
const EXIT: Duration = Duration::from_secs(60);
/// The whole `--no-tui` run.
const PLAIN_RUN: Duration = Duration::from_secs(240);

/// The prompt of the shell in the pane; distinct from anything shoal prints.
const PROMPT: &str = "shell$";
/// Printed by the shell once shoal has exited, followed by its exit code.
const EXITED: &str = "SHOAL-EXITED rc=";
/// Printed by the shell after `stty -a`.
const STTY_END: &str = "STTY-END";

/// A tmux server of this test alone, with one session whose pane runs `/bin/sh`.
struct Tmux {
    socket: String,
    /// The socket file, removed at the end: `kill-server` leaves it behind.
    socket_path: Option<std::path::PathBuf>,
}

impl Tmux {
    /// Starts the server with a `width`×`height` window and waits for the shell's prompt.
    fn start(width: u16, height: u16) -> Self {
        require_tmux();
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let mut tmux = Self {
            socket: format!(
                "shoal-demo-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::SeqCst)
            ),
            socket_path: None,
        };
        // `ENV` unset: no start-up file changes the shell; the prompt is ours.
        let shell = format!("exec env -u ENV PS1='{PROMPT} ' /bin/sh");
        let (w, h) = (width.to_string(), height.to_string());
        tmux.ok(&[
            "new-session",
            "-d",
            "-s",
            "demo",
            "-x",
            &w,
            "-y",
            &h,
            &shell,
        ]);
        tmux.socket_path = Some(tmux.format("#{socket_path}").into());
        let size = tmux.format("#{window_width}x#{window_height}");
        assert_eq!(size, format!("{width}x{height}"), "tmux window size");
        tmux.wait_for("the shell's prompt", SHELL_UP, |s| {
            s.lines().any(|l| l.starts_with(PROMPT))
        });
        tmux
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        // No user configuration; a UTF-8 locale so the dashboard's box drawing survives;
        // not nested in a tmux the tests may be run from.
        cmd.args(["-L", &self.socket, "-f", "/dev/null"])
            .env("LC_ALL", "C.UTF-8")
            .env_remove("TMUX");
        cmd
    }

    /// Runs a tmux client command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (status, out, err) = run_bounded(self.command().args(args), TMUX_CALL);
        assert!(status.success(), "tmux {args:?} failed ({status}): {err}");
        out
    }

    /// The visible screen, one line per row.
    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-t", "demo"])
    }

    /// The visible screen with its colours and attributes as escape sequences.
    fn styled_screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-e", "-t", "demo"])
    }

    /// The main screen's history and visible rows, wrapped lines joined.
    fn history(&self) -> String {
        self.ok(&["capture-pane", "-p", "-J", "-S", "-", "-t", "demo"])
    }

    /// A tmux format expanded for the pane (`#{alternate_on}`, say).
    fn format(&self, format: &str) -> String {
        self.ok(&["display-message", "-p", "-t", "demo", format])
            .trim()
            .to_owned()
    }

    /// Presses keys by tmux name (`Tab`, `Escape`, `Enter`).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "demo"];
        args.extend_from_slice(keys);
        self.ok(&args);
    }

    /// Types `text` as it is.
    fn type_text(&self, text: &str) {
        self.ok(&["send-keys", "-t", "demo", "-l", text]);
    }

    /// Polls `capture` until `done` accepts it; fails with the last capture at the deadline.
    fn wait_with(
        &self,
        what: &str,
        limit: Duration,
        capture: impl Fn(&Self) -> String,
        mut done: impl FnMut(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = capture(self);
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "gave up after {limit:?} waiting for {what}; the screen:\n{screen}"
            );
            std::thread::sleep(POLL);
        }
    }

    fn wait_for(&self, what: &str, limit: Duration, done: impl FnMut(&str) -> bool) -> String {
        self.wait_with(what, limit, Self::screen, done)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends the shell and, through the closed terminal (SIGHUP), a shoal still running.
        let _ = try_run_bounded(self.command().arg("kill-server"), TMUX_CALL);
        if let Some(path) = &self.socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Fails, saying how to install it, when tmux cannot be run.
fn require_tmux() {
    let found = Command::new("tmux")
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "tmux is not installed, and these tests run the dashboard in a real terminal through \
         it: install it (`sudo apt-get install tmux`; scripts/test.sh does this)"
    );
}

/// Runs `cmd` to its end or kills it after `limit`; returns (status, stdout, stderr).
fn run_bounded(cmd: &mut Command, limit: Duration) -> (ExitStatus, String, String) {
    try_run_bounded(cmd, limit).unwrap_or_else(|e| panic!("{e}"))
}

/// [`run_bounded`] without panicking, for use in `drop`.
fn try_run_bounded(
    cmd: &mut Command,
    limit: Duration,
) -> Result<(ExitStatus, String, String), String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    // Read both pipes on their own threads so a full pipe never stalls the child.
    let (tx, rx) = mpsc::channel();
    drain(child.stdout.take(), false, tx.clone());
    drain(child.stderr.take(), true, tx);
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            other => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{cmd:?} did not finish within {limit:?}: {other:?}"
                ));
            }
        }
    };
    let (mut out, mut err) = (String::new(), String::new());
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(1);
        match rx.recv_timeout(left) {
            Ok((false, text)) => out = text,
            Ok((true, text)) => err = text,
            Err(e) => return Err(format!("{cmd:?}: its output did not end: {e}")),
        }
    }
    Ok((status, out, err))
}

/// Reads `pipe` to its end on a thread of its own and sends (`is_err`, text) to `tx`.
fn drain(pipe: Option<impl Read + Send + 'static>, is_err: bool, tx: mpsc::Sender<(bool, String)>) {
    std::thread::spawn(move || {
        let mut text = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut text);
        }
        let _ = tx.send((is_err, String::from_utf8_lossy(&text).into_owned()));
    });
}

/// `s` quoted for `/bin/sh`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The last octets of the 127.0.0.x addresses listed in the peers table.
fn peer_hosts(screen: &str) -> Vec<u8> {
    screen
        .lines()
        .filter_map(|l| l.split_once("│ 127.0.0."))
        .filter_map(|(_, rest)| {
            let (host, port) = rest.split_once(':')?;
            port.starts_with(|c: char| c.is_ascii_digit())
                .then(|| host.parse().ok())
                .flatten()
        })
        .collect()
}

/// The row of the demo torrent in the torrent list.
fn torrent_row(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.contains("shoal-demo"))
}

/// Whether the header's total download rate is above zero.
fn header_rate_above_zero(screen: &str) -> bool {
    let header = screen.lines().next().unwrap_or_default();
    header.starts_with("shoal · ")
        && header
            .split_once("↓ ")
            .is_some_and(|(_, rate)| !rate.starts_with("0 B/s"))
}

/// Whether the panel titled `title` is drawn focused: its title in bold.
fn focused(styled: &str, title: &str) -> bool {
    styled.lines().any(|line| {
        line.match_indices(title).any(|(at, _)| {
            // The escape sequences between the border's corner and the title.
            let before = &line[..at];
            let lead = before.rfind('┌').map_or("", |c| &before[c..]);
            lead.contains("\x1b[1m") || lead.contains("\x1b[1;")
        })
    })
}

/// The number written just before the first `label` in `text`: 6 in "6 hash failures" for
/// the label " hash failures".
fn number_before(text: &str, label: &str) -> Option<u64> {
    let (head, _) = text.split_once(label)?;
    let digits: String = head
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok()
}

/// Runs `shoal demo --size 32` in a `width`×`height` terminal, watches it download, drives
/// it with keys, quits and checks the terminal it leaves.
fn dashboard_session(width: u16, height: u16) {
    let wide = width >= 120 && height >= 40;
    let dir = TempDir::new().expect("temporary directory");
    let tmux = Tmux::start(width, height);
    let bin = shoal_bin();
    let bin = bin.to_str().expect("the shoal path is UTF-8");
    let dir_arg = dir.path().to_str().expect("the temporary path is UTF-8");
    // The markers are split by quotes so the typed command line never matches them.
    tmux.type_text(&format!(
        "{} demo --size 32 --dir {}; echo \"SHOAL-\"\"EXITED rc=$?\"; stty -a; echo STTY-\"\"END",
        sh_quote(bin),
        sh_quote(dir_arg)
    ));
    tmux.keys(&["Enter"]);

    // The dashboard comes up on the alternate screen.
    let first = tmux.wait_for("the dashboard", DASHBOARD_UP, |s| {
        s.contains("┌Torrents (1)") && torrent_row(s).is_some()
    });
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "1",
        "alternate screen:\n{first}"
    );
    assert!(first.contains("q quit  ? help"), "footer:\n{first}");

    // Watch the download: peers, progress and rates while it runs, then completion.
    let (mut peers_seen, mut progress_seen, mut rate_seen) = (None, None, None);
    let done = tmux.wait_for("the download to complete", DOWNLOAD, |s| {
        let hosts = peer_hosts(s);
        if peers_seen.is_none() && !hosts.is_empty() && s.contains("┌Peers (") {
            peers_seen = Some((hosts, s.to_owned()));
        }
        if progress_seen.is_none() && torrent_row(s).is_some_and(|r| r.contains(" download ")) {
            progress_seen = Some(s.to_owned());
        }
        if rate_seen.is_none() && header_rate_above_zero(s) {
            rate_seen = Some(s.to_owned());
        }
        torrent_row(s).is_some_and(|r| r.contains("seeding") && r.contains("100.0%"))
    });
    let (hosts, peer_screen) = peers_seen.unwrap_or_else(|| {
        panic!("no peer was ever listed during the download; at the end:\n{done}")
    });
    // The demo's seeders live on 127.0.0.201..=205; the downloader is .200.
    assert!(
        hosts.iter().all(|h| (201..=205).contains(h)),
        "peers {hosts:?} are not the demo's seeders:\n{peer_screen}"
    );
    let progress =
        progress_seen.unwrap_or_else(|| panic!("the torrent was never shown downloading:\n{done}"));
    assert!(
        torrent_row(&progress).is_some_and(|r| r.contains('%')),
        "no progress in the torrent row:\n{progress}"
    );
    let rates =
        rate_seen.unwrap_or_else(|| panic!("the header never showed a download rate:\n{done}"));
    if wide {
        // All panels are visible at once from 120x40.
        for title in ["┌Pieces", "┌Trackers (0)", "┌Peers (", "┌Rates"] {
            assert!(rates.contains(title), "no {title} panel:\n{rates}");
        }
        assert!(
            rates
                .lines()
                .any(|l| l.contains("│↓ ") && l.contains("peak")),
            "the rates panel shows no download rate:\n{rates}"
        );
    } else {
        // Below 120x40 the detail panels are tabs; Peers is the first shown.
        assert!(
            rates.contains(" Peers │ Pieces │ Trackers │ Rates"),
            "{rates}"
        );
    }

    // Tab moves the focus from the torrent list through the detail panels.
    assert!(
        focused(&tmux.styled_screen(), "Torrents (1)"),
        "initial focus"
    );
    tmux.keys(&["Tab"]);
    tmux.wait_with("focus on Peers", REACT, Tmux::styled_screen, |s| {
        focused(s, "Peers (") && !focused(s, "Torrents (1)")
    });
    tmux.keys(&["Tab"]);
    let pieces = tmux.wait_with("focus on Pieces", REACT, Tmux::styled_screen, |s| {
        focused(s, "Pieces")
    });
    if !wide {
        // The Pieces tab replaced the Peers tab.
        assert!(!pieces.contains("┌Peers ("), "Peers still shown:\n{pieces}");
    }
    // The engine refreshes the piece map about once a second, so it may trail the list.
    tmux.wait_for("the piece map to show every piece", REACT, |s| {
        s.contains("128/128 pieces")
    });
    for _ in 0..3 {
        tmux.keys(&["Tab"]);
    }
    tmux.wait_with("focus back on Torrents", REACT, Tmux::styled_screen, |s| {
        focused(s, "Torrents (1)")
    });

    // j and k on a one-torrent list keep it selected; the dashboard keeps running.
    tmux.keys(&["j", "j", "k"]);
    tmux.keys(&["k"]);
    let moved = tmux.screen();
    assert!(
        moved.contains("│▶shoal-demo"),
        "the only torrent lost its selection:\n{moved}"
    );

    // ? opens the key help; Esc closes it; ? toggles it.
    let help_open = |s: &str| s.contains("┌Keys") && s.contains("q / Ctrl-C");
    tmux.type_text("?");
    tmux.wait_for("the help popup", REACT, help_open);
    tmux.keys(&["Escape"]);
    tmux.wait_for("the help popup to close on Esc", REACT, |s| {
        !s.contains("┌Keys") && s.contains("┌Torrents (1)")
    });
    tmux.type_text("?");
    tmux.wait_for("the help popup again", REACT, help_open);
    tmux.type_text("?");
    tmux.wait_for("the help popup to close on ?", REACT, |s| {
        !s.contains("┌Keys") && s.contains("┌Torrents (1)")
    });

    // Enter shows the details: the corrupt seeder's hash failures and its ban.
    tmux.keys(&["Enter"]);
    let details = tmux.wait_for("the details popup", REACT, |s| {
        s.contains("Details (Esc closes)") && s.contains("info-hash")
    });
    let fails = number_before(&details, " hash failures");
    assert!(
        fails.is_some_and(|n| n > 0),
        "hash failures {fails:?}:\n{details}"
    );
    assert!(details.contains(" 1 banned"), "one peer banned:\n{details}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the details popup to close", REACT, |s| {
        !s.contains("Details (Esc closes)") && s.contains("┌Torrents (1)")
    });

    // q quits; the shell runs the rest of the line.
    tmux.type_text("q");
    let shell = tmux.wait_with("the shell after shoal", EXIT, Tmux::history, |s| {
        let mut lines = s.lines().skip_while(|l| !l.starts_with(STTY_END));
        lines.next().is_some() && lines.any(|l| l.starts_with(PROMPT))
    });
    assert_eq!(
        tmux.format("#{alternate_on}"),
        "0",
        "left the alternate screen"
    );
    assert_eq!(tmux.format("#{cursor_flag}"), "1", "cursor shown again");
    let exit = shell
        .lines()
        .find_map(|l| l.strip_prefix(EXITED))
        .unwrap_or_default();
    assert_eq!(exit.trim(), "0", "shoal's exit code:\n{shell}");

    // The terminal is back in cooked mode: raw mode turns these off.
    let stty: Vec<&str> = shell
        .lines()
        .skip_while(|l| !l.starts_with(EXITED))
        .take_while(|l| !l.starts_with(STTY_END))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ';'))
        .collect();
    for flag in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            stty.contains(&flag),
            "stty shows no `{flag}` (raw mode left on?):\n{shell}"
        );
    }

    // The main screen is as the shell left it, with shoal's lines after the dashboard.
    let visible = tmux.screen();
    assert!(
        !visible.contains("┌Torrents"),
        "the dashboard is still on the screen:\n{visible}"
    );
    assert!(
        shell
            .lines()
            .any(|l| l.starts_with(PROMPT) && l.contains(" demo --size 32 ")),
        "the typed command line is gone:\n{shell}"
    );
    assert!(
        shell.contains("preparing 32 MiB of demo content"),
        "{shell}"
    );
    assert!(
        shell.contains("demo: 128 of 128 pieces"),
        "summary line:\n{shell}"
    );
}

#[test]
fn dashboard_in_a_120x40_terminal() {
    dashboard_session(120, 40);
}

#[test]
fn dashboard_in_an_80x24_terminal() {
    dashboard_session(80, 24);
}

#[test]
fn demo_without_dashboard_reports_a_caught_liar() {
    let dir = TempDir::new().expect("temporary directory");
    let (status, out, err) = run_bounded(
        Command::new(shoal_bin())
            .args(["demo", "--no-tui", "--size", "16", "--dir"])
            .arg(dir.path()),
        PLAIN_RUN,
    );
    assert!(status.success(), "{status}\nstdout:\n{out}\nstderr:\n{err}");
    let last = out.lines().rev().find(|l| !l.trim().is_empty());
    let summary = last
        .and_then(|l| l.strip_prefix("demo: "))
        .unwrap_or_else(|| panic!("no summary line at the end:\n{out}"));
    // "64 of 64 pieces, 6 hash failures, 1 peers banned": 16 MiB in 256 KiB pieces.
    assert!(summary.starts_with("64 of 64 pieces, "), "{summary}");
    let fails = number_before(summary, " hash failures");
    assert!(
        fails.is_some_and(|n| n > 0),
        "the corrupt seeder caused no hash failure: {summary}"
    );
    assert!(summary.ends_with(", 1 peers banned"), "{summary}");
    assert!(dir.path().join("download").is_dir(), "--dir was not used");
}
