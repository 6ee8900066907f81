//! The run's report: the JSON document and the table printed from it. Every
//! figure comes from what the clients received or from /proc; nothing is
//! estimated.

use super::LoadArgs;
use super::procfs::{self, Sample};
use super::tally::{Class, Quantiles, Tally};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// Gauges read from the server's /metrics during the run (summed over
/// labels): their trend says whether queues grow.
const GAUGES: &[&str] = &[
    "tickroom_outbound_queued_bytes",
    "tickroom_store_queue_depth",
    "tickroom_connections",
    "tickroom_members",
];

#[derive(Debug, Clone)]
pub struct Point {
    pub sample: Sample,
    pub gauges: BTreeMap<String, f64>,
}

pub struct Sampler {
    pid: u32,
    metrics: Option<(String, u16)>,
}

impl Sampler {
    pub fn new(pid: u32, metrics: Option<(String, u16)>) -> Sampler {
        Sampler { pid, metrics }
    }

    /// Samples every `every` for `window`.
    pub async fn run(&self, window: Duration, every: Duration) -> Vec<Point> {
        let end = tokio::time::Instant::now() + window;
        let mut points = Vec::new();
        let mut next = tokio::time::Instant::now() + every;
        while next <= end {
            tokio::time::sleep_until(next).await;
            next += every;
            let Ok(sample) = procfs::sample(self.pid) else {
                break;
            };
            let gauges = match &self.metrics {
                Some((host, port)) => scrape(host, *port).await.unwrap_or_default(),
                None => BTreeMap::new(),
            };
            points.push(Point { sample, gauges });
        }
        tokio::time::sleep_until(end).await;
        points
    }
}

/// Reads the gauges above from `/metrics` with a bare HTTP/1.1 GET (the
/// server answers loopback scrapes without a token).
async fn scrape(host: &str, port: u16) -> Option<BTreeMap<String, f64>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let req = format!("GET /metrics HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).await.ok()?;
        Some(body)
    };
    let body = tokio::time::timeout(Duration::from_secs(2), fetch)
        .await
        .ok()??;
    let mut out = BTreeMap::new();
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let Some((name_labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let name = name_labels.split('{').next().unwrap_or_default();
        if GAUGES.contains(&name)
            && let Ok(v) = value.parse::<f64>()
        {
            *out.entry(name.to_owned()).or_insert(0.0) += v;
        }
    }
    Some(out)
}

pub struct Inputs<'a> {
    pub args: &'a LoadArgs,
    pub started_unix: u64,
    pub tally: &'a Tally,
    pub server_pid: u32,
    /// Before any client connected.
    pub before: Sample,
    /// Every client seated, just before the run.
    pub seated: Sample,
    /// At the end of the measured run.
    pub end: Sample,
    /// After the drain and the clients' close.
    pub after: Sample,
    pub samples: Vec<Point>,
    pub loadgen_cpu_s: f64,
}

pub struct Report {
    pub json: Value,
}

