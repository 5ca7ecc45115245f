//! Decompression bombs: gzip members that inflate to gigabytes, built in
//! milliseconds and a few MiB, to check that readers bound what they
//! inflate and refuse untrusted input before inflating it.
//!
//! The deflate stream repeats one block of 1 MiB of zeros compressed after
//! a full flush (which resets the compressor's history, so every copy of
//! the block decodes the same way); the CRC is combined, not computed over
//! the inflated bytes.

use apk::signature::SigningKey;
use flate2::{Compress, Compression, Crc, FlushCompress};
use sha2::Digest as _;

const CHUNK: usize = 1 << 20;

/// A gzip member holding a tar whose entries are `(name, size)` files of
/// zero bytes (each `size` a multiple of 1 MiB), then the tar end blocks.
pub fn zero_tar_member(entries: &[(&str, u64)]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut crc = Crc::new();
    let zeros = vec![0u8; CHUNK];
    let mut zero_crc = Crc::new();
    zero_crc.update(&zeros);
    let mut block: Option<Vec<u8>> = None;
    for &(name, size) in entries {
        assert_eq!(size % CHUNK as u64, 0, "sizes are whole MiB");
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        deflate(&mut c, h.as_bytes(), FlushCompress::Full, &mut out);
        crc.update(h.as_bytes());
        let block = block.get_or_insert_with(|| {
            let mut b = Vec::new();
            deflate(&mut c, &zeros, FlushCompress::Full, &mut b);
            b
        });
        for _ in 0..size / CHUNK as u64 {
            out.extend_from_slice(block);
            crc.combine(&zero_crc);
        }
    }
    let end = [0u8; 1024];
    deflate(&mut c, &end, FlushCompress::Finish, &mut out);
    crc.update(&end);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&crc.amount().to_le_bytes());
    out
}

/// An `APKINDEX.tar.gz` whose body inflates to `size` bytes of zeros in
/// an `APKINDEX` entry (plus a small `DESCRIPTION`), signed by `key` when
/// given (the signature is genuine: it covers the bomb).
pub fn index(entries: &[(&str, u64)], key: Option<&SigningKey>) -> Vec<u8> {
    let body = zero_tar_member(entries);
    let mut out = Vec::new();
    if let Some(key) = key {
        let entry = key
            .sign_sha256(&sha2::Sha256::digest(&body))
            .expect("signing");
        out.extend(apk::stream::signature_member(&entry, 0).expect("signature member"));
    }
    out.extend(body);
    out
}

fn deflate(c: &mut Compress, mut input: &[u8], flush: FlushCompress, out: &mut Vec<u8>) {
    loop {
        out.reserve(64 * 1024);
        let before = c.total_in();
        c.compress_vec(input, out, flush).expect("deflate");
        input = &input[(c.total_in() - before) as usize..];
        // Done when the input is consumed and the output buffer was not
        // filled (nothing pending).
        if input.is_empty() && out.len() < out.capacity() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn the_bomb_inflates_to_what_it_claims() {
        let member = zero_tar_member(&[("APKINDEX", 8 << 20)]);
        assert!(member.len() < 64 * 1024, "{}", member.len());
        let mut all = Vec::new();
        flate2::read::GzDecoder::new(&member[..])
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(all.len(), 512 + (8 << 20) + 1024);
        assert!(all[512..].iter().all(|&b| b == 0));
        let mut ar = tar::Archive::new(&all[..]);
        let e = ar.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(e.size(), 8 << 20);
    }
}
