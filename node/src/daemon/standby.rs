//! The standby's HTTP answers: while this process waits for a PostgreSQL store's lease it
//! serves its HTTP address with `/livez` (200: the process is alive) and 503 to everything
//! else, `/readyz` included, with a message that starts with "standby", so that a supervisor
//! sees it alive, a load balancer sends work only to the active process, and a client that
//! reached it tries the other address. At takeover it stops, and the node serves the address
//! as usual.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::api::error::{ApiError, ErrorCode};
use crate::config::NodeConfig;
use crate::error::NodeError;

/// How long the standby's server may take to close its connections at takeover.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// The standby's HTTP server, running until [`StandbyHttp::stop`].
pub(super) struct StandbyHttp {
    stop: oneshot::Sender<()>,
    served: JoinHandle<()>,
    addr: SocketAddr,
}

async fn standby_answer() -> impl IntoResponse {
    let mut response = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Unavailable,
        "standby: this process waits for the region's lease while the other node process holds \
         it; send to the other address (it takes over by itself if the active one stops)",
    )
    .into_response();
    response.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("1"),
    );
    response
}

impl StandbyHttp {
    /// Binds the node's HTTP address and answers there as the standby.
    pub(super) async fn start(
        config: &NodeConfig,
        tls: Option<crate::tls::SharedConfig>,
    ) -> Result<StandbyHttp, NodeError> {
        let listener = tokio::net::TcpListener::bind(config.http.bind)
            .await
            .map_err(|e| NodeError::Serve {
                what: format!(
                    "binding the HTTP address {} as the standby",
                    config.http.bind
                ),
                source: e,
            })?;
        let addr = listener.local_addr().map_err(|e| NodeError::Serve {
            what: "reading the HTTP address".into(),
            source: e,
        })?;
        let app = Router::new()
            .route("/livez", get(crate::api::ops::livez))
            .fallback(standby_answer);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let served = match tls {
            None => tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    warn!(error = %e, "the standby's HTTP server stopped");
                }
            }),
            Some(shared) => {
                let listener = crate::tls::TlsListener::new(listener, shared).map_err(|e| {
                    NodeError::Serve {
                        what: "starting the standby's HTTPS listener".into(),
                        source: e,
                    }
                })?;
                tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                    {
                        warn!(error = %e, "the standby's HTTPS server stopped");
                    }
                })
            }
        };
        // Tests and scripts read this line to tell a standby that answers.
        println!(
            "tongban node {} standby: answering /livez, and 503 to the rest, on {addr}",
            config.region
        );
        info!(%addr, "standby: /livez answers; /readyz and the API answer 503 until this process holds the lease");
        Ok(StandbyHttp { stop, served, addr })
    }

    /// Stops answering and frees the address for the node's own server.
    pub(super) async fn stop(self) {
        let _ = self.stop.send(());
        let mut served = self.served;
        if tokio::time::timeout(CLOSE_WITHIN, &mut served)
            .await
            .is_err()
        {
            served.abort();
            let _ = served.await;
        }
        info!(addr = %self.addr, "standby: took the lease; the node serves this address now");
    }
}
