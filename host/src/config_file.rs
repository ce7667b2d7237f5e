//! Reading a file cordon takes decisions from: its configuration (rules,
//! the trust store, an approver script, a scenario) and the files of a
//! project it reads before anything runs (a gitfile, the git index, a
//! script it judges, a project's tool). Only a regular file is read, only
//! up to a size, and never through a symlink that leads out of the file's
//! directory: a project could otherwise point one at /dev/zero or a FIFO
//! and hold cordon before anything runs, or have it take a file from
//! elsewhere on the host for its own.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest rules, trust store, script or scenario file read.
pub const CONFIG_LIMIT: u64 = 1 << 20;

/// The whole of `path`, at most `limit` bytes.
///
/// # Errors
///
/// The file's own error (`NotFound` among them), or one saying it is a
/// symlink out of its directory, not a regular file, or over `limit`.
pub fn read(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_open(open_regular(path, Links::InDirectory)?, limit)
}

/// As [`read`], following symlinks wherever they lead, as git does for
/// the files of a repository cordon must find to protect.
///
/// # Errors
///
/// As [`read`], but for the symlink.
pub fn read_through_links(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    read_open(open_regular(path, Links::Anywhere)?, limit)
}

/// As [`read_through_links`], with where the file read really is, as its
/// descriptor tells (`None` where the platform cannot say).
///
/// # Errors
///
/// As [`read_through_links`].
pub fn read_through_links_from(path: &Path, limit: u64) -> io::Result<(Vec<u8>, Option<PathBuf>)> {
    let file = open_regular(path, Links::Anywhere)?;
    let real = crate::fd_path::real_path(&file);
    Ok((read_open(file, limit)?, real))
}

fn read_open(file: File, limit: u64) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    if len > limit {
        return Err(too_large(limit));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// As [`read`], as UTF-8 text.
///
/// # Errors
///
/// As [`read`], and text that is not UTF-8.
pub fn read_text(path: &Path, limit: u64) -> io::Result<String> {
    String::from_utf8(read(path, limit)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))
}

fn too_large(limit: u64) -> io::Error {
    io::Error::other(format!("larger than {limit} bytes; not read"))
}

/// Which symlinks [`open_regular`] follows.
#[derive(PartialEq)]
enum Links {
    InDirectory,
    Anywhere,
}

/// `path` opened for reading if it is a regular file, reached directly or
/// through a symlink `links` allows.
fn open_regular(path: &Path, links: Links) -> io::Result<File> {
    let is_link = path.symlink_metadata()?.file_type().is_symlink();
    let real = if is_link && links == Links::Anywhere {
        std::fs::canonicalize(path)?
    } else if is_link {
        let target = std::fs::canonicalize(path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        if target.parent() != Some(std::fs::canonicalize(dir)?.as_path()) {
            return Err(io::Error::other(format!(
                "a symlink out of its directory (to {}); not read",
                target.display()
            )));
        }
        target
    } else {
        PathBuf::from(path)
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Not a symlink swapped in since, and no wait on a FIFO.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = options.open(&real)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("not a regular file; not read"));
    }
    Ok(file)
}

/// An XDG base directory: `$var`, else `$HOME/under_home`, only when
/// absolute. The spec ignores a relative one, and cordon must: it would
/// name a directory inside whatever project cordon runs in, which could
/// then hold cordon's own configuration (trusting itself) or its cache.
pub fn xdg_dir(var: &str, under_home: &str) -> Option<PathBuf> {
    let absolute = |value: std::ffi::OsString| {
        let path = PathBuf::from(value);
        path.is_absolute().then_some(path)
    };
    match std::env::var_os(var).filter(|v| !v.is_empty()) {
        Some(value) => absolute(value),
        None => std::env::var_os("HOME")
            .and_then(absolute)
            .map(|home| home.join(under_home)),
    }
}

/// 1-based line of the byte `offset` in `text`, for `file:line` messages.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_bounded_regular_files_in_their_directory_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name);
        std::fs::write(at("rules.toml"), "x = 1\n").unwrap();
        assert_eq!(read_text(&at("rules.toml"), 100).unwrap(), "x = 1\n");
        std::os::unix::fs::symlink("rules.toml", at("same-dir")).unwrap();
        assert!(read(&at("same-dir"), 100).is_ok());
        for (name, target) in [("zero", "/dev/zero"), ("passwd", "/etc/passwd")] {
            std::os::unix::fs::symlink(target, at(name)).unwrap();
            let err = read(&at(name), 100).unwrap_err().to_string();
            assert!(err.contains("out of its directory"), "{err}");
        }
        let err = read_through_links(&at("zero"), 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        let fifo = std::ffi::CString::new(at("fifo").to_str().unwrap()).unwrap();
        // SAFETY: makes a FIFO at a path we own.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = read(&at("fifo"), 100).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::write(at("big"), vec![b'x'; 101]).unwrap();
        let err = read(&at("big"), 100).unwrap_err().to_string();
        assert!(err.contains("larger than 100 bytes"), "{err}");
        assert_eq!(
            read(&at("absent"), 100).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }
}
