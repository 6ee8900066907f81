//! `tickroom serve`: wires the tick threads, the HTTP/WebSocket listener and
//! shutdown together.

use crate::config::Config;
use crate::driver::{RoomRouter, ShardSettings, spawn_shards};
use crate::http::{AppState, routes};
use anyhow::{Context, Result};
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tickroom_net::tracker::ConnTracker;
use tokio::sync::watch;

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// This server's own secret (it signs resume tokens), created at first start
/// and kept in the data dir so tokens stay valid across restarts.
fn load_or_create_secret(path: &std::path::Path) -> Result<Vec<u8>> {
    if path.exists() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let hex = text.trim();
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|b| u8::from_str_radix(b, 16).ok())
            })
            .collect();
        return match bytes {
            Some(b) if b.len() >= 32 => Ok(b),
            _ => anyhow::bail!("{} is not a server secret (64+ hex digits)", path.display()),
        };
    }
    let secret = tickroom_net::tokens::random_secret(32).context("generating the server secret")?;
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    crate::tls::write_private(path, (hex + "\n").as_bytes())?;
    Ok(secret)
}

fn quinn_code(n: u32) -> tickroom_net::quic::VarInt {
    tickroom_net::quic::VarInt::from_u32(n)
}

pub fn run(config: Config, modes: Arc<tickroom_sim::Modes>) -> Result<()> {
    std::fs::create_dir_all(&config.server.data_dir)
        .with_context(|| format!("creating data dir {}", config.server.data_dir.display()))?;
    // Before anything reads or writes the data: one server per data dir.
    let data_lock = crate::data_lock::DataLock::acquire(
        &config.server.data_dir,
        &config.store.db_path(&config.server.data_dir),
    )?;
    // Resume tokens: the cluster's shared secret, else this node's own.
    let server_secret = match config.auth.session_secret()? {
        Some(shared) => shared,
        None => load_or_create_secret(&config.server.data_dir.join("server.secret"))?,
    };
    let tokens = Arc::new(tickroom_net::tokens::Tokens::new(
        config.auth.jwt_secret()?.as_deref(),
        &server_secret,
        config.resume_ttl(),
    ));
    let net = Arc::new(config.net_config(&tokens, &modes));
    // The store starts first: it commits what an earlier run left in the
    // dead-letter file (the newest ticks of their rooms) before recovery
    // reads the rooms back. Nothing ticks until recovery is done.
    let store_config = config.store.store_config(&config.server.data_dir);
    let store = Arc::new(
        tickroom_persistence::Store::start(store_config.clone())
            .with_context(|| format!("opening the store {}", store_config.path.display()))?,
    );
    let recovered = crate::recovery::recover(
        &modes,
        &store_config.path,
        config.server.tick_threads,
        config.rooms.grace_ms,
    )
    .with_context(|| format!("recovering rooms from {}", store_config.path.display()))?;
    println!(
        "{}",
        serde_json::json!({"recovered": {
            "rooms": recovered.rooms,
            "inputs": recovered.inputs,
            "failed": recovered.failed.iter().map(|(room, error)| serde_json::json!({"room": room, "error": error})).collect::<Vec<_>>(),
            "damaged": recovered.damaged,
            "ms": recovered.elapsed.as_millis() as u64,
            "dead_letter_replayed": store.replayed_at_start(),
            "store": store_config.path.display().to_string(),
        }})
    );
    let recovered_rooms = recovered.init.iter().map(|i| i.rooms.len()).sum::<usize>();
    // Cluster mode: rooms run only under this node's leases, recovered
    // ones included (another node may have taken them over meanwhile).
    let (ownership, lease_claims) = if config.cluster.enabled() {
        let (claims, claims_rx) = tokio::sync::mpsc::unbounded_channel();
        let ownership = Arc::new(crate::driver::ownership::Ownership::new(
            claims,
            config.cluster.max_claiming,
            config.cluster.claim_queue,
            config.cluster.joins_per_user_per_s > 0,
        ));
        let ids: std::collections::HashSet<tickroom_protocol::RoomId> = recovered
            .init
            .iter()
            .flat_map(|i| i.rooms.iter().map(|slot| slot.body().id().clone()))
            .collect();
        ownership.claim_recovered(ids.iter().cloned());
        (Some(ownership), Some((claims_rx, ids)))
    } else {
        (None, None)
    };
    // Cluster mode: the tick threads' writes also go to Redis.
    let (replica, replica_rx) = match config.cluster.enabled() {
        true => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            (Some(tx), Some(rx))
        }
        false => (None, None),
    };
    let settings = Arc::new(ShardSettings {
        tokens: net.tokens.clone(),
        grace: Duration::from_millis(config.rooms.grace_ms),
        empty_room_ttl: Duration::from_millis(config.rooms.empty_room_ttl_ms),
        freeze_after: Duration::from_millis(config.rooms.freeze_after_ms),
        max_rooms: config.rooms.max_rooms,
        default_room: config.rooms.default.clone(),
        modes: modes.clone(),
        limits: net.limits,
        rooms: AtomicUsize::new(recovered_rooms),
        stats: Default::default(),
        journal_stats: Default::default(),
        store: Some(crate::driver::journal::StorePolicy {
            store: store.clone(),
            max_lag_ticks: config.store.max_lag_ticks,
            snapshot_every_ticks: config.store.snapshot_every_ticks,
            snapshot_every_inputs: config.store.snapshot_every_inputs,
            snapshot_max_bytes: config.store.snapshot_max_bytes,
        }),
        ownership: ownership.clone(),
        replica,
    });
    let (queues, threads) = spawn_shards(
        config.server.inbound_queue,
        settings.clone(),
        recovered.init,
    )
    .context("starting tick threads")?;
    let mut router = RoomRouter::new(queues, Duration::from_millis(config.rooms.grace_ms));
    if let Some(ownership) = &ownership {
        router = router
            .with_ownership(ownership.clone())
            .with_reservations(net.tokens.clone());
    }
    let router = Arc::new(router);
    router.remember_restored_seats(recovered.seats);

    // Held until `run` returns, after the store's last write.
    let data_lock = &data_lock;
    // Before listening: a node that cannot tell who it is does not start.
    let node_id = if config.cluster.enabled() {
        Some(crate::cluster::node_id::resolve(
            &config.cluster.node_id,
            &config.server.data_dir,
        )?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.server.io_threads)
        .thread_name("io")
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.server.http)
            .await
            .with_context(|| format!("binding {}", config.server.http))?;
                let http = listener.local_addr()?;
        let cert = crate::tls::load(&config.tls.cert_file, &config.tls.key_file, &config.server.data_dir)?;
        let net_for_quic = net.clone();
        let endpoint = if config.server.quic_enabled {
            let e = tickroom_net::quic::server_endpoint(config.server.quic, cert.chain.clone(), cert.key.clone_key(), &net_for_quic)
                .map_err(|e| anyhow::anyhow!("starting QUIC on {}: {e}", config.server.quic))?;
            Some(e)
        } else {
            None
        };
        let quic = endpoint.as_ref().map(|e| e.local_addr()).transpose()?;
        let limits = config.listener_limits();
        tracing::info!(max_connections = limits.max_connections, open_files = ?crate::listener::open_file_limit(), "connection cap");
                let handshake = Duration::from_millis(config.net.handshake_timeout_ms);
        let mut listener = crate::listener::GuardedListener::new(listener, limits, handshake);
        if config.server.wss {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let mut tls = rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(cert.chain.clone(), cert.key.clone_key())
                .context("the TLS certificate")?;
            tls.alpn_protocols = vec![b"http/1.1".to_vec()];
            listener = listener.with_tls(Arc::new(tls));
        }
        let (web, ws_scheme) = if config.server.wss { ("https", "wss") } else { ("http", "ws") };
        println!("tickroom listening: {web}://{http}  websocket {ws_scheme}://{http}/ws");
        if let Some(q) = quic {
            println!("QUIC (ALPN tickroom/1) on {q}/udp, certificate SHA-256 {}", cert.sha256);
        }
        println!(
            "{}",
            serde_json::json!({"listening": {
                "http": http.to_string(),
                "ws": format!("{ws_scheme}://{http}/ws"),
                "quic": quic.map(|q| q.to_string()),
                "cert_sha256": cert.sha256,
                "cert_der": cert.der_path.as_ref().map(|p| p.display().to_string()),
            }})
        );
        tracing::info!(%http, "listening");
        data_lock.describe(&serde_json::json!({
            "pid": std::process::id(),
            "http": http.to_string(),
            "ws": format!("{ws_scheme}://{http}/ws"),
            "quic": quic.map(|q| q.to_string()),
        }))?;

        let (close_tx, close_rx) = watch::channel(false);
        let (cluster_stop, cluster_stopping) = watch::channel(false);
        let cluster = if let Some(id) = node_id {
            let (ws, quic) = crate::cluster::public_addresses(&config.cluster, http, config.server.wss, quic);
            let record = crate::cluster::NodeRecord {
                id: id.clone(),
                ws,
                quic,
                modes: modes.infos(),
                rooms: 0,
                members: 0,
                tick_utilisation: 0.0,
                started_at_ms: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                draining: false,
            };
            tracing::info!(node = %id, prefix = %config.cluster.prefix, "cluster mode");
            Some(Arc::new(crate::cluster::Cluster::new(config.cluster.clone(), id, record)))
        } else {
            None
        };
        let mut handoff = None;
        let limits = cluster
            .as_ref()
            .map(|c| Arc::new(crate::cluster::limits::ClusterLimits { cluster: c.clone() }));
        // Cluster mode: one subscription to the lobby channel, fanned out.
        let lobby = cluster.as_ref().map(|c| {
            let (events, _) = tokio::sync::broadcast::channel(crate::cluster::lobby::LOBBY_BUFFER);
            let (actions, actions_rx) = tokio::sync::mpsc::unbounded_channel();
            let channels = crate::cluster::lobby::Channels {
                lobby: (format!("{}:lobby", c.config.prefix), events.clone()),
                admin: (format!("{}:admin", c.config.prefix), actions),
            };
            tokio::spawn(crate::cluster::lobby::run(
                c.config.redis_url.clone(),
                channels,
                Duration::from_millis(c.config.retry_max_ms),
                cluster_stopping.clone(),
            ));
            tokio::spawn(crate::cluster::api::carry_out(router.clone(), actions_rx));
            events
        });
        let cluster_task = cluster.clone().map(|c| {
            let load = crate::cluster::LoadSource {
                rooms: router.clone(),
                ticks: settings.clone(),
                tick_threads: config.server.tick_threads,
            };
            if let (Some(ownership), Some((claims, recovered))) = (ownership, lease_claims) {
                if let Some(writes) = replica_rx {
                    let (flush, flushes) = tokio::sync::mpsc::unbounded_channel();
                    tokio::spawn(crate::cluster::replica::run(
                        c.clone(),
                        router.clone(),
                        ownership.clone(),
                        writes,
                        flushes,
                        cluster_stopping.clone(),
                    ));
                    handoff = Some(Arc::new(crate::cluster::handoff::Handoff {
                        cluster: c.clone(),
                        router: router.clone(),
                        ownership: ownership.clone(),
                        flush,
                    }));
                }
                tokio::spawn(crate::cluster::rooms::run(
                    c.clone(),
                    router.clone(),
                    settings.clone(),
                    ownership,
                    claims,
                    recovered,
                    cluster_stopping.clone(),
                ));
            }
            tokio::spawn(c.run(load, cluster_stopping))
        });
        let connections = Arc::new(ConnTracker::default());
        let state = AppState {
                        net,
                        router: router.clone(),
            rooms: router.clone(),
            next_conn: Arc::new(AtomicU64::new(1)),
            shutdown: close_rx,
            connections: connections.clone(),
            store: store.clone(),
            ticks: settings.clone(),
            cluster,
            handoff: handoff.clone(),
            lobby,
            limits: limits.clone(),
            store_path: store_config.path.clone(),
            api: Arc::new(crate::api::ApiAuth {
                admin: Some(config.auth.admin_token.clone()).filter(|t| !t.is_empty()),
                read: Some(config.auth.read_token.clone()).filter(|t| !t.is_empty()),
                open_reads: config.all_loopback(),
                default_room: config.rooms.default.clone(),
            }),
        };
        let stats_log = settings.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            every.tick().await;
            loop {
                every.tick().await;
                tracing::info!(summary = %stats_log.stats.summary(), "tick stats");
            }
        });
        {
            // Housekeeping: memory back to the OS after connections fell
            // sharply; closed sessions forgotten even when no new session
            // arrives to sweep them.
            let router = router.clone();
            let connections = connections.clone();
            let mut trim =
                crate::driver::memory::TrimAfterDrop::new(config.server.trim_after_closes);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_secs(1));
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for n in 0u64.. {
                    every.tick().await;
                    if n % 60 == 59 {
                        router.sweep_sessions(std::time::Instant::now());
                    }
                    let live = connections.live();
                    if trim.observe(live) {
                        let started = std::time::Instant::now();
                        let _ = tokio::task::spawn_blocking(
                            crate::driver::memory::return_freed_memory,
                        )
                        .await;
                        tracing::debug!(
                            live,
                            trim_us = started.elapsed().as_micros() as u64,
                            "connections fell; returned freed memory"
                        );
                    }
                }
            });
        }
        if let Some(endpoint) = endpoint.clone() {
            let quic_server = tickroom_net::quic::QuicServer {
                config: state.net.clone(),
                router: state.router.clone(),
                next_conn: state.next_conn.clone(),
                shutdown: state.shutdown.clone(),
                connections: connections.clone(),
                admission: Arc::new(crate::listener::Admission::new(crate::listener::ListenerLimits {
                    max_connections: config.net.max_quic_connections,
                    ..config.listener_limits()
                })),
                admit_async: limits
                    .clone()
                    .map(|l| l as Arc<dyn tickroom_net::quic::AdmitAsync>),
            };
            tokio::spawn(quic_server.run(endpoint));
        }
        let app = routes(state).into_make_service_with_connect_info::<crate::listener::PeerAddr>();
                let (signalled_tx, mut signalled) = watch::channel(false);
        let drain_budget = crate::cluster::handoff::budget(Duration::from_millis(
            config.server.shutdown_timeout_ms,
        ));
        let http_server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Cluster mode: the rooms move to other nodes first, while their
            // members are still connected to be told where.
            if let Some(handoff) = handoff {
                match tokio::time::timeout(drain_budget, handoff.drain()).await {
                    Ok(drained) => println!("{}", serde_json::json!({ "drained": drained })),
                    Err(_) => tracing::warn!("handing the rooms off took too long; the rest stop here"),
                }
            }
            // Out of the cluster, so no one is sent here any more.
            let _ = cluster_stop.send(true);
            let _ = signalled_tx.send(true);
        });
        let mut http_server = tokio::spawn(http_server.into_future());
        tokio::select! {
            done = &mut http_server => {
                done.context("the HTTP server task")?.context("serving HTTP")?;
            }
            _ = signalled.changed() => {
                // Stop accepting now; a request that never ends may not hold
                // the shutdown up beyond a quarter of its budget.
                let budget = Duration::from_millis(config.server.shutdown_timeout_ms) / 4;
                if tokio::time::timeout(budget, &mut http_server).await.is_err() {
                    tracing::warn!("HTTP requests still open at shutdown; dropping them");
                    http_server.abort();
                }
            }
        }

        // Stop accepting (done), finish the current tick, then tell clients.
        tracing::info!(connections = connections.live(), "shutting down");
        let budget = Duration::from_millis(config.server.shutdown_timeout_ms);
        // The cluster task left the cluster when the signal came (above).
        if let Some(task) = cluster_task
            && tokio::time::timeout(budget / 4, task).await.is_err()
        {
            tracing::warn!("leaving the cluster took too long; the node record expires by itself");
        }
        router.shutdown();
        let joined = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        });
        if tokio::time::timeout(budget / 2, joined).await.is_err() {
            tracing::warn!("tick threads did not stop in time");
        }
        // Everything the ticks produced is committed before the process ends.
        let store_for_stop = store.clone();
        let stopped = tokio::task::spawn_blocking(move || store_for_stop.stop(budget / 2)).await;
        match stopped {
            Ok(Ok(())) => tracing::info!("store flushed"),
            Ok(Err(e)) => tracing::error!(error = %e, "the store could not commit everything at shutdown"),
            Err(e) => tracing::error!(error = %e, "the store stop task failed"),
        }
        let _ = close_tx.send(true);
        if tokio::time::timeout(budget / 2, connections.wait_idle()).await.is_err() {
            tracing::warn!(left = connections.live(), "connections did not drain in time");
        }
        if let Some(endpoint) = endpoint {
            endpoint.close(quinn_code(0), b"SHUTTING_DOWN");
            let _ = tokio::time::timeout(Duration::from_millis(500), endpoint.wait_idle()).await;
        }
        tracing::info!(summary = %settings.stats.summary(), "stopped");
        let stats = &settings.stats;
        let health = store.health();
        // One machine-readable line for load runs and benchmarks.
        println!(
            "{}",
            serde_json::json!({"stopped": {
                "ticks": stats.ticks.load(Ordering::Relaxed),
                "tick_mean_us": stats.tick_ns_total.load(Ordering::Relaxed)
                    / stats.ticks.load(Ordering::Relaxed).max(1)
                    / 1000,
                "tick_p50_us_at_most": stats.quantile_us(0.5),
                "tick_p99_us_at_most": stats.quantile_us(0.99),
                "tick_max_us": stats.tick_ns_max.load(Ordering::Relaxed) / 1000,
                "overruns": stats.overruns.load(Ordering::Relaxed),
                "journal_mean_ns": settings.journal_stats.tick_ns_total.load(Ordering::Relaxed)
                    / settings.journal_stats.ticks.load(Ordering::Relaxed).max(1),
                "journal_p99_us_at_most": settings.journal_stats.quantile_us(0.99),
                "journal_max_us": settings.journal_stats.tick_ns_max.load(Ordering::Relaxed) / 1000,
                "store_commits": health.commits.load(Ordering::Relaxed),
                "store_committed_writes": health.committed_writes.load(Ordering::Relaxed),
                "store_failed_commits": health.failed_commits.load(Ordering::Relaxed),
            }})
        );
        Ok::<(), anyhow::Error>(())
    })?;
    runtime.shutdown_timeout(Duration::from_millis(200));
    Ok(())
}
