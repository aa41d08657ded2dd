//! The running node: the engine on its own thread, fed by the HTTP API, the back office and
//! the transport, committing in groups, and releasing replies and messages only after each
//! commit; startup and shutdown.
//!
//! ```text
//!  HTTP handlers ──┐                         ┌──► replies (after commit)
//!  back office ────┼─► engine thread ─commit─┼──► back office notices
//!  peer frames ────┤   (batches ≤ 512)       ├──► peer frames (the transport)
//!  poll_timeout ───┘                         └──► published counters (/healthz, /metrics)
//! ```
//!
//! | module | job |
//! |---|---|
//! | `queue` | the bounded queues into the engine: the [`Command`]s, the [`EngineHandle`] that sends them, reads apart from writes |
//! | `engine_thread` | the command loop: reads, timers when the engine's next deadline comes, batches of writes, group commit, outputs through the driver contract's `Io` |
//! | `back_office` | the back-office delivery loop: notices out with retries and dead letters, reports back |
//! | `standby` | while a PostgreSQL store's lease is held by the other process: `/livez` answers, the rest 503 "standby" |
//!
//! A failed commit is fatal: the process exits (code 70) without answering, and a supervisor
//! restarts it from the store, which holds exactly what was acknowledged.

mod back_office;
mod engine_thread;
mod licence_import;
mod precheck;
mod queue;
mod standby;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tongban_adapters::AnyBackOffice;
use tongban_protocol::engine::{EngineConfig, EngineSetup};
use tongban_protocol::ids::Timestamp;
use tracing::{error, info, warn};

pub use precheck::Precheck;
pub use queue::{
    AskError, Command, EngineHandle, EngineQueue, LicenceRequestsQuery, Reply, Snapshot,
    engine_queue,
};

use crate::config::NodeConfig;
use crate::error::NodeError;
use crate::limits::NET_QUEUE;

/// The wall clock as the engine's time, shifted by [`CLOCK_OFFSET_VAR`] when it is set.
pub fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let ms = u64::try_from(ms).unwrap_or(u64::MAX);
    Timestamp(ms.saturating_add_signed(clock_offset().ok().flatten().unwrap_or(0)))
}

/// The environment variable that shifts a node's clock by a number of milliseconds (may be
/// negative): for drills and end-to-end tests in which working days must pass — a 补正 whose
/// deadline runs out, a clock that turns red — as `faketime` would, without touching the
/// machine's clock. A running node logs it at start; leave it unset in production.
pub const CLOCK_OFFSET_VAR: &str = "TONGBAN_CLOCK_OFFSET_MS";

/// The clock offset [`CLOCK_OFFSET_VAR`] gives, if set; an error naming the variable if it is
/// not a whole number of milliseconds.
pub fn clock_offset() -> Result<Option<i64>, NodeError> {
    match std::env::var(CLOCK_OFFSET_VAR) {
        Err(_) => Ok(None),
        Ok(v) => v.trim().parse::<i64>().map(Some).map_err(|_| {
            NodeError::Refused(format!(
                "{CLOCK_OFFSET_VAR}={v:?}: give a whole number of milliseconds (may be negative), \
                 or unset it"
            ))
        }),
    }
}

/// What the operator says at start, beside the config file.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Start on a roster this node accepted that is newer than the one the config names.
    pub trust_stored_roster: bool,
}

/// What the engine starts from, read from the files `config` names: the one place the node
/// and the bench (which fills a store through the engine) build it.
pub(crate) fn engine_setup(
    config: &NodeConfig,
    options: RunOptions,
    now: Timestamp,
) -> Result<EngineSetup, NodeError> {
    Ok(EngineSetup {
        region: config.region.clone(),
        identity: config.load_identity()?,
        roster: config.load_roster(now)?.roster,
        calendar: config.load_calendar()?,
        catalog: config.load_catalog()?,
        config: EngineConfig {
            trust_stored_roster: options.trust_stored_roster,
            protocol_versions: config.peer.protocol_versions.clone(),
            ..EngineConfig::default()
        },
    })
}

