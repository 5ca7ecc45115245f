//! RSA signatures over APK packages and indexes, and the keyring that
//! decides which signers are trusted.
//!
//! A v2 signature is a tar entry `.SIGN.<TYPE>.<keyname>` holding a raw
//! RSASSA-PKCS1-v1_5 signature. The key is found by *file name*: the keyring
//! holds public keys under the name of the file they came from, and a
//! signature names the file it expects.

use std::fmt;
use std::path::{Path, PathBuf};

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

/// Hash algorithm named by the signature entry's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigAlgorithm {
    /// `.SIGN.RSA.` (SHA-1), what abuild writes.
    RsaSha1,
    /// `.SIGN.RSA256.` (SHA-256), what melange and our writer use.
    RsaSha256,
    /// `.SIGN.RSA512.` (SHA-512).
    RsaSha512,
}

impl SigAlgorithm {
    /// The `<TYPE>` part of the entry name.
    pub fn type_name(self) -> &'static str {
        match self {
            SigAlgorithm::RsaSha1 => "RSA",
            SigAlgorithm::RsaSha256 => "RSA256",
            SigAlgorithm::RsaSha512 => "RSA512",
        }
    }

    fn scheme(self) -> Pkcs1v15Sign {
        match self {
            SigAlgorithm::RsaSha1 => Pkcs1v15Sign::new::<Sha1>(),
            SigAlgorithm::RsaSha256 => Pkcs1v15Sign::new::<Sha256>(),
            SigAlgorithm::RsaSha512 => Pkcs1v15Sign::new::<Sha512>(),
        }
    }
}

/// Largest signature entry considered; apk-tools ignores larger ones.
pub const MAX_SIGNATURE_SIZE: u64 = 65536;

/// One `.SIGN.*` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureEntry {
    /// Hash algorithm.
    pub algorithm: SigAlgorithm,
    /// The key file name the signer used.
    pub key_name: String,
    /// The raw signature.
    pub signature: Vec<u8>,
}

/// Splits `.SIGN.<TYPE>.<keyname>` into algorithm and key name. Returns
/// `None` for other names and for unsupported types (DSA).
pub fn parse_entry_name(name: &str) -> Option<(SigAlgorithm, &str)> {
    let rest = name.strip_prefix(".SIGN.")?;
    // The type must be followed by '.', so RSA256 is never read as RSA.
    for alg in [
        SigAlgorithm::RsaSha256,
        SigAlgorithm::RsaSha512,
        SigAlgorithm::RsaSha1,
    ] {
        if let Some(key) = rest
            .strip_prefix(alg.type_name())
            .and_then(|r| r.strip_prefix('.'))
        {
            if !key.is_empty() {
                return Some((alg, key));
            }
        }
    }
    None
}

/// Incremental digests for every algorithm a set of signatures needs.
#[derive(Clone, Default)]
pub struct Digests {
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    sha512: Option<Sha512>,
}

impl Digests {
    /// Hashers for the algorithms used by `entries`.
    pub fn for_entries(entries: &[SignatureEntry]) -> Self {
        let mut d = Digests::default();
        for e in entries {
            match e.algorithm {
                SigAlgorithm::RsaSha1 => d.sha1 = Some(Sha1::new()),
                SigAlgorithm::RsaSha256 => d.sha256 = Some(Sha256::new()),
                SigAlgorithm::RsaSha512 => d.sha512 = Some(Sha512::new()),
            }
        }
        d
    }

    /// Feeds signed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(h) = &mut self.sha1 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha256 {
            h.update(bytes);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(bytes);
        }
    }

    fn finish(self, alg: SigAlgorithm) -> Option<Vec<u8>> {
        match alg {
            SigAlgorithm::RsaSha1 => self.sha1.map(|h| h.finalize().to_vec()),
            SigAlgorithm::RsaSha256 => self.sha256.map(|h| h.finalize().to_vec()),
            SigAlgorithm::RsaSha512 => self.sha512.map(|h| h.finalize().to_vec()),
        }
    }
}

/// Why signed content is not trusted. The messages say what is wrong, not
/// how to fix it: the fix depends on where keys come from (`--keyring` on
/// the command line, `keyring = [...]` in assembly.toml), which the caller
/// adds with [`SignatureError::UNSIGNED`] / [`SignatureError::UNKNOWN_KEY`]
/// to recognise the case in a rendered chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature entry at all.
    #[error("not signed (no .SIGN.* entry)")]
    Unsigned,
    /// Signed, but by no key in the keyring.
    #[error("signed by {wanted} which {is} not in the keyring (keyring has: {configured})")]
    UnknownKey {
        /// Key names the signatures ask for.
        wanted: KeyNames,
        /// "is" or "are", for the message.
        is: &'static str,
        /// Key names the keyring holds.
        configured: KeyNames,
    },
    /// A trusted key's signature does not match the content.
    #[error("bad signature: the signature by key '{key}' does not match the signed content (modified or corrupt)")]
    BadSignature {
        /// The key that was tried.
        key: String,
    },
}

