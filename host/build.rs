//! Builds the built-in tools (../guest-tools) for wasm32-wasip1 with their
//! own target directory, as wasmtime's test programs are built, and writes
//! into OUT_DIR:
//! - `cordon-tools.wasm`, embedded in the binary, and `cordon-tools.sha256`,
//!   its digest (the compile-cache key, without hashing 10 MB at each run);
//! - `builtin_tools.rs`, the table of tool names with the crate and version
//!   each comes from, read from the guest's dispatch table and Cargo.lock.

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip1";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let guest = manifest_dir.join("../guest-tools");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets it"));
    for watched in ["src", "Cargo.toml", "Cargo.lock"] {
        println!("cargo::rerun-if-changed={}", guest.join(watched).display());
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if sysroot.is_none_or(|s| !s.join("lib/rustlib").join(TARGET).exists()) {
        println!(
            "cargo::error=the {TARGET} target is missing; install it with: rustup target add {TARGET}"
        );
        return;
    }
    let target_dir = manifest_dir.join("../target/guest-tools");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            TARGET,
            "--manifest-path",
        ])
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // SIMD for memchr, regex and friends: a large part of grep's and wc's
    // speed. wasmtime enables it by default.
    build.env(
        "CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS",
        "-Ctarget-feature=+simd128",
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
    let status = build.status().expect("running cargo for the guest tools");
    // A panic makes cargo show the nested build's output.
    assert!(
        status.success(),
        "building the built-in tools (guest-tools/) failed"
    );
    let wasm = target_dir.join(TARGET).join("release/cordon-tools.wasm");
    let module = std::fs::read(&wasm).expect("reading the tools module");
    std::fs::write(out_dir.join("cordon-tools.wasm"), &module).expect("writing the tools module");
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&module).into();
    std::fs::write(out_dir.join("cordon-tools.sha256"), digest).expect("writing the digest");
    let table = tool_table(&guest);
    std::fs::write(out_dir.join("builtin_tools.rs"), table).expect("writing the tool table");
}

/// `("name", "crate", ...)` entries of the guest's `TOOLS` table, with each
/// crate's version from the guest's Cargo.lock.
fn tool_table(guest: &Path) -> String {
    let source = std::fs::read_to_string(guest.join("src/main.rs")).expect("guest main.rs");
    let lock = std::fs::read_to_string(guest.join("Cargo.lock")).expect("guest Cargo.lock");
    let version_of = |krate: &str| -> String {
        let needle = format!("name = \"{krate}\"\nversion = \"");
        lock.split_once(&needle)
            .and_then(|(_, rest)| rest.split('"').next())
            .unwrap_or_else(|| panic!("{krate} is not in guest-tools/Cargo.lock"))
            .to_string()
    };
    let mut table = String::from("&[\n");
    for line in source.lines() {
        let Some(entry) = line.trim().strip_prefix("(\"") else {
            continue;
        };
        let mut fields = entry.split('"');
        let (Some(name), Some(_), Some(krate)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let version = version_of(krate);
        writeln!(
            table,
            "    BuiltIn {{ name: {name:?}, krate: {krate:?}, version: {version:?} }},"
        )
        .expect("writing to a string");
    }
    table.push(']');
    table
}