fn ratio(n: u64, d: u64) -> Value {
    if d == 0 {
        Value::Null
    } else {
        json!(n as f64 / d as f64)
    }
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

impl Report {
    pub fn build(i: Inputs<'_>) -> Report {
        let t = i.tally;
        let window_s = i.end.at.duration_since(i.seated.at).as_secs_f64();
        let server_cpu_s = i.end.cpu_s - i.seated.cpu_s;
        let critical_sent = t.critical_sent();
        let rejected = t.rejected();
        let own_expected = critical_sent.saturating_sub(rejected);
        let own_delivered = t.critical_echoed();
        let versions_expected = t.expected_versions();
        let versions_delivered = t.received_versions();
        let version_shortfall = versions_expected.saturating_sub(versions_delivered);
        let lost = t.unresolved + version_shortfall + t.slow_consumers;
        let mut latency = serde_json::Map::new();
        let mut sent_per_s = serde_json::Map::new();
        for c in Class::ALL {
            let q = Quantiles::of(t.latency(c));
            if q.count > 0 {
                latency.insert(c.name().into(), json!(q));
            }
            if let Some(n) = t.sent.get(c.name()) {
                sent_per_s.insert(c.name().into(), json!(round(*n as f64 / window_s, 1)));
            }
        }
        let points: Vec<Value> = i
            .samples
            .iter()
            .map(|p| {
                json!({
                    "t_s": round(p.sample.at.duration_since(i.seated.at).as_secs_f64(), 3),
                    "cpu_s": round(p.sample.cpu_s - i.seated.cpu_s, 3),
                    "rss_kib": p.sample.rss_kib,
                    "gauges": p.gauges,
                })
            })
            .collect();
        let minutes = |s: &Sample| s.at.duration_since(i.seated.at).as_secs_f64() / 60.0;
        let rss_slope = procfs::slope(
            &i.samples
                .iter()
                .map(|p| (minutes(&p.sample), p.sample.rss_kib as f64))
                .collect::<Vec<_>>(),
        );
        let mut gauge_slopes = serde_json::Map::new();
        for g in GAUGES {
            let pts: Vec<(f64, f64)> = i
                .samples
                .iter()
                .filter_map(|p| p.gauges.get(*g).map(|v| (minutes(&p.sample), *v)))
                .collect();
            if let Some(s) = procfs::slope(&pts) {
                let last = pts.last().map(|p| p.1).unwrap_or(0.0);
                gauge_slopes.insert(
                    (*g).into(),
                    json!({"slope_per_min": round(s, 3), "last": last, "max": pts.iter().map(|p| p.1).fold(0.0, f64::max)}),
                );
            }
        }
        let rss_peak = i
            .samples
            .iter()
            .map(|p| p.sample.rss_kib)
            .chain([i.seated.rss_kib, i.end.rss_kib])
            .max()
            .unwrap_or(0);
        // What the connections cost while held: at the end of the window
        // (after the server settled), and just after seating for reference.
        let per_conn_kib = |at: &Sample| {
            (t.connected > 0)
                .then(|| at.rss_kib.saturating_sub(i.before.rss_kib) as f64 / t.connected as f64)
        };
        let intents = critical_sent;
        let json = json!({
            "tickroom_loadgen": 1,
            "started_unix": i.started_unix,
            "args": i.args,
            "window_s": round(window_s, 3),
            "clients": {
                "requested": t.clients,
                "connected": t.connected,
                "connect_failures": t.connect_failures,
                "dropped": t.dropped,
                "slow_consumers": t.slow_consumers,
            },
            "latency_us": latency,
            "sent": t.sent,
            "sent_per_s": sent_per_s,
            "echoed": t.echoed,
            "acks": t.acks,
            "rejects": t.rejects,
            "errors": t.errors,
            "critical": {
                "own_expected": own_expected,
                "own_delivered": own_delivered,
                "own_lost": t.unresolved,
                "room_versions_expected": versions_expected,
                "room_versions_delivered": versions_delivered,
                "delivered_ratio": ratio(versions_delivered, versions_expected),
                "gaps": t.gaps,
                "gap_versions": t.gap_versions,
                "slow_consumers": t.slow_consumers,
                "lost": lost,
            },
            "deltas": t.deltas,
            "events": t.events,
            "deltas_per_s": round(t.deltas as f64 / window_s, 1),
            "frames": t.frames,
            "frames_per_s": round(t.frames as f64 / window_s, 1),
            "ack_frames": t.ack_frames,
            "server": {
                "pid": i.server_pid,
                "cpu_s": round(server_cpu_s, 3),
                "cpu_pct_of_core": round(100.0 * server_cpu_s / window_s, 1),
                "cpu_s_per_million_intents": (intents > 0).then(|| round(server_cpu_s / intents as f64 * 1e6, 3)),
                "rss_kib_before": i.before.rss_kib,
                "rss_kib_seated": i.seated.rss_kib,
                "rss_kib_end": i.end.rss_kib,
                "rss_kib_after": i.after.rss_kib,
                "rss_kib_peak": rss_peak,
                "rss_kib_per_connection": per_conn_kib(&i.end).map(|v| round(v, 2)),
                "rss_kib_per_connection_seated": per_conn_kib(&i.seated).map(|v| round(v, 2)),
                "rss_slope_kib_per_min": rss_slope.map(|s| round(s, 2)),
                "gauges": gauge_slopes,
                "samples": points,
            },
            "loadgen": {
                "processes": i.args.processes,
                "cpu_s": round(i.loadgen_cpu_s, 3),
                "cpu_pct_of_core": round(100.0 * i.loadgen_cpu_s / window_s, 1),
            },
        });
        Report { json }
    }

    /// The human summary, read back from the JSON so the two never differ.
    pub fn table(&self) -> String {
        let j = &self.json;
        let a = &j["args"];
        let mut s = String::new();
        let _ = writeln!(
            s,
            "tickroom loadgen: {} clients ({} connected, {} failed) in {} rooms, {} over {}/{}, {} s measured",
            j["clients"]["requested"],
            j["clients"]["connected"],
            j["clients"]["connect_failures"],
            a["rooms"],
            a["behavior"].as_str().unwrap_or("?"),
            a["transport"].as_str().unwrap_or("?"),
            a["codec"].as_str().unwrap_or("?"),
            j["window_s"],
        );
        let _ = writeln!(
            s,
            "{:<8} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
            "class", "sent", "sent/s", "measured", "p50 ms", "p90 ms", "p99 ms", "max ms"
        );
        for c in Class::ALL {
            let sent = j["sent"][c.name()].as_u64().unwrap_or(0);
            if sent == 0 {
                continue;
            }
            let q = &j["latency_us"][c.name()];
            let ms = |k: &str| {
                q[k].as_u64()
                    .map(|v| format!("{:.2}", v as f64 / 1000.0))
                    .unwrap_or_else(|| "-".into())
            };
            let _ = writeln!(
                s,
                "{:<8} {:>10} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
                c.name(),
                sent,
                j["sent_per_s"][c.name()].to_string(),
                q["count"].as_u64().unwrap_or(0),
                ms("p50_us"),
                ms("p90_us"),
                ms("p99_us"),
                ms("max_us"),
            );
        }
        let cr = &j["critical"];
        let _ = writeln!(
            s,
            "critical: own events {}/{} delivered, room versions {}/{} delivered, {} gaps, {} slow consumers => lost {}",
            cr["own_delivered"],
            cr["own_expected"],
            cr["room_versions_delivered"],
            cr["room_versions_expected"],
            cr["gaps"],
            cr["slow_consumers"],
            cr["lost"],
        );
        let codes = |v: &Value| match v.as_object() {
            Some(m) if !m.is_empty() => m
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".into(),
        };
        let _ = writeln!(
            s,
            "rejects: {}; errors: {}; frames received: {} ({}/s), of which deltas {} ({}/s) and ack frames {}",
            codes(&j["rejects"]),
            codes(&j["errors"]),
            j["frames"],
            j["frames_per_s"],
            j["deltas"],
            j["deltas_per_s"],
            j["ack_frames"]
        );
        let sv = &j["server"];
        let _ = writeln!(
            s,
            "server (pid {}): {}% of a core ({} cpu-s), {} cpu-s per million intents; rss {} KiB before, {} seated, {} end, {} KiB/connection at the end ({} seated), slope {} KiB/min",
            sv["pid"],
            sv["cpu_pct_of_core"],
            sv["cpu_s"],
            sv["cpu_s_per_million_intents"],
            sv["rss_kib_before"],
            sv["rss_kib_seated"],
            sv["rss_kib_end"],
            sv["rss_kib_per_connection"],
            sv["rss_kib_per_connection_seated"],
            sv["rss_slope_kib_per_min"],
        );
        let lg = &j["loadgen"];
        let _ = write!(
            s,
            "loadgen: {}% of a core ({} cpu-s) in {} process(es)",
            lg["cpu_pct_of_core"], lg["cpu_s"], lg["processes"]
        );
        s
    }
}