impl SignatureError {
    /// Text that appears in the message of [`SignatureError::Unsigned`] only.
    pub const UNSIGNED: &'static str = "not signed (no .SIGN.* entry)";
    /// Text that appears in the message of [`SignatureError::UnknownKey`] only.
    pub const UNKNOWN_KEY: &'static str = "not in the keyring (keyring has:";
}

/// A list of key names, displayed quoted and comma-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyNames(pub Vec<String>);

impl fmt::Display for KeyNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no keys");
        }
        let quoted: Vec<String> = self.0.iter().map(|k| format!("'{k}'")).collect();
        f.write_str(&quoted.join(", "))
    }
}

/// A key file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file or directory cannot be read.
    #[error("cannot read key {path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: std::io::Error,
    },
    /// Not a PEM RSA key.
    #[error("{path} is not a PEM RSA {kind} key (expected '-----BEGIN {expected}-----')")]
    Format {
        /// The path.
        path: PathBuf,
        /// "public" or "private".
        kind: &'static str,
        /// The expected PEM label.
        expected: &'static str,
    },
    /// A directory holds no `*.pub` files.
    #[error("{0} holds no public keys (*.rsa.pub or *.pub)")]
    EmptyDir(PathBuf),
}

/// Trusted public keys, by file name.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: Vec<(String, RsaPublicKey)>,
}

/// Parses a PEM public key (SubjectPublicKeyInfo or PKCS#1).
pub fn parse_public_key(pem: &str) -> Option<RsaPublicKey> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .ok()
        .or_else(|| RsaPublicKey::from_pkcs1_pem(pem.trim()).ok())
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads keys from files and directories (each `*.pub` file inside a
    /// directory).
    pub fn load(paths: &[PathBuf]) -> Result<Self, KeyError> {
        let mut ring = Keyring::new();
        for p in paths {
            ring.add_path(p)?;
        }
        Ok(ring)
    }

    /// Adds one key file, or every `*.pub` file of a directory.
    pub fn add_path(&mut self, path: &Path) -> Result<(), KeyError> {
        let io = |error| KeyError::Io {
            path: path.to_owned(),
            error,
        };
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "pub"))
                .collect();
            if files.is_empty() {
                return Err(KeyError::EmptyDir(path.to_owned()));
            }
            files.sort();
            for f in files {
                self.add_file(&f)?;
            }
            Ok(())
        } else {
            self.add_file(path)
        }
    }

    fn add_file(&mut self, path: &Path) -> Result<(), KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|error| KeyError::Io {
            path: path.to_owned(),
            error,
        })?;
        let key = parse_public_key(&pem).ok_or_else(|| KeyError::Format {
            path: path.to_owned(),
            kind: "public",
            expected: "PUBLIC KEY",
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.insert(name, key);
        Ok(())
    }

    /// Adds a key under `name` (the file name signatures refer to).
    pub fn insert(&mut self, name: String, key: RsaPublicKey) {
        self.keys.retain(|(n, _)| *n != name);
        self.keys.push((name, key));
    }

    /// The key stored as `name`, also matching a file stored without the
    /// `.rsa.pub` suffix (as apko does).
    pub fn get(&self, name: &str) -> Option<&RsaPublicKey> {
        let bare = name.strip_suffix(".rsa.pub");
        self.keys
            .iter()
            .find(|(n, _)| n == name || Some(n.as_str()) == bare)
            .map(|(_, k)| k)
    }

    /// Names of all keys.
    pub fn names(&self) -> Vec<String> {
        self.keys.iter().map(|(n, _)| n.clone()).collect()
    }

    /// True when no key is loaded.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Accepts when any signature by a key in this ring verifies against
    /// `digests` (the hashes of the signed bytes). Returns the key name.
    pub fn verify(
        &self,
        entries: &[SignatureEntry],
        digests: Digests,
    ) -> Result<String, SignatureError> {
        if entries.is_empty() {
            return Err(SignatureError::Unsigned);
        }
        let mut bad = None;
        for e in entries {
            let Some(key) = self.get(&e.key_name) else {
                continue;
            };
            let Some(hash) = digests.clone().finish(e.algorithm) else {
                continue;
            };
            if verify_pkcs1v15(key, e.algorithm.scheme(), &hash, &e.signature) {
                return Ok(e.key_name.clone());
            }
            bad.get_or_insert_with(|| e.key_name.clone());
        }
        if let Some(key) = bad {
            return Err(SignatureError::BadSignature { key });
        }
        let wanted: Vec<String> = entries.iter().map(|e| e.key_name.clone()).collect();
        Err(SignatureError::UnknownKey {
            is: if wanted.len() == 1 { "is" } else { "are" },
            wanted: KeyNames(wanted),
            configured: KeyNames(self.names()),
        })
    }
}

