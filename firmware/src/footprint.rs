//! The cases `scripts/footprint` measures: each job written with safe-gather
//! and with embassy-futures' joins plus embassy-time's `with_timeout`, on
//! the same children, and those children awaited one after another with
//! neither (what the job costs without any combinator).
//!
//! "Awaited in turn" calls each child only when the one before it has
//! finished, so that only one exists at a time: the least a job can cost.
//!
//! Each `src/bin/footprint_*.rs` binary awaits one of these and nothing else;
//! `footprint_sizes` records the size of each future. Children sleep on
//! embassy's timer, as a driver's reads would, and take their ids through
//! `black_box` so that the compiler cannot fold the job away.

use core::future::Future;
use core::hint::black_box;
use core::time::Duration;

use embassy_futures::join::{join3, join_array};
use embassy_time::{with_timeout, Timer};
use safe_gather::{
    safe_gather, safe_gather_array, ChildWakers, EmbassyTimer, GatherError, SlotError,
};

/// The deadline of the cases that have one.
pub const DEADLINE: Duration = Duration::from_millis(50);

/// [`DEADLINE`] in embassy's own type.
const EMBASSY_DEADLINE: embassy_time::Duration = embassy_time::Duration::from_millis(50);

/// The number of children of the array cases.
pub const ARRAY_LEN: usize = 8;

/// A failed reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SensorError;

/// Why the embassy version of a job failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobError {
    /// A child failed.
    Sensor(SensorError),
    /// The deadline passed first.
    TimedOut,
}

impl From<SensorError> for JobError {
    fn from(error: SensorError) -> Self {
        JobError::Sensor(error)
    }
}

/// An opaque id, so that no child is specialised for its argument.
fn id(n: usize) -> u8 {
    black_box(n as u8)
}

/// A child: a temperature after `id` ms; sensor 0 fails.
pub async fn temperature(id: u8) -> Result<u16, SensorError> {
    Timer::after_millis(u64::from(id)).await;
    if id == 0 {
        Err(SensorError)
    } else {
        Ok(u16::from(id) * 10)
    }
}

/// A child: a humidity after `id` ms; sensor 0 fails.
pub async fn humidity(id: u8) -> Result<u32, SensorError> {
    Timer::after_millis(u64::from(id)).await;
    if id == 0 {
        Err(SensorError)
    } else {
        Ok(u32::from(id) * 1000)
    }
}

/// A child: whether a door is open, after `id` ms; sensor 0 fails.
pub async fn door_open(id: u8) -> Result<bool, SensorError> {
    Timer::after_millis(u64::from(id)).await;
    if id == 0 {
        Err(SensorError)
    } else {
        Ok(id.is_multiple_of(2))
    }
}

fn temperatures() -> [impl Future<Output = Result<u16, SensorError>>; ARRAY_LEN] {
    core::array::from_fn(|i| temperature(id(i + 1)))
}

/// Three heterogeneous children, all must succeed, with a deadline:
/// `safe_gather!` and `.timeout_with(EmbassyTimer, ..)`.
pub fn tuple3_gather() -> impl Future<Output = Result<(u16, u32, bool), GatherError<SensorError>>> {
    safe_gather!(temperature(id(1)), humidity(id(2)), door_open(id(3)))
        .timeout_with(EmbassyTimer, DEADLINE)
}

/// The same job with `with_timeout(join3(..))`: it waits for all three even
/// after one fails.
pub async fn tuple3_embassy() -> Result<(u16, u32, bool), JobError> {
    let joined = join3(temperature(id(1)), humidity(id(2)), door_open(id(3)));
    let (a, b, c) = with_timeout(EMBASSY_DEADLINE, joined)
        .await
        .map_err(|_| JobError::TimedOut)?;
    Ok((a?, b?, c?))
}

/// The three children of [`tuple3_gather`] awaited one after another.
pub async fn tuple3_alone() -> Result<(u16, u32, bool), SensorError> {
    Ok((
        temperature(id(1)).await?,
        humidity(id(2)).await?,
        door_open(id(3)).await?,
    ))
}

