//! `cordon serve`'s decoder: any bytes, split into lines as the server
//! reads them, are a request, a JSON-RPC error, or a line skipped as too
//! long; the params of each method, read as the server reads them,
//! either read or name what is wrong. No input may panic.
#![no_main]

use cordon::serve::wire;
use libfuzzer_sys::fuzz_target;

const METHODS: [&str; 8] = [
    "session/open",
    "session/close",
    "session/grants",
    "session/revoke",
    "command/run",
    "command/cancel",
    "audit/subscribe",
    "audit/unsubscribe",
];

fuzz_target!(|bytes: &[u8]| {
    let mut input = std::io::BufReader::with_capacity(64, bytes);
    loop {
        match wire::read_line(&mut input) {
            Ok(wire::Read::Line(line)) => {
                if let Ok(request) = wire::parse(&line) {
                    // As sent, and as if sent to each method.
                    let _ = cordon::serve::read_params(&request.method, request.params.clone());
                    for method in METHODS {
                        let _ = cordon::serve::read_params(method, request.params.clone());
                    }
                }
            }
            Ok(wire::Read::TooLong) => {}
            Ok(wire::Read::End) | Err(_) => break,
        }
    }
});
