//! The one way the node talks to Redis: a connection manager (it
//! reconnects by itself) created lazily, every call bounded by
//! `cluster.redis_timeout_ms` and behind one circuit breaker
//! (`tickroom_persistence::breaker`, the store's), so a Redis that is down
//! costs one failed call per backoff period, not one per request.

use crate::config::ClusterSection;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::{Duration, Instant};
use tickroom_persistence::BreakerState;
use tickroom_persistence::breaker::{Breaker, BreakerConfig};
use tokio::sync::Mutex;

/// Writes the node's record and indexes it by expiry on Redis's clock.
/// KEYS: node key, nodes index. ARGV: record JSON, ttl ms, node id.
pub const REGISTER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return now
";

/// KEYS: node key, nodes index. ARGV: node id.
pub const DEREGISTER: &str = r"
redis.call('DEL', KEYS[1])
return redis.call('ZREM', KEYS[2], ARGV[1])
";

/// The live nodes' records with the milliseconds each has left.
/// KEYS: nodes index. ARGV: node key prefix.
pub const LIST: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf', 'WITHSCORES')
local out = {}
for i = 1, #ids, 2 do
  local record = redis.call('GET', ARGV[1] .. ids[i])
  if record then
    out[#out + 1] = {record, tonumber(ids[i + 1]) - now}
  end
end
return out
";

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The breaker is open: no call is made until its backoff is over.
    #[error("Redis is unavailable (circuit breaker open; last error: {0})")]
    Unavailable(String),
    #[error("Redis call failed: {0}")]
    Redis(String),
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Internal(String),
}

struct State {
    conn: Option<ConnectionManager>,
    breaker: Breaker,
    last_error: Option<String>,
    last_ok: Option<Instant>,
}

/// Redis behind a breaker.
pub struct RedisLink {
    url: String,
    timeout: Duration,
    state: Mutex<State>,
}

/// What `/ready` and the API say about the link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkHealth {
    pub breaker: &'static str,
    pub last_error: Option<String>,
    /// Milliseconds since the last call that succeeded.
    pub last_ok_ms_ago: Option<u64>,
}

impl RedisLink {
    pub fn new(config: &ClusterSection) -> RedisLink {
        RedisLink {
            url: config.redis_url.clone(),
            timeout: Duration::from_millis(config.redis_timeout_ms),
            state: Mutex::new(State {
                conn: None,
                breaker: Breaker::new(BreakerConfig {
                    failures_to_open: config.breaker_failures,
                    retry_base: Duration::from_millis(config.retry_base_ms),
                    retry_max: Duration::from_millis(config.retry_max_ms),
                }),
                last_error: None,
                last_ok: None,
            }),
        }
    }

    /// The link's health, and whether the last call succeeded (read
    /// together). Never waits on a call in flight: the lock is held only
    /// to read and record, never across a call or a connect.
    pub async fn health(&self) -> (LinkHealth, bool) {
        let s = self.state.lock().await;
        let health = LinkHealth {
            breaker: s.breaker.state().as_str(),
            last_error: s.last_error.clone(),
            last_ok_ms_ago: s.last_ok.map(|t| t.elapsed().as_millis() as u64),
        };
        (health, s.last_error.is_none() && s.last_ok.is_some())
    }

    /// Runs a Lua script (`EVALSHA`, loading it on first use).
    pub async fn script<T: redis::FromRedisValue>(
        &self,
        source: &str,
        keys: &[String],
        args: &[String],
    ) -> Result<T, ClusterError> {
        self.script_with(source, keys, args).await
    }

    /// [`RedisLink::script`] with binary arguments.
    pub async fn script_bytes<T: redis::FromRedisValue>(
        &self,
        source: &str,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Result<T, ClusterError> {
        self.script_with(source, keys, args).await
    }

    async fn script_with<T: redis::FromRedisValue, A: redis::ToRedisArgs>(
        &self,
        source: &str,
        keys: &[String],
        args: &[A],
    ) -> Result<T, ClusterError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(source);
        let mut call = script.prepare_invoke();
        for k in keys {
            call.key(k);
        }
        for a in args {
            call.arg(a);
        }
        let result = tokio::time::timeout(self.timeout, call.invoke_async(&mut conn)).await;
        let (outcome, link_failed) = match result {
            Ok(Ok(v)) => (Ok(v), false),
            // Redis answered, with something this code did not expect: a
            // bug here, not an unreachable Redis.
            Ok(Err(e)) if e.kind() == redis::ErrorKind::UnexpectedReturnType => {
                (Err(ClusterError::Redis(e.to_string())), false)
            }
            Ok(Err(e)) => (Err(ClusterError::Redis(e.to_string())), true),
            Err(_) => (Err(ClusterError::Timeout(self.timeout)), true),
        };
        match (&outcome, link_failed) {
            (Err(e), true) => self.record(Some(e)).await,
            (Err(e), false) => {
                tracing::error!(error = %e, "cluster: Redis answered something unexpected");
                self.record(None).await;
            }
            (Ok(_), _) => self.record(None).await,
        }
        outcome
    }

    /// A connection, if the breaker lets a call through now. Connecting
    /// happens outside the lock, so probes never wait for it.
    async fn connection(&self) -> Result<ConnectionManager, ClusterError> {
        {
            let mut s = self.state.lock().await;
            if !s.breaker.allow(Instant::now()) {
                let last = s.last_error.clone().unwrap_or_default();
                return Err(ClusterError::Unavailable(last));
            }
            if let Some(c) = &s.conn {
                return Ok(c.clone());
            }
        }
        // The manager's own timeouts are this link's, and it barely retries
        // the first connect: the breaker paces the retries.
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(self.timeout))
            .set_connection_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let opened = match redis::Client::open(self.url.as_str()) {
            Ok(client) => tokio::time::timeout(
                self.timeout * 2,
                client.get_connection_manager_with_config(config),
            )
            .await
            .map_err(|_| ClusterError::Timeout(self.timeout))
            .and_then(|r| r.map_err(|e| ClusterError::Redis(e.to_string()))),
            Err(e) => Err(ClusterError::Redis(e.to_string())),
        };
        match opened {
            Ok(c) => Ok(self.state.lock().await.conn.get_or_insert(c).clone()),
            Err(e) => {
                self.record(Some(&e)).await;
                Err(e)
            }
        }
    }

    async fn record(&self, error: Option<&ClusterError>) {
        let mut s = self.state.lock().await;
        match error {
            None => {
                if s.breaker.state() != BreakerState::Closed {
                    tracing::info!("cluster: Redis answers again");
                }
                s.breaker.success();
                s.last_ok = Some(Instant::now());
                s.last_error = None;
            }
            Some(e) => {
                let was = s.breaker.state();
                s.breaker.failure(Instant::now());
                s.last_error = Some(e.to_string());
                if was != BreakerState::Open && s.breaker.state() == BreakerState::Open {
                    tracing::warn!(error = %e, "cluster: Redis is unreachable; rooms here keep running, cluster features wait");
                }
            }
        }
    }
}
