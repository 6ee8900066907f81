//! The server's configuration: embedded defaults, an optional TOML file,
//! then `TICKROOM_<SECTION>_<KEY>` environment overrides, validated at
//! start-up. A bad value stops the start with the key, the value and what is
//! allowed.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tickroom_protocol::RoomConfig;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerSection,
    pub tls: TlsSection,
    pub auth: AuthSection,
    pub net: NetSection,
    pub rooms: RoomsSection,
    pub store: StoreSection,
    pub log: LogSection,
    pub cluster: ClusterSection,
}

/// Cluster mode: several nodes against one Redis. Off while `redis_url` is
/// empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSection {
    /// `redis://host:port[/db]`; empty: a single node, no Redis.
    pub redis_url: String,
    /// Every key this cluster writes starts with `<prefix>:`.
    pub prefix: String,
    /// This node's id; empty: generated once and kept in `<data_dir>/node.id`.
    pub node_id: String,
    /// The WebSocket URL clients should use for this node; empty: the
    /// listening address.
    pub public_ws: String,
    /// The QUIC address clients should use; empty: the listening address.
    pub public_quic: String,
    /// A node that has not renewed its record this long leaves the cluster.
    pub node_ttl_ms: u64,
    /// How often the node renews its record; 0: a fifth of `node_ttl_ms`.
    pub renew_every_ms: u64,
    /// The longest one Redis call may take.
    pub redis_timeout_ms: u64,
    /// Failed calls in a row that open the circuit breaker.
    pub breaker_failures: u32,
    /// Backoff while Redis fails: doubles from base to max.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// Rooms whose lease is being claimed at once; more: SERVER_BUSY.
    pub max_claiming: usize,
    /// Requests held for one room while its lease is claimed; more:
    /// SERVER_BUSY.
    pub claim_queue: usize,
    /// A matchmaking seat reservation not claimed this long gives its seat
    /// back.
    pub reservation_ttl_ms: u64,
    /// How often each room's new writes go to Redis: the most of
    /// acknowledged play a node's crash can lose.
    pub replicate_every_ms: u64,
    /// New connections from one IP per second across the cluster (0: no
    /// cluster-wide limit; each node's `net.new_connections_per_ip_per_s`
    /// holds anyway).
    pub new_connections_per_ip_per_s: u32,
    /// Joins by one user per second across the cluster (0: none).
    pub joins_per_user_per_s: u32,
}

impl Default for ClusterSection {
    fn default() -> Self {
        ClusterSection {
            redis_url: String::new(),
            prefix: "tickroom".into(),
            node_id: String::new(),
            public_ws: String::new(),
            public_quic: String::new(),
            node_ttl_ms: 5_000,
            renew_every_ms: 0,
            redis_timeout_ms: 1_000,
            breaker_failures: 3,
            retry_base_ms: 100,
            retry_max_ms: 2_000,
            max_claiming: 1_024,
            claim_queue: 64,
            reservation_ttl_ms: 10_000,
            replicate_every_ms: 50,
            new_connections_per_ip_per_s: 256,
            joins_per_user_per_s: 10,
        }
    }
}

impl ClusterSection {
    pub fn enabled(&self) -> bool {
        !self.redis_url.is_empty()
    }

    fn validate(&self) -> Result<()> {
        if self.prefix.is_empty()
            || self.prefix.len() > 64
            || !self.prefix.bytes().all(|b| b.is_ascii_graphic())
        {
            bail!(
                "config `cluster.prefix` = {:?} must be 1 to 64 printable characters without spaces",
                self.prefix
            );
        }
        if !self.node_id.is_empty() {
            crate::cluster::node_id::check(&self.node_id)
                .map_err(|e| anyhow::anyhow!("config `cluster.node_id`: {e}"))?;
        }
        range("cluster.node_ttl_ms", self.node_ttl_ms, 500, 600_000)?;
        if self.renew_every_ms != 0 {
            // Renewed well inside the TTL: three renewals may fail in a row.
            range(
                "cluster.renew_every_ms",
                self.renew_every_ms,
                50,
                self.node_ttl_ms / 3,
            )?;
        }
        range(
            "cluster.redis_timeout_ms",
            self.redis_timeout_ms,
            10,
            60_000,
        )?;
        range(
            "cluster.breaker_failures",
            self.breaker_failures.into(),
            1,
            1_000,
        )?;
        range("cluster.retry_base_ms", self.retry_base_ms, 1, 60_000)?;
        range(
            "cluster.retry_max_ms",
            self.retry_max_ms,
            self.retry_base_ms,
            600_000,
        )?;
        range(
            "cluster.max_claiming",
            self.max_claiming as u64,
            1,
            1_000_000,
        )?;
        range("cluster.claim_queue", self.claim_queue as u64, 1, 100_000)?;
        range(
            "cluster.new_connections_per_ip_per_s",
            self.new_connections_per_ip_per_s.into(),
            0,
            1_000_000,
        )?;
        range(
            "cluster.joins_per_user_per_s",
            self.joins_per_user_per_s.into(),
            0,
            1_000_000,
        )?;
        range(
            "cluster.replicate_every_ms",
            self.replicate_every_ms,
            1,
            10_000,
        )?;
        range(
            "cluster.reservation_ttl_ms",
            self.reservation_ttl_ms,
            100,
            600_000,
        )?;
        Ok(())
    }
}