/// A private key used by our writer, with the file name its public half is
/// published under (`<name>.rsa.pub`).
#[derive(Clone, Debug)]
pub struct SigningKey {
    /// The RSA private key.
    pub key: RsaPrivateKey,
    /// The public key's file name, written into `.SIGN.RSA256.<name>`.
    pub name: String,
}

impl SigningKey {
    /// Generates a fresh key (tests and examples). `bits` ≥ 2048 recommended.
    pub fn generate(name: &str, bits: usize) -> Result<Self, rsa::Error> {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), bits)?;
        Ok(SigningKey {
            key,
            name: name.to_owned(),
        })
    }

    /// Reads a PEM private key (PKCS#8 or PKCS#1). The public name is the
    /// file name with `.rsa.pub` appended when it has no `.pub` suffix.
    pub fn load(path: &Path, name: Option<&str>) -> Result<Self, KeyError> {
        let pem = std::fs::read_to_string(path).map_err(|error| KeyError::Io {
            path: path.to_owned(),
            error,
        })?;
        let key = RsaPrivateKey::from_pkcs8_pem(pem.trim())
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
            .map_err(|_| KeyError::Format {
                path: path.to_owned(),
                kind: "private",
                expected: "PRIVATE KEY",
            })?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => {
                let file = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let stem = file.strip_suffix(".rsa").unwrap_or(&file);
                format!("{stem}.rsa.pub")
            }
        };
        Ok(SigningKey { key, name })
    }

    /// The public key.
    pub fn public_key(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }

    /// PEM text of the public key (what goes into `<name>`).
    pub fn public_pem(&self) -> Result<String, rsa::pkcs8::spki::Error> {
        self.public_key().to_public_key_pem(LineEnding::LF)
    }

    /// PEM text of the private key (PKCS#8).
    pub fn private_pem(&self) -> Result<String, rsa::pkcs8::Error> {
        Ok(self.key.to_pkcs8_pem(LineEnding::LF)?.to_string())
    }

    /// Signs the SHA-256 of some bytes, giving a `.SIGN.RSA256.<name>` entry.
    pub fn sign_sha256(&self, sha256: &[u8]) -> Result<SignatureEntry, rsa::Error> {
        let signature = self.key.sign(Pkcs1v15Sign::new::<Sha256>(), sha256)?;
        Ok(SignatureEntry {
            algorithm: SigAlgorithm::RsaSha256,
            key_name: self.name.clone(),
            signature,
        })
    }

    /// A keyring that trusts this key.
    pub fn keyring(&self) -> Keyring {
        let mut ring = Keyring::new();
        ring.insert(self.name.clone(), self.public_key());
        ring
    }
}

/// RSASSA-PKCS1-v1_5 verification, as `RsaPublicKey::verify` does it,
/// with the public-key power computed by [`montgomery`] (the rsa crate's
/// generic `modpow` takes most of the time of a warm index load).
fn verify_pkcs1v15(key: &RsaPublicKey, scheme: Pkcs1v15Sign, hashed: &[u8], sig: &[u8]) -> bool {
    use rsa::traits::PublicKeyParts;
    let k = key.size();
    if scheme.hash_len.is_some_and(|n| n != hashed.len()) || sig.len() != k {
        return false;
    }
    let Some(em) = montgomery::power(key.n(), key.e(), sig) else {
        // Outside what the fast path handles (even modulus): the rsa crate.
        return key.verify(scheme, hashed, sig).is_ok();
    };
    // EM = 0x00 || 0x01 || PS (0xff…) || 0x00 || prefix || hash
    let prefix = &scheme.prefix;
    let t_len = prefix.len() + hashed.len();
    if k < t_len + 11 || em.len() != k {
        return false;
    }
    em[0] == 0
        && em[1] == 1
        && em[2..k - t_len - 1].iter().all(|&b| b == 0xff)
        && em[k - t_len - 1] == 0
        && em[k - t_len..k - hashed.len()] == prefix[..]
        && em[k - hashed.len()..] == *hashed
}

