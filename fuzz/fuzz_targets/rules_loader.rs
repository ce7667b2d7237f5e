//! A rules file: loading it either succeeds or gives an error naming a
//! line; no input may panic. What loads is then evaluated.
#![no_main]

use cordon::broker::rules::Rules;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut rules = Rules::default();
    if rules.add(text, "fuzz.toml".as_ref()).is_ok() {
        for argv in [&["git", "push", "--force"][..], &["rm", "-rf", "x"], &["touch"]] {
            let argv: Vec<String> = argv.iter().map(|w| w.to_string()).collect();
            for known in 0..=argv.len() {
                let _ = rules.evaluate_partly_known(&argv, known);
            }
        }
        let host = cordon::net::Host::parse("registry.npmjs.org");
        if let Ok(host) = host {
            let _ = rules.evaluate_network(&host, 443);
        }
    }
});