/// Persistence: the SQLite store, its writer thread and its limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSection {
    /// The database file; empty = `<data_dir>/tickroom.db`.
    pub path: String,
    /// `synchronous = FULL`: survives power loss too (slower commits).
    pub full_durability: bool,
    /// Writes per transaction at most (group commit).
    pub batch_max_writes: usize,
    /// The longest a write waits for its group commit.
    pub commit_interval_ms: u64,
    /// Tick threads → store channel capacity, in writes.
    pub queue: usize,
    /// A room whose writes are this many of its ticks behind refuses
    /// mutating intents with STORE_BEHIND until the store catches up.
    pub max_lag_ticks: u64,
    /// Snapshot every N ticks (when something changed)…
    pub snapshot_every_ticks: u64,
    /// …or after M logged inputs, whichever comes first.
    pub snapshot_every_inputs: u64,
    /// A room whose snapshot nears this size refuses joins and formation
    /// saves with ROOM_TOO_LARGE.
    pub snapshot_max_bytes: u64,
    /// How long a write waits for a lock held by another connection.
    pub busy_timeout_ms: u64,
    /// A cap on the database file in bytes; 0 = none (the disk is the cap).
    pub max_db_bytes: u64,
    /// Writes wait in memory when the dead-letter file cannot take them;
    /// past this many bytes (and the file full) mutations are refused.
    pub buffer_max_bytes: u64,
    /// The dead-letter file: while the store fails, every write waits here
    /// in order (a kill -9 during the outage then loses nothing the store
    /// thread took), and in memory only when the file cannot take it.
    /// Empty = `<data_dir>/dead.letter`; better on another disk; `off` =
    /// none (writes then wait in memory only, and a crash during an outage
    /// loses all of them).
    pub dead_letter: String,
    pub dead_letter_max_bytes: u64,
    /// Failed commits in a row that open the circuit breaker.
    pub breaker_failures: u32,
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// A room's full log is kept this long (then compacted behind the oldest
    /// kept snapshot).
    pub log_retention_s: u64,
    /// Archived rooms are purged this long after archiving.
    pub archived_retention_s: u64,
    pub retention_interval_s: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSection {
    /// HTTP and WebSocket (`/ws`) listen address; port 0 picks a free port.
    pub http: SocketAddr,
    /// QUIC (UDP) listen address; port 0 picks a free port.
    pub quic: SocketAddr,
    /// Serve QUIC at all.
    pub quic_enabled: bool,
    /// Serve HTTP and WebSocket over TLS (https, wss://) with `tls.*`.
    pub wss: bool,
    pub data_dir: PathBuf,
    /// Tick threads; rooms are sharded over them by room id.
    pub tick_threads: usize,
    /// Tokio worker threads for connections.
    pub io_threads: usize,
    /// Net → tick queue capacity per tick thread; when full, SERVER_BUSY.
    pub inbound_queue: usize,
    /// Serve on a non-loopback address without authentication.
    pub allow_public_without_auth: bool,
    /// How long a shutdown may take before connections are dropped.
    pub shutdown_timeout_ms: u64,
    /// Return freed memory to the OS (glibc `malloc_trim`) once live
    /// connections have fallen this many below their peak since the last
    /// time and stopped falling; 0 = never.
    pub trim_after_closes: usize,
}

/// The certificate for QUIC (and wss). Empty paths: a self-signed one in
/// the data dir.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: String,
    pub key_file: String,
}

/// The shortest accepted HTTP API bearer token, in bytes.
const MIN_API_TOKEN: usize = 16;

/// The shortest accepted join-token (HS256) secret, in bytes.
pub const MIN_JWT_SECRET: usize = 32;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    /// The HS256 secret join tokens are signed with; empty = no join tokens.
    pub jwt_secret: String,
    /// A file holding the secret instead (trailing white space ignored).
    pub jwt_secret_file: String,
    /// The secret resume tokens are signed with; empty = the node's own
    /// `<data_dir>/server.secret`. Give every node of a cluster the same
    /// one, and a resume token from any node is good on every node.
    pub session_secret: String,
    /// A file holding it instead (trailing white space ignored).
    pub session_secret_file: String,
    /// How long a resume token stays valid, in seconds (0 = one day).
    pub resume_token_ttl_s: u64,
    /// Accept join tokens over plain `ws://` on a non-loopback address.
    pub allow_tokens_without_tls: bool,
    /// Bearer token for the HTTP API's mutations (create, archive, kick);
    /// empty = those endpoints are off.
    pub admin_token: String,
    /// Bearer token for the HTTP API's reads when the server listens off
    /// loopback (on loopback reads are open); the admin token works too.
    pub read_token: String,
}

