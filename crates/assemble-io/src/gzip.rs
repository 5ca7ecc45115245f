//! Gzip on every core, with bytes that do not depend on how many cores.
//!
//! A layer is one gzip stream, and deflate is sequential: each block may
//! refer back 32 KiB into what came before. Like pigz, [`ParallelGzip`]
//! cuts the input into fixed blocks of [`BLOCK_SIZE`] bytes and compresses
//! each one independently, primed with the last 32 KiB of the previous
//! block as a preset dictionary (so the ratio stays close to a sequential
//! stream); every block but the last ends with a sync flush (an empty
//! stored block, which makes it end on a byte boundary), so the blocks'
//! outputs simply concatenate into one valid deflate stream. The CRC-32s
//! of the blocks are combined for the gzip trailer.
//!
//! Blocks that deflate cannot shrink (already compressed or random data:
//! high byte entropy and no repeated strings within the window, see
//! [`incompressible`]) are written as stored blocks without searching for
//! matches — deflate at level 6 would store them too, after spending most
//! of its time looking.
//!
//! Input up to [`SEQUENTIAL_LIMIT`] is compressed as one plain sequential
//! stream instead, through the same `flate2` encoder and with the same
//! writes as the caller made: a small layer gains nothing from blocks, and
//! its bytes stay exactly what earlier releases of this tool wrote (which
//! used that encoder), so small images keep their digests across the
//! upgrade. That stream depends on how the caller split its writes (zlib
//! sees the pieces) — the layer writer's pattern is fixed — never on
//! threads.
//!
//! What a block compresses to depends only on its bytes, the 32 KiB before
//! it, whether it is the last one, and the level — never on which thread
//! ran it or how the caller split its writes — so the output is identical
//! for 1 or N threads, run after run.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use crc32fast::Hasher as Crc;
use flate2::{Compress, Compression, FlushCompress, Status};

/// Bytes of input per independently compressed block (pigz's default).
pub const BLOCK_SIZE: usize = 128 * 1024;

/// Inputs up to this many bytes are one sequential deflate stream (see the
/// module docs); larger ones are cut into blocks.
pub const SEQUENTIAL_LIMIT: usize = 4 << 20;

/// The deflate window: how much of the previous block primes the next.
const DICT_SIZE: usize = 32 * 1024;

