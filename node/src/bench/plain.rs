//! What a region might build instead: the same events as JSON over HTTP/1.1 into the same
//! redb store, unsigned. A small axum server inside the bench process takes `POST /events`
//! (one case event as JSON), decodes it, and hands it to one writer thread that puts every
//! event waiting when it comes round and commits them together (grouped, as the node commits)
//! before answering 201. No signature, no receipt, no peer: the cost of our guarantees is the
//! difference between this and the federation's row.

use std::path::Path;
use std::sync::mpsc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio::sync::oneshot;
use tongban_protocol::case::events::Event;
use tongban_protocol::store::{Store as _, Table};

use crate::error::NodeError;
use crate::store::RedbStore;

/// Most events one commit takes.
const MOST_PER_COMMIT: usize = 1000;

/// One event for the writer, and where to say it is durable.
type Job = (Vec<u8>, oneshot::Sender<bool>);

/// The running server: its address, and the events it has committed.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    committed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Events committed so far.
    pub fn committed(&self) -> u64 {
        self.committed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts the server on a free loopback port with its store at `db`.
pub async fn start(db: &Path) -> Result<Server, NodeError> {
    let mut store = RedbStore::open(db)?;
    let committed = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (tx, rx) = mpsc::channel::<Job>();
    let counter = committed.clone();
    std::thread::Builder::new()
        .name("bench-plain-writer".into())
        .spawn(move || {
            let mut key: u64 = 0;
            while let Ok(first) = rx.recv() {
                let mut batch = vec![first];
                while batch.len() < MOST_PER_COMMIT {
                    match rx.try_recv() {
                        Ok(job) => batch.push(job),
                        Err(_) => break,
                    }
                }
                let mut ok = true;
                for (bytes, _) in &batch {
                    key += 1;
                    ok &= store.put(Table::Events, &key.to_be_bytes(), bytes).is_ok();
                }
                ok &= store.sync().is_ok();
                if ok {
                    counter.fetch_add(batch.len() as u64, std::sync::atomic::Ordering::Relaxed);
                } else {
                    tracing::warn!("the plain server's commit failed");
                }
                for (_, done) in batch {
                    let _ = done.send(ok);
                }
            }
        })
        .map_err(|e| NodeError::Serve {
            what: "starting the plain server's writer".into(),
            source: e,
        })?;
    let app = axum::Router::new()
        .route("/events", post(take))
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| NodeError::Serve {
            what: "binding the plain server".into(),
            source: e,
        })?;
    let addr = listener.local_addr().map_err(|e| NodeError::Serve {
        what: "the plain server's address".into(),
        source: e,
    })?;
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "the plain server stopped");
        }
    });
    Ok(Server {
        base: format!("http://{addr}"),
        committed,
        stop: Some(stop),
    })
}

/// `POST /events`: the event decoded (400 if it is not one), committed, then 201.
async fn take(State(writer): State<mpsc::Sender<Job>>, body: Bytes) -> StatusCode {
    if serde_json::from_slice::<Event>(&body).is_err() {
        return StatusCode::BAD_REQUEST;
    }
    let (done, durable) = oneshot::channel();
    if writer.send((body.to_vec(), done)).is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    match durable.await {
        Ok(true) => StatusCode::CREATED,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
