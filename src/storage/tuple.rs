//! The children of a tuple gather, inline: a struct with one pinned slot per
//! position, each of its own type.

use core::pin::Pin;
use core::task::Context;

use futures_core::TryFuture;
use pin_project_lite::pin_project;

use super::{Begun, Keep, Output, Polled, Schedule, Slot, Storage, TryStorage};
use crate::error::SlotError;

/// Defines the storage for one tuple arity.
macro_rules! tuple_storage {
    ($($name:ident { $($index:tt $F:ident $slot:ident)+ })+) => {$(
        pin_project! {
            /// The children of a tuple gather, inline.
            pub struct $name<$($F: TryFuture),+> {
                $(#[pin] $slot: Slot<$F, Output<$F>>,)+
            }
        }

        impl<$($F: TryFuture),+> $name<$($F),+> {
            pub(crate) fn new(($($slot,)+): ($($F,)+)) -> Self {
                $name { $($slot: Slot::new($slot),)+ }
            }
        }

        impl<$($F: TryFuture),+> Storage for $name<$($F),+> {
            type Settled = ($(Output<$F>,)+);
            type SettledTimed = ($(Result<$F::Ok, SlotError<$F::Error>>,)+);

            fn len(&self) -> usize {
                [$($index),+].len()
            }

            fn is_empty(&self) -> bool {
                false
            }

            fn begin(self: Pin<&mut Self>, _keep: Keep, _limit: usize) -> Begun {
                Begun { slots: self.len(), schedule: Schedule::Direct, empty: false }
            }

            #[inline(always)]
            fn poll_slot(self: Pin<&mut Self>, slot: usize, cx: &mut Context<'_>) -> Polled {
                let this = self.project();
                match slot {
                    $($index => this.$slot.poll_at(slot, cx),)+
                    _ => Polled::Vacant,
                }
            }

            #[inline]
            fn in_place(&self, index: usize) -> usize {
                self.len().saturating_sub(index)
            }

            fn is_running(&self, slot: usize) -> bool {
                match slot {
                    $($index => self.$slot.is_running(),)+
                    _ => false,
                }
            }

            fn drop_all(mut self: Pin<&mut Self>) {
                // One assignment, as for arrays: every slot is dropped even
                // past a panicking one.
                self.set($name { $($slot: Slot::empty(),)+ });
            }

            fn take_settled(self: Pin<&mut Self>) -> Self::Settled {
                let this = self.project();
                ($(this.$slot.take_settled(),)+)
            }

            fn take_settled_timed(self: Pin<&mut Self>) -> Self::SettledTimed {
                let this = self.project();
                ($(this.$slot.take_settled_timed(),)+)
            }
        }

        impl<Error, $($F: TryFuture<Error = Error>),+> TryStorage for $name<$($F),+> {
            type Ok = ($($F::Ok,)+);
            type Error = Error;

            fn take_error(self: Pin<&mut Self>, index: usize) -> Error {
                let this = self.project();
                match index {
                    $($index => this.$slot.take_err(),)+
                    _ => unreachable!("safe-gather: no child {index} in this tuple"),
                }
            }

            fn take_ok(self: Pin<&mut Self>) -> Self::Ok {
                let this = self.project();
                ($(this.$slot.take_ok(),)+)
            }
        }
    )+};
}

tuple_storage! {
    Tuple1 { 0 A a }
    Tuple2 { 0 A a 1 B b }
    Tuple3 { 0 A a 1 B b 2 C c }
    Tuple4 { 0 A a 1 B b 2 C c 3 D d }
    Tuple5 { 0 A a 1 B b 2 C c 3 D d 4 E e }
    Tuple6 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f }
    Tuple7 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g }
    Tuple8 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h }
    Tuple9 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i }
    Tuple10 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j }
    Tuple11 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j 10 K k }
    Tuple12 { 0 A a 1 B b 2 C c 3 D d 4 E e 5 F f 6 G g 7 H h 8 I i 9 J j 10 K k 11 L l }
}
