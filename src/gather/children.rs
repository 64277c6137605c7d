//! What a gather can run: the kinds of children, and the traits that say
//! what each kind resolves to.

#[cfg(feature = "alloc")]
use core::future::IntoFuture;
use core::pin::Pin;

use futures_core::TryFuture;

#[cfg(feature = "alloc")]
use crate::storage::pool::Fut;
#[cfg(feature = "alloc")]
use core::marker::PhantomData;

#[cfg(feature = "alloc")]
use futures_core::Stream;

#[cfg(feature = "heapless")]
use crate::storage::HeaplessStorage;
use crate::storage::{ArrayStorage, Storage, TryStorage, UnorderedStorage};
#[cfg(feature = "alloc")]
use crate::storage::{IterSource, IterStorage, StreamSource, StreamStorage};
#[cfg(target_has_atomic = "ptr")]
use crate::waker::CallerWakers;
use crate::waker::{OwnWakers, WakeMode};

mod sealed {
    pub trait Sealed {}
}

/// What a [`SafeGather`](super::SafeGather) can run: an iterator's children ([`Iter`]),
/// `[F; N]`, `heapless::Vec<F, N>` (feature `heapless`), and tuples of 1 to
/// 12 futures, each child a [`TryFuture`]. Sealed.
///
/// The associated types are what a [settled](super::SafeGather::settled) gather
/// resolves to.
///
/// # Examples
///
/// A helper generic over every kind of gather, settled (a gather runs once
/// its children are [`Bounded`]):
///
/// ```
/// use safe_gather::gather::{Bounded, SafeGather};
///
/// async fn all_outcomes<K: Bounded>(children: SafeGather<K>) -> K::Settled {
///     children.settled().await
/// }
///
/// # futures::executor::block_on(async {
/// let outcomes = all_outcomes(safe_gather::safe_gather_array([async { Ok::<_, ()>(1) }])).await;
/// assert_eq!(outcomes, [Ok(1)]);
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be gathered",
    label = "gather an iterator, an array, or a tuple of 1 to 12 futures that return `Result`",
    note = "`safe_gather!` takes 1 to 12 futures; for more, use `safe_gather(iter)` or `safe_gather_array`"
)]
pub trait Children: sealed::Sealed {
    /// One `Result<T, E>` per child, in input order, e.g. `Vec<Result<T, E>>`.
    type Settled;
    /// One `Result<T, SlotError<E>>` per child, in input order.
    type SettledTimed;

    #[doc(hidden)]
    type Storage: Storage<Settled = Self::Settled, SettledTimed = Self::SettledTimed>;

    /// What [`.limit(n)`](super::SafeGather::limit) makes of these children:
    /// the same, but for a stream's, which only a limit lets run.
    #[doc(hidden)]
    type Limited: Children<
        Storage = Self::Storage,
        Settled = Self::Settled,
        SettledTimed = Self::SettledTimed,
        Wakes = Self::Wakes,
    >;

    /// Where the children get their wakers: their gather's own, or
    /// caller-owned ones ([`WithWakers`]).
    #[doc(hidden)]
    type Wakes: WakeMode;

    #[doc(hidden)]
    fn into_storage(self) -> Self::Storage;
}

/// [`Children`] that a gather can run as they are: all of them but a
/// stream's without [`.limit(n)`](super::SafeGather::limit). Sealed.
///
/// A stream of jobs may never end, and a gather keeps a slot for each child
/// it runs, so it must be told how many may run at once, as
/// `buffer_unordered(n)` is.
///
/// # Examples
///
/// ```
/// use futures::stream;
/// use safe_gather::safe_gather_stream;
///
/// # futures::executor::block_on(async {
/// let jobs = stream::iter((0..3).map(|n| async move { Ok::<_, ()>(n) }));
/// assert_eq!(safe_gather_stream(jobs).limit(2).await, Ok(vec![0, 1, 2]));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "a gather of a stream needs `.limit(n)` before it can run",
    label = "a stream of jobs may never end: say how many run at once",
    note = "for example `safe_gather_stream(jobs).limit(8)`; the gather keeps a slot for each child in flight"
)]
pub trait Bounded: Children {}

