//! SQLite persistence: migrations, snapshots, the input log, formations and
//! the audit log, on its own writer thread. Filled by the persistence issue;
//! it depends on the protocol crate only and never on `sim` or `net`.
