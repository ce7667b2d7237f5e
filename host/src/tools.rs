//! The built-in WASI tools: one multi-call module (guest-tools/), compiled
//! for wasm32-wasip1, and `fetch` (guest-fetch/), a wasm32-wasip2
//! component for wasi:http; both built by the build script and embedded in
//! the binary.

/// A module embedded in the binary, with its digest.
#[derive(Debug, PartialEq, Eq)]
pub struct Embedded {
    /// The module's bytes.
    pub bytes: &'static [u8],
    /// sha256 of `bytes`, computed by the build script.
    pub sha256: &'static [u8; 32],
}

/// The multi-call module; `argv[0]` picks the tool.
pub static TOOLS: Embedded = Embedded {
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/cordon-tools.wasm")),
    sha256: include_bytes!(concat!(env!("OUT_DIR"), "/cordon-tools.sha256")),
};

/// `fetch URL`: downloads through wasi:http.
pub static FETCH: Embedded = Embedded {
    bytes: include_bytes!(concat!(env!("OUT_DIR"), "/cordon-fetch.wasm")),
    sha256: include_bytes!(concat!(env!("OUT_DIR"), "/cordon-fetch.sha256")),
};

/// One built-in tool and where it comes from.
#[derive(Debug, PartialEq, Eq)]
pub struct BuiltIn {
    /// The crate the tool comes from.
    pub name: &'static str,
    /// The crate that implements it (`cordon-guest-tools` for our own).
    pub krate: &'static str,
    /// That crate's version.
    pub version: &'static str,
    /// The module that runs it.
    pub module: &'static Embedded,
}

/// Every built-in tool, in name order.
pub static BUILT_IN: &[BuiltIn] = include!(concat!(env!("OUT_DIR"), "/builtin_tools.rs"));

/// The built-in tool called `name`, if any.
pub fn find(name: &str) -> Option<&'static BuiltIn> {
    BUILT_IN.iter().find(|tool| tool.name == name)
}

#[cfg(test)]
mod tests {
    /// The guest tools build inside the target directory the host builds
    /// in, `CARGO_TARGET_DIR` or not (this test runs from it).
    #[test]
    fn the_guest_tools_build_in_the_hosts_target_directory() {
        let exe = std::env::current_exe().unwrap();
        let guests = std::path::Path::new(env!("CORDON_GUEST_TARGET_DIR"));
        assert!(
            exe.starts_with(guests),
            "{} is not under {}",
            exe.display(),
            guests.display()
        );
    }
}
