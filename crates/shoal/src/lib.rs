//! The `shoal` command line.
//!
//! The CLI lives in a library so that tests can run it in-process ([`cli::run`]) with their
//! own output buffers; `main.rs` is a thin shell around it. Each command has its own module,
//! and this is the only crate of the workspace that uses `anyhow`: here errors end as one line
//! for a person to read, so their types no longer matter.

pub mod cli;
mod cmd_create;
mod cmd_demo;
mod cmd_download;
mod cmd_info;
mod discovery;
mod human;
mod progress;
mod progress_line;
mod runner;

pub use cli::run;