/// [`Children`] that share one error type, so that a gather of them can fail
/// fast: every iterator's and array's, and tuples whose futures agree on `E`.
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{Bounded, SafeGather, TryChildren};
/// use safe_gather::GatherError;
///
/// /// Runs any fail-fast gather and counts the values, or reports the failure.
/// async fn run_all<K: TryChildren + Bounded>(gather: SafeGather<K>) -> Result<K::Ok, GatherError<K::Error>> {
///     gather.await
/// }
///
/// # futures::executor::block_on(async {
/// let values = run_all(safe_gather::safe_gather!(async { Ok::<_, ()>(1u8) }, async { Ok("two") })).await;
/// assert_eq!(values, Ok((1, "two")));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "the children of `{Self}` do not share one error type",
    label = "a fail-fast gather returns one `GatherError<E>`, so every child must fail with the same `E`",
    note = "map the errors to a common type (e.g. with `TryFutureExt::map_err`), or use `.settled()`, which keeps each child's own error"
)]
pub trait TryChildren: Children {
    /// Every child's value, in input order, e.g. `Vec<T>` or `(A, B, C)`.
    type Ok;
    /// The error type the children share.
    type Error;

    #[doc(hidden)]
    fn take_error(storage: Pin<&mut Self::Storage>, index: usize) -> Self::Error;

    #[doc(hidden)]
    fn take_ok(storage: Pin<&mut Self::Storage>) -> Self::Ok;
}

impl<K> TryChildren for K
where
    K: Children,
    K::Storage: TryStorage,
{
    type Ok = <K::Storage as TryStorage>::Ok;
    type Error = <K::Storage as TryStorage>::Error;

    fn take_error(storage: Pin<&mut Self::Storage>, index: usize) -> Self::Error {
        storage.take_error(index)
    }

    fn take_ok(storage: Pin<&mut Self::Storage>) -> Self::Ok {
        storage.take_ok()
    }
}

/// The children of [`safe_gather(iter)`](crate::safe_gather()): an iterator
/// of futures (or of anything that converts into one, [`IntoFuture`]), taken
/// from as the gather needs them (see
/// [`safe_gather`](crate::safe_gather()#lazily)). You name it only when you
/// write a gather's type out.
///
/// # Examples
///
/// ```
/// use std::future::Ready;
/// use safe_gather::gather::{Iter, SafeGather};
///
/// type Batch = SafeGather<Iter<std::vec::IntoIter<Ready<Result<u8, ()>>>>>;
///
/// let batch: Batch = safe_gather::safe_gather(vec![std::future::ready(Ok(1))]);
/// # futures::executor::block_on(async { assert_eq!(batch.await, Ok(vec![1])); });
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct Iter<I>(pub(crate) I);

#[cfg(feature = "alloc")]
impl<I> sealed::Sealed for Iter<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    Fut<I>: TryFuture,
{
}

#[cfg(feature = "alloc")]
impl<I> Children for Iter<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    Fut<I>: TryFuture,
{
    type Settled = <IterStorage<I> as Storage>::Settled;
    type SettledTimed = <IterStorage<I> as Storage>::SettledTimed;
    type Storage = IterStorage<I>;
    type Limited = Self;
    type Wakes = OwnWakers;

    fn into_storage(self) -> IterStorage<I> {
        IterStorage::new(IterSource(self.0))
    }
}

#[cfg(feature = "alloc")]
impl<I> Bounded for Iter<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    Fut<I>: TryFuture,
{
}

/// The children of [`safe_gather_stream(jobs)`](crate::safe_gather_stream):
/// a stream of futures (or of anything that converts into one), taken while
/// fewer than the limit run. `L` is [`Unlimited`] until
/// [`.limit(n)`](super::SafeGather::limit) makes it [`Limited`]; only then
/// can the gather run (see [`Bounded`]).
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{FromStream, Limited, SafeGather};
///
/// type Jobs = futures::stream::Iter<std::vec::IntoIter<std::future::Ready<Result<u8, ()>>>>;
/// type Worker = SafeGather<FromStream<Jobs, Limited>>;
///
/// let jobs = futures::stream::iter(vec![std::future::ready(Ok(1))]);
/// let worker: Worker = safe_gather::safe_gather_stream(jobs).limit(4);
/// # futures::executor::block_on(async { assert_eq!(worker.await, Ok(vec![1])); });
/// ```
#[cfg(feature = "alloc")]
#[derive(Debug)]
pub struct FromStream<S, L = Unlimited>(pub(crate) S, pub(crate) PhantomData<L>);