/// Starts the node from its config and serves until interrupted (Ctrl-C or SIGTERM).
pub async fn run(config: NodeConfig, options: RunOptions) -> Result<(), NodeError> {
    if let Some(offset) = clock_offset()? {
        warn!(
            offset_ms = offset,
            "{CLOCK_OFFSET_VAR} is set: this node's clock is shifted from the machine's (for drills and tests only)"
        );
    }
    let started = now();
    // The certificate first: a node that cannot serve HTTPS must not start at all.
    let tls = match &config.tls {
        Some(settings) => {
            let (server, summary) = crate::tls::server_config(settings, unix_secs(started))?;
            info!(%summary, "HTTPS");
            Some(crate::tls::SharedConfig::new(server))
        }
        None => None,
    };
    let setup = engine_setup(&config, options, started)?;
    let transport_seed = tongban_protocol::keyring::transport_seed(&setup.identity);
    let suite = setup.identity.suite();
    let mut office =
        AnyBackOffice::from_config(config.backoffice.clone()).map_err(|e| NodeError::Config {
            path: config.source.clone(),
            problems: vec![format!("backoffice: {e}")],
        })?;

    std::fs::create_dir_all(&config.data_dir).map_err(|e| NodeError::Io {
        what: "data dir",
        path: config.data_dir.clone(),
        source: e,
    })?;

    let (handle, rx, published) = engine_queue();
    let (notice_tx, notice_rx) = mpsc::unbounded_channel();
    let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
    let outlets = engine_thread::Outlets {
        notices: notice_tx,
        net: net_tx,
        published,
        refusals: Arc::clone(handle.refusals()),
        latencies: Arc::clone(handle.latencies()),
    };
    // The engine's thread opens the store itself (a PostgreSQL store must not be driven from
    // inside this runtime), waiting there as the standby while another process holds the
    // lease; nothing listens until it holds the store.
    let (waiting_tx, mut waiting) = tokio::sync::oneshot::channel::<()>();
    let mut waiting_tx = Some(waiting_tx);
    let standby = move || {
        if let Some(tx) = waiting_tx.take() {
            let _ = tx.send(());
        }
    };
    let engine_thread::Started {
        thread: engine_thread,
        mut opened,
        go,
    } = engine_thread::start(config.clone(), setup, rx, outlets, standby)?;
    // While the engine thread waits for the lease, the standby answers on the HTTP address.
    let mut standby_http = None;
    let mut standby_told = false;
    let opened = loop {
        tokio::select! {
            result = &mut opened => break result,
            told = &mut waiting, if !standby_told => {
                standby_told = true;
                if told.is_ok() {
                    standby_http = Some(standby::StandbyHttp::start(&config, tls.clone()).await?);
                }
            }
        }
    };
    if let Some(server) = standby_http {
        server.stop().await;
    }
    let opened = match opened {
        Ok(Ok(opened)) => opened,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(NodeError::Refused(
                "the engine thread ended before it opened the store".into(),
            ));
        }
    };
    info!(store = %opened.store, "store open");
    let peer_addr = crate::net::start(
        transport_seed,
        &config.peer.listen,
        &config.peer.protocol_versions,
        opened.roster,
        config.region.clone(),
        handle.clone(),
        net_rx,
    )
    .await?;
    // Tests and scripts read this line to find the peer address.
    println!(
        "tongban node {} listening for peers on {peer_addr}",
        config.region
    );
    // A back office without memory of its own (the reference one) picks up where the cases
    // are; the others keep their own state and ignore this.
    let resumed_at = now();
    for case in &opened.open_cases {
        office.resume(resumed_at, &case.notice, &case.handling, &case.intake);
    }
    // The transport is up: the engine may run.
    let _ = go.send(());
    tokio::spawn(back_office::back_office_loop(
        office,
        notice_rx,
        handle.clone(),
        config.notices.clone(),
    ));

    if let Some(dir) = &config.licence_import_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            warn!(dir = %dir.display(), error = %e, "cannot create the licence import folder");
        }
        tokio::spawn(licence_import::import_loop(dir.clone(), handle.clone()));
    }
    let listener = tokio::net::TcpListener::bind(config.http.bind)
        .await
        .map_err(|e| NodeError::Serve {
            what: format!("binding the HTTP address {}", config.http.bind),
            source: e,
        })?;
    let addr: SocketAddr = listener.local_addr().map_err(|e| NodeError::Serve {
        what: "reading the HTTP address".into(),
        source: e,
    })?;
    // Tests and scripts read this line to find an ephemeral port.
    println!(
        "tongban node {} serving HTTP on {}://{addr}",
        config.region,
        if tls.is_some() { "https" } else { "http" }
    );
    info!(region = %config.region, %addr, "node started");
    if tls.is_none() && config.http.insecure_plain_http {
        warn!(%addr, "serving plain HTTP off loopback because the config says insecure_plain_http = true");
    }
    tokio::spawn(reload_on_hangup(config.tls.clone(), tls.clone()));
    let app = crate::api::router(crate::api::AppState::new(&config, handle.clone(), suite)?);
    let served = match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown_signal())
                .await
        }
        Some(shared) => {
            let listener =
                crate::tls::TlsListener::new(listener, shared).map_err(|e| NodeError::Serve {
                    what: "starting the HTTPS listener".into(),
                    source: e,
                })?;
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<crate::tls::TlsPeer>(),
            )
            .with_graceful_shutdown(shutdown_signal())
            .await
        }
    };
    served.map_err(|e| NodeError::Serve {
        what: "serving HTTP".into(),
        source: e,
    })?;
    info!("shutting down");
    drop(handle);
    // The API's handles are gone with the server; the engine thread ends when the back
    // office task's handle goes too, at process exit.
    drop(engine_thread);
    Ok(())
}

/// Unix seconds of an engine timestamp, for certificate validity checks.
fn unix_secs(t: Timestamp) -> i64 {
    i64::try_from(t.0 / 1000).unwrap_or(i64::MAX)
}

/// On SIGHUP, reads the `[tls]` files again and puts them in force if they pass every check
/// made at start; open connections keep the certificate they began with. Without `[tls]`
/// there is nothing to reload, but SIGHUP still does not stop the node.
async fn reload_on_hangup(
    settings: Option<crate::config::TlsConfig>,
    shared: Option<crate::tls::SharedConfig>,
) {
    #[cfg(unix)]
    {
        let mut hangups = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::hangup(),
        ) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGHUP; certificates reload only on restart");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            match (&settings, &shared) {
                (Some(settings), Some(shared)) => match shared.reload(settings, unix_secs(now())) {
                    Ok(summary) => info!(%summary, "SIGHUP: reloaded the TLS certificate"),
                    Err(e) => {
                        error!(error = %e, "SIGHUP: the TLS files were not reloaded; the certificate in use stays");
                    }
                },
                _ => info!("SIGHUP: no [tls] table, nothing to reload"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (settings, shared);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
