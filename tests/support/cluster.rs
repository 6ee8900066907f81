//! Cluster-mode helpers: nodes against one Redis under a key prefix of
//! the test's own, and a `redis-server` of the test's own.

use super::{Server, http_get};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A key prefix no other test or run shares.
pub fn prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("e2e-{test}-{}-{nanos}", std::process::id())
}

/// The secret every node of a test cluster shares.
pub const SESSION_SECRET: &str = "a test cluster's shared session secret, 32+ bytes";

pub fn node(url: &str, prefix: &str, extra: &[(&'static str, String)]) -> Server {
    let mut env: Vec<(&str, String)> = vec![
        ("TICKROOM_CLUSTER_REDIS_URL", url.to_owned()),
        ("TICKROOM_CLUSTER_PREFIX", prefix.to_owned()),
        ("TICKROOM_CLUSTER_NODE_TTL_MS", "1000".into()),
        ("TICKROOM_CLUSTER_RETRY_MAX_MS", "300".into()),
        ("TICKROOM_CLUSTER_REDIS_TIMEOUT_MS", "300".into()),
        ("TICKROOM_AUTH_SESSION_SECRET", SESSION_SECRET.into()),
    ];
    env.extend(extra.iter().cloned());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&env)
}

pub async fn json(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let (status, body) = http_get(&server.http, path).await;
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"));
    (status, value)
}

/// The ids `server` lists as live nodes, once `want` holds (or the deadline
/// passes: then the last answer).
pub async fn nodes_until(
    server: &Server,
    within: Duration,
    want: impl Fn(&[String]) -> bool,
) -> (Vec<String>, serde_json::Value) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = json(server, "/api/v1/nodes").await;
        let ids: Vec<String> = body["nodes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if (status == 200 && want(&ids)) || Instant::now() > deadline {
            return (ids, body);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn node_id(server: &Server) -> String {
    std::fs::read_to_string(server.data_dir.join("node.id"))
        .unwrap()
        .trim()
        .to_owned()
}
pub fn node_env<'a>(url: &'a str, prefix: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("TICKROOM_CLUSTER_REDIS_URL", url),
        ("TICKROOM_CLUSTER_PREFIX", prefix),
        ("TICKROOM_CLUSTER_NODE_TTL_MS", "1000"),
        ("TICKROOM_AUTH_SESSION_SECRET", SESSION_SECRET),
    ]
}

/// A `redis-server` of the test's own, on a free port, keeping nothing on
/// disk; killed on drop.
pub struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--bind", "127.0.0.1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server; .ci/run installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis {
            port,
            child: Some(child),
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

pub async fn ready(server: &Server) -> (u16, serde_json::Value) {
    json(server, "/ready").await
}

pub async fn ready_until(server: &Server, state: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = ready(server).await;
        if body["cluster"]["state"] == state {
            return body;
        }
        assert!(Instant::now() < deadline, "cluster never {state}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The node that holds `room`'s lease, read from Redis.
pub async fn owner_in_redis(url: &str, prefix: &str, room: &str) -> Option<String> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    redis::cmd("HGET")
        .arg(format!("{prefix}:room:{room}:owner"))
        .arg("node")
        .query_async(&mut conn)
        .await
        .ok()?
}