/// `s^e mod n` on 64-bit limbs with Montgomery multiplication (CIOS). Only
/// public values are involved (a signature check), so nothing here needs
/// to run in constant time.
mod montgomery {
    use rsa::BigUint;

    /// Little-endian 64-bit limbs of `x`, `len` of them.
    fn limbs(x: &BigUint, len: usize) -> Vec<u64> {
        let bytes = x.to_bytes_le();
        let mut out = vec![0u64; len];
        for (i, chunk) in bytes.chunks(8).enumerate().take(len) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            out[i] = u64::from_le_bytes(b);
        }
        out
    }

    /// `a >= b` for equal-length limb slices.
    fn ge(a: &[u64], b: &[u64]) -> bool {
        for i in (0..a.len()).rev() {
            if a[i] != b[i] {
                return a[i] > b[i];
            }
        }
        true
    }

    fn sub_in_place(a: &mut [u64], b: &[u64]) {
        let mut borrow = 0u64;
        for i in 0..a.len() {
            let (d1, o1) = a[i].overflowing_sub(b[i]);
            let (d2, o2) = d1.overflowing_sub(borrow);
            a[i] = d2;
            borrow = u64::from(o1 | o2);
        }
    }

    struct Modulus {
        n: Vec<u64>,
        /// `-n⁻¹ mod 2⁶⁴`.
        n0inv: u64,
        /// Scratch for [`Modulus::mul`]: `len + 1` limbs.
        t: Vec<u64>,
    }

    /// `a + b·c + carry` as (low limb, high limb); cannot overflow.
    #[inline(always)]
    fn mac(a: u64, b: u64, c: u64, carry: u64) -> (u64, u64) {
        let v = u128::from(a) + u128::from(b) * u128::from(c) + u128::from(carry);
        (v as u64, (v >> 64) as u64)
    }

    impl Modulus {
        /// `a·b·R⁻¹ mod n` (R = 2^(64·len)); inputs below n. One pass per
        /// limb of `b` adds `a·b[i]` and the multiple of n that clears the
        /// low limb, shifting down one limb as it goes.
        fn mul(&mut self, a: &[u64], b: &[u64], out: &mut [u64]) {
            let k = self.n.len();
            let (n, t) = (&self.n[..k], &mut self.t[..=k]);
            let a = &a[..k];
            t.fill(0);
            for &bi in b.iter().take(k) {
                let (u, mut c1) = mac(t[0], a[0], bi, 0);
                let m = u.wrapping_mul(self.n0inv);
                let (_, mut c2) = mac(u, m, n[0], 0);
                for j in 1..k {
                    let (x, c) = mac(t[j], a[j], bi, c1);
                    c1 = c;
                    let (y, c) = mac(x, m, n[j], c2);
                    c2 = c;
                    t[j - 1] = y;
                }
                let top = u128::from(t[k]) + u128::from(c1) + u128::from(c2);
                t[k - 1] = top as u64;
                t[k] = (top >> 64) as u64;
            }
            out.copy_from_slice(&t[..k]);
            if t[k] != 0 || ge(out, n) {
                sub_in_place(out, n);
            }
        }
    }

    /// `s^e mod n` as big-endian bytes of n's byte length, or `None` when
    /// the fast path does not apply (even or tiny modulus, `s >= n`; the
    /// caller then falls back or refuses as the rsa crate would).
    pub(super) fn power(n: &BigUint, e: &BigUint, sig: &[u8]) -> Option<Vec<u8>> {
        let n_bytes = n.to_bytes_be();
        let k = n_bytes.len().div_ceil(8);
        let n_limbs = limbs(n, k);
        if k == 0 || n_limbs[0] & 1 == 0 {
            return None;
        }
        let s = BigUint::from_bytes_be(sig);
        if &s >= n {
            return Some(Vec::new());
        }
        // Newton's iteration for n[0]⁻¹ mod 2⁶⁴.
        let mut inv = 1u64;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n_limbs[0].wrapping_mul(inv)));
        }
        let mut m = Modulus {
            n: n_limbs,
            n0inv: inv.wrapping_neg(),
            t: vec![0; k + 1],
        };
        let r2 = (BigUint::from(1u8) << (128 * k)) % n;
        let r2 = limbs(&r2, k);
        let s = limbs(&s, k);
        let mut x = vec![0u64; k];
        m.mul(&s, &r2, &mut x);
        // Left to right over the exponent's bits below the top one.
        let e = e.to_bytes_be();
        let bits = e.len() * 8 - e.first().map_or(8, |b| b.leading_zeros() as usize);
        let bit = |i: usize| e[e.len() - 1 - i / 8] >> (i % 8) & 1 == 1;
        if bits == 0 {
            return None;
        }
        let mut acc = x.clone();
        let mut tmp = vec![0u64; k];
        for i in (0..bits - 1).rev() {
            m.mul(&acc, &acc, &mut tmp);
            std::mem::swap(&mut acc, &mut tmp);
            if bit(i) {
                m.mul(&acc, &x, &mut tmp);
                std::mem::swap(&mut acc, &mut tmp);
            }
        }
        let mut one = vec![0u64; k];
        one[0] = 1;
        m.mul(&acc, &one, &mut tmp);
        let mut out = vec![0u8; n_bytes.len()];
        for (i, limb) in tmp.iter().enumerate() {
            for (j, byte) in limb.to_le_bytes().iter().enumerate() {
                let pos = i * 8 + j;
                if pos < out.len() {
                    let at = out.len() - 1 - pos;
                    out[at] = *byte;
                } else if *byte != 0 {
                    return None;
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_verification_agrees_with_the_rsa_crate() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for bits in [1024usize, 1031, 2048] {
            let key = RsaPrivateKey::new(&mut rng, bits).unwrap();
            let public = key.to_public_key();
            for round in 0..12 {
                let mut hash = [0u8; 32];
                rng.fill(&mut hash);
                let scheme = || Pkcs1v15Sign::new::<Sha256>();
                let mut sig = key.sign(scheme(), &hash).unwrap();
                match round % 6 {
                    0 => {}
                    1 => sig[round] ^= 1,
                    2 => hash[0] ^= 0x80,
                    3 => sig.truncate(sig.len() - 1),
                    4 => sig.iter_mut().for_each(|b| *b = 0xff),
                    _ => sig.push(0),
                }
                let theirs = public.verify(scheme(), &hash, &sig).is_ok();
                let ours = verify_pkcs1v15(&public, scheme(), &hash, &sig);
                assert_eq!(ours, theirs, "{bits} bits, round {round}");
                assert_eq!(ours, round % 6 == 0, "{bits} bits, round {round}");
                let sha1 = Pkcs1v15Sign::new::<Sha1>;
                assert!(!verify_pkcs1v15(&public, sha1(), &hash[..20], &sig));
            }
        }
    }

    #[test]
    fn entry_names() {
        assert_eq!(
            parse_entry_name(".SIGN.RSA.k.rsa.pub"),
            Some((SigAlgorithm::RsaSha1, "k.rsa.pub"))
        );
        assert_eq!(
            parse_entry_name(".SIGN.RSA256.k"),
            Some((SigAlgorithm::RsaSha256, "k"))
        );
        assert_eq!(parse_entry_name(".SIGN.RSA256k"), None);
        assert_eq!(parse_entry_name(".SIGN.DSA.k"), None);
        assert_eq!(parse_entry_name(".PKGINFO"), None);
    }

    #[test]
    fn sign_and_verify() {
        let key = SigningKey::generate("test.rsa.pub", 1024).unwrap();
        let hash = Sha256::digest(b"content");
        let entry = key.sign_sha256(&hash).unwrap();
        let mut d = Digests::for_entries(std::slice::from_ref(&entry));
        d.update(b"content");
        assert_eq!(
            key.keyring()
                .verify(std::slice::from_ref(&entry), d)
                .unwrap(),
            "test.rsa.pub"
        );

        let mut d = Digests::for_entries(std::slice::from_ref(&entry));
        d.update(b"Content");
        let err = key
            .keyring()
            .verify(std::slice::from_ref(&entry), d)
            .unwrap_err();
        assert!(matches!(err, SignatureError::BadSignature { .. }));

        let err = Keyring::new()
            .verify(&[entry], Digests::default())
            .unwrap_err();
        assert!(err.to_string().contains("'test.rsa.pub'"), "{err}");
    }

    #[test]
    fn loads_the_alpine_keys() {
        let dir = testkit::corpus("apk/keys/alpine");
        let ring = Keyring::load(&[dir]).unwrap();
        assert_eq!(ring.names().len(), 17);
        assert!(ring
            .get("alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub")
            .is_some());
        assert!(ring
            .get("alpine-devel@lists.alpinelinux.org-6165ee59")
            .is_none());
    }
}
