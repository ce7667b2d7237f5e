//! Operating systems without a native backend: native commands are
//! refused; WASI tools are unaffected.

use super::{Layer, NativeError, NativeIo, NativeOutcome, Plan};

pub fn run(_plan: &Plan, _io: NativeIo) -> Result<NativeOutcome, NativeError> {
    Err(NativeError::Unsupported(std::env::consts::OS))
}

pub fn layers() -> Vec<Layer> {
    vec![Layer {
        name: "native sandbox",
        state: Err(format!("none for {}", std::env::consts::OS)),
    }]
}
