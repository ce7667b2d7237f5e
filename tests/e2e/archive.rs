//! The built-in tar extracting archives built to escape: absolute and `..`
//! member names, symlinks and hard links that lead out, each archive
//! written raw (ustar) here. Every test extracts into `dest/` inside the
//! root, names its attack, asserts tar's refusal (exit code and message),
//! and asserts that nothing but `dest/` changed: not outside the root,
//! where the sandbox would stop a write anyway, nor in the rest of the
//! root, which the sandbox allows and only tar's own checks protect.

use std::path::Path;

use crate::support::{Layout, Run, Snapshot, snapshot};

/// Every member's modification time: 2023-11-14 22:13:20 UTC.
const MTIME: u64 = 1_700_000_000;

/// One archive member: its type flag (`0` file, `1` hard link, `2`
/// symlink, `5` directory), name, link target and data.
struct Member<'a> {
    kind: u8,
    name: &'a str,
    link: &'a str,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Member<'a> {
    Member {
        kind: b'0',
        name,
        link: "",
        data,
    }
}

fn dir(name: &str) -> Member<'_> {
    Member {
        kind: b'5',
        name,
        link: "",
        data: b"",
    }
}

fn symlink<'a>(name: &'a str, target: &'a str) -> Member<'a> {
    Member {
        kind: b'2',
        name,
        link: target,
        data: b"",
    }
}

fn hard_link<'a>(name: &'a str, target: &'a str) -> Member<'a> {
    Member {
        kind: b'1',
        name,
        link: target,
        data: b"",
    }
}

/// A ustar archive of `members`, ended by two zero blocks.
fn ustar(members: &[Member]) -> Vec<u8> {
    let mut archive = Vec::new();
    for member in members {
        archive.extend_from_slice(&header(member));
        archive.extend_from_slice(member.data);
        archive.resize(archive.len().next_multiple_of(512), 0);
    }
    archive.resize(archive.len() + 1024, 0);
    archive
}

/// A member's 512-byte ustar header. A name longer than its field is
/// split at a `/` into the prefix field, as ustar allows.
fn header(member: &Member) -> [u8; 512] {
    let mut header = [0u8; 512];
    let (prefix, name) = split_name(member.name);
    let mode: &[u8] = if member.kind == b'5' {
        b"0000755\0"
    } else {
        b"0000644\0"
    };
    put(&mut header[0..100], name.as_bytes());
    put(&mut header[100..108], mode);
    put(&mut header[108..116], b"0000000\0");
    put(&mut header[116..124], b"0000000\0");
    put(
        &mut header[124..136],
        format!("{:011o}\0", member.data.len()).as_bytes(),
    );
    put(&mut header[136..148], format!("{MTIME:011o}\0").as_bytes());
    header[156] = member.kind;
    put(&mut header[157..257], member.link.as_bytes());
    put(&mut header[257..265], b"ustar\x0000");
    put(&mut header[265..297], b"root");
    put(&mut header[297..329], b"root");
    put(&mut header[345..500], prefix.as_bytes());
    // The checksum counts its own field as spaces.
    header[148..156].fill(b' ');
    let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put(&mut header[148..156], format!("{sum:06o}\0 ").as_bytes());
    header
}

fn split_name(name: &str) -> (&str, &str) {
    if name.len() <= 100 {
        return ("", name);
    }
    name.match_indices('/')
        .map(|(at, _)| at)
        .find(|&at| at > 0 && at <= 155 && name.len() - at - 1 <= 100)
        .map(|at| (&name[..at], &name[at + 1..]))
        .unwrap_or_else(|| panic!("{name} does not fit a ustar header"))
}

fn put(field: &mut [u8], value: &[u8]) {
    assert!(value.len() <= field.len(), "{value:?} does not fit");
    field[..value.len()].copy_from_slice(value);
}

