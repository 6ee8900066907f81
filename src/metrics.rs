//! `GET /metrics`: Prometheus (OpenMetrics text) exposition of the counters
//! the server keeps anyway — tick statistics, the network layer's counters,
//! the store's health and a census of the rooms — read at scrape time, so
//! the hot paths only ever bump atomics. Names are stable and documented in
//! the README; labels are bounded (transport, codec, phase, code, result),
//! never per connection or per room.

use crate::driver::stats::{BUCKETS, TickStats};
use crate::driver::{Census, ShardSettings};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tickroom_net::stats::{NetStats, Transport};
use tickroom_persistence::Store;
use tickroom_protocol::{Codec, ErrorCode};

/// What one scrape reads.
pub struct Sources {
    pub ticks: Arc<ShardSettings>,
    pub net: Arc<NetStats>,
    pub store: Arc<Store>,
    pub census: Census,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources").finish_non_exhaustive()
    }
}

/// The exposition text for one scrape.
pub fn render(sources: Sources) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(sources));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "could not encode the metrics");
    }
    out
}

type Result = std::result::Result<(), std::fmt::Error>;

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(v).encode(m)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result {
    let m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(v).encode(m)
}

/// A log2-µs histogram of [`TickStats`] as a Prometheus histogram in seconds.
fn histogram(e: &mut DescriptorEncoder, name: &str, help: &str, s: &TickStats) -> Result {
    let mut buckets: Vec<(f64, u64)> = (0..BUCKETS)
        .map(|i| {
            let upper_us = (1u64 << (i + 1)) as f64;
            (upper_us / 1e6, s.buckets[i].load(Ordering::Relaxed))
        })
        .collect();
    // The last bucket is open-ended.
    if let Some(last) = buckets.last_mut() {
        last.0 = f64::INFINITY;
    }
    let count = s.ticks.load(Ordering::Relaxed);
    let sum = s.tick_ns_total.load(Ordering::Relaxed) as f64 / 1e9;
    let mut m = e.encode_descriptor(name, help, None, MetricType::Histogram)?;
    m.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

impl Collector for Sources {
    fn encode(&self, mut e: DescriptorEncoder) -> Result {
        let t = &self.ticks.stats;
        let n = &self.net;
        let h = self.store.health();
        histogram(
            &mut e,
            "tickroom_tick_duration_seconds",
            "Time to run one room's tick: step, replies, deltas, logging",
            t,
        )?;
        histogram(
            &mut e,
            "tickroom_journal_duration_seconds",
            "The part of a tick spent logging it for the store",
            &self.ticks.journal_stats,
        )?;
        counter(
            &mut e,
            "tickroom_tick_overruns",
            "Ticks that started too late and skipped ahead",
            t.overruns.load(Ordering::Relaxed),
        )?;
        {
            let mut m = e.encode_descriptor(
                "tickroom_rooms",
                "Loaded rooms by phase",
                None,
                MetricType::Gauge,
            )?;
            for (phase, count) in Census::PHASES.iter().zip(self.census.rooms) {
                let labels = [("phase", phase.as_str())];
                ConstGauge::new(count as i64).encode(m.encode_family(&labels)?)?;
            }
        }
        gauge(
            &mut e,
            "tickroom_rooms_unloaded",
            "Empty rooms kept as a snapshot until someone joins",
            self.census.unloaded as i64,
        )?;
        gauge(
            &mut e,
            "tickroom_rooms_parked",
            "Loaded rooms not ticking: nothing is due until a request or a timer",
            self.census.parked as i64,
        )?;
        gauge(
            &mut e,
            "tickroom_rooms_frozen",
            "Parked rooms kept as their state, without a world, until needed",
            self.census.frozen as i64,
        )?;
        gauge(
            &mut e,
            "tickroom_outbound_queued_bytes",
            "Bytes waiting in client connections' outbound queues",
            self.net.queued_bytes(),
        )?;
        gauge(
            &mut e,
            "tickroom_members",
            "Seats in loaded rooms (connected or in their grace period)",
            self.census.members as i64,
        )?;
        {
            let mut m = e.encode_descriptor(
                "tickroom_connections",
                "Open client connections by transport and codec",
                None,
                MetricType::Gauge,
            )?;
            for t in Transport::ALL {
                for (codec, name) in [(Codec::Postcard, "postcard"), (Codec::Json, "json")] {
                    if t == Transport::Quic && codec == Codec::Json {
                        continue; // QUIC carries postcard only
                    }
                    let labels = [("transport", t.as_str()), ("codec", name)];
                    let live = n.connections(t, codec);
                    ConstGauge::new(live).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        type PerTransport = fn(&NetStats, Transport) -> u64;
        let per_transport: [(&str, &str, PerTransport); 4] = [
            (
                "tickroom_frames_in",
                "Frames received from clients",
                NetStats::frames_in,
            ),
            (
                "tickroom_bytes_in",
                "Frame bytes received from clients",
                NetStats::bytes_in,
            ),
            (
                "tickroom_frames_out",
                "Frames sent to clients",
                NetStats::frames_out,
            ),
            (
                "tickroom_bytes_out",
                "Frame bytes sent to clients",
                NetStats::bytes_out,
            ),
        ];
        for (name, help, read) in per_transport {
            let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
            for t in Transport::ALL {
                let labels = [("transport", t.as_str())];
                ConstCounter::new(read(n, t)).encode(m.encode_family(&labels)?)?;
            }
        }
        counter(
            &mut e,
            "tickroom_inputs_applied",
            "Inputs the rooms applied (intents, joins, leaves, admin actions; idempotent repeats included)",
            t.applied.load(Ordering::Relaxed),
        )?;
        {
            let mut m = e.encode_descriptor(
                "tickroom_inputs_rejected",
                "Inputs rejected, by error code (by the room, or before it by the store)",
                None,
                MetricType::Counter,
            )?;
            for code in ErrorCode::ALL {
                let labels = [("code", code.as_str())];
                ConstCounter::new(t.rejections(*code)).encode(m.encode_family(&labels)?)?;
            }
        }
        let simple: [(&str, &str, u64); 10] = [
            (
                "tickroom_lock_conflicts",
                "Lock requests refused because another member holds the lock (LOCK_HELD)",
                t.rejections(ErrorCode::LockHeld),
            ),
            (
                "tickroom_version_mismatches",
                "hello messages with an unsupported protocol version",
                n.version_mismatches.load(Ordering::Relaxed),
            ),
            (
                "tickroom_rate_limited",
                "Requests refused with RATE_LIMITED",
                n.rate_limited.load(Ordering::Relaxed),
            ),
            (
                "tickroom_cursor_updates",
                "Cursor updates received",
                t.cursor_updates.load(Ordering::Relaxed),
            ),
            (
                "tickroom_cursor_updates_coalesced",
                "Cursor updates replaced by a newer one from the same member before the tick sent them",
                t.cursors_coalesced.load(Ordering::Relaxed),
            ),
            (
                "tickroom_cursor_updates_dropped",
                "Cursor frames dropped because a connection's queue was full",
                t.dropped_frames.load(Ordering::Relaxed),
            ),
            (
                "tickroom_slow_consumer_disconnects",
                "Connections closed with SLOW_CONSUMER",
                n.slow_consumers.load(Ordering::Relaxed),
            ),
            (
                "tickroom_store_behind_rejections",
                "Mutations refused with STORE_BEHIND",
                t.rejections(ErrorCode::StoreBehind),
            ),
            (
                "tickroom_store_commits",
                "Store transactions committed",
                h.commits.load(Ordering::Relaxed),
            ),
            (
                "tickroom_store_failed_commits",
                "Store transactions that failed (retried)",
                h.failed_commits.load(Ordering::Relaxed),
            ),
        ];
        for (name, help, v) in simple {
            counter(&mut e, name, help, v)?;
        }
        {
            let mut m = e.encode_descriptor(
                "tickroom_resumes",
                "Session resumes by result",
                None,
                MetricType::Counter,
            )?;
            for (result, v) in [
                ("ok", t.resumes_ok.load(Ordering::Relaxed)),
                ("failed", t.resumes_failed.load(Ordering::Relaxed)),
            ] {
                ConstCounter::new(v).encode(m.encode_family(&[("result", result)])?)?;
            }
        }
        {
            let m = e.encode_descriptor(
                "tickroom_store_commit_seconds",
                "Total time spent in successful store commits; divide by tickroom_store_commits_total for the mean latency",
                None,
                MetricType::Counter,
            )?;
            ConstCounter::new(h.commit_micros_total.load(Ordering::Relaxed) as f64 / 1e6)
                .encode(m)?;
        }
        let gauges: [(&str, &str, i64); 6] = [
            (
                "tickroom_store_queue_depth",
                "Writes waiting in the store's channel",
                self.store.queue_depth() as i64,
            ),
            (
                "tickroom_store_last_commit_microseconds",
                "Duration of the last successful commit",
                h.last_commit_micros.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickroom_store_buffered_writes",
                "Writes waiting in memory while the store fails",
                h.buffered_writes.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickroom_store_dead_letter_bytes",
                "Bytes in the dead-letter file",
                h.dead_letter_bytes.load(Ordering::Relaxed) as i64,
            ),
            (
                "tickroom_store_degraded",
                "1 while writes wait in the buffer or dead-letter file",
                i64::from(!h.is_healthy()),
            ),
            (
                "tickroom_store_refusing",
                "1 while mutations are refused with STORE_UNAVAILABLE",
                i64::from(h.is_refusing()),
            ),
        ];
        for (name, help, v) in gauges {
            gauge(&mut e, name, help, v)?;
        }
        Ok(())
    }
}