/// A stream gather's concurrency before [`.limit(n)`](super::SafeGather::limit):
/// not yet bounded, so it cannot run. See [`FromStream`].
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{FromStream, SafeGather, Unlimited};
///
/// let jobs = futures::stream::iter(vec![std::future::ready(Ok::<u8, ()>(1))]);
/// let _not_yet: SafeGather<FromStream<_, Unlimited>> = safe_gather::safe_gather_stream(jobs);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Unlimited;

/// A stream gather's concurrency after [`.limit(n)`](super::SafeGather::limit).
/// See [`FromStream`].
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{FromStream, Limited, SafeGather};
///
/// let jobs = futures::stream::iter(vec![std::future::ready(Ok::<u8, ()>(1))]);
/// let ready: SafeGather<FromStream<_, Limited>> = safe_gather::safe_gather_stream(jobs).limit(1);
/// # futures::executor::block_on(async { assert_eq!(ready.await, Ok(vec![1])); });
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Limited;

#[cfg(feature = "alloc")]
impl<S, L> sealed::Sealed for FromStream<S, L>
where
    S: Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
}

#[cfg(feature = "alloc")]
impl<S, L> Children for FromStream<S, L>
where
    S: Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
    type Settled = <StreamStorage<S> as Storage>::Settled;
    type SettledTimed = <StreamStorage<S> as Storage>::SettledTimed;
    type Storage = StreamStorage<S>;
    type Limited = FromStream<S, Limited>;
    type Wakes = OwnWakers;

    fn into_storage(self) -> StreamStorage<S> {
        StreamStorage::new(StreamSource::new(self.0))
    }
}

#[cfg(feature = "alloc")]
impl<S> Bounded for FromStream<S, Limited>
where
    S: Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
}

#[cfg(feature = "alloc")]
impl<S, L> UnorderedChildren for FromStream<S, L>
where
    S: Stream,
    S::Item: IntoFuture,
    <S::Item as IntoFuture>::IntoFuture: TryFuture,
{
    type Ok = <<S::Item as IntoFuture>::IntoFuture as TryFuture>::Ok;
    type Error = <<S::Item as IntoFuture>::IntoFuture as TryFuture>::Error;
}

#[cfg(feature = "alloc")]
impl<I> UnorderedChildren for Iter<I>
where
    I: Iterator,
    I::Item: IntoFuture,
    Fut<I>: TryFuture,
{
    type Ok = <Fut<I> as TryFuture>::Ok;
    type Error = <Fut<I> as TryFuture>::Error;
}

impl<F: TryFuture, const N: usize> sealed::Sealed for [F; N] {}

impl<F: TryFuture, const N: usize> Children for [F; N] {
    type Settled = <ArrayStorage<F, N> as Storage>::Settled;
    type SettledTimed = <ArrayStorage<F, N> as Storage>::SettledTimed;
    type Storage = ArrayStorage<F, N>;
    type Limited = Self;
    type Wakes = OwnWakers;

    fn into_storage(self) -> ArrayStorage<F, N> {
        ArrayStorage::new(self)
    }
}

impl<F: TryFuture, const N: usize> Bounded for [F; N] {}

impl<F: TryFuture, const N: usize> UnorderedChildren for [F; N] {
    type Ok = F::Ok;
    type Error = F::Error;
}

#[cfg(feature = "heapless")]
impl<F: TryFuture, const N: usize> sealed::Sealed for heapless::Vec<F, N> {}