/// `data` as a gzip stream of stored (uncompressed) deflate blocks.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    // An empty stream still has one (empty, final) block.
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![data]
    } else {
        data.chunks(65_535).collect()
    };
    for (at, chunk) in chunks.iter().enumerate() {
        out.push(u8::from(at + 1 == chunks.len()));
        let len = u16::try_from(chunk.len()).unwrap();
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A project root (see [`Layout`]) with an empty `dest/` to extract into.
fn layout() -> Layout {
    let l = Layout::new();
    std::fs::create_dir(l.at("dest")).unwrap();
    l
}

/// What tar must leave alone: the root but `dest/`, and what lies beside
/// the root.
fn untouched(l: &Layout) -> (Snapshot, Snapshot) {
    let mut root = snapshot(&l.root);
    root.retain(|path, _| !path.starts_with("dest"));
    (root, l.outside())
}

/// Puts `archive` into the root as `name`; then what must not change.
fn plant(l: &Layout, name: &str, archive: &[u8]) -> (Snapshot, Snapshot) {
    std::fs::write(l.at(name), archive).unwrap();
    untouched(l)
}

fn tar(l: &Layout, args: &[&str]) -> Run {
    l.cordon().args(["--", "tar"]).args(args).output()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[track_caller]
fn says(run: &Run, line: &str) {
    assert!(
        run.stderr().lines().any(|l| l == line),
        "no line {line:?} in:\n{}",
        run.stderr()
    );
}

/// The refusals below are not everything failing.
#[test]
fn a_plain_archive_extracts_whole() {
    let l = layout();
    let archive = ustar(&[
        dir("pkg/"),
        file("pkg/a.txt", b"alpha\n"),
        dir("pkg/sub/"),
        file("pkg/sub/b.txt", b"beta\n"),
        symlink("pkg/link", "a.txt"),
        hard_link("pkg/hard", "pkg/a.txt"),
    ]);
    let before = plant(&l, "plain.tar", &archive);
    let run = tar(&l, &["-xvf", "plain.tar", "-C", "dest"]);
    assert_eq!(
        run.expect_code(0).stdout(),
        "pkg/\npkg/a.txt\npkg/sub/\npkg/sub/b.txt\npkg/link\npkg/hard\n"
    );
    let dest = l.at("dest/pkg");
    assert_eq!(read(&dest.join("a.txt")), "alpha\n");
    assert_eq!(read(&dest.join("sub/b.txt")), "beta\n");
    assert_eq!(read(&dest.join("hard")), "alpha\n");
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("a.txt")
    );
    let mtime = std::fs::metadata(dest.join("a.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(MTIME)
    );
    assert_eq!(untouched(&l), before);

    let run = tar(&l, &["-tvf", "plain.tar"]);
    assert_eq!(
        run.expect_code(0).stdout(),
        "drwxr-xr-x root/root         0 2023-11-14 22:13 pkg/\n\
         -rw-r--r-- root/root         6 2023-11-14 22:13 pkg/a.txt\n\
         drwxr-xr-x root/root         0 2023-11-14 22:13 pkg/sub/\n\
         -rw-r--r-- root/root         5 2023-11-14 22:13 pkg/sub/b.txt\n\
         lrw-r--r-- root/root         0 2023-11-14 22:13 pkg/link -> a.txt\n\
         hrw-r--r-- root/root         0 2023-11-14 22:13 pkg/hard link to pkg/a.txt\n"
    );
}

#[test]
fn a_gzipped_archive_extracts_with_or_without_z() {
    let l = layout();
    std::fs::create_dir(l.at("dest2")).unwrap();
    let archive = gzip(&ustar(&[dir("top/"), file("top/a.txt", b"alpha\n")]));
    std::fs::write(l.at("plain.tgz"), archive).unwrap();
    let run = tar(
        &l,
        &["-xzf", "plain.tgz", "-C", "dest", "--strip-components=1"],
    );
    run.expect_code(0);
    assert_eq!(read(&l.at("dest/a.txt")), "alpha\n");
    tar(&l, &["xf", "plain.tgz", "-C", "dest2"]).expect_code(0);
    assert_eq!(read(&l.at("dest2/top/a.txt")), "alpha\n");
}

/// `/x` lands in `dest/x`; the root's own absolute path names a file in
/// `dest/`, not the root's.
#[test]
fn absolute_member_names_land_inside_the_destination() {
    let l = layout();
    let roots_own = format!("{}/a.txt", l.root.display());
    let archive = ustar(&[file("/abs/x", b"x\n"), file(&roots_own, b"pwned\n")]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(0);
    says(&run, "tar: Removing leading `/' from member names");
    assert_eq!(read(&l.at("dest/abs/x")), "x\n");
    let landed = l.at("dest").join(roots_own.trim_start_matches('/'));
    assert_eq!(read(&landed), "pwned\n");
    assert_eq!(read(&l.at("a.txt")), "alpha\n");
    assert_eq!(untouched(&l), before);
}

#[test]
fn absolute_member_names_climbing_out_of_the_root_are_refused() {
    let l = layout();
    let escape = format!("{}/../outside/pwned", l.root.display());
    let archive = ustar(&[file(&escape, b"pwned\n"), file("ok", b"ok\n")]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(&run, &format!("tar: {escape}: Member name contains '..'"));
    says(
        &run,
        "tar: Exiting with failure status due to previous errors",
    );
    assert_eq!(read(&l.at("dest/ok")), "ok\n");
    assert!(!l.base.join("outside/pwned").exists());
    assert_eq!(untouched(&l), before);
}

#[test]
fn dot_dot_member_names_are_refused() {
    let l = layout();
    let archive = ustar(&[
        // The root's own a.txt: inside the sandbox, only tar stops it.
        file("../a.txt", b"pwned\n"),
        file("../../outside/pwned", b"pwned\n"),
        file("sub/../../pwned", b"pwned\n"),
        file("ok", b"ok\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(&run, "tar: ../a.txt: Member name contains '..'");
    says(&run, "tar: ../../outside/pwned: Member name contains '..'");
    says(&run, "tar: sub/../../pwned: Member name contains '..'");
    assert_eq!(read(&l.at("dest/ok")), "ok\n");
    assert_eq!(read(&l.at("a.txt")), "alpha\n");
    assert!(!l.at("pwned").exists());
    assert_eq!(untouched(&l), before);
}

/// `link -> ..`, then `link/pwned`: would land in the root, beside
/// `dest/`, where the sandbox allows writes.
#[test]
fn a_member_through_a_symlink_to_the_parent_is_refused() {
    let l = layout();
    let archive = ustar(&[
        symlink("link", ".."),
        file("link/pwned", b"pwned\n"),
        file("link/a.txt", b"pwned\n"),
        file("after", b"after\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(&run, "tar: link/pwned: Cannot open: Not a directory");
    says(&run, "tar: link/a.txt: Cannot open: Not a directory");
    assert_eq!(
        std::fs::read_link(l.at("dest/link")).unwrap(),
        Path::new("..")
    );
    assert_eq!(read(&l.at("dest/after")), "after\n");
    assert!(!l.at("pwned").exists());
    assert_eq!(untouched(&l), before);
}

/// `link -> ../../outside` (out of the root), then `link/pwned`; and the
/// same with the absolute path, a symlink the sandbox may not even let
/// tar create.
#[test]
fn a_member_through_a_symlink_out_of_the_root_is_refused() {
    let l = layout();
    let outside = l.base.join("outside");
    let absolute = outside.to_str().unwrap();
    let archive = ustar(&[
        symlink("link", "../../outside"),
        file("link/pwned", b"pwned\n"),
        file("link/secret.txt", b"pwned\n"),
        symlink("abs", absolute),
        file("abs/pwned", b"pwned\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(&run, "tar: link/pwned: Cannot open: Not a directory");
    says(&run, "tar: link/secret.txt: Cannot open: Not a directory");
    let refused_link = run
        .stderr()
        .lines()
        .any(|line| line.starts_with(&format!("tar: abs: Cannot create symlink to '{absolute}'")));
    let refused_file = run
        .stderr()
        .lines()
        .any(|line| line == "tar: abs/pwned: Cannot open: Not a directory");
    assert!(refused_link || refused_file, "{}", run.stderr());
    assert!(!outside.join("pwned").exists());
    assert_eq!(read(&outside.join("secret.txt")), "outside secret\n");
    assert_eq!(untouched(&l), before);
}

/// A symlink to a file outside `dest/`, then a file of the same name:
/// the file replaces the symlink rather than being written through it.
#[test]
fn a_file_member_replaces_a_symlink_instead_of_writing_through_it() {
    let l = layout();
    let archive = ustar(&[
        symlink("link", "../a.txt"),
        file("link", b"pwned\n"),
        symlink("far", "../../outside/secret.txt"),
        file("far", b"pwned\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(0);
    for name in ["dest/link", "dest/far"] {
        let meta = std::fs::symlink_metadata(l.at(name)).unwrap();
        assert!(meta.is_file(), "{name} is still a symlink");
        assert_eq!(read(&l.at(name)), "pwned\n");
    }
    assert_eq!(read(&l.at("a.txt")), "alpha\n");
    assert_eq!(untouched(&l), before);
}

/// A symlink to the parent, then a directory of the same name and a file
/// in it: the directory replaces the symlink (as GNU's does), so the file
/// stays in `dest/`.
#[test]
fn a_directory_member_replaces_a_symlink_instead_of_following_it() {
    let l = layout();
    let archive = ustar(&[symlink("d", ".."), dir("d/"), file("d/pwned", b"pwned\n")]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(0);
    assert!(std::fs::symlink_metadata(l.at("dest/d")).unwrap().is_dir());
    assert_eq!(read(&l.at("dest/d/pwned")), "pwned\n");
    assert!(!l.at("pwned").exists());
    assert_eq!(untouched(&l), before);
}

/// `hard` linking a file outside `dest/` (by `..` and by absolute path),
/// then a file written over `hard`: the target loses its `..` or `/` and
/// is looked for inside `dest/`; the file outside is never linked (its
/// change time would show) nor written.
#[test]
fn a_hard_link_out_of_the_destination_is_refused() {
    let l = layout();
    let absolute = format!("{}/a.txt", l.root.display());
    let archive = ustar(&[
        hard_link("hard", "../a.txt"),
        file("hard", b"pwned\n"),
        hard_link("far", "../../outside/secret.txt"),
        file("far", b"pwned\n"),
        hard_link("abs", &absolute),
        file("abs", b"pwned\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(&run, "tar: Removing leading `../' from hard link targets");
    says(
        &run,
        "tar: hard: Cannot hard link to 'a.txt': No such file or directory",
    );
    says(
        &run,
        "tar: Removing leading `../../' from hard link targets",
    );
    says(
        &run,
        "tar: far: Cannot hard link to 'outside/secret.txt': No such file or directory",
    );
    says(&run, "tar: Removing leading `/' from hard link targets");
    says(
        &run,
        &format!(
            "tar: abs: Cannot hard link to '{}': No such file or directory",
            absolute.trim_start_matches('/')
        ),
    );
    for name in ["dest/hard", "dest/far", "dest/abs"] {
        assert_eq!(read(&l.at(name)), "pwned\n", "{name}");
    }
    assert_eq!(read(&l.at("a.txt")), "alpha\n");
    assert_eq!(untouched(&l), before);
}

/// `up -> ..`, then `hard` linking `up/a.txt` (the root's a.txt, which
/// the sandbox would let tar link), then a file over `hard`.
#[test]
fn a_hard_link_through_a_symlink_is_refused() {
    let l = layout();
    let archive = ustar(&[
        symlink("up", ".."),
        hard_link("hard", "up/a.txt"),
        file("hard", b"pwned\n"),
    ]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(2);
    says(
        &run,
        "tar: hard: Cannot hard link to 'up/a.txt': Not a directory",
    );
    assert_eq!(read(&l.at("dest/hard")), "pwned\n");
    assert_eq!(read(&l.at("a.txt")), "alpha\n");
    assert_eq!(untouched(&l), before);
}

/// A hard link to a file already in `dest/`, then a file over the link:
/// the link is replaced, the file it shared its contents with is not
/// written.
#[test]
fn a_file_member_over_a_hard_link_does_not_write_through_it() {
    let l = layout();
    std::fs::write(l.at("dest/keep.txt"), "keep\n").unwrap();
    let archive = ustar(&[hard_link("hard", "keep.txt"), file("hard", b"pwned\n")]);
    let before = plant(&l, "evil.tar", &archive);
    let run = tar(&l, &["-xf", "evil.tar", "-C", "dest"]);
    run.expect_code(0);
    assert_eq!(read(&l.at("dest/hard")), "pwned\n");
    assert_eq!(read(&l.at("dest/keep.txt")), "keep\n");
    assert_eq!(untouched(&l), before);
}

/// The symlink attack gzip'd, with `-z` and with gzip detected.
#[test]
fn a_gzipped_archive_escaping_through_a_symlink_is_refused() {
    let l = layout();
    let archive = gzip(&ustar(&[
        symlink("link", ".."),
        file("link/pwned", b"pwned\n"),
    ]));
    let before = plant(&l, "evil.tgz", &archive);
    for args in [
        ["-xzf", "evil.tgz", "-C", "dest"],
        ["-xf", "evil.tgz", "-C", "dest"],
    ] {
        let run = tar(&l, &args);
        run.expect_code(2);
        says(&run, "tar: link/pwned: Cannot open: Not a directory");
        assert!(!l.at("pwned").exists());
        assert_eq!(untouched(&l), before);
    }
}
