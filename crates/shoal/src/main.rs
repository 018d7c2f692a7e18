//! The `shoal` binary: hands the process's arguments and streams to [`shoal::run`].

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Logs go to stderr, filtered by SHOAL_LOG (e.g. `SHOAL_LOG=debug`); warnings by default.
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let terminal = std::io::stderr().is_terminal();
    let code = shoal::run(
        std::env::args_os(),
        &mut std::io::stdout(),
        &mut std::io::stderr(),
        terminal,
    );
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
