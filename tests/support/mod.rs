//! Starts the real server binary on ephemeral ports for end-to-end tests.

#![allow(dead_code)]

pub mod cluster;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub child: Child,
    pub http: String,
    pub ws: String,
    /// The QUIC address and the certificate to pin, when QUIC is on.
    pub quic: Option<tickroom_net::client::QuicTarget>,
    pub data_dir: std::path::PathBuf,
    /// Leave the data dir behind on drop (for a restart on the same data).
    pub keep_data: bool,
    /// The `{"recovered": …}` line the server printed at start.
    pub recovered: serde_json::Value,
    /// Everything the server printed on stdout after the address line.
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Server {
    /// Starts `tickroom serve` with `env` overrides (port 0 for every listener).
    pub fn start(env: &[(&str, &str)]) -> Server {
        Self::start_with(env, |c| c)
    }

    pub fn start_with(env: &[(&str, &str)], wrap: impl FnOnce(Command) -> Command) -> Server {
        let data_dir = fresh_data_dir();
        Self::start_in(data_dir, env, wrap)
    }

    /// Starts on an existing data dir (a restart).
    pub fn start_in(
        data_dir: std::path::PathBuf,
        env: &[(&str, &str)],
        wrap: impl FnOnce(Command) -> Command,
    ) -> Server {
        Self::start_binary(env!("CARGO_BIN_EXE_tickroom").as_ref(), data_dir, env, wrap)
    }

    /// Starts `bin` (this build's binary, or another build's) on `data_dir`.
    pub fn start_binary(
        bin: &std::path::Path,
        data_dir: std::path::PathBuf,
        env: &[(&str, &str)],
        wrap: impl FnOnce(Command) -> Command,
    ) -> Server {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("TICKROOM_SERVER_HTTP", "127.0.0.1:0")
            .env("TICKROOM_SERVER_QUIC", "127.0.0.1:0")
            .env("TICKROOM_SERVER_DATA_DIR", &data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = wrap(cmd).spawn().expect("the server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut recovered = serde_json::Value::Null;
        let listening = loop {
            assert!(Instant::now() < deadline, "no listening line in time");
            let line = lines
                .next()
                .expect("the server printed its addresses before exiting")
                .expect("stdout is readable");
            if line.starts_with("{\"recovered\"") {
                recovered = serde_json::from_str(&line).expect("a JSON line");
            }
            if line.starts_with("{\"listening\"") {
                break line;
            }
        };
        let v: serde_json::Value = serde_json::from_str(&listening).expect("a JSON line");
        let http = v["listening"]["http"].as_str().unwrap().to_owned();
        let ws = v["listening"]["ws"].as_str().unwrap().to_owned();
        let quic = match (
            v["listening"]["quic"].as_str(),
            v["listening"]["cert_der"].as_str(),
        ) {
            (Some(addr), Some(der)) => Some(tickroom_net::client::QuicTarget {
                addr: addr.parse().expect("a socket address"),
                server_name: "localhost".into(),
                cert_der: std::fs::read(der).expect("the certificate file"),
            }),
            _ => None,
        };
        let stdout = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Server {
            child,
            http,
            ws,
            quic,
            data_dir,
            keep_data: false,
            recovered,
            stdout: Some(stdout),
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }

    pub fn db_path(&self) -> std::path::PathBuf {
        self.data_dir.join("tickroom.db")
    }

    /// What the server printed on stdout after its address line, once it
    /// has exited (empty if it still runs or was asked before).
    pub fn stdout_lines(&mut self) -> Vec<String> {
        match self.child.try_wait() {
            Ok(Some(_)) => self
                .stdout
                .take()
                .and_then(|t| t.join().ok())
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// Sends SIGTERM and waits for the exit status, within `limit`.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(t) = self.stdout.take() {
            let _ = t.join();
        }
        if !self.keep_data {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// A new, empty data dir for one server.
pub fn fresh_data_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let data_dir = std::env::temp_dir().join(format!("tickroom-e2e-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    data_dir
}

/// A plain HTTP/1.1 GET; returns the status and the body.
pub async fn http_get(addr: &str, path: &str) -> (u16, String) {
    http(addr, "GET", path, &[], "").await
}

/// One HTTP/1.1 request with `headers` and `body`; the status and the body.
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.expect("read");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Reads until the connection ends; the code of its `closing` frame, if any.
pub async fn closing_code(
    c: &mut tickroom_net::client::Client,
) -> Option<tickroom_protocol::ErrorCode> {
    let mut code = None;
    while let Ok(m) = c.recv_timeout(Duration::from_secs(5)).await {
        if let tickroom_protocol::ServerMessage::Closing { code: c, .. } = m {
            code = Some(c);
        }
    }
    code
}

/// Sends SIGTERM from a blocking task; yields the exit status (and the
/// server, to drop after).
pub fn terminate_in_background(
    mut server: Server,
) -> tokio::task::JoinHandle<(Option<std::process::ExitStatus>, Server)> {
    tokio::task::spawn_blocking(move || {
        let status = server.terminate(Duration::from_secs(10));
        (status, server)
    })
}

/// Runs the `tickroom` binary with `args`; returns whether it succeeded and
/// its stdout followed by its stderr.
pub fn cli<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickroom"))
        .args(args)
        .output()
        .expect("the tickroom binary runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Runs `tickroom replay` on `room` of `db`, asserts it passed, and returns
/// its output.
pub fn replay(db: &std::path::Path, room: &str) -> String {
    let (ok, text) = cli(&[
        "replay".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--room".as_ref(),
        room.as_ref(),
    ]);
    assert!(ok, "replay failed: {text}");
    text
}

/// A room with no teams and two neutral pieces: one player, one lock.
pub fn small_room() -> tickroom_protocol::RoomConfig {
    tickroom_protocol::RoomConfig {
        teams: 0,
        game: tickroom_protocol::Payload::of(tickroom_protocol::board::Config {
            pieces_per_team: 0,
            neutral_pieces: 2,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The board's part of a room state a client received.
pub fn board(state: &tickroom_protocol::RoomState) -> tickroom_protocol::board::State {
    state.game.decode().expect("a board room's state")
}

/// A JSON client that created `room` (a [`small_room`]) and sits in it as `name`.
pub async fn first_player(ws: &str, room: &str, name: &str) -> tickroom_net::client::Client {
    let room = tickroom_protocol::RoomId::from(room);
    let mut c = tickroom_net::client::Client::connect(ws, tickroom_protocol::Codec::Json)
        .await
        .expect("connect");
    c.create_room(Some(room.clone()), small_room(), false)
        .await
        .expect("room created");
    c.join(&room, name, None).await.expect("joined");
    c
}

/// Exports `room` from `db` to a scenario file beside it, checks that
/// `tickroom scenario run` passes it, and returns the file's text.
pub fn export_and_run(db: &std::path::Path, room: &str) -> String {
    let file = db.with_file_name(format!("{room}.scenario"));
    let (ok, text) = cli(&[
        "export".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
        "--room".as_ref(),
        room.as_ref(),
        "--out".as_ref(),
        file.as_os_str(),
    ]);
    assert!(ok, "export failed: {text}");
    let (ok, ran) = cli(&["scenario".as_ref(), "run".as_ref(), file.as_os_str()]);
    assert!(ok && ran.contains("1 passed"), "{ran}");
    std::fs::read_to_string(&file).expect("the export was written")
}

/// Every sample of the server's `/metrics`, keyed by name and labels.
pub async fn scrape_metrics(server: &Server) -> std::collections::BTreeMap<String, f64> {
    let (status, text) = http_get(&server.http, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(text.trim_end().ends_with("# EOF"), "OpenMetrics text");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Holds `db`'s write lock from another connection (`BEGIN EXCLUSIVE`: the
/// store sees SQLITE_BUSY) until told to let go.
pub fn hold_lock(
    db: std::path::PathBuf,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held_tx, held) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::from_secs(10)).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        held_tx.send(()).unwrap();
        let _ = released.recv();
        conn.execute_batch("ROLLBACK").unwrap();
    });
    held.recv().unwrap();
    (release, thread)
}

/// A delta's event as the tests match it: the framework's, or the board's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Room(tickroom_protocol::DomainEvent),
    Board(tickroom_protocol::board::Event),
}

/// Decodes an event of a board room.
pub fn ev(e: &tickroom_protocol::Event) -> Ev {
    match e {
        tickroom_protocol::Event::Room(r) => Ev::Room(r.clone()),
        tickroom_protocol::Event::Game(p) => Ev::Board(p.decode().expect("a board event")),
    }
}
