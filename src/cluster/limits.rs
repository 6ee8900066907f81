//! Rate limits that hold across the cluster: new connections per IP and
//! joins per user, counted in Redis (one atomic `INCR` per window of a
//! second, on keys that expire), so that adding nodes does not multiply
//! them. While Redis is unreachable each node falls back to its own limits
//! (the per-IP connection rate of its listener; nothing extra for joins).

use super::Cluster;
use std::net::IpAddr;
use std::sync::Arc;
use tickroom_protocol::{ErrorBody, ErrorCode};

/// KEYS: the window's counter. ARGV: its time to live, ms. The count so far.
const HIT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

pub struct ClusterLimits {
    pub cluster: Arc<Cluster>,
}

impl ClusterLimits {
    fn window() -> (u64, u64) {
        let ms = tickroom_persistence::unix_ms();
        (ms / 1000, 1000 - ms % 1000)
    }

    async fn hit(&self, what: &str, who: &str, limit: u32) -> Result<(), ErrorBody> {
        if limit == 0 {
            return Ok(());
        }
        let (second, left_ms) = Self::window();
        let key = format!("{}:rl:{what}:{who}:{second}", self.cluster.config.prefix);
        match self
            .cluster
            .link
            .script::<u64>(HIT, &[key], &[(left_ms + 1000).to_string()])
            .await
        {
            Ok(n) if n > u64::from(limit) => Err(ErrorBody::new(
                ErrorCode::RateLimited,
                format!(
                    "more than {limit} {what}s a second across the cluster; retry in {left_ms} ms"
                ),
            )
            .with("retry_after_ms", left_ms)
            .with("class", format!("cluster_{what}"))),
            Ok(_) => Ok(()),
            // Redis unreachable: the node's own limits hold meanwhile.
            Err(_) => Ok(()),
        }
    }

    /// A new connection from `ip`.
    pub async fn connection(&self, ip: IpAddr) -> Result<(), ErrorBody> {
        let limit = self.cluster.config.new_connections_per_ip_per_s;
        self.hit("connection", &ip.to_string(), limit).await
    }

    /// A join by `user`.
    pub async fn join(&self, user: &str) -> Result<(), ErrorBody> {
        let limit = self.cluster.config.joins_per_user_per_s;
        self.hit("join", user, limit).await
    }
}

impl tickroom_net::quic::AdmitAsync for ClusterLimits {
    fn admit(&self, ip: IpAddr) -> futures_util::future::BoxFuture<'_, Result<(), ErrorBody>> {
        Box::pin(self.connection(ip))
    }
}
