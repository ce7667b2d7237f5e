//! WASIp2 name lookup through the network gate: `resolve-addresses` is
//! shadowed so that a guest's lookup is decided and resolved by the host
//! ([`Gate::lookup`]), never by DNS on the guest's behalf. The guest gets
//! the first address the gate checked, through wasmtime-wasi's own stream
//! (an address resolves to itself without a query); the socket address
//! check then lets it connect there.

use std::sync::Arc;

use wasmtime::Result;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::p2::bindings::sockets::ip_name_lookup::Host as _;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, Network};
use wasmtime_wasi::sockets::{SocketAddrUse, WasiSocketsView};

use super::state::P2State;
use crate::net::Gate;

/// The interface as wasmtime-wasi 48 names it.
const INTERFACE: &str = "wasi:sockets/ip-name-lookup@0.2.12";

/// Replaces `resolve-addresses` in `linker` with the gated lookup.
pub fn shadow(linker: &mut Linker<P2State>) -> Result<()> {
    linker.allow_shadowing(true);
    let mut lookup = linker.instance(INTERFACE)?;
    lookup.func_wrap(
        "resolve-addresses",
        |mut store, (network, name): (Resource<Network>, String)| {
            let state = store.data_mut();
            let name = match &state.gate {
                // Off: wasmtime-wasi refuses (name lookup is not allowed);
                // on: the host's resolver, as for any program.
                None => Ok(name),
                Some(gate) => gate
                    .lookup(&name)
                    .map(|addrs| addrs[0].to_string())
                    .map_err(|_| ErrorCode::AccessDenied),
            };
            let result = match name {
                Ok(name) => match state.sockets().resolve_addresses(network, name) {
                    Ok(stream) => Ok(stream),
                    Err(err) => Err(err.downcast()?),
                },
                Err(code) => Err(code),
            };
            Ok((result,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The socket address check of a gated run: connections and datagrams
/// only where [`Gate::may_connect`] says; binding only to an ephemeral
/// port of the wildcard address (what a connect does implicitly); no
/// listening, no accepting.
pub fn allowed(gate: &Arc<Gate>, addr: std::net::SocketAddr, usage: SocketAddrUse) -> bool {
    match usage {
        SocketAddrUse::TcpConnect | SocketAddrUse::UdpSend => gate.may_connect(addr),
        // A datagram from elsewhere is dropped, never asked about.
        SocketAddrUse::UdpReceive => gate.handed_out(addr),
        SocketAddrUse::TcpBind | SocketAddrUse::UdpBind => {
            addr.ip().is_unspecified() && addr.port() == 0
        }
        _ => false,
    }
}