impl AuthSection {
    /// The join-token secret, from the config or its file; at least
    /// [`MIN_JWT_SECRET`] bytes, as a short HS256 secret can be guessed.
    pub fn jwt_secret(&self) -> Result<Option<Vec<u8>>> {
        secret("auth.jwt_secret", &self.jwt_secret, &self.jwt_secret_file)
    }

    /// The resume-token secret shared by a cluster's nodes, if configured.
    pub fn session_secret(&self) -> Result<Option<Vec<u8>>> {
        secret(
            "auth.session_secret",
            &self.session_secret,
            &self.session_secret_file,
        )
    }

    fn configured(&self) -> bool {
        !self.jwt_secret.is_empty() || !self.jwt_secret_file.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetSection {
    pub max_frame_bytes: usize,
    pub max_json_depth: usize,
    pub max_string_bytes: usize,
    pub ws_read_buffer: usize,
    pub ws_write_buffer: usize,
    pub outbound_frames: usize,
    pub outbound_bytes: usize,
    pub handshake_timeout_ms: u64,
    pub heartbeat_timeout_ms: u64,
    /// Token-less play: `loopback` (default), `always` or `never`.
    pub anonymous: Anonymous,
    /// Per-connection rate limits (token buckets, bursts up to the count).
    pub rate_moves_per_s: u32,
    pub rate_actions_per_10s: u32,
    pub rate_chat_per_10s: u32,
    pub rate_cursors_per_s: u32,
    /// Rate-limited requests in a row that close the connection.
    pub abuse_limit: u32,
    /// A connection whose outbound queue has not drained for this long is
    /// closed with SLOW_CONSUMER.
    pub stall_timeout_ms: u64,
    /// How long a connection the server closes (slow consumers included)
    /// may take to drain, deliver `closing` and complete the close before
    /// its socket is dropped anyway.
    pub close_linger_ms: u64,
    /// Connections in all; 0 = as many as the open-file limit allows (minus
    /// a reserve). Never more than that.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub new_connections_per_ip_per_s: u32,
    /// `SO_SNDBUF`/`SO_RCVBUF` of accepted sockets; 0 keeps the system's
    /// (which on Linux may grow to megabytes per connection).
    pub socket_send_buffer: usize,
    pub socket_recv_buffer: usize,
    /// QUIC connections at once (they hold no file descriptor).
    pub max_quic_connections: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anonymous {
    Loopback,
    Always,
    Never,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoomsSection {
    pub max_rooms: usize,
    /// A disconnected member keeps its seat this long.
    pub grace_ms: u64,
    /// A room with no seat (and nothing pending) for this long is unloaded
    /// and stops counting against `max_rooms`.
    pub empty_room_ttl_ms: u64,
    /// A room parked (not ticking, nothing due) for this long gives up its
    /// world and keeps only its state, rebuilt at its next request or timer.
    pub freeze_after_ms: u64,
    /// The config of rooms created by their first join.
    pub default: RoomConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// A tracing filter, e.g. `info` or `tickroom=debug,info`; `RUST_LOG` wins.
    pub level: String,
    /// `text` (human-readable) or `json` (one JSON object per line).
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            http: SocketAddr::from(([127, 0, 0, 1], 7700)),
            quic: SocketAddr::from(([127, 0, 0, 1], 7701)),
            quic_enabled: true,
            wss: false,
            data_dir: PathBuf::from("./data"),
            tick_threads: 1,
            io_threads: 1,
            inbound_queue: 65_536,
            allow_public_without_auth: false,
            shutdown_timeout_ms: 5_000,
            trim_after_closes: 256,
        }
    }
}

impl Default for NetSection {
    fn default() -> Self {
        let net = tickroom_net::NetConfig::default();
        NetSection {
            max_frame_bytes: net.limits.max_frame_bytes,
            max_json_depth: net.limits.max_json_depth,
            max_string_bytes: net.limits.max_string_bytes,
            ws_read_buffer: net.ws_read_buffer,
            ws_write_buffer: net.ws_write_buffer,
            outbound_frames: net.outbound_frames,
            outbound_bytes: net.outbound_bytes,
            handshake_timeout_ms: net.handshake_timeout.as_millis() as u64,
            heartbeat_timeout_ms: net.heartbeat_timeout.as_millis() as u64,
            anonymous: Anonymous::Loopback,
            rate_moves_per_s: net.rates.moves.count,
            rate_actions_per_10s: net.rates.actions.count,
            rate_chat_per_10s: net.rates.chat.count,
            rate_cursors_per_s: net.rates.cursors.count,
            abuse_limit: net.abuse_limit,
            stall_timeout_ms: net.stall_timeout.as_millis() as u64,
            close_linger_ms: net.close_linger.as_millis() as u64,
            max_connections: 0,
            max_connections_per_ip: 1024,
            new_connections_per_ip_per_s: 256,
            socket_send_buffer: 0,
            socket_recv_buffer: 0,
            max_quic_connections: 20_000,
        }
    }
}

impl Default for RoomsSection {
    fn default() -> Self {
        RoomsSection {
            max_rooms: 10_000,
            grace_ms: 120_000,
            empty_room_ttl_ms: 300_000,
            freeze_after_ms: 10_000,
            default: RoomConfig::default(),
        }
    }
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            path: String::new(),
            full_durability: false,
            batch_max_writes: 4096,
            commit_interval_ms: 20,
            queue: 16_384,
            max_lag_ticks: 100,
            snapshot_every_ticks: 600,
            snapshot_every_inputs: 5_000,
            snapshot_max_bytes: 16 << 20,
            busy_timeout_ms: 250,
            max_db_bytes: 0,
            buffer_max_bytes: 256 << 20,
            dead_letter: String::new(),
            dead_letter_max_bytes: 1 << 30,
            breaker_failures: 3,
            retry_base_ms: 20,
            retry_max_ms: 5_000,
            log_retention_s: 7 * 24 * 3600,
            archived_retention_s: 30 * 24 * 3600,
            retention_interval_s: 60,
        }
    }
}

