//! Builds the built-in tools with their own target directories, as
//! wasmtime's test programs are built: ../guest-tools (the multi-call
//! module) for wasm32-wasip1 and ../guest-fetch (`fetch`, a component for
//! wasi:http) for wasm32-wasip2. Writes into OUT_DIR:
//! - `cordon-tools.wasm` and `cordon-fetch.wasm`, embedded in the binary,
//!   each with its `.sha256` digest (the compile-cache key, without hashing
//!   10 MB at each run);
//! - `builtin_tools.rs`, the table of tool names with the crate and version
//!   each comes from, read from the guests' dispatch table and manifests.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    let guest_tools = manifest_dir.join("../guest-tools");
    // SIMD for memchr, regex and friends: a large part of grep's and wc's
    // speed. wasmtime enables it by default.
    let Some(tools) = build_guest(
        &guest_tools,
        "cordon-tools",
        "wasm32-wasip1",
        "-Ctarget-feature=+simd128",
    ) else {
        return;
    };
    // wasi:http needs a component: fetch is its own program.
    let guest_fetch = manifest_dir.join("../guest-fetch");
    let Some(fetch) = build_guest(&guest_fetch, "cordon-fetch", "wasm32-wasip2", "") else {
        return;
    };
    for (name, module) in [("cordon-tools", tools), ("cordon-fetch", fetch)] {
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&module).into();
        std::fs::write(out_dir.join(format!("{name}.wasm")), &module).expect("writing a module");
        std::fs::write(out_dir.join(format!("{name}.sha256")), digest).expect("writing a digest");
    }
    let mut tools: Vec<_> = tool_table(&guest_tools)
        .into_iter()
        .map(|entry| (entry, "TOOLS"))
        .collect();
    let fetch_version = package_version(&guest_fetch);
    tools.push((
        ("fetch".into(), "cordon-fetch".into(), fetch_version),
        "FETCH",
    ));
    tools.sort();
    let mut table = String::from("&[\n");
    for ((name, krate, version), module) in tools {
        writeln!(
            table,
            "    BuiltIn {{ name: {name:?}, krate: {krate:?}, version: {version:?}, module: &{module} }},"
        )
        .expect("writing to a string");
    }
    table.push(']');
    std::fs::write(out_dir.join("builtin_tools.rs"), table).expect("writing the tool table");
}

/// Builds the guest crate at `guest` for `target` with its own target
/// directory and returns the module `bin` (`None` after reporting a
/// missing target as the build's error).
fn build_guest(guest: &Path, bin: &str, target: &str, rustflags: &str) -> Option<Vec<u8>> {
    // Only what exists: cargo reruns a build script on every build while
    // a path it watches is missing (and the fat-LTO link with it).
    for watched in ["src", "patches", "host-calls", "Cargo.toml", "Cargo.lock"] {
        let path = guest.join(watched);
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        }
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_none_or(|s| !s.join("lib/rustlib").join(target).exists()) {
        println!(
            "cargo::error=the {target} target is missing; install it with: rustup target add {target}"
        );
        return None;
    }
    let name = guest.file_name().expect("a guest directory");
    let target_dir = target_dir().join(name);
    println!(
        "cargo::rustc-env=CORDON_GUEST_TARGET_DIR={}",
        target_dir
            .parent()
            .expect("in a target directory")
            .display()
    );
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            target,
            "--manifest-path",
        ])
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    let flags_var = format!(
        "CARGO_TARGET_{}_RUSTFLAGS",
        target.to_uppercase().replace('-', "_")
    );
    // The host's flags and profile settings are not the guest's.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key == "RUSTFLAGS"
            || key == "CARGO_TARGET_DIR"
            // `cargo clippy` lints this crate, not the guest.
            || key == "RUSTC_WORKSPACE_WRAPPER"
            || key == "CLIPPY_ARGS"
        {
            build.env_remove(key.as_ref());
        }
    }
    build.env(flags_var, rustflags);
    let status = build.status().expect("running cargo for a guest");
    // A panic makes cargo show the nested build's output.
    assert!(
        status.success(),
        "building the guest {} failed",
        guest.display()
    );
    let wasm = target_dir.join(target).join(format!("release/{bin}.wasm"));
    Some(std::fs::read(&wasm).expect("reading a guest module"))
}

/// The target directory this build writes to, wherever `CARGO_TARGET_DIR`
/// or `build.target-dir` put it: the ancestor of OUT_DIR that cargo marked
/// with a CACHEDIR.TAG (a relative CARGO_TARGET_DIR is relative to where
/// cargo ran, which a build script does not know).
fn target_dir() -> PathBuf {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            // Cargo tags only a target directory it created.
            let manifest_dir = env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it");
            let target = PathBuf::from(manifest_dir).join("../target");
            target.canonicalize().unwrap_or(target)
        })
}

/// The `version` of the package in `guest`'s Cargo.toml.
fn package_version(guest: &Path) -> String {
    let manifest = std::fs::read_to_string(guest.join("Cargo.toml")).expect("guest Cargo.toml");
    manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.split('"').next())
        .expect("a package version")
        .to_string()
}

/// `(name, crate, version)` of each entry of the guest's `TOOLS` table
/// (`("name", "crate", ...)` lines), each crate's version from the guest's
/// Cargo.lock.
fn tool_table(guest: &Path) -> Vec<(String, String, String)> {
    let source = std::fs::read_to_string(guest.join("src/main.rs")).expect("guest main.rs");
    let lock = std::fs::read_to_string(guest.join("Cargo.lock")).expect("guest Cargo.lock");
    let version_of = |krate: &str| -> String {
        let needle = format!("name = \"{krate}\"\nversion = \"");
        lock.split_once(&needle)
            .and_then(|(_, rest)| rest.split('"').next())
            .unwrap_or_else(|| panic!("{krate} is not in guest-tools/Cargo.lock"))
            .to_string()
    };
    let mut entries = Vec::new();
    for line in source.lines() {
        let Some(entry) = line.trim().strip_prefix("(\"") else {
            continue;
        };
        let mut fields = entry.split('"');
        let (Some(name), Some(_), Some(krate)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        entries.push((name.to_string(), krate.to_string(), version_of(krate)));
    }
    entries
}
