//! The WASI guard acts on exactly what it checked. A native stage of the
//! same line swaps, as fast as it can, what a WASI tool's path goes
//! through: a directory on the way for a symlink to `.git` (the parent),
//! and the file itself for a symlink to a hook (the last component). The
//! tool writes through that path the whole time. Not one write may land
//! in the git directory, as root and unprivileged, from either ABI.

use std::process::Stdio;

use crate::native::{Who, everyone, hand_over, line_command};
use crate::support::{BOTH, Layout, probe, skip_without};

/// Seconds each race runs (`CORDON_RACE_SECS` shortens it locally).
fn seconds() -> String {
    std::env::var("CORDON_RACE_SECS").unwrap_or_else(|_| "60".into())
}

/// Swaps `d` between a directory and a symlink to `.git`, and `x` between
/// a file and a symlink to `.git/hooks/pre-commit`, for SECS seconds.
const FLIPPER: &str = r#"
import os, sys, time
end = time.time() + float(sys.argv[1])
flips = 0
while time.time() < end:
    for step in (lambda: os.rename("d", "d.real"), lambda: os.symlink(".git", "d"),
                 lambda: os.unlink("d"), lambda: os.rename("d.real", "d"),
                 lambda: os.rename("x", "x.real"), lambda: os.symlink(".git/hooks/pre-commit", "x"),
                 lambda: os.unlink("x"), lambda: os.rename("x.real", "x")):
        try:
            step()
        except OSError:
            pass
    flips += 1
print(flips, "flips", file=sys.stderr)
"#;

#[test]
fn a_native_stage_swapping_the_path_never_steers_a_wasi_write_into_git() {
    if skip_without(&["python3"]) {
        return;
    }
    let secs = seconds();
    for who in everyone() {
        if who == Who::LandlockOnly {
            // The flipper's sandbox is not what is raced here.
            continue;
        }
        for wasi in BOTH {
            let l = Layout::new();
            std::fs::create_dir_all(l.at("d/hooks")).unwrap();
            std::fs::write(l.at("x"), "plain\n").unwrap();
            std::fs::write(l.at("flip.py"), FLIPPER).unwrap();
            std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
            std::fs::copy(probe(wasi), l.at(".cordon/tools/probe.wasm")).unwrap();
            hand_over(&l, who);
            let git_before = crate::support::snapshot(&l.at(".git"));
            let line = format!(
                "/usr/bin/python3 flip.py {secs} | probe repeat {secs} write d/hooks/pre-commit planted \
                 | probe repeat {secs} write x planted"
            );
            let out = line_command(&l, who, &["--approval", "on-failure"], &line)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            let (stdout, stderr) = (
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
            );
            let context = format!("{who:?} {wasi:?}: {stdout}{stderr}");
            assert!(out.status.success(), "{context}");
            assert!(
                stderr.contains(" flips"),
                "the flipper did not run: {context}"
            );
            let counts = succeeded(&stderr);
            assert!(
                counts.len() == 2 && counts.iter().all(|&n| n > 0),
                "a write never went through, so nothing was raced: {context}"
            );
            assert_eq!(
                crate::support::snapshot(&l.at(".git")),
                git_before,
                "a write landed in the git directory: {context}"
            );
        }
    }
}

/// How many attempts each probe of the line says succeeded. cordon's
/// own lines (one write each) may land between the pieces a probe writes
/// its count in: they are taken out first.
fn succeeded(stderr: &str) -> Vec<u64> {
    let mut probes = String::new();
    let mut rest = stderr;
    while let Some(at) = rest.find("cordon: ") {
        probes.push_str(&rest[..at]);
        rest = rest[at..].split_once('\n').map_or("", |(_, after)| after);
    }
    probes.push_str(rest);
    probes
        .lines()
        .filter(|line| line.ends_with(" succeeded"))
        .filter_map(|line| line.split(" of ").next()?.parse().ok())
        .collect()
}

/// The working directory a line's WASI stage starts in is opened from the
/// root without following a symlink: a native stage before it that swaps
/// the directory for a symlink out of the root gets the stage nowhere.
#[test]
fn a_working_directory_swapped_for_a_symlink_leads_nowhere_outside() {
    if skip_without(&["python3"]) {
        return;
    }
    let l = Layout::new();
    std::fs::create_dir_all(l.at("sub")).unwrap();
    let outside = l.base.join("outside");
    std::fs::write(
        l.at("swap.py"),
        format!(
            "import os\nos.chdir('..')\nos.rename('sub', 'sub.real')\nos.symlink({:?}, 'sub')\n",
            outside.to_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(l.at(".cordon/tools")).unwrap();
    std::fs::copy(
        probe(crate::support::Wasi::P1),
        l.at(".cordon/tools/probe.wasm"),
    )
    .unwrap();
    let before = l.outside();
    let out = line_command(
        &l,
        Who::Root,
        &["--approval", "on-failure"],
        "cd sub && /usr/bin/python3 ../swap.py && probe read secret.txt; probe write planted x",
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("outside secret"),
        "read outside the root: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(l.outside(), before);
}