impl StoreSection {
    pub fn db_path(&self, data_dir: &std::path::Path) -> PathBuf {
        if self.path.is_empty() {
            data_dir.join("tickroom.db")
        } else {
            PathBuf::from(&self.path)
        }
    }

    pub fn store_config(&self, data_dir: &std::path::Path) -> tickroom_persistence::StoreConfig {
        let mut c = tickroom_persistence::StoreConfig::new(self.db_path(data_dir));
        c.full_durability = self.full_durability;
        c.busy_timeout = Duration::from_millis(self.busy_timeout_ms);
        c.max_db_bytes = (self.max_db_bytes > 0).then_some(self.max_db_bytes);
        c.queue = self.queue;
        c.batch_max_writes = self.batch_max_writes;
        c.commit_interval = Duration::from_millis(self.commit_interval_ms);
        c.buffer_max_bytes = self.buffer_max_bytes;
        c.dead_letter = match self.dead_letter.as_str() {
            "off" => None,
            "" => Some(data_dir.join("dead.letter")),
            path => Some(PathBuf::from(path)),
        };
        c.dead_letter_max_bytes = self.dead_letter_max_bytes;
        c.breaker.failures_to_open = self.breaker_failures;
        c.breaker.retry_base = Duration::from_millis(self.retry_base_ms);
        c.breaker.retry_max = Duration::from_millis(self.retry_max_ms);
        c.log_retention = Duration::from_secs(self.log_retention_s);
        c.archived_retention = Duration::from_secs(self.archived_retention_s);
        c.retention_interval = Duration::from_secs(self.retention_interval_s);
        c
    }

    fn validate(&self) -> Result<()> {
        range(
            "store.batch_max_writes",
            self.batch_max_writes as u64,
            1,
            1_000_000,
        )?;
        range(
            "store.commit_interval_ms",
            self.commit_interval_ms,
            1,
            10_000,
        )?;
        range("store.queue", self.queue as u64, 16, 10_000_000)?;
        range("store.max_lag_ticks", self.max_lag_ticks, 1, 1_000_000)?;
        range(
            "store.snapshot_every_ticks",
            self.snapshot_every_ticks,
            1,
            100_000_000,
        )?;
        range(
            "store.snapshot_every_inputs",
            self.snapshot_every_inputs,
            1,
            100_000_000,
        )?;
        range(
            "store.snapshot_max_bytes",
            self.snapshot_max_bytes,
            4096,
            1 << 32,
        )?;
        range("store.busy_timeout_ms", self.busy_timeout_ms, 1, 60_000)?;
        if self.max_db_bytes != 0 {
            range("store.max_db_bytes", self.max_db_bytes, 1 << 20, u64::MAX)?;
        }
        range(
            "store.buffer_max_bytes",
            self.buffer_max_bytes,
            4096,
            1 << 40,
        )?;
        range(
            "store.dead_letter_max_bytes",
            self.dead_letter_max_bytes,
            4096,
            1 << 50,
        )?;
        range(
            "store.breaker_failures",
            self.breaker_failures.into(),
            1,
            1000,
        )?;
        range("store.retry_base_ms", self.retry_base_ms, 1, 60_000)?;
        range(
            "store.retry_max_ms",
            self.retry_max_ms,
            self.retry_base_ms,
            3_600_000,
        )?;
        range(
            "store.log_retention_s",
            self.log_retention_s,
            1,
            10 * 365 * 24 * 3600,
        )?;
        range(
            "store.archived_retention_s",
            self.archived_retention_s,
            1,
            10 * 365 * 24 * 3600,
        )?;
        range(
            "store.retention_interval_s",
            self.retention_interval_s,
            1,
            24 * 3600,
        )?;
        Ok(())
    }
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `(key, value, min, max)` for one numeric check.
/// A secret from the config (`key`) or from the file it names (`key_file`),
/// at least [`MIN_JWT_SECRET`] bytes.
fn secret(key: &str, value: &str, file: &str) -> Result<Option<Vec<u8>>> {
    let secret = if !file.is_empty() {
        let s =
            std::fs::read_to_string(file).with_context(|| format!("reading {key}_file {file}"))?;
        Some(s.trim_end().as_bytes().to_vec())
    } else {
        (!value.is_empty()).then(|| value.as_bytes().to_vec())
    };
    if let Some(s) = &secret
        && s.len() < MIN_JWT_SECRET
    {
        bail!(
            "config `{key}{}` is {} bytes; secrets need at least {MIN_JWT_SECRET}",
            if file.is_empty() { "" } else { "_file" },
            s.len()
        );
    }
    Ok(secret)
}

fn range(key: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if !(min..=max).contains(&value) {
        bail!("config `{key}` = {value} is outside the allowed range {min}..={max}");
    }
    Ok(())
}

impl Config {
    /// Defaults, then the file (if any), then the environment.
    /// The config with the built-in modes (tests).
    #[cfg(test)]
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config> {
        Config::load_with(file, env, &tickroom_sim::Modes::builtin())
    }

