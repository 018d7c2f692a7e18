//! `shoal create`: hash a file or folder into a .torrent file.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use shoal_core::create::{self, CreateOptions, PieceLength};

use crate::cli::CreateArgs;
use crate::human;
use crate::progress::ProgressLine;

pub fn run(
    args: &CreateArgs,
    out: &mut dyn Write,
    err: &mut (dyn Write + Send),
    terminal: bool,
) -> Result<()> {
    let opts = options(args)?;
    let content = create::scan(&args.path)?;
    for skipped in &content.skipped {
        writeln!(
            err,
            "shoal: warning: left out {} (not a regular file or folder)",
            skipped.display()
        )?;
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", content.name)));

    let created = if terminal {
        let line = ProgressLine::new(err);
        let r = create::create_from_content(&content, &opts, &|p| line.update(p));
        line.finish();
        r
    } else {
        create::create_from_content(&content, &opts, &|_| {})
    }?;

    write_output(&output, &created.torrent, args.force)?;
    writeln!(
        out,
        "wrote {}: {} ({} file{}, {}, {} pieces of {})",
        output.display(),
        created.name,
        created.file_count,
        if created.file_count == 1 { "" } else { "s" },
        human::size(created.total_length),
        created.piece_count,
        human::size(created.piece_length),
    )?;
    writeln!(out, "info-hash: {}", created.info_hash)?;
    Ok(())
}

/// Turns the arguments into [`CreateOptions`], refusing bad values before any hashing.
fn options(args: &CreateArgs) -> Result<CreateOptions> {
    let piece_length = if args.piece_length.eq_ignore_ascii_case("auto") {
        PieceLength::Auto
    } else {
        let Some(bytes) = human::parse_bytes(&args.piece_length) else {
            bail!(
                "--piece-length {:?}: expected `auto` or a byte count like 262144, 256K or 1M",
                args.piece_length
            );
        };
        PieceLength::Bytes(create::check_piece_length(bytes)?)
    };
    let trackers = args
        .trackers
        .iter()
        .map(|tier| tier.split(',').map(|u| u.trim().to_string()).collect())
        .collect();
    let creation_date = if args.no_date {
        None
    } else {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the system clock is before 1970")?;
        Some(i64::try_from(now.as_secs()).unwrap_or(i64::MAX))
    };
    Ok(CreateOptions {
        trackers,
        web_seeds: args.web_seeds.clone(),
        piece_length,
        private: args.private,
        source: args.source.clone(),
        comment: args.comment.clone(),
        creation_date,
        threads: args.threads,
        ..CreateOptions::default()
    })
}

/// Writes the torrent; an existing file is replaced only with `--force`.
fn write_output(path: &PathBuf, bytes: &[u8], force: bool) -> Result<()> {
    let opened = if force {
        fs::File::create(path)
    } else {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
    };
    let mut file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            bail!(
                "{} already exists (use --force to overwrite it)",
                path.display()
            )
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    };
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
