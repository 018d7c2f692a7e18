//! Command-line arguments and the dispatch to one module per command.
//!
//! [`run`] takes its arguments and output streams as parameters instead of reaching for the
//! process's own, so the integration tests drive the whole CLI in-process and read exactly what
//! a user would see; `main.rs` only passes the real ones in.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::{cmd_create, cmd_demo, cmd_download, cmd_info};

/// shoal: a BitTorrent client.
#[derive(Debug, Parser)]
#[command(name = "shoal", version, about, disable_colored_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a .torrent file or a magnet link holds.
    Info(InfoArgs),
    /// Create a .torrent file from a file or a folder.
    Create(CreateArgs),
    /// Download a torrent (and seed it with --seed).
    Download(cmd_download::DownloadArgs),
    /// Check a torrent's data in a directory and seed it.
    Seed(cmd_download::SeedArgs),
    /// Run a complete swarm on loopback and download from it, with the dashboard.
    Demo(cmd_demo::DemoArgs),
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// A .torrent file, or a magnet link (magnet:?xt=...).
    pub target: OsString,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The file or folder to share.
    pub path: PathBuf,
    /// Where to write the .torrent file [default: NAME.torrent].
    #[arg(short, long, value_name = "OUT.torrent")]
    pub output: Option<PathBuf>,
    /// Tracker announce URL. Repeat for more tiers; `--tracker A,B` puts A and B in one tier.
    #[arg(short = 't', long = "tracker", value_name = "URL")]
    pub trackers: Vec<String>,
    /// Web seed URL (BEP 19). Repeatable.
    #[arg(short = 'w', long = "web-seed", value_name = "URL")]
    pub web_seeds: Vec<String>,
    /// `auto`, or a power of two from 16 KiB to 256 MiB: bytes, or with a suffix (256K, 1M).
    /// `auto` picks the smallest power of two from 16 KiB to 16 MiB that makes at most 2048
    /// pieces.
    #[arg(short = 'l', long, value_name = "auto|BYTES", default_value = "auto")]
    pub piece_length: String,
    /// Mark the torrent private (BEP 27): peers come only from its trackers.
    #[arg(short, long)]
    pub private: bool,
    /// A comment stored in the torrent.
    #[arg(short, long, value_name = "TEXT")]
    pub comment: Option<String>,
    /// A `source` tag in the info dictionary (changes the info-hash; used by private trackers).
    #[arg(short, long, value_name = "TEXT")]
    pub source: Option<String>,
    /// Leave out the creation date, so the same input always gives the same file.
    #[arg(long)]
    pub no_date: bool,
    /// Overwrite OUT.torrent if it exists.
    #[arg(short, long)]
    pub force: bool,
    /// Hashing threads (default: every core). For benchmarks.
    #[arg(long, hide = true)]
    pub threads: Option<std::num::NonZeroUsize>,
}

/// Exit code for a bad file, link or path.
pub const EXIT_FAILURE: i32 = 1;

/// Runs the CLI on `args` (the first one is the program name). `terminal` says whether
/// `err` is a terminal, which turns on live progress. Returns the process exit code: 0 on
/// success, 1 when the input was bad (one line on `err` says why), 2 for a usage error.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut (dyn Write + Send), terminal: bool) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().to_string();
            let stream: &mut dyn Write = if e.use_stderr() { err } else { out };
            let _ = stream.write_all(text.as_bytes());
            return e.exit_code();
        }
    };
    let result = match &cli.command {
        Command::Info(args) => cmd_info::run(args, out).map(|()| 0),
        Command::Create(args) => cmd_create::run(args, out, err, terminal).map(|()| 0),
        Command::Download(args) => cmd_download::run(args, out, terminal),
        Command::Seed(args) => cmd_download::run(&args.as_download(), out, terminal),
        Command::Demo(args) => cmd_demo::run(args, out, terminal),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` joins the context chain with ": "; any newline inside a message is
            // flattened so the user always gets exactly one line.
            let msg = format!("{e:#}").replace(['\n', '\r'], " ");
            let _ = writeln!(err, "shoal: {msg}");
            EXIT_FAILURE
        }
    }
}
