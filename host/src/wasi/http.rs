//! wasi:http for guests (the built-in `fetch`, any component). Every
//! outgoing request is decided by the network gate on its authority, and
//! sent by this host to an address the gate checked: the name is never
//! resolved again on the way, so it cannot be rebound to a private address
//! between the check and the connection. TLS names the host the guest
//! asked for, verified against the webpki roots and the system's trust
//! store.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::net::{Gate, NetAccess, report_refusal};
use crate::observe::Observer;

/// How long connecting and the first response byte may take by default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The response and the future that finishes the connection.
type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);

/// The hooks of one run: where its requests may go.
pub enum HttpHooks {
    /// No network: the person hears of each request refused.
    Refused(Arc<dyn Observer>),
    /// `--network on`: the host's resolver, no checks.
    Open,
    Gated(Arc<Gate>),
}

impl HttpHooks {
    pub fn new(
        network: &NetAccess,
        gate: Option<Arc<Gate>>,
        notes: Arc<dyn Observer>,
    ) -> HttpHooks {
        match (network, gate) {
            (NetAccess::On, _) => HttpHooks::Open,
            (NetAccess::Gated(_), Some(gate)) => HttpHooks::Gated(gate),
            _ => HttpHooks::Refused(notes),
        }
    }

    /// The addresses the request to `host:port` may use.
    fn targets(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        match self {
            HttpHooks::Refused(notes) => {
                report_refusal(
                    notes.as_ref(),
                    &format!(
                        "{host}:{port}: the network is off (--network allow=HOST grants a host)"
                    ),
                );
                Err(Error::HttpRequestDenied)
            }
            HttpHooks::Open => (host.trim_start_matches('[').trim_end_matches(']'), port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .map_err(|_| Error::DestinationNotFound),
            HttpHooks::Gated(gate) => gate
                .connect_targets(host, port)
                .map_err(|_| Error::HttpRequestDenied),
        }
    }
}

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<Sent, Error>> + Send> {
        let uri = request.uri();
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let Some(authority) = uri.authority() else {
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let host = authority.host().to_string();
        let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
        // Decided here, before the future runs: a question to a person
        // blocks this guest only.
        let targets = self.targets(&host, port);
        Box::new(async move { send(request, options, &host, tls, targets?).await })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

async fn send(
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    host: &str,
    tls: bool,
    targets: Vec<SocketAddr>,
) -> Result<Sent, Error> {
    let options = options.unwrap_or_default();
    let connect_timeout = options.connect_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(DEFAULT_TIMEOUT);
    let tcp = tokio::time::timeout(connect_timeout, connect(&targets))
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let stream: Box<dyn Stream> = if tls {
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| Error::HttpRequestUriInvalid)?
            .to_owned();
        let tls = tokio_rustls::TlsConnector::from(crate::net::tls::client_config())
            .connect(name, tcp)
            .await
            .map_err(|_| Error::TlsCertificateError)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(Error::from)?;
    let driver = tokio::spawn(connection);
    // The request line names only the path: the authority was for us.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    *request.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;
    let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)?
        .map_err(Error::from)?;
    let response = response.map(|body| body.map_err(Error::from).boxed_unsync());
    let finished = async move {
        match driver.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(Error::from(err)),
            Err(_) => Err(Error::ConnectionTerminated),
        }
    };
    Ok((response, Box::new(finished)))
}

/// Connects to the first of `targets` that answers.
async fn connect(targets: &[SocketAddr]) -> Result<TcpStream, Error> {
    let mut last = Error::DestinationNotFound;
    for addr in targets {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) => last = Error::Connect(err),
        }
    }
    Err(last)
}
