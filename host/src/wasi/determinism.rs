//! Fixed inputs for reproducible runs (`--deterministic`): a wall clock that
//! always reads the same time, a monotonic clock that advances by a fixed
//! step per read, and random sources seeded from `--seed`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::policy::Determinism;

/// The wall clock, stopped at one instant.
struct FixedWallClock(Duration);

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        self.0
    }
}

/// A monotonic clock that advances by `step` nanoseconds at each read.
struct SteppingClock {
    step: u64,
    reads: AtomicU64,
}

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        self.step
    }

    fn now(&self) -> u64 {
        self.reads
            .fetch_add(1, Ordering::Relaxed)
            .saturating_mul(self.step)
    }
}

/// Distinguishes the insecure source's seed from the secure one's.
const INSECURE_SEED_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

/// Gives the context `fixed`'s clocks and random sources.
pub fn apply(builder: &mut WasiCtxBuilder, fixed: &Determinism) {
    let step = u64::try_from(fixed.monotonic_step.as_nanos()).unwrap_or(u64::MAX);
    builder
        .wall_clock(FixedWallClock(fixed.wall_clock))
        .monotonic_clock(SteppingClock {
            step,
            reads: AtomicU64::new(0),
        })
        .secure_random(StdRng::seed_from_u64(fixed.seed))
        .insecure_random(StdRng::seed_from_u64(fixed.seed ^ INSECURE_SEED_SALT))
        .insecure_random_seed(u128::from(fixed.seed));
}