    /// The defaults, with the default mode's settings in `rooms.default`
    /// (so that `TICKROOM_ROOMS_DEFAULT_<MODE KEY>` and TOML keys of the
    /// mode's settings are known).
    pub fn defaults(modes: &tickroom_sim::Modes) -> Config {
        let mut config = Config::default();
        if let Some(mode) = modes.default_mode() {
            config.rooms.default.mode = mode.name().to_owned();
            config.rooms.default.game =
                tickroom_protocol::Payload::from_json(&mode.default_config().to_string())
                    .unwrap_or_default();
        }
        config
    }

    /// Reads the config file, applies `TICKROOM_*` variables, and checks
    /// everything, `rooms.default` against the mode it names.
    pub fn load_with(
        file: Option<&std::path::Path>,
        env: impl Iterator<Item = (String, String)>,
        modes: &tickroom_sim::Modes,
    ) -> Result<Config> {
        let mut table: toml::Table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env, modes)?;
        let mut config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| anyhow::anyhow!("config: {}", e.message()))?;
        config.rooms.default = modes
            .resolve(&config.rooms.default.mode)
            .and_then(|m| m.normalize_config(&config.rooms.default))
            .map_err(|e| anyhow::anyhow!("config `rooms.default`: {}", e.message))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        let s = &self.server;
        range("server.tick_threads", s.tick_threads as u64, 1, 64)?;
        range("server.io_threads", s.io_threads as u64, 1, 64)?;
        range(
            "server.inbound_queue",
            s.inbound_queue as u64,
            16,
            10_000_000,
        )?;
        range(
            "server.shutdown_timeout_ms",
            s.shutdown_timeout_ms,
            100,
            600_000,
        )?;
        range(
            "server.trim_after_closes",
            s.trim_after_closes as u64,
            0,
            10_000_000,
        )?;
        self.store.validate()?;
        let n = &self.net;
        range(
            "net.max_frame_bytes",
            n.max_frame_bytes as u64,
            256,
            16 * 1024 * 1024,
        )?;
        range("net.max_json_depth", n.max_json_depth as u64, 4, 128)?;
        range(
            "net.max_string_bytes",
            n.max_string_bytes as u64,
            64,
            1024 * 1024,
        )?;
        range(
            "net.ws_read_buffer",
            n.ws_read_buffer as u64,
            128,
            1024 * 1024,
        )?;
        range(
            "net.ws_write_buffer",
            n.ws_write_buffer as u64,
            512,
            1024 * 1024,
        )?;
        range(
            "net.outbound_frames",
            n.outbound_frames as u64,
            4,
            1_000_000,
        )?;
        range("net.outbound_bytes", n.outbound_bytes as u64, 4096, 1 << 30)?;
        range(
            "net.handshake_timeout_ms",
            n.handshake_timeout_ms,
            100,
            600_000,
        )?;
        range(
            "net.heartbeat_timeout_ms",
            n.heartbeat_timeout_ms,
            300,
            3_600_000,
        )?;
        range(
            "net.rate_moves_per_s",
            n.rate_moves_per_s.into(),
            1,
            1_000_000,
        )?;
        range(
            "net.rate_actions_per_10s",
            n.rate_actions_per_10s.into(),
            1,
            1_000_000,
        )?;
        range(
            "net.rate_chat_per_10s",
            n.rate_chat_per_10s.into(),
            1,
            1_000_000,
        )?;
        range(
            "net.rate_cursors_per_s",
            n.rate_cursors_per_s.into(),
            1,
            1_000_000,
        )?;
        range("net.abuse_limit", n.abuse_limit.into(), 1, 1_000_000)?;
        range("net.stall_timeout_ms", n.stall_timeout_ms, 100, 600_000)?;
        range("net.close_linger_ms", n.close_linger_ms, 10, 600_000)?;
        range(
            "net.max_quic_connections",
            n.max_quic_connections as u64,
            1,
            10_000_000,
        )?;
        range(
            "net.max_connections",
            n.max_connections as u64,
            0,
            10_000_000,
        )?;
        range(
            "net.max_connections_per_ip",
            n.max_connections_per_ip as u64,
            1,
            10_000_000,
        )?;
        range(
            "net.new_connections_per_ip_per_s",
            n.new_connections_per_ip_per_s.into(),
            1,
            1_000_000,
        )?;
        for (key, v) in [
            ("net.socket_send_buffer", n.socket_send_buffer),
            ("net.socket_recv_buffer", n.socket_recv_buffer),
        ] {
            if v != 0 {
                range(key, v as u64, 1024, 64 * 1024 * 1024)?;
            }
        }
        range(
            "rooms.max_rooms",
            self.rooms.max_rooms as u64,
            1,
            10_000_000,
        )?;
        range("rooms.grace_ms", self.rooms.grace_ms, 0, 86_400_000)?;
        range(
            "rooms.empty_room_ttl_ms",
            self.rooms.empty_room_ttl_ms,
            0,
            86_400_000,
        )?;
        range(
            "rooms.freeze_after_ms",
            self.rooms.freeze_after_ms,
            0,
            86_400_000,
        )?;
        self.cluster.validate()?;
        if let Err(e) = self.rooms.default.validate() {
            bail!("config `rooms.default`: {}", e.message);
        }
        let public = !self.all_loopback();
        // Anonymous play everywhere is no authentication, token secret or not.
        let authenticated = self.auth.configured() && self.net.anonymous != Anonymous::Always;
        if public && !authenticated && !s.allow_public_without_auth {
            bail!(
                "config `server.http` = {} is not a loopback address and no authentication is configured; \
                 set `auth.jwt_secret` (or `server.allow_public_without_auth = true` to serve it anyway)",
                s.http
            );
        }
        if public && self.auth.configured() && !s.wss && !self.auth.allow_tokens_without_tls {
            bail!(
                "config `server.http` = {} would accept join tokens over plain ws:// off loopback; \
                                  set `server.wss = true` (or `auth.allow_tokens_without_tls = true`)",
                s.http
            );
        }
        if !self.auth.jwt_secret.is_empty() && !self.auth.jwt_secret_file.is_empty() {
            bail!("config sets both `auth.jwt_secret` and `auth.jwt_secret_file`; pick one");
        }
        self.auth.jwt_secret()?;
        self.auth.session_secret()?;
        if !self.auth.session_secret.is_empty() && !self.auth.session_secret_file.is_empty() {
            bail!(
                "config sets both `auth.session_secret` and `auth.session_secret_file`; pick one"
            );
        }
        if self.cluster.enabled()
            && self.auth.session_secret.is_empty()
            && self.auth.session_secret_file.is_empty()
        {
            bail!(
                "cluster mode needs `auth.session_secret` (or `auth.session_secret_file`), the same on \
                 every node: resume tokens and matchmaking's seat reservations are checked by \
                 whichever node the client reaches"
            );
        }
        range(
            "auth.resume_token_ttl_s",
            self.auth.resume_token_ttl_s,
            0,
            30 * 86_400,
        )?;
        for (key, token) in [
            ("auth.admin_token", &self.auth.admin_token),
            ("auth.read_token", &self.auth.read_token),
        ] {
            if !token.is_empty() && token.len() < MIN_API_TOKEN {
                bail!(
                    "config `{key}` is {} bytes; API tokens need at least {MIN_API_TOKEN}",
                    token.len()
                );
            }
        }
        Ok(())
    }

    /// Every listener (HTTP/WebSocket, and QUIC when on) is on loopback.
    pub fn all_loopback(&self) -> bool {
        let s = &self.server;
        s.http.ip().is_loopback() && (!s.quic_enabled || s.quic.ip().is_loopback())
    }

    /// Whether token-less play is allowed for a client on this server:
    /// `loopback` means only while no listener is reachable from elsewhere.
    pub fn anonymous_allowed(&self) -> bool {
        match self.net.anonymous {
            Anonymous::Always => true,
            Anonymous::Never => false,
            Anonymous::Loopback => self.all_loopback(),
        }
    }

    pub fn listener_limits(&self) -> crate::listener::ListenerLimits {
        let n = &self.net;
        crate::listener::ListenerLimits {
            max_connections: crate::listener::connection_cap(n.max_connections),
            max_per_ip: n.max_connections_per_ip,
            new_per_ip_per_s: n.new_connections_per_ip_per_s,
            send_buffer: n.socket_send_buffer,
            recv_buffer: n.socket_recv_buffer,
        }
    }

    pub fn resume_ttl(&self) -> Duration {
        match self.auth.resume_token_ttl_s {
            0 => Duration::from_secs(86_400),
            s => Duration::from_secs(s),
        }
    }

    pub fn net_config(
        &self,
        tokens: &std::sync::Arc<tickroom_net::tokens::Tokens>,
        modes: &tickroom_sim::Modes,
    ) -> tickroom_net::NetConfig {
        let n = &self.net;
        tickroom_net::NetConfig {
            modes: modes.infos().into(),
            tokens: tokens.clone(),
            stats: Default::default(),
            limits: tickroom_protocol::Limits {
                max_frame_bytes: n.max_frame_bytes,
                max_json_depth: n.max_json_depth,
                max_string_bytes: n.max_string_bytes,
                max_list_len: tickroom_protocol::Limits::CLIENT_FRAMES.max_list_len,
            },
            ws_read_buffer: n.ws_read_buffer,
            ws_write_buffer: n.ws_write_buffer,
            outbound_frames: n.outbound_frames,
            outbound_bytes: n.outbound_bytes,
            handshake_timeout: Duration::from_millis(n.handshake_timeout_ms),
            heartbeat_timeout: Duration::from_millis(n.heartbeat_timeout_ms),
            allow_anonymous: self.anonymous_allowed(),
            rates: {
                use tickroom_net::Rate;
                let (s, ten) = (Duration::from_secs(1), Duration::from_secs(10));
                tickroom_net::RateLimits {
                    moves: Rate {
                        count: n.rate_moves_per_s,
                        per: s,
                    },
                    actions: Rate {
                        count: n.rate_actions_per_10s,
                        per: ten,
                    },
                    chat: Rate {
                        count: n.rate_chat_per_10s,
                        per: ten,
                    },
                    cursors: Rate {
                        count: n.rate_cursors_per_s,
                        per: s,
                    },
                }
            },
            abuse_limit: n.abuse_limit,
            stall_timeout: Duration::from_millis(n.stall_timeout_ms),
            close_linger: Duration::from_millis(n.close_linger_ms),
        }
    }
}

