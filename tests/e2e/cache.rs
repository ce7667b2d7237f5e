//! The compile cache: reused when intact, recompiled when not, never a
//! crash; and invalid modules are a clear host error.

use std::path::{Path, PathBuf};

use crate::support::{Layout, Wasi, probe};

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|rd| rd.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn run_with_cache(l: &Layout, dir: &Path) -> crate::support::Run {
    let mut cmd = crate::support::cordon();
    cmd.arg("run")
        .arg("--root")
        .arg(&l.root)
        .arg("--cache-dir")
        .arg(dir);
    crate::support::Cordon(cmd).wasm(&probe(Wasi::P1), &["read", "a.txt"])
}

fn with_extension(entries: &[PathBuf], ext: &str) -> PathBuf {
    entries
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == ext))
        .unwrap_or_else(|| panic!("no .{ext} in {entries:?}"))
        .clone()
}

#[test]
fn corrupt_and_foreign_cache_entries_are_recompiled() {
    let l = Layout::new();
    let dir = l.base.join("cache");
    run_with_cache(&l, &dir).expect_code(0);
    let stored = entries(&dir);
    assert_eq!(stored.len(), 3, "{stored:?}");
    assert!(dir.join("mac.key").is_file(), "{stored:?}");
    let artifact = with_extension(&stored, "cwasm");
    let check = with_extension(&stored, "check");
    let good = std::fs::read(&artifact).unwrap();

    // A flipped byte: the file is no longer the one cordon wrote; the
    // entry is compiled and written again.
    let mut corrupt = good.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&artifact, &corrupt).unwrap();
    let run = run_with_cache(&l, &dir);
    assert_eq!(run.expect_code(0).stdout(), "alpha\n");
    assert_eq!(
        std::fs::read(&artifact).unwrap(),
        good,
        "entry was not rewritten"
    );

    // A truncated artifact, and a damaged check file.
    std::fs::write(&artifact, &good[..20]).unwrap();
    assert_eq!(run_with_cache(&l, &dir).expect_code(0).stdout(), "alpha\n");
    std::fs::write(&check, b"cordon4\n").unwrap();
    assert_eq!(run_with_cache(&l, &dir).expect_code(0).stdout(), "alpha\n");
    assert_eq!(std::fs::read(&artifact).unwrap(), good);
}

/// Attack: plant native code in the compile cache with a check of one's
/// own making (its identity and length right, the tag made under a key
/// the attacker chose), so that cordon would map and run it outside any
/// sandbox. It is compiled again instead.
#[test]
fn a_planted_cache_entry_without_cordons_key_is_not_loaded() {
    let l = Layout::new();
    let dir = l.base.join("cache");
    run_with_cache(&l, &dir).expect_code(0);
    let stored = entries(&dir);
    let artifact = with_extension(&stored, "cwasm");
    let check = with_extension(&stored, "check");
    let good = std::fs::read(&artifact).unwrap();
    let mut planted = good.clone();
    let middle = planted.len() / 2;
    planted[middle] ^= 0xff;
    let staged = dir.join("staged");
    std::fs::write(&staged, &planted).unwrap();
    std::fs::rename(&staged, &artifact).unwrap();
    let meta = std::fs::metadata(&artifact).unwrap();
    let mut forged = std::fs::read(&check).unwrap();
    {
        use std::os::unix::fs::MetadataExt;
        let id = [
            meta.dev(),
            meta.ino(),
            meta.ctime() as u64,
            meta.ctime_nsec() as u64,
        ];
        for (slot, value) in forged[16..48].chunks_exact_mut(8).zip(id) {
            slot.copy_from_slice(&value.to_le_bytes());
        }
    }
    // A tag under a key of zeros: anything but cordon's own.
    let tail = forged.len() - 32;
    forged[tail..].copy_from_slice(&[0x42; 32]);
    std::fs::write(&check, &forged).unwrap();
    assert_eq!(run_with_cache(&l, &dir).expect_code(0).stdout(), "alpha\n");
    assert_eq!(
        std::fs::read(&artifact).unwrap(),
        good,
        "the planted entry stayed"
    );
}

#[test]
fn no_cache_writes_nothing() {
    let l = Layout::new();
    let dir = l.base.join("cache");
    let mut cmd = crate::support::cordon();
    cmd.arg("run")
        .arg("--root")
        .arg(&l.root)
        .arg("--cache-dir")
        .arg(&dir)
        .arg("--no-cache");
    crate::support::Cordon(cmd)
        .wasm(&probe(Wasi::P1), &["noop"])
        .expect_code(0);
    assert!(entries(&dir).is_empty());
}

#[test]
fn malformed_wasm_is_a_host_error() {
    let l = Layout::new();
    let cases: [(&str, &[u8]); 3] = [
        ("empty.wasm", b""),
        ("text.wasm", b"#!/bin/sh\necho hi\n"),
        ("broken.wasm", b"\0asm\x01\0\0\0\x01\xff\xff"),
    ];
    for (name, bytes) in cases {
        let path = l.base.join(name);
        std::fs::write(&path, bytes).unwrap();
        let run = l.cordon().wasm(&path, &[]);
        run.expect_code(125);
        let stderr = run.stderr();
        assert!(stderr.starts_with("cordon: "), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// A compile draws no spinner when stderr is not a terminal, however long
/// it takes: a slow one says so in one plain line (the drawing itself is
/// a unit test of wasi::program, where the work can outlast the delay on
/// any machine).
#[test]
fn a_compile_draws_nothing_without_a_terminal() {
    let l = Layout::new();
    let plain = l
        .cordon()
        .args(["--no-cache", "--", "cat", "a.txt"])
        .output();
    assert_eq!(plain.expect_code(0).stdout(), "alpha\n");
    let stderr = plain.stderr();
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(
        stderr.is_empty() || stderr == format!("{}\n", cordon::observe::COMPILING),
        "{stderr:?}"
    );
}
