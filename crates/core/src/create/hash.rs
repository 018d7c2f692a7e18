//! Hashing the pieces of a new torrent on every core.
//!
//! # Why each worker reads its own pieces
//!
//! The obvious design, one thread reading the files in big chunks and handing them to hashing
//! threads, puts every `read()` copy on that one thread, and the chunks it hands over have
//! left the CPU cache by the time a hasher gets to them. Here the concatenated files are cut
//! into batches of consecutive pieces (at least [`BATCH_BYTES`], at least two pieces); each
//! worker claims the next batch from an atomic counter, reads it in slices of at most
//! [`READ_CHUNK`] into buffers that stay in cache, and hashes each slice right after reading
//! it. The reads of all workers still move forward through the files together, a few batches
//! apart, so the kernel's read-ahead sees an almost sequential stream.
//!
//! Whole pieces are hashed two at a time through the interleaved kernel of `sha1x2`, which
//! is what makes a core faster than a plain SHA-1 loop; a short last piece (or an odd one out
//! at the end of a batch) goes through the `sha1` crate alone.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use sha1::{Digest, Sha1};

use super::sha1x2::Sha1x2;
use super::walk::SourceFile;
use super::CreateError;

/// Work is handed out in batches of consecutive pieces of at least this many bytes, so the
/// shared counter is touched rarely and reads stay long.
pub const BATCH_BYTES: u64 = 4 << 20;

/// Bytes read per `read()` call: large enough to amortise the system call, small enough that
/// the buffer stays in the core's cache between reading and hashing.
pub const READ_CHUNK: u64 = 1 << 20;

/// SHA-1 of every piece of the files laid end to end, in piece order. `piece_length` must
/// pass [`super::check_piece_length`].
///
/// `progress` is called from the worker threads with the total number of bytes hashed so far,
/// after each batch. On the first error every worker stops and that error is returned.
pub fn hash_pieces(
    files: &[SourceFile],
    piece_length: u64,
    threads: NonZeroUsize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<[u8; 20]>, CreateError> {
    super::check_piece_length(piece_length)?;
    let stream = Stream::new(files);
    if stream.total == 0 {
        return Ok(Vec::new());
    }
    let piece_count = stream.total.div_ceil(piece_length);
    // At least two pieces per batch, so that pieces can be hashed in pairs.
    let per_batch = (BATCH_BYTES / piece_length).max(2);
    let batches = piece_count.div_ceil(per_batch);
    let shared = Shared {
        stream: &stream,
        piece_length,
        piece_count,
        per_batch,
        batches,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        hashed: AtomicU64::new(0),
        progress,
    };
    let workers = threads
        .get()
        .min(usize::try_from(batches).unwrap_or(usize::MAX));

    let results: Vec<Result<Vec<Batch>, CreateError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| scope.spawn(|| shared.work()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or(Err(CreateError::Internal("a hashing thread panicked")))
            })
            .collect()
    });

    let mut done = Vec::with_capacity(usize::try_from(batches).unwrap_or(0));
    for r in results {
        done.extend(r?);
    }
    done.sort_unstable_by_key(|b| b.index);
    let mut hashes = Vec::with_capacity(usize::try_from(piece_count).unwrap_or(0));
    for b in done {
        hashes.extend(b.hashes);
    }
    // Every batch below `batches` was claimed by exactly one worker; a gap would mean a worker
    // stopped early without reporting an error, which `work` never does.
    debug_assert_eq!(hashes.len() as u64, piece_count);
    Ok(hashes)
}

/// The hashes of one batch of consecutive pieces.
struct Batch {
    /// Which batch: its first piece is `index * per_batch`.
    index: u64,
    hashes: Vec<[u8; 20]>,
}

/// The non-empty files as one byte stream.
struct Stream<'a> {
    files: Vec<&'a SourceFile>,
    /// Offset in the stream where each of `files` starts.
    starts: Vec<u64>,
    total: u64,
}

impl<'a> Stream<'a> {
    fn new(all: &'a [SourceFile]) -> Self {
        let mut files = Vec::new();
        let mut starts = Vec::new();
        let mut total = 0u64;
        for f in all.iter().filter(|f| f.length > 0) {
            files.push(f);
            starts.push(total);
            total = total.saturating_add(f.length);
        }
        Stream {
            files,
            starts,
            total,
        }
    }

    /// Index of the file holding stream offset `off` (< total).
    fn file_at(&self, off: u64) -> usize {
        self.starts.partition_point(|&s| s <= off).saturating_sub(1)
    }
}

struct Shared<'a> {
    stream: &'a Stream<'a>,
    piece_length: u64,
    piece_count: u64,
    per_batch: u64,
    batches: u64,
    next: AtomicUsize,
    stop: AtomicBool,
    hashed: AtomicU64,
    progress: &'a (dyn Fn(u64) + Sync),
}