/// Gzip header: no name, no time (reproducible), OS "unknown".
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Environment variable setting the number of compression threads (the
/// output does not depend on it).
pub const THREADS_ENV: &str = "CARGO_ASSEMBLE_THREADS";

/// The number of threads to compress with: [`THREADS_ENV`] when set to a
/// positive number, else what the machine offers.
pub fn default_threads() -> usize {
    std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// One block to compress.
struct Job {
    seq: u64,
    /// The previous block (its last 32 KiB is the dictionary), if any.
    prev: Option<Arc<Vec<u8>>>,
    data: Arc<Vec<u8>>,
    last: bool,
}

/// A compressed block.
struct Done {
    seq: u64,
    out: io::Result<Vec<u8>>,
    crc: Crc,
}

/// True when deflate would not shrink `data` noticeably: its bytes are
/// close to uniformly distributed (order-0 entropy above 7.9 bits per
/// byte, so Huffman coding gains under 1.3%) and almost no 4-byte string
/// repeats within the 32 KiB window (so there is nothing for LZ77 to
/// match). Random and already-compressed data pass both tests; text,
/// code and binaries fail at least one.
pub fn incompressible(data: &[u8]) -> bool {
    if data.len() < 4096 {
        return false;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let n = data.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    if entropy < 7.9 {
        return false;
    }
    // Repeated 4-byte strings: remember where each hash was last seen.
    const BITS: u32 = 14;
    let mut last = vec![u32::MAX; 1 << BITS];
    let mut repeats = 0usize;
    let allowed = data.len() / 512;
    for i in 0..data.len() - 3 {
        let word = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let slot = (word.wrapping_mul(0x9E37_79B1) >> (32 - BITS)) as usize;
        let prev = last[slot];
        last[slot] = i as u32;
        if prev != u32::MAX
            && i - prev as usize <= DICT_SIZE
            && data[prev as usize..prev as usize + 4] == data[i..i + 4]
        {
            repeats += 1;
            if repeats > allowed {
                return false;
            }
        }
    }
    true
}

/// Writes `data` as stored deflate blocks (at most 65535 bytes each), the
/// last one final when `last`. Starts and ends on a byte boundary.
fn stored_blocks(data: &[u8], last: bool, out: &mut Vec<u8>) {
    let mut pieces = data.chunks(0xffff).peekable();
    if pieces.peek().is_none() {
        if last {
            out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        }
        return;
    }
    while let Some(piece) = pieces.next() {
        let final_piece = last && pieces.peek().is_none();
        let len = piece.len() as u16;
        out.push(u8::from(final_piece));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(piece);
    }
}

/// Compresses one block into raw deflate: sync-flushed, or finished when
/// it is the last block. Each block gets a fresh compressor: a reset one
/// keeps state that changes its output, which would make the bytes depend
/// on which blocks a thread compressed before.
fn compress_block(level: Compression, job: &Job) -> (io::Result<Vec<u8>>, Crc) {
    let mut crc = Crc::new();
    crc.update(&job.data);
    if incompressible(&job.data) {
        let mut out = Vec::with_capacity(job.data.len() + job.data.len() / 0xffff * 5 + 10);
        stored_blocks(&job.data, job.last, &mut out);
        return (Ok(out), crc);
    }
    let dict = job
        .prev
        .as_ref()
        .map(|prev| &prev[prev.len().saturating_sub(DICT_SIZE)..]);
    (deflate(level, dict, &job.data, job.last), crc)
}

/// Raw deflate of `data` with a fresh compressor primed with `dict`:
/// finished when `last`, else sync-flushed (ending on a byte boundary).
fn deflate(
    level: Compression,
    dict: Option<&[u8]>,
    data: &[u8],
    last: bool,
) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if let Some(dict) = dict {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let before = c.total_in();
        let status = c
            .compress_vec(input, &mut out, flush)
            .map_err(io::Error::other)?;
        input = &input[(c.total_in() - before) as usize..];
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete once all input is taken and the
            // output did not fill up.
            _ if !last && input.is_empty() && room_left => return Ok(out),
            _ => {}
        }
    }
}

/// A gzip writer that compresses on several threads; see the module docs.
/// Call [`ParallelGzip::finish`] to write the trailer and get `W` back.
pub struct ParallelGzip<W: Write> {
    inner: Option<W>,
    buf: Vec<u8>,
    prev: Option<Arc<Vec<u8>>>,
    next_seq: u64,
    next_write: u64,
    crc: Crc,
    /// Bytes taken in, modulo 2^32 (the trailer's ISIZE).
    crc_amount: u32,
    level: Compression,
    /// Compress on the calling thread (no workers).
    local: bool,
    jobs: Option<mpsc::SyncSender<Job>>,
    done: Option<mpsc::Receiver<Done>>,
    /// Finished blocks waiting for their turn to be written.
    ready: BTreeMap<u64, Done>,
    in_flight: usize,
    max_in_flight: usize,
    workers: Vec<JoinHandle<()>>,
    header_written: bool,
    /// Input held whole until it passes this size (see [`SEQUENTIAL_LIMIT`]).
    sequential_limit: usize,
    /// Past the limit: `buf` holds the current block.
    in_blocks: bool,
    /// Below the limit: the length of each write held in `buf`.
    writes: Vec<usize>,
}

impl<W: Write> ParallelGzip<W> {
    /// A writer compressing at `level` (0–9) on `threads` threads (1 means
    /// on the calling thread, no thread started).
    pub fn new(inner: W, level: u32, threads: usize) -> Self {
        Self::with_sequential_limit(inner, level, threads, SEQUENTIAL_LIMIT)
    }

    /// [`ParallelGzip::new`] with another size up to which the input is one
    /// sequential stream (0: always blocks).
    pub fn with_sequential_limit(inner: W, level: u32, threads: usize, limit: usize) -> Self {
        let level = Compression::new(level.min(9));
        let threads = threads.max(1);
        let mut w = ParallelGzip {
            inner: Some(inner),
            level,
            buf: Vec::with_capacity(BLOCK_SIZE),
            prev: None,
            next_seq: 0,
            next_write: 0,
            crc: Crc::new(),
            crc_amount: 0,
            local: threads == 1,
            jobs: None,
            done: None,
            ready: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: 2 * threads,
            workers: Vec::new(),
            header_written: false,
            sequential_limit: limit,
            in_blocks: false,
            writes: Vec::new(),
        };
        if threads > 1 {
            let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
            let (done_tx, done_rx) = mpsc::channel::<Done>();
            let job_rx = Arc::new(std::sync::Mutex::new(job_rx));
            for _ in 0..threads {
                let job_rx = Arc::clone(&job_rx);
                let done_tx = done_tx.clone();
                w.workers.push(std::thread::spawn(move || loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    let (out, crc) = compress_block(level, &job);
                    let done = Done {
                        seq: job.seq,
                        out,
                        crc,
                    };
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }));
            }
            w.jobs = Some(job_tx);
            w.done = Some(done_rx);
        }
        w
    }

    fn inner(&mut self) -> &mut W {
        self.inner.as_mut().expect("used after finish")
    }

    /// Hands the buffered block to a worker (or compresses it here).
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let data = Arc::new(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(if last { 0 } else { BLOCK_SIZE }),
        ));
        self.crc_amount = self.crc_amount.wrapping_add(data.len() as u32);
        let job = Job {
            seq: self.next_seq,
            prev: self.prev.replace(Arc::clone(&data)),
            data,
            last,
        };
        self.next_seq += 1;
        if self.local {
            let (out, crc) = compress_block(self.level, &job);
            return self.write_block(Done {
                seq: job.seq,
                out,
                crc,
            });
        }
        while self.in_flight >= self.max_in_flight {
            self.collect_one()?;
        }
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(io::Error::other("a compression thread stopped"));
        }
        self.in_flight += 1;
        Ok(())
    }

    /// Waits for one finished block and writes every block that is next.
    fn collect_one(&mut self) -> io::Result<()> {
        let done = self
            .done
            .as_ref()
            .and_then(|rx| rx.recv().ok())
            .ok_or_else(|| io::Error::other("a compression thread stopped"))?;
        self.in_flight -= 1;
        self.ready.insert(done.seq, done);
        while let Some(done) = self.ready.remove(&self.next_write) {
            self.write_block(done)?;
        }
        Ok(())
    }

    fn write_block(&mut self, done: Done) -> io::Result<()> {
        debug_assert_eq!(done.seq, self.next_write);
        if !self.header_written {
            self.inner().write_all(&HEADER)?;
            self.header_written = true;
        }
        self.inner().write_all(&done.out?)?;
        self.crc.combine(&done.crc);
        self.next_write += 1;
        Ok(())
    }

    /// Compresses what is left, writes the gzip trailer and returns the
    /// inner writer (not flushed).
    pub fn finish(mut self) -> io::Result<W> {
        if !self.in_blocks {
            let data = std::mem::take(&mut self.buf);
            let (level, writes) = (self.level, std::mem::take(&mut self.writes));
            let mut gz = flate2::GzBuilder::new().mtime(0).write(self.inner(), level);
            let mut at = 0;
            for n in writes {
                gz.write_all(&data[at..at + n])?;
                at += n;
            }
            gz.finish()?;
            self.stop_workers();
            return Ok(self.inner.take().expect("finished once"));
        }
        self.dispatch(true)?;
        while self.next_write < self.next_seq {
            self.collect_one()?;
        }
        let (sum, amount) = (self.crc.clone().finalize(), self.crc_amount);
        let inner = self.inner();
        inner.write_all(&sum.to_le_bytes())?;
        inner.write_all(&amount.to_le_bytes())?;
        self.stop_workers();
        Ok(self.inner.take().expect("finished once"))
    }

    fn stop_workers(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

impl<W: Write> Write for ParallelGzip<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if !self.in_blocks {
            if self.buf.len() + data.len() <= self.sequential_limit {
                self.buf.extend_from_slice(data);
                if !data.is_empty() {
                    self.writes.push(data.len());
                }
                return Ok(data.len());
            }
            self.in_blocks = true;
            self.writes = Vec::new();
            let held = std::mem::replace(&mut self.buf, Vec::with_capacity(BLOCK_SIZE));
            self.feed(&held)?;
        }
        self.feed(data)?;
        Ok(data.len())
    }

    /// Flushes the inner writer; buffered input stays until a block fills
    /// (flushing a partial block would make the bytes depend on when the
    /// caller flushes).
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

