//! The terminal side: raw mode and the alternate screen (always undone, also on panic), and
//! the event loop that feeds [`App::update`] and sends its commands on.

use std::io::{self, Stdout};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableBracketedPaste, EnableBracketedPaste, Event as TermEvent, EventStream,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures_core::Stream;
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::{mpsc, watch};

use crate::app::{App, Command};
use crate::ui::draw;
use crate::update::Event;
use crate::view::Snapshot;

/// How often the screen is redrawn without news: moves "ago" and "in" times and takes a
/// rate sample. Slow on purpose; an idle dashboard should cost nothing.
pub const TICK: Duration = Duration::from_secs(1);

/// Whether the terminal is in dashboard mode; the panic hook restores it only then.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Puts the terminal back: raw mode off, main screen, cursor shown. Errors are ignored
/// because there is nothing better to do with them at that point.
fn restore() {
    let _ = disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

/// Installs (once per process) a panic hook that restores the terminal before the previous
/// hook prints the panic, so the message lands on a usable screen.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if ACTIVE.swap(false, Ordering::SeqCst) {
                restore();
            }
            previous(info);
        }));
    });
}

/// Owns the terminal while the dashboard runs; dropping it restores the terminal on every
/// way out (return, `?`, panic unwinding).
struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        // From here on, a failure still restores through the guard's drop.
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            execute!(io::stdout(), EnterAlternateScreen, EnableBracketedPaste)?;
            let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
            terminal.clear()?;
            terminal.hide_cursor()?;
            Ok(terminal)
        };
        match setup() {
            Ok(terminal) => Ok(Self { terminal }),
            Err(e) => {
                if ACTIVE.swap(false, Ordering::SeqCst) {
                    restore();
                }
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if ACTIVE.swap(false, Ordering::SeqCst) {
            restore();
        }
    }
}

/// Runs the dashboard until the user quits (q or Ctrl-C) or the engine goes away (either
/// channel closes).
///
/// It redraws when a snapshot arrives, on terminal events (keys, paste, resize) and once per
/// [`TICK`]. It only reads `snapshots` and only `try_send`s on `commands`, so it never holds
/// the engine up: a full command channel shows a notice instead of waiting. On quit it sends
/// [`Command::Quit`] (best effort) and returns after restoring the terminal.
pub async fn run_dashboard(
    mut snapshots: watch::Receiver<Snapshot>,
    commands: mpsc::Sender<Command>,
) -> io::Result<()> {
    let mut guard = TerminalGuard::enter()?;
    let mut app = App::new(Instant::now());
    let first = snapshots.borrow_and_update().clone();
    app.update(Event::Snapshot(first, Instant::now()));

    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Raw mode turns Ctrl-C into a key, which `update` handles; this catches SIGINT sent
    // from elsewhere.
    let mut ctrl_c = pin!(tokio::signal::ctrl_c());

    loop {
        // A panic elsewhere in the process (an engine task, say) has restored the terminal
        // through the hook; drawing on would scribble over the panic message.
        if !ACTIVE.load(Ordering::SeqCst) {
            return Err(io::Error::other(
                "a panic restored the terminal; the dashboard stopped",
            ));
        }
        guard.terminal.draw(|frame| draw(frame, &app))?;
        let event = tokio::select! {
            _ = tick.tick() => Event::Tick(Instant::now()),
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return Ok(()); // The engine is gone.
                }
                Event::Snapshot(snapshots.borrow_and_update().clone(), Instant::now())
            }
            term = next_event(&mut events) => match term {
                Some(Ok(TermEvent::Key(key))) => Event::Key(key),
                Some(Ok(TermEvent::Paste(text))) => Event::Paste(text),
                // Resize and the rest: just redraw.
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            _ = &mut ctrl_c => {
                let _ = commands.try_send(Command::Quit);
                return Ok(());
            }
        };
        match app.update(event) {
            None => {}
            Some(Command::Quit) => {
                let _ = commands.try_send(Command::Quit);
                return Ok(());
            }
            Some(cmd) => match commands.try_send(cmd) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    app.update(Event::Notice(
                        "the engine is busy; the command was dropped, try again".into(),
                    ));
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
            },
        }
    }
}

/// The next terminal event. `EventStream` implements only the `Stream` trait, so it is
/// polled by hand rather than pulling in a stream-combinator crate for one call.
async fn next_event(events: &mut EventStream) -> Option<io::Result<TermEvent>> {
    std::future::poll_fn(|cx| Pin::new(&mut *events).poll_next(cx)).await
}
