//! Giving freed memory back to the OS. glibc's allocator returns free
//! memory on its own only from the top of each heap; the worlds of frozen
//! rooms are freed in the middle of it, between allocations that stay, and
//! would keep counting in the server's RSS. `malloc_trim` releases every
//! whole free page. (A general-purpose replacement allocator was measured:
//! it returned memory on its own but packed connections' small allocations
//! less tightly; see docs/PERFORMANCE.md.)

/// Returns whole free pages to the OS. Takes a few milliseconds on a heap
/// of hundreds of MB; called once per batch of frozen rooms.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only locks the
    // allocator's arenas while it walks them.
    unsafe {
        libc::malloc_trim(0);
    }
}