impl<W: Write> ParallelGzip<W> {
    /// Appends `data` to the current block, dispatching every full one.
    fn feed(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = (BLOCK_SIZE - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == BLOCK_SIZE {
                self.dispatch(false)?;
            }
        }
        Ok(())
    }
}

impl<W: Write> Drop for ParallelGzip<W> {
    fn drop(&mut self) {
        self.stop_workers();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// Text-like and random-like bytes, `len` of them, the same every run.
    fn sample(len: usize) -> Vec<u8> {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (out.len() / 50_000) % 2 == 0 {
                out.extend_from_slice(format!("line {} of the sample\n", x % 1000).as_bytes());
            } else {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    /// Always in blocks, whatever the size.
    fn gz(data: &[u8], threads: usize, write_size: usize) -> Vec<u8> {
        gz_limit(data, threads, write_size, 0)
    }

    fn gz_limit(data: &[u8], threads: usize, write_size: usize, limit: usize) -> Vec<u8> {
        let mut w = ParallelGzip::with_sequential_limit(Vec::new(), 6, threads, limit);
        for chunk in data.chunks(write_size.max(1)) {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut d = flate2::read::GzDecoder::new(data);
        d.read_to_end(&mut out).unwrap();
        // Exactly one member, nothing after it.
        let mut rest = Vec::new();
        d.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        out
    }

    #[test]
    fn same_bytes_for_any_thread_count_and_write_pattern() {
        for len in [
            0,
            1,
            BLOCK_SIZE - 1,
            BLOCK_SIZE,
            BLOCK_SIZE + 1,
            3 * BLOCK_SIZE,
            1_000_003,
        ] {
            let data = sample(len);
            let one = gz(&data, 1, 8192);
            assert_eq!(gunzip(&one), data, "len {len}");
            for (threads, write_size) in [(2, 8192), (4, 1), (3, 1 << 20), (8, 4099)] {
                if len > 200_000 && write_size == 1 {
                    continue;
                }
                assert_eq!(
                    gz(&data, threads, write_size),
                    one,
                    "len {len}, {threads} threads, writes of {write_size}"
                );
            }
        }
    }

    #[test]
    fn incompressible_blocks_are_stored_compressible_ones_are_not() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let noise: Vec<u8> = (0..BLOCK_SIZE)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(incompressible(&noise));
        // Random bytes repeated within the window: LZ77 halves it.
        let repeated: Vec<u8> = noise[..8192].repeat(BLOCK_SIZE / 8192);
        assert!(!incompressible(&repeated));
        // Text, and random letters (low entropy, no repeats).
        assert!(!incompressible(&sample(BLOCK_SIZE)[..50_000]));
        let letters: Vec<u8> = noise.iter().map(|b| b'a' + b % 26).collect();
        assert!(!incompressible(&letters));
        assert!(!incompressible(&noise[..100]), "too small to judge");
        // Stored blocks round-trip, alone, mixed and as the last block.
        let mut mixed = noise.clone();
        mixed.extend(sample(BLOCK_SIZE));
        mixed.extend(&noise);
        for data in [noise.clone(), mixed] {
            let one = gz(&data, 1, 10_000);
            assert_eq!(gunzip(&one), data);
            assert_eq!(gz(&data, 3, 77_777), one);
        }
        assert!(gz(&noise, 2, BLOCK_SIZE).len() < noise.len() + 64);
    }

    #[test]
    fn machine_code_gives_the_same_bytes_for_any_thread_count() {
        // Real binaries are where a compressor's leftover state shows.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let data = &exe[..exe.len().min(40 * BLOCK_SIZE)];
        let one = gz(data, 1, 1 << 16);
        assert_eq!(gunzip(&one), data);
        for threads in [2, 5, 16] {
            assert_eq!(gz(data, threads, 1 << 16), one, "{threads} threads");
        }
    }

    #[test]
    fn ratio_stays_close_to_a_sequential_stream() {
        let data = sample(2_000_000);
        let ours = gz(&data, 2, 65536).len();
        let mut seq = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        seq.write_all(&data).unwrap();
        let seq = seq.finish().unwrap().len();
        assert!(
            ours <= seq + seq / 50,
            "parallel {ours} vs sequential {seq}"
        );
    }

    #[test]
    fn the_crc_and_size_trailer_are_checked_by_other_readers() {
        let data = sample(700_000);
        let out = gz(&data, 2, 100_000);
        let mut d = flate2::read::MultiGzDecoder::new(&out[..]);
        let mut back = Vec::new();
        d.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let n = out.len();
        assert_eq!(&out[n - 4..], &(data.len() as u32).to_le_bytes());
    }

    #[test]
    fn small_inputs_are_what_flate2_writes_for_the_same_writes() {
        for len in [0, 1, 1000, 3 * BLOCK_SIZE + 5, 1_000_003] {
            let data = sample(len);
            for (threads, write_size) in [(1, 4096), (3, 1 << 20), (2, 77)] {
                let mut seq = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(Vec::new(), Compression::new(6));
                let mut ours = ParallelGzip::new(Vec::new(), 6, threads);
                for chunk in data.chunks(write_size) {
                    seq.write_all(chunk).unwrap();
                    ours.write_all(chunk).unwrap();
                }
                let ours = ours.finish().unwrap();
                assert_eq!(ours, seq.finish().unwrap(), "len {len}, {threads} threads");
                assert_eq!(gunzip(&ours), data);
            }
        }
    }

    #[test]
    fn crossing_the_sequential_limit_is_decided_by_size_alone() {
        let limit = 2 * BLOCK_SIZE + 17;
        for len in [limit - 1, limit, limit + 1, 5 * BLOCK_SIZE] {
            let data = sample(len);
            let one = gz_limit(&data, 1, 8192, limit);
            assert_eq!(gunzip(&one), data, "len {len}");
            let sequential = len <= limit;
            for threads in [2, 4] {
                assert_eq!(gz_limit(&data, threads, 8192, limit), one, "len {len}");
            }
            // Past the limit the write pattern no longer matters either.
            if !sequential {
                assert_eq!(gz_limit(&data, 3, 999, limit), one, "len {len}");
            }
            assert_eq!(
                one == gz_limit(&data, 1, 8192, usize::MAX),
                sequential,
                "len {len}"
            );
        }
    }
}