/// Eight children of one type, all must succeed: `safe_gather_array`.
pub fn array8_gather() -> impl Future<Output = Result<[u16; ARRAY_LEN], GatherError<SensorError>>> {
    safe_gather_array(temperatures())
}

/// The wakers of [`array8_wakers`], in static RAM.
pub static ARRAY8_WAKERS: ChildWakers<ARRAY_LEN> = ChildWakers::new();

/// [`array8_gather`] with caller-owned per-child wakers, so that a wake polls
/// only its child. (Measured, never run: children sleeping on embassy's
/// integrated timer queue would need its `generic-queue-N` feature with
/// per-child wakers, see `ChildWakers`.)
pub fn array8_wakers() -> impl Future<Output = Result<[u16; ARRAY_LEN], GatherError<SensorError>>> {
    safe_gather_array(temperatures()).wakers(&ARRAY8_WAKERS)
}

/// The same job with `join_array`, then the first error in index order.
pub async fn array8_embassy() -> Result<[u16; ARRAY_LEN], SensorError> {
    let readings = join_array(temperatures()).await;
    let mut values = [0; ARRAY_LEN];
    for (value, reading) in values.iter_mut().zip(readings) {
        *value = reading?;
    }
    Ok(values)
}

/// The eight children of [`array8_gather`] awaited one after another.
pub async fn array8_alone() -> Result<[u16; ARRAY_LEN], SensorError> {
    let mut values = [0; ARRAY_LEN];
    for (i, value) in values.iter_mut().enumerate() {
        *value = temperature(id(i + 1)).await?;
    }
    Ok(values)
}

/// Eight children, every outcome kept, cut off at a deadline:
/// `.settled().timeout_with(EmbassyTimer, ..)`.
pub fn settled8_gather() -> impl Future<Output = [Result<u16, SlotError<SensorError>>; ARRAY_LEN]> {
    safe_gather_array(temperatures())
        .settled()
        .timeout_with(EmbassyTimer, DEADLINE)
}

/// The same job with `join_array` of children each under `with_timeout`.
pub fn settled8_embassy(
) -> impl Future<Output = [Result<Result<u16, SensorError>, embassy_time::TimeoutError>; ARRAY_LEN]>
{
    join_array(temperatures().map(|child| with_timeout(EMBASSY_DEADLINE, child)))
}

/// The eight children of [`settled8_gather`] awaited one after another,
/// keeping every outcome.
pub async fn settled8_alone() -> [Result<u16, SensorError>; ARRAY_LEN] {
    let mut outcomes = [Ok(0); ARRAY_LEN];
    for (i, outcome) in outcomes.iter_mut().enumerate() {
        *outcome = temperature(id(i + 1)).await;
    }
    outcomes
}

/// The size of what `make` returns, in a constant: `size_of_val` of the
/// future, without having to run anything on the target.
pub const fn size_of_output<F: Fn() -> R, R>(_make: &F) -> usize {
    core::mem::size_of::<R>()
}

/// The whole of a footprint binary: `main` starts the board, awaits
/// `$case` (a function of this module, or `baseline` for nothing at all),
/// keeps its outcome from being optimised away, and exits; the panic
/// handler exits too, without formatting anything, as a size-conscious
/// firmware's would.
#[macro_export]
macro_rules! footprint_binary {
    (baseline) => {
        $crate::footprint_binary!(@main async {});
    };
    ($case:ident) => {
        $crate::footprint_binary!(@main $crate::footprint::$case());
    };
    (@main $job:expr) => {
        #[embassy_executor::main]
        async fn main(_spawner: embassy_executor::Spawner) {
            $crate::board::init();
            let outcome = $job.await;
            let _ = core::hint::black_box(outcome);
            $crate::board::exit(true)
        }

        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
            $crate::board::exit(false)
        }
    };
}
