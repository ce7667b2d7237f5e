//! sha256 digests as cordon shows and reads them: lowercase hex.

use sha2::{Digest, Sha256};

/// `bytes` as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The sha256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// `text` as a sha256 digest (64 hex digits, either case), lowercase; `None`
/// for anything else.
pub fn parse_sha256(text: &str) -> Option<String> {
    (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_read_back_as_written() {
        let digest = sha256_hex(b"abc");
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_sha256(&digest.to_uppercase()), Some(digest.clone()));
        assert_eq!(parse_sha256(&digest[1..]), None);
        assert_eq!(parse_sha256(&format!("{}g", &digest[1..])), None);
    }
}