/// The children of [`safe_gather_heapless`](crate::safe_gather_heapless): as
/// many futures as the `Vec` holds (up to `N`), inline in the gather; every
/// output comes back in a `heapless::Vec` of the same capacity.
#[cfg(feature = "heapless")]
impl<F: TryFuture, const N: usize> Children for heapless::Vec<F, N> {
    type Settled = <HeaplessStorage<F, N> as Storage>::Settled;
    type SettledTimed = <HeaplessStorage<F, N> as Storage>::SettledTimed;
    type Storage = HeaplessStorage<F, N>;
    type Limited = Self;
    type Wakes = OwnWakers;

    fn into_storage(self) -> HeaplessStorage<F, N> {
        HeaplessStorage::new(self)
    }
}

#[cfg(feature = "heapless")]
impl<F: TryFuture, const N: usize> Bounded for heapless::Vec<F, N> {}

#[cfg(feature = "heapless")]
impl<F: TryFuture, const N: usize> UnorderedChildren for heapless::Vec<F, N> {
    type Ok = F::Ok;
    type Error = F::Error;
}

macro_rules! tuple_children {
    ($($storage:ident ($($F:ident)+))+) => {$(
        impl<$($F: TryFuture),+> sealed::Sealed for ($($F,)+) {}

        impl<$($F: TryFuture),+> Children for ($($F,)+) {
            type Settled = <crate::storage::$storage<$($F),+> as Storage>::Settled;
            type SettledTimed = <crate::storage::$storage<$($F),+> as Storage>::SettledTimed;
            type Storage = crate::storage::$storage<$($F),+>;
            type Limited = Self;
            type Wakes = OwnWakers;

            fn into_storage(self) -> Self::Storage {
                crate::storage::$storage::new(self)
            }
        }

        impl<$($F: TryFuture),+> Bounded for ($($F,)+) {}
    )+};
}

tuple_children! {
    Tuple1(A)
    Tuple2(A B)
    Tuple3(A B C)
    Tuple4(A B C D)
    Tuple5(A B C D E)
    Tuple6(A B C D E F)
    Tuple7(A B C D E F G)
    Tuple8(A B C D E F G H)
    Tuple9(A B C D E F G H I)
    Tuple10(A B C D E F G H I J)
    Tuple11(A B C D E F G H I J K)
    Tuple12(A B C D E F G H I J K L)
}

/// [`Children`] of one type, whose outcomes a gather can hand out as they
/// land: [`.unordered()`](super::SafeGather::unordered) exists for an iterator's
/// and a stream's children, for arrays and `heapless::Vec`s, not for tuples.
/// Sealed.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use safe_gather::gather::{Bounded, SafeGather, UnorderedChildren};
///
/// /// The index of the first child to finish successfully.
/// async fn first_done<K: UnorderedChildren + Bounded>(gather: SafeGather<K>) -> Option<usize> {
///     let mut landed = std::pin::pin!(gather.unordered());
///     while let Some(item) = landed.next().await {
///         if let Ok((index, _)) = item {
///             return Some(index);
///         }
///     }
///     None
/// }
///
/// # futures::executor::block_on(async {
/// let jobs = [futures::future::ready(Ok::<_, ()>(1)), futures::future::ready(Ok(2))];
/// assert_eq!(first_done(safe_gather::safe_gather_array(jobs)).await, Some(0));
/// # });
/// ```
#[diagnostic::on_unimplemented(
    message = "`.unordered()` needs children of one type, and `{Self}` are not",
    label = "a tuple's children each have their own type",
    note = "gather an iterator or an array instead; for futures of different types, map them to one type first (e.g. with `futures::future::Either` or boxing)"
)]
pub trait UnorderedChildren:
    Children<Storage: UnorderedStorage<ChildOk = Self::Ok, ChildError = Self::Error>>
{
    /// A child's value.
    type Ok;
    /// A child's error.
    type Error;
}

