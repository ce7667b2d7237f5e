//! What a sandbox refused a command, as both engines report it
//! ([`Violation`], [`Refusals`]); and for a native command, as far as
//! cordon can see it.
//!
//! The kernel reports Landlock and seccomp denials to the command, as an
//! errno, not to cordon (Landlock ABI 7 audit records go to the audit log,
//! which needs a privileged reader). So cordon reads the command's stderr as
//! it passes through and recognises the messages that errno turns into in
//! the usual tools: a documented heuristic, good enough for the broker to
//! offer the grant that was missing, never used to allow anything.

use serde::Serialize;

/// What kind of access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Denied {
    /// A write (EACCES/EPERM/EROFS on a path).
    Write,
    /// A read of a hidden or unreadable path.
    Read,
    /// A socket, connection or name lookup.
    Network,
}

impl Denied {
    /// The words a refusal line uses for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Denied::Write => "a write",
            Denied::Read => "a read",
            Denied::Network => "network",
        }
    }
}

/// One refusal, with the stderr line it was read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// What kind of access was refused.
    pub denied: Denied,
    /// The quoted path or host in the message, when there is one.
    pub target: Option<String>,
    /// The line that reported it (bounded, for the person).
    pub line: String,
    /// How many lines reported this refusal (same kind and target).
    pub times: u64,
    /// Read from the command's stderr: the command chose the words, so
    /// this is a hint, never evidence. `false` for what cordon saw itself.
    pub from_stderr: bool,
    /// The engine that refused: `native` or `wasi` (what would allow it
    /// differs).
    #[serde(skip)]
    pub engine: &'static str,
}

/// The most distinct refusals kept for one run; lines reporting others
/// are counted.
pub const MAX_KEPT: usize = 100;

/// The most bytes of one stderr line read for a refusal; a longer line
/// is judged by its start.
const MAX_LINE: usize = 4096;

/// Refusals read from a command's stderr as it passes through, in bounded
/// memory whatever the command writes: lines cut at [`MAX_LINE`] bytes,
/// repeats counted, at most [`MAX_KEPT`] distinct ones.
#[derive(Default)]
pub struct Refusals {
    line: Vec<u8>,
    found: Vec<Violation>,
    /// Refusal lines about none of the kept ones, past [`MAX_KEPT`].
    more: u64,
}

impl Refusals {
    /// Reads `bytes` of the command's stderr, line by line.
    pub fn feed(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let (text, ends) = match chunk.split_last() {
                Some((b'\n', text)) => (text, true),
                _ => (chunk, false),
            };
            let room = MAX_LINE.saturating_sub(self.line.len());
            self.line.extend_from_slice(&text[..text.len().min(room)]);
            if ends {
                self.end_line();
            }
        }
    }

    fn end_line(&mut self) {
        if let Some(found) = classify(&String::from_utf8_lossy(&self.line)) {
            self.add(found);
        }
        self.line.clear();
    }

    /// Adds `found`, counted with an earlier one of the same kind and target.
    pub fn add(&mut self, found: Violation) {
        let same = |v: &&mut Violation| v.denied == found.denied && v.target == found.target;
        if let Some(earlier) = self.found.iter_mut().find(same) {
            earlier.times += found.times;
        } else if self.found.len() < MAX_KEPT {
            self.found.push(found);
        } else {
            self.more += 1;
        }
    }

    /// The refusals kept, and how many refusal lines were not.
    pub fn finish(mut self) -> (Vec<Violation>, u64) {
        if !self.line.is_empty() {
            self.end_line();
        }
        (self.found, self.more)
    }
}

const NETWORK: &[&str] = &[
    "Network is unreachable",
    "Address family not supported",
    "Temporary failure in name resolution",
    "Could not resolve host",
    "Name or service not known",
    "Connection refused",
];
const WRITE: &[&str] = &["Read-only file system"];
/// What opening a covered secret (a socket inode) fails with.
const COVERED: &[&str] = &["No such device or address"];
const DENIED: &[&str] = &["Permission denied", "Operation not permitted"];
const READ_VERBS: &[&str] = &["open", "read", "cat", "No such", "load"];

/// Classifies one line of stderr.
pub fn classify(line: &str) -> Option<Violation> {
    let denied = if NETWORK.iter().any(|m| line.contains(m)) {
        Denied::Network
    } else if COVERED.iter().any(|m| line.contains(m)) {
        Denied::Read
    } else if WRITE.iter().any(|m| line.contains(m)) {
        Denied::Write
    } else if DENIED.iter().any(|m| line.contains(m)) {
        // Without the syscall, a reading tool's message is the best hint.
        if READ_VERBS.iter().any(|v| line.contains(v)) && !line.contains("create") {
            Denied::Read
        } else {
            Denied::Write
        }
    } else {
        return None;
    };
    Some(Violation {
        denied,
        target: quoted(line).or_else(|| before_message(line)),
        line: line.trim_end().to_string(),
        times: 1,
        from_stderr: true,
        engine: "native",
    })
}

/// In `tool: ...: PATH: message`, the last word before the message (the
/// usual shape when the path is not quoted).
fn before_message(line: &str) -> Option<String> {
    let parts: Vec<&str> = line.trim_end().split(": ").collect();
    let word = parts.len().checked_sub(2).map(|i| parts[i])?;
    let word = word.split_whitespace().last()?;
    (word.contains('/') || word.contains('.')).then(|| word.to_string())
}

/// The first `'...'`, `‘...’` or `"..."` in a message.
fn quoted(line: &str) -> Option<String> {
    for (open, close) in [('\'', '\''), ('‘', '’'), ('"', '"')] {
        if let Some(start) = line.find(open) {
            let rest = &line[start + open.len_utf8()..];
            if let Some(end) = rest.find(close) {
                return Some(rest[..end].to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_usual_messages() {
        let v = classify("touch: cannot touch '/etc/x': Permission denied").unwrap();
        assert_eq!(
            (v.denied, v.target.as_deref()),
            (Denied::Write, Some("/etc/x"))
        );
        let v = classify("cat: .env: Permission denied").unwrap();
        assert_eq!(
            (v.denied, v.target.as_deref()),
            (Denied::Read, Some(".env"))
        );
        let v = classify("sh: 1: cannot create /tmp/o/x.txt: Read-only file system").unwrap();
        assert_eq!(v.target.as_deref(), Some("/tmp/o/x.txt"));
        let v = classify("sh: 1: cannot create .git/x: Read-only file system").unwrap();
        assert_eq!(v.denied, Denied::Write);
        let v = classify("curl: (6) Could not resolve host: example.com").unwrap();
        assert_eq!(v.denied, Denied::Network);
        assert!(classify("warning: unused variable").is_none());
    }

    #[test]
    fn refusals_are_read_in_bounded_memory() {
        let mut refusals = Refusals::default();
        // A line without end is kept to its first bytes only.
        for _ in 0..1000 {
            refusals.feed(&[b'x'; 64 * 1024]);
        }
        assert_eq!(refusals.line.len(), MAX_LINE);
        refusals.feed(b": Permission denied\n");
        assert!(refusals.line.is_empty());
        for i in 0..500 {
            refusals.feed(format!("cat: '/x{i}': Permission denied\n").as_bytes());
            refusals.feed(b"cat: '/same': Permission denied\n");
        }
        let (kept, more) = refusals.finish();
        assert_eq!(kept.len(), MAX_KEPT);
        let same = kept.iter().find(|v| v.target.as_deref() == Some("/same"));
        assert_eq!(same.unwrap().times, 500);
        assert_eq!(more, 500 - (MAX_KEPT as u64 - 1));
    }
}
