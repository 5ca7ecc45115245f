//! Package identities and file digests as APK text files spell them.
//!
//! APK writes digests with a two-letter prefix: `Q1`/`Q2` for base64 SHA-1 /
//! SHA-256 and `X1`/`X2` for hex. A package's *identity* (`C:` in an index)
//! is the SHA-1 of its raw control member; file digests (`Z:`) use the same
//! spelling. We read all four forms and always write `Q1` for SHA-1, as
//! apk-tools does.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;

/// Standard base64 that, like apk-tools, ignores non-zero bits in the last
/// symbol (hand-written test indexes contain such digests).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// A digest read from `C:`, `Z:` or a PAX checksum.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Checksum {
    /// SHA-1, 20 bytes.
    Sha1([u8; 20]),
    /// SHA-256, 32 bytes.
    Sha256([u8; 32]),
}

/// A digest string that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid checksum '{text}': expected Q1/Q2 (base64) or X1/X2 (hex) followed by a SHA-1 or SHA-256 digest")]
pub struct InvalidChecksum {
    /// The rejected text.
    pub text: String,
}

impl Checksum {
    /// Parses `Q1…`, `Q2…`, `X1…` or `X2…`. Like apk-tools, a `Q1`/`X1`
    /// prefix followed by a SHA-256-sized payload is read as SHA-256.
    pub fn parse(text: &str) -> Result<Checksum, InvalidChecksum> {
        let err = || InvalidChecksum {
            text: text.to_owned(),
        };
        let (prefix, body) = (text.get(..2).ok_or_else(err)?, &text[2..]);
        let bytes = match prefix {
            "Q1" | "Q2" => LENIENT.decode(body).map_err(|_| err())?,
            "X1" | "X2" => hex::decode(body).map_err(|_| err())?,
            _ => return Err(err()),
        };
        Checksum::from_bytes(&bytes).ok_or_else(err)
    }

    /// Parses a bare 40-character hex SHA-1 (as in PAX `APK-TOOLS.checksum.SHA1`)
    /// or any prefixed form.
    pub fn parse_sha1_field(text: &str) -> Result<Checksum, InvalidChecksum> {
        if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let bytes = hex::decode(text).map_err(|_| InvalidChecksum {
                text: text.to_owned(),
            })?;
            if let Some(c) = Checksum::from_bytes(&bytes) {
                return Ok(c);
            }
        }
        Checksum::parse(text)
    }

    /// Wraps raw digest bytes of SHA-1 or SHA-256 length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Checksum> {
        match bytes.len() {
            20 => bytes.try_into().ok().map(Checksum::Sha1),
            32 => bytes.try_into().ok().map(Checksum::Sha256),
            _ => None,
        }
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Checksum::Sha1(b) => b,
            Checksum::Sha256(b) => b,
        }
    }

    /// The identity apk-tools keys packages on: the first 20 bytes.
    pub fn identity(&self) -> [u8; 20] {
        let mut id = [0u8; 20];
        id.copy_from_slice(&self.as_bytes()[..20]);
        id
    }

    /// True when both name the same package (same first 20 bytes).
    pub fn same_identity(&self, other: &Checksum) -> bool {
        self.identity() == other.identity()
    }
}

impl fmt::Display for Checksum {
    /// `Q1<base64>` for SHA-1 (what apk-tools writes), `Q2<base64>` for SHA-256.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checksum::Sha1(b) => write!(f, "Q1{}", STANDARD.encode(b)),
            Checksum::Sha256(b) => write!(f, "Q2{}", STANDARD.encode(b)),
        }
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_q1() {
        let c = Checksum::parse("Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=").unwrap();
        assert!(matches!(c, Checksum::Sha1(_)));
        assert_eq!(c.to_string(), "Q1LLq2qDNrS/qRnhxQ3hsY/sHbQnc=");
    }

    #[test]
    fn reads_hex_and_sha256_forms() {
        let hex40 = "d7f48d673ffc70ad9d48a2be709a55ad922e1784";
        let a = Checksum::parse_sha1_field(hex40).unwrap();
        let b = Checksum::parse(&format!("X1{hex40}")).unwrap();
        assert_eq!(a, b);
        let q1_long = format!("Q1{}", STANDARD.encode([7u8; 32]));
        assert!(matches!(
            Checksum::parse(&q1_long).unwrap(),
            Checksum::Sha256(_)
        ));
        assert!(Checksum::parse(&format!("X2{}", "ab".repeat(32)))
            .unwrap()
            .same_identity(&Checksum::Sha1([0xab; 20])));
    }

    #[test]
    fn accepts_non_canonical_trailing_bits() {
        // From apk-tools' solver suite: the last symbol has stray low bits.
        assert!(Checksum::parse("Q1EyN5AdpAOBJWKMR89ppC66EEEEj=").is_ok());
    }

    #[test]
    fn rejects_garbage() {
        for t in ["", "Q", "Q1", "Q1!!!", "Z1abcd", "X1abc", "Q1AAAA"] {
            assert!(Checksum::parse(t).is_err(), "{t}");
        }
    }
}
