//! A WASI program read from a file: its bytes and their digest, read once
//! so that the bytes judged by digest are the bytes that run.

use std::path::{Path, PathBuf};

/// A WASI program read from a file.
pub struct ProgramFile {
    /// The program's bytes.
    pub bytes: Vec<u8>,
    /// Their SHA-256.
    pub sha256: [u8; 32],
    /// Where the bytes were read from, as the descriptor read told
    /// (`None` where the platform cannot say).
    pub read_from: Option<PathBuf>,
}

impl ProgramFile {
    /// The digest as rules and listings show it.
    pub fn sha256_hex(&self) -> String {
        crate::digest::hex(&self.sha256)
    }
}

impl std::fmt::Debug for ProgramFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProgramFile(sha256:{})", self.sha256_hex())
    }
}

/// The largest WASI program read.
pub const PROGRAM_LIMIT: u64 = 512 << 20;

impl ProgramFile {
    /// Reads the program at `path` (through symlinks), at most
    /// [`PROGRAM_LIMIT`] bytes.
    ///
    /// # Errors
    ///
    /// The file cannot be read, or is larger than the limit.
    pub fn read(path: &Path) -> std::io::Result<ProgramFile> {
        use sha2::{Digest, Sha256};
        let (bytes, read_from) = crate::config_file::read_through_links_from(path, PROGRAM_LIMIT)?;
        let sha256 = Sha256::digest(&bytes).into();
        Ok(ProgramFile {
            bytes,
            sha256,
            read_from,
        })
    }
}
