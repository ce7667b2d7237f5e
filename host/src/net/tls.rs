//! The TLS client configuration cordon's own connections use (a guest's
//! wasi:http requests, `cordon tools add`'s downloads).

use std::sync::{Arc, OnceLock};

/// One configuration per process: the webpki roots and the system's trust
/// store (read as curl reads it: `SSL_CERT_FILE`, `SSL_CERT_DIR`, else the
/// distribution's bundle), so a TLS-intercepting proxy whose CA the
/// machine trusts is trusted here too. A certificate the store holds that
/// rustls cannot parse is skipped.
pub fn client_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    });
    Arc::clone(config)
}
