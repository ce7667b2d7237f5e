//! `cordon serve`'s decoder: any bytes, split into lines as the server
//! reads them, are a request, a JSON-RPC error, or a line skipped as too
//! long; the params of each method either read or name what is wrong. No
//! input may panic.
#![no_main]

use cordon::serve::wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let mut input = std::io::BufReader::with_capacity(64, bytes);
    loop {
        match wire::read_line(&mut input) {
            Ok(wire::Read::Line(line)) => {
                if let Ok(request) = wire::parse(&line) {
                    let _ = wire::params::<serde_json::Value>(request.params.clone());
                    let _ = wire::params::<std::collections::BTreeMap<String, u64>>(request.params);
                }
            }
            Ok(wire::Read::TooLong) => {}
            Ok(wire::Read::End) | Err(_) => break,
        }
    }
});
