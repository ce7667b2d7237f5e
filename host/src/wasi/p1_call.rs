//! Calling wasmtime-wasi's own WASIp1 functions from a host function that
//! shadows them: the wiggle-generated functions are public, and take the
//! guest's memory and the store's host-call fuel as wasmtime-wasi's own
//! linker entries pass them.

pub const MODULE: &str = "wasi_snapshot_preview1";

/// `call_original!(caller, func(args...))` runs wasmtime-wasi's `func`.
macro_rules! call_original {
    ($caller:ident, $func:ident($($arg:expr),* $(,)?)) => {{
        let Some(::wasmtime::Extern::Memory(memory)) = $caller.get_export("memory") else {
            ::wasmtime::bail!("missing required memory export");
        };
        let fuel = ::wasmtime::AsContextMut::as_context_mut(&mut $caller).hostcall_fuel();
        let (bytes, state) = memory.data_and_store_mut(&mut $caller);
        ::wasmtime_wasi::p1::wasi_snapshot_preview1::WasiSnapshotPreview1::set_hostcall_fuel(
            &mut state.wasi,
            fuel,
        );
        let mut memory = ::wiggle::GuestMemory::Unshared(bytes);
        ::wasmtime_wasi::p1::wasi_snapshot_preview1::$func(&mut state.wasi, &mut memory, $($arg),*)
            .await
    }};
}

pub(crate) use call_original;
