//! Giving freed memory back to the OS. glibc's allocator returns free
//! memory on its own only from the top of each heap; the worlds of frozen
//! rooms are freed in the middle of it, between allocations that stay, and
//! would keep counting in the server's RSS. `malloc_trim` releases every
//! whole free page. (A general-purpose replacement allocator was measured:
//! it returned memory on its own but packed connections' small allocations
//! less tightly; see docs/PERFORMANCE.md.)

/// When to give memory back after connections close: once the live count
/// has fallen at least `threshold` below its highest since the last trim
/// and has stopped falling (checked once a second: a flood that ended, a
/// mass disconnect). A closed connection's memory is freed between the
/// allocations of those that stay, where glibc does not return it on its
/// own. Steady churn never gets that far below its peak. 0: never.
#[derive(Debug)]
pub struct TrimAfterDrop {
    threshold: usize,
    peak: usize,
    last: usize,
}

impl TrimAfterDrop {
    pub fn new(threshold: usize) -> TrimAfterDrop {
        TrimAfterDrop {
            threshold,
            peak: 0,
            last: 0,
        }
    }

    /// Records the live count; true when freed memory should be returned now.
    pub fn observe(&mut self, live: usize) -> bool {
        self.peak = self.peak.max(live);
        let falling = live < self.last;
        self.last = live;
        if self.threshold == 0 || falling || self.peak - live < self.threshold {
            return false;
        }
        self.peak = live;
        true
    }
}

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

#[cfg(test)]
mod tests {
    use super::TrimAfterDrop;

    #[test]
    fn trims_once_a_large_drop_has_settled_and_never_for_churn() {
        let mut t = TrimAfterDrop::new(100);
        let seen: Vec<bool> = [0, 500, 1800, 1200, 400, 4, 4, 4, 50, 3, 3]
            .into_iter()
            .map(|n| t.observe(n))
            .collect();
        assert_eq!(
            seen,
            [
                false, false, false, false, false, false, true, false, false, false, false
            ]
        );
        // Churn around a level never reaches the threshold below the peak.
        let mut t = TrimAfterDrop::new(100);
        assert!((0..1000).all(|i| !t.observe(1000 + (i % 7) * 10)));
        // 0: never.
        let mut t = TrimAfterDrop::new(0);
        assert!(![5000, 0, 0].into_iter().any(|n| t.observe(n)));
    }
}