/// Every non-table key of the defaults, as a path (`["rooms", "default", "teams"]`).
fn leaf_keys(t: &toml::Table, prefix: &[String], out: &mut Vec<(Vec<String>, toml::Value)>) {
    for (k, v) in t {
        let mut path = prefix.to_vec();
        path.push(k.clone());
        match v.as_table() {
            Some(inner) => leaf_keys(inner, &path, out),
            None => out.push((path, v.clone())),
        }
    }
}

/// The name in `known` nearest to `name` by edit distance, if it is near
/// enough to be a typo (at most a third of the name's length away).
fn closest<'a>(name: &str, known: &'a [String]) -> Option<&'a str> {
    let limit = (name.len() / 3).max(1);
    known
        .iter()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}

/// Levenshtein distance over bytes (config names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Applies `TICKROOM_<SECTION>_<KEY>=value` for every key the config has;
/// nested keys join with `_` (`TICKROOM_ROOMS_DEFAULT_TEAMS`).
fn apply_env(
    table: &mut toml::Table,
    env: impl Iterator<Item = (String, String)>,
    modes: &tickroom_sim::Modes,
) -> Result<()> {
    let defaults =
        toml::Table::try_from(Config::defaults(modes)).context("serializing defaults")?;
    let mut keys = Vec::new();
    leaf_keys(&defaults, &[], &mut keys);
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("TICKROOM_") else {
            continue;
        };
        let Some((path, default)) = keys
            .iter()
            .find(|(p, _)| p.join("_").to_uppercase() == rest)
        else {
            let known: Vec<String> = keys
                .iter()
                .map(|(p, _)| format!("TICKROOM_{}", p.join("_").to_uppercase()))
                .collect();
            let hint = closest(&name, &known)
                .map(|k| format!("; did you mean {k}?"))
                .unwrap_or_default();
            bail!(
                "environment {name} names no config key{hint} (every TICKROOM_* variable \
                 is read as config: give other variables another prefix)"
            );
        };
        let value = match default {
            toml::Value::Integer(_) => {
                toml::Value::Integer(raw.trim().parse().with_context(|| {
                    format!("environment {name} = {raw:?}: expected an integer")
                })?)
            }
            toml::Value::Boolean(_) => {
                toml::Value::Boolean(raw.trim().parse().with_context(|| {
                    format!("environment {name} = {raw:?}: expected true or false")
                })?)
            }
            _ => toml::Value::String(raw.clone()),
        };
        let mut t = &mut *table;
        for part in &path[..path.len() - 1] {
            let entry = t
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            t = entry
                .as_table_mut()
                .with_context(|| format!("config `{part}` is not a table"))?;
        }
        t.insert(path[path.len() - 1].clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_are_valid_and_serve_loopback() {
        let c = Config::load(None, env(&[])).unwrap();
        let modes = tickroom_sim::Modes::builtin();
        let mut want = Config::defaults(&modes);
        // As the default mode fills it in.
        want.rooms.default = modes
            .resolve("")
            .and_then(|m| m.normalize_config(&want.rooms.default))
            .unwrap();
        assert_eq!(c, want);
        assert_eq!(c.server.http.to_string(), "127.0.0.1:7700");
        assert!(c.anonymous_allowed());
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("tickroom-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "[net]\nmax_frame_bytes = 1000\n[rooms.default]\nteams = 3\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env(&[("TICKROOM_NET_MAX_FRAME_BYTES", "2000")]),
        )
        .unwrap();
        assert_eq!(c.net.max_frame_bytes, 2000);
        assert_eq!(c.rooms.default.teams, 3);
    }

    #[test]
    fn bad_values_name_the_key_the_value_and_the_range() {
        let err = Config::load(None, env(&[("TICKROOM_NET_MAX_FRAME_BYTES", "10")])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("net.max_frame_bytes") && msg.contains("10") && msg.contains("256..="),
            "{msg}"
        );
        let err = Config::load(None, env(&[("TICKROOM_NET_CLOSE_LINGER_MS", "5")])).unwrap_err();
        assert!(
            format!("{err:#}").contains("net.close_linger_ms"),
            "{err:#}"
        );
        let err = Config::load(None, env(&[("TICKROOM_NET_MAX_FRAME_BYTES", "lots")])).unwrap_err();
        assert!(format!("{err:#}").contains("expected an integer"));
        let err = Config::load(None, env(&[("TICKROOM_NOPE", "1")])).unwrap_err();
        assert!(format!("{err:#}").contains("TICKROOM_NOPE names no config key"));
    }

    /// A cluster's nodes check each other's resume tokens and seat
    /// reservations: cluster mode without a shared secret does not start.
    #[test]
    fn cluster_mode_needs_a_shared_session_secret() {
        let url = ("TICKROOM_CLUSTER_REDIS_URL", "redis://127.0.0.1:6379");
        let err = Config::load(None, env(&[url])).unwrap_err();
        assert!(
            format!("{err:#}").contains("cluster mode needs `auth.session_secret`"),
            "{err:#}"
        );
        let secret = (
            "TICKROOM_AUTH_SESSION_SECRET",
            "0123456789abcdef0123456789abcdef",
        );
        assert!(Config::load(None, env(&[url, secret])).is_ok());
    }

    /// Unknown `TICKROOM_*` variables still stop the start (a typo must not
    /// silently leave a default in place), but the error names the nearest
    /// key, and says that every `TICKROOM_*` variable is read as config.
    #[test]
    fn an_unknown_environment_key_names_the_closest_valid_one() {
        let err = Config::load(None, env(&[("TICKROOM_STORE_BUFER_MAX_BYTE", "1")])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("did you mean TICKROOM_STORE_BUFFER_MAX_BYTES?"),
            "{msg}"
        );
        // A script's own variable is nowhere near a key: no guess, but the
        // rule is stated.
        let err = Config::load(None, env(&[("TICKROOM_BIN", "/usr/bin/tickroom")])).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("TICKROOM_BIN names no config key")
                && !msg.contains("did you mean")
                && msg.contains("every TICKROOM_* variable"),
            "{msg}"
        );
    }

    #[test]
    fn nested_keys_have_environment_overrides_too() {
        let c = Config::load(None, env(&[("TICKROOM_ROOMS_DEFAULT_TEAMS", "4")])).unwrap();
        assert_eq!(c.rooms.default.teams, 4);
    }

    #[test]
    fn short_join_token_secrets_are_refused() {
        let err = Config::load(None, env(&[("TICKROOM_AUTH_JWT_SECRET", "short")])).unwrap_err();
        assert!(format!("{err:#}").contains("at least 32"), "{err:#}");
    }

    #[test]
    fn anonymous_loopback_play_needs_every_listener_on_loopback() {
        let c = Config::load(
            None,
            env(&[
                ("TICKROOM_SERVER_QUIC", "0.0.0.0:7701"),
                (
                    "TICKROOM_AUTH_JWT_SECRET",
                    "0123456789abcdef0123456789abcdef",
                ),
                ("TICKROOM_AUTH_ALLOW_TOKENS_WITHOUT_TLS", "true"),
            ]),
        )
        .unwrap();
        assert!(!c.anonymous_allowed());
        let err = Config::load(
            None,
            env(&[
                ("TICKROOM_SERVER_QUIC", "0.0.0.0:7701"),
                (
                    "TICKROOM_AUTH_JWT_SECRET",
                    "0123456789abcdef0123456789abcdef",
                ),
                ("TICKROOM_NET_ANONYMOUS", "always"),
            ]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("no authentication"), "{err:#}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let dir = std::env::temp_dir().join(format!("tickroom-config-u-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[net]\nmax_frame_byte = 1000\n").unwrap();
        let err = Config::load(Some(&file), env(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("max_frame_byte"), "{err:#}");
    }

    #[test]
    fn public_addresses_need_auth_or_an_explicit_opt_in() {
        let err = Config::load(None, env(&[("TICKROOM_SERVER_HTTP", "0.0.0.0:7700")])).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a loopback address"),
            "{err:#}"
        );
        let c = Config::load(
            None,
            env(&[
                ("TICKROOM_SERVER_HTTP", "0.0.0.0:7700"),
                ("TICKROOM_SERVER_ALLOW_PUBLIC_WITHOUT_AUTH", "true"),
            ]),
        )
        .unwrap();
        assert!(!c.anonymous_allowed(), "anonymous play stays loopback-only");
    }
}