/// [`Children`] whose number is fixed before the first poll and at most
/// `N`: arrays of `N` and tuples of `N` futures, and a `heapless::Vec` of
/// capacity `N` (feature `heapless`). They can be given
/// caller-owned per-child wakers with room for `N`
/// ([`SafeGather::wakers`](super::SafeGather::wakers)). Sealed.
///
/// # Examples
///
/// ```
/// use safe_gather::gather::{AtMost, Bounded, SafeGather};
/// use safe_gather::ChildWakers;
///
/// static WAKERS: ChildWakers<2> = ChildWakers::new();
///
/// /// Runs a gather of two children with the per-child wakers above.
/// async fn run_pair<K: AtMost<2> + Bounded>(gather: SafeGather<K>) -> K::Settled {
///     gather.wakers(&WAKERS).settled().await
/// }
///
/// # futures::executor::block_on(async {
/// let pair = safe_gather::safe_gather!(async { Ok::<_, ()>(1) }, async { Err::<u8, _>(()) });
/// assert_eq!(run_pair(pair).await, (Ok(1), Err(())));
/// # });
/// ```
#[cfg(target_has_atomic = "ptr")]
#[diagnostic::on_unimplemented(
    message = "`ChildWakers<{N}>` does not fit the children `{Self}`",
    label = "an array of `N` or a tuple of `N` futures takes `ChildWakers<N>`",
    note = "give the gather a `ChildWakers` with room for exactly its number of children"
)]
pub trait AtMost<const N: usize>: Children {}

#[cfg(target_has_atomic = "ptr")]
impl<F: TryFuture, const N: usize> AtMost<N> for [F; N] {}

/// The children `K` of a gather given caller-owned per-child wakers with
/// [`.wakers(..)`](super::SafeGather::wakers): the same children, the same
/// outputs; only where their wakers live differs. You name it only when you
/// write such a gather's type out.
///
/// # Examples
///
/// ```
/// use std::future::Ready;
/// use safe_gather::gather::{SafeGather, WithWakers};
/// use safe_gather::ChildWakers;
///
/// static WAKERS: ChildWakers<2> = ChildWakers::new();
///
/// type Pair = SafeGather<WithWakers<[Ready<Result<u8, ()>>; 2]>>;
///
/// let pair: Pair = safe_gather::safe_gather_array([(); 2].map(|()| std::future::ready(Ok(1))))
///     .wakers(&WAKERS);
/// # futures::executor::block_on(async { assert_eq!(pair.await, Ok([1, 1])); });
/// ```
#[cfg(target_has_atomic = "ptr")]
#[derive(Debug)]
pub struct WithWakers<K>(K);

#[cfg(target_has_atomic = "ptr")]
impl<K: Children> sealed::Sealed for WithWakers<K> {}

#[cfg(target_has_atomic = "ptr")]
impl<K: Children> Children for WithWakers<K> {
    type Settled = K::Settled;
    type SettledTimed = K::SettledTimed;
    type Storage = K::Storage;
    type Limited = WithWakers<K::Limited>;
    type Wakes = CallerWakers;

    fn into_storage(self) -> K::Storage {
        self.0.into_storage()
    }
}

#[cfg(target_has_atomic = "ptr")]
impl<K: Bounded> Bounded for WithWakers<K> {}

#[cfg(target_has_atomic = "ptr")]
impl<K: UnorderedChildren> UnorderedChildren for WithWakers<K> {
    type Ok = <K as UnorderedChildren>::Ok;
    type Error = <K as UnorderedChildren>::Error;
}

/// Up to `N` children, as many as the vector holds at the first poll.
#[cfg(all(feature = "heapless", target_has_atomic = "ptr"))]
impl<F: TryFuture, const N: usize> AtMost<N> for heapless::Vec<F, N> {}

#[cfg(target_has_atomic = "ptr")]
macro_rules! tuple_at_most {
    ($($n:literal ($($F:ident)+))+) => {$(
        impl<$($F: TryFuture),+> AtMost<$n> for ($($F,)+) {}
    )+};
}

#[cfg(target_has_atomic = "ptr")]
tuple_at_most! {
    1 (A)
    2 (A B)
    3 (A B C)
    4 (A B C D)
    5 (A B C D E)
    6 (A B C D E F)
    7 (A B C D E F G)
    8 (A B C D E F G H)
    9 (A B C D E F G H I)
    10 (A B C D E F G H I J)
    11 (A B C D E F G H I J K)
    12 (A B C D E F G H I J K L)
}