/// A worker's open file, kept between reads so that a file is opened once per worker.
struct OpenFile {
    index: usize,
    file: File,
    /// Where the next `read()` of `file` starts, to skip needless seeks.
    pos: u64,
}

/// Files a worker keeps open: a piece pair reads from two places, each of which may cross
/// into the next file.
const OPEN_FILES: usize = 4;

/// One worker's buffers and open files.
struct Reader {
    a: Vec<u8>,
    b: Vec<u8>,
    open: Vec<OpenFile>,
}

impl Shared<'_> {
    fn work(&self) -> Result<Vec<Batch>, CreateError> {
        let r = self.work_inner();
        if r.is_err() {
            self.stop.store(true, Ordering::Relaxed);
        }
        r
    }

    fn work_inner(&self) -> Result<Vec<Batch>, CreateError> {
        let chunk = usize::try_from(self.piece_length.min(READ_CHUNK)).unwrap_or(1 << 20);
        let mut rd = Reader {
            a: vec![0u8; chunk],
            b: vec![0u8; chunk],
            open: Vec::with_capacity(OPEN_FILES),
        };
        let mut out = Vec::new();
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(out);
            }
            let batch = self.next.fetch_add(1, Ordering::Relaxed) as u64;
            if batch >= self.batches {
                return Ok(out);
            }
            let first = batch * self.per_batch;
            let end = (first + self.per_batch).min(self.piece_count);
            let mut hashes = Vec::with_capacity((end - first) as usize);
            let mut piece = first;
            while piece < end {
                // Two whole pieces go through the interleaved kernel together; a lone or
                // short last piece is hashed on its own.
                let pair_end = (piece + 2) * self.piece_length;
                if piece + 1 < end && pair_end <= self.stream.total {
                    let (ha, hb) = self.hash_pair(piece, &mut rd)?;
                    hashes.push(ha);
                    hashes.push(hb);
                    piece += 2;
                } else {
                    hashes.push(self.hash_one(piece, &mut rd)?);
                    piece += 1;
                }
            }
            let start = first * self.piece_length;
            let stop = (end * self.piece_length).min(self.stream.total);
            out.push(Batch {
                index: batch,
                hashes,
            });
            let bytes = stop - start;
            let total = self.hashed.fetch_add(bytes, Ordering::Relaxed) + bytes;
            (self.progress)(total);
        }
    }

    fn hash_one(&self, piece: u64, rd: &mut Reader) -> Result<[u8; 20], CreateError> {
        let start = piece * self.piece_length;
        let stop = (start + self.piece_length).min(self.stream.total);
        let mut sha = Sha1::new();
        let mut off = start;
        while off < stop {
            let n = (stop - off).min(rd.a.len() as u64) as usize;
            let buf =
                rd.a.get_mut(..n)
                    .ok_or(CreateError::Internal("read larger than the buffer"))?;
            self.read_into(off, buf, &mut rd.open)?;
            sha.update(&*buf);
            off += n as u64;
        }
        Ok(sha.finalize().into())
    }

    /// Pieces `piece` and `piece + 1`, both whole.
    fn hash_pair(&self, piece: u64, rd: &mut Reader) -> Result<([u8; 20], [u8; 20]), CreateError> {
        let start_a = piece * self.piece_length;
        let start_b = start_a + self.piece_length;
        let mut sha = Sha1x2::new();
        let mut off = 0;
        // The buffers are `min(piece length, READ_CHUNK)` long, both powers of two, so every
        // slice handed to the kernel is a whole number of 64-byte blocks.
        let n = rd.a.len() as u64;
        while off < self.piece_length {
            self.read_into(start_a + off, &mut rd.a, &mut rd.open)?;
            self.read_into(start_b + off, &mut rd.b, &mut rd.open)?;
            sha.update(&rd.a, &rd.b);
            off += n;
        }
        Ok(sha.finalize())
    }

    /// Fills `dst` with stream bytes from `start`, across file boundaries.
    fn read_into(
        &self,
        start: u64,
        dst: &mut [u8],
        open: &mut Vec<OpenFile>,
    ) -> Result<(), CreateError> {
        let mut done = 0usize;
        while done < dst.len() {
            let pos = start + done as u64;
            let index = self.stream.file_at(pos);
            let (Some(src), Some(&file_start)) =
                (self.stream.files.get(index), self.stream.starts.get(index))
            else {
                // Offsets below `total` always land in a file; this is unreachable.
                return Err(CreateError::Internal("stream offset outside every file"));
            };
            let in_file = pos - file_start;
            let want = ((dst.len() - done) as u64).min(src.length.saturating_sub(in_file));
            if want == 0 {
                return Err(CreateError::Internal("read past the end of the content"));
            }
            let slot = match open.iter().position(|o| o.index == index) {
                Some(slot) => slot,
                None => {
                    let file =
                        File::open(&src.fs_path).map_err(|e| CreateError::io(&src.fs_path, e))?;
                    if open.len() >= OPEN_FILES {
                        open.remove(0);
                    }
                    open.push(OpenFile {
                        index,
                        file,
                        pos: 0,
                    });
                    open.len() - 1
                }
            };
            let of = open
                .get_mut(slot)
                .ok_or(CreateError::Internal("open file slot missing"))?;
            if of.pos != in_file {
                of.file
                    .seek(SeekFrom::Start(in_file))
                    .map_err(|e| CreateError::io(&src.fs_path, e))?;
                of.pos = in_file;
            }
            let part = dst
                .get_mut(done..done + want as usize)
                .ok_or(CreateError::Internal("read larger than the buffer"))?;
            of.file.read_exact(part).map_err(|e| {
                if e.kind() == ErrorKind::UnexpectedEof {
                    CreateError::FileShrank(src.fs_path.clone())
                } else {
                    CreateError::io(&src.fs_path, e)
                }
            })?;
            of.pos += want;
            done += want as usize;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn file(dir: &Path, name: &str, bytes: &[u8]) -> SourceFile {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        SourceFile {
            components: vec![name.to_string()],
            fs_path: p,
            length: bytes.len() as u64,
        }
    }

    fn reference(data: &[u8], piece: usize) -> Vec<[u8; 20]> {
        data.chunks(piece).map(|c| Sha1::digest(c).into()).collect()
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31) ^ seed)
            .collect()
    }

    #[test]
    fn pieces_straddle_files_and_threads_agree() {
        let dir = tempfile::tempdir().unwrap();
        let a = pattern(40_000, 1);
        let b = pattern(0, 2);
        let c = pattern(70_001, 3);
        let files = vec![
            file(dir.path(), "a", &a),
            file(dir.path(), "b", &b),
            file(dir.path(), "c", &c),
        ];
        let all: Vec<u8> = [a, b, c].concat();
        let piece = 16 * 1024;
        let want = reference(&all, piece);
        assert_eq!(want.len(), 7); // short last piece
        for threads in [1, 2, 5] {
            let seen = AtomicU64::new(0);
            let got = hash_pieces(
                &files,
                piece as u64,
                NonZeroUsize::new(threads).unwrap(),
                &|n| {
                    seen.fetch_max(n, Ordering::Relaxed);
                },
            )
            .unwrap();
            assert_eq!(got, want, "threads={threads}");
            assert_eq!(seen.load(Ordering::Relaxed), all.len() as u64);
        }
    }

    #[test]
    fn many_batches_keep_piece_order() {
        let dir = tempfile::tempdir().unwrap();
        // 9 MiB at 16 KiB pieces: three batches of 256 pieces plus a partial one.
        let data = pattern(9 * 1024 * 1024 + 5, 9);
        let files = vec![file(dir.path(), "big", &data)];
        let got = hash_pieces(&files, 16384, NonZeroUsize::new(3).unwrap(), &|_| {}).unwrap();
        assert_eq!(got, reference(&data, 16384));
    }

    #[test]
    fn pairs_across_many_small_files() {
        // 100 files of 1000 bytes: every 16 KiB piece spans 17 or 18 files, more than a
        // worker keeps open, so files are reopened and reads seek.
        let dir = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        let files: Vec<SourceFile> = (0..100)
            .map(|i| {
                let data = pattern(1000, i as u8);
                all.extend_from_slice(&data);
                file(dir.path(), &format!("f{i:03}"), &data)
            })
            .collect();
        for threads in [1, 3] {
            let got =
                hash_pieces(&files, 16384, NonZeroUsize::new(threads).unwrap(), &|_| {}).unwrap();
            assert_eq!(got, reference(&all, 16384), "threads={threads}");
        }
    }

    #[test]
    fn piece_length_is_checked() {
        let err = hash_pieces(&[], 1000, NonZeroUsize::MIN, &|_| {}).unwrap_err();
        assert!(matches!(err, CreateError::BadPieceLength(1000)));
    }

    #[test]
    fn shrunk_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let mut f = file(dir.path(), "a", b"abc");
        f.length = 10;
        let err = hash_pieces(&[f], 16384, NonZeroUsize::MIN, &|_| {}).unwrap_err();
        assert!(matches!(err, CreateError::FileShrank(_)), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let f = SourceFile {
            components: vec!["gone".into()],
            fs_path: dir.path().join("gone"),
            length: 5,
        };
        let err = hash_pieces(&[f], 16384, NonZeroUsize::MIN, &|_| {}).unwrap_err();
        assert!(err.to_string().contains("gone"), "{err}");
    }
}
