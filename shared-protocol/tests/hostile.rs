//! Hostile input: every bad frame gets the right `DecodeError` (and so the
//! right `ErrorCode`), quickly, without a panic and without a large
//! allocation. A mode's payload is opaque to the frame decoder: what is
//! wrong inside it is found when the room's mode decodes it (here: the
//! board's types, the board's intent table and `walk::check_value`), and
//! gets a coded error there.

mod common;

use common::*;
use proptest::collection::vec;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};
use tickroom_protocol::board;
use tickroom_protocol::walk::check_value;
use tickroom_protocol::*;

// ---------------------------------------------- largest allocation, per thread

struct TrackLargest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards every call to `System` unchanged; only records sizes.
unsafe impl GlobalAlloc for TrackLargest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: TrackLargest = TrackLargest;

/// Runs `f`, returning its result, the largest single allocation it made on
/// this thread, and how long it took.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize, Duration) {
    LARGEST.with(|l| l.set(0));
    let start = Instant::now();
    let r = f();
    let took = start.elapsed();
    (r, LARGEST.with(Cell::get), took)
}
