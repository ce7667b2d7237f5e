//! Calling wasmtime-wasi's own WASIp1 functions from a host function that
//! shadows them: the wiggle-generated functions are public, and take the
//! guest's memory and the store's host-call fuel as wasmtime-wasi's own
//! linker entries pass them. Also the shadows' access to the guest's
//! memory: guest addresses are u32, bounds checked.

use wasmtime::{Caller, Memory};

pub const MODULE: &str = "wasi_snapshot_preview1";

/// `call_original!(caller, func(args...))` runs wasmtime-wasi's `func`;
/// `call_original!(caller, sync func(args...))` one that is not async.
macro_rules! call_original {
    ($caller:ident, $func:ident($($arg:expr),* $(,)?)) => {
        call_original!(@call [.await] $caller, $func($($arg),*))
    };
    ($caller:ident, sync $func:ident($($arg:expr),* $(,)?)) => {
        call_original!(@call [] $caller, $func($($arg),*))
    };
    (@call [$($await:tt)*] $caller:ident, $func:ident($($arg:expr),*)) => {{
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
            $($await)*
    }};
}

pub(crate) use call_original;

/// The guest's exported memory.
pub fn memory<T>(caller: &mut Caller<'_, T>) -> Option<Memory> {
    caller.get_export("memory")?.into_memory()
}

/// The `len` bytes at guest address `at`, if they lie in `memory`.
pub fn span(memory: &[u8], at: u32, len: usize) -> Option<&[u8]> {
    let start = at as usize;
    memory.get(start..start.checked_add(len)?)
}

/// [`span`], writable.
pub fn span_mut(memory: &mut [u8], at: u32, len: usize) -> Option<&mut [u8]> {
    let start = at as usize;
    memory.get_mut(start..start.checked_add(len)?)
}

/// The little-endian u32 at guest address `at`.
pub fn read_u32(memory: &[u8], at: u32) -> Option<u32> {
    Some(u32::from_le_bytes(span(memory, at, 4)?.try_into().ok()?))
}

/// A p1 inode number as wasmtime-wasi makes it: a hash of device and
/// inode (its `metadata_hash`).
pub fn identity_hash(dev: u64, ino: u64) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    (dev, ino).hash(&mut hasher);
    hasher.finish()
}
