//! [`.keep_error_type()`](SafeGather::keep_error_type): a fail-fast gather
//! without a deadline, resolving to its children's own error type.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;

use super::{Bounded, FailFast, SafeGather, TryChildren};
use crate::deadline::Untimed;
use crate::error::GatherError;

impl<K: TryChildren + Bounded, D: Untimed> SafeGather<K, FailFast, D> {
    /// The same gather, resolving to `Result<T, E>` with the first error
    /// itself, as `try_join_all` and `try_join!` do: for code moving from
    /// those that keeps its functions' `Result<_, E>` and its `?`.
    ///
    /// Only for a gather without a deadline, whose only way to fail is a
    /// child's error ([`GatherError::Failed`]); the compiler refuses it
    /// after `.timeout(..)` or `.deadline(..)`. What is dropped is the
    /// failing child's index; [`GatherError::index`] keeps it, for when you
    /// want it in the message.
    ///
    /// # Panics
    ///
    /// If the gather was already polled, like every modifier.
    ///
    /// # Examples
    ///
    /// ```
    /// use safe_gather::safe_gather;
    ///
    /// #[derive(Debug, PartialEq)]
    /// struct NotFound(u32);
    ///
    /// async fn fetch(id: u32) -> Result<String, NotFound> {
    ///     if id < 3 { Ok(format!("user {id}")) } else { Err(NotFound(id)) }
    /// }
    ///
    /// // Was: futures::future::try_join_all(ids.map(fetch)).await
    /// async fn fetch_all(ids: &[u32]) -> Result<Vec<String>, NotFound> {
    ///     let users = safe_gather(ids.iter().copied().map(fetch)).keep_error_type().await?;
    ///     Ok(users)
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// assert_eq!(fetch_all(&[1, 2]).await.unwrap(), ["user 1", "user 2"]);
    /// assert_eq!(fetch_all(&[1, 5]).await, Err(NotFound(5)));
    /// # });
    /// ```
    #[track_caller]
    pub fn keep_error_type(self) -> KeepErrorType<Self> {
        self.assert_unpolled("keep_error_type");
        KeepErrorType { gather: self }
    }
}

pin_project! {
    /// A fail-fast gather without a deadline that resolves to its children's
    /// own error type: made by
    /// [`.keep_error_type()`](SafeGather::keep_error_type). `Send`, `Unpin`
    /// and fused when the gather is.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::Ready;
    /// use safe_gather::deadline::NoDeadline;
    /// use safe_gather::gather::{FailFast, KeepErrorType, SafeGather};
    ///
    /// type Jobs = KeepErrorType<SafeGather<[Ready<Result<u8, String>>; 2], FailFast, NoDeadline>>;
    /// let jobs: Jobs = safe_gather::safe_gather_array([std::future::ready(Ok(1)), std::future::ready(Ok(2))])
    ///     .keep_error_type();
    /// # futures::executor::block_on(async { assert_eq!(jobs.await, Ok([1, 2])); });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    #[derive(Debug)]
    pub struct KeepErrorType<G> {
        #[pin]
        gather: G,
    }
}

impl<K: TryChildren + Bounded, D: Untimed> Future for KeepErrorType<SafeGather<K, FailFast, D>> {
    type Output = Result<K::Ok, K::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().gather.poll(cx) {
            Poll::Ready(Ok(values)) => Poll::Ready(Ok(values)),
            Poll::Ready(Err(GatherError::Failed { error, .. })) => Poll::Ready(Err(error)),
            Poll::Ready(Err(_)) => {
                unreachable!(
                    "safe-gather: a gather without a deadline can only fail with a child's error"
                )
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<K: TryChildren + Bounded, D: Untimed> FusedFuture
    for KeepErrorType<SafeGather<K, FailFast, D>>
{
    fn is_terminated(&self) -> bool {
        self.gather.is_terminated()
    }
}
