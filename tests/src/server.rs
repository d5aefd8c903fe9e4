//! Serving the platform: the router with every route, the accept loop and `spawn`, which
//! runs the platform in the background on a free loopback port. Each connection is served
//! with hyper directly, so that a drop fault can close it without sending a response.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tower::ServiceExt;

use crate::config::PlatformConfig;
use crate::error::ApiError;
use crate::store::AppState;

/// Handle with which a request handler closes its own connection, in every request's extensions.
#[derive(Clone)]
pub(crate) struct ConnectionControl(Arc<Notify>);

impl ConnectionControl {
    /// Closes the connection that carries this request, without sending a response.
    pub fn close(&self) {
        self.0.notify_one();
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .merge(crate::management::routes())
        .merge(crate::auth::routes())
        .merge(crate::emulator::routes())
        .fallback(|| async { ApiError::not_found("No route matches this path.") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This route does not accept this HTTP method.",
            )
        })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::emulator::count_and_apply_faults,
        ))
        .with_state(state)
}

/// Serves the platform on `listener` until the future is dropped. Accept errors, such as
/// running out of file descriptors, are logged and retried. An error is returned only when
/// the listener's local address cannot be read.
pub async fn serve(listener: TcpListener, config: PlatformConfig) -> io::Result<()> {
    // The sender lives as long as this future, so the loop gets no shutdown signal.
    let (_shutdown, shutdown_rx) = watch::channel(());
    run(listener, config, shutdown_rx).await
}

async fn run(
    listener: TcpListener,
    config: PlatformConfig,
    mut shutdown: watch::Receiver<()>,
) -> io::Result<()> {
    let base_url = base_url(listener.local_addr()?);
    let log_requests = config.log_requests;
    let app = router(AppState::new(config, base_url.clone()));

    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    tokio::spawn(serve_connection(stream, app.clone(), shutdown.clone(), log_requests));
                }
                Err(error) => {
                    eprintln!("{}", json!({ "event": "accept_failed", "error": error.to_string(), "retry_in_ms": 100 }));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => return Ok(()),
        }
    }
}

/// Serves one HTTP/1.1 connection until it ends, a drop fault closes it, or the platform
/// shuts down. Dropping the hyper connection closes the socket at once.
async fn serve_connection(
    stream: TcpStream,
    app: Router,
    mut shutdown: watch::Receiver<()>,
    log_requests: bool,
) {
    let control = ConnectionControl(Arc::new(Notify::new()));
    let request_control = control.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(request_control.clone());
        let app = app.clone();
        async move {
            Ok::<_, Infallible>(
                app.oneshot(request)
                    .await
                    .unwrap_or_else(|never| match never {}),
            )
        }
    });

    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            // Clients that disconnect early are normal for a test server, so this is only
            // logged when request logging is on.
            if let Err(error) = result {
                if log_requests {
                    eprintln!("{}", json!({ "event": "connection_error", "error": error.to_string() }));
                }
            }
        }
        _ = control.0.notified() => {}
        _ = shutdown.changed() => {}
    }
}

fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// A platform running in the background. It stops when this handle is dropped.
pub struct PlatformHandle {
    addr: SocketAddr,
    shutdown: Option<watch::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl PlatformHandle {
    /// Returns the base URL, such as `http://127.0.0.1:41234`, with no trailing slash.
    pub fn url(&self) -> String {
        base_url(self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, closes open ones and waits for the server task.
    pub async fn shutdown(mut self) -> io::Result<()> {
        self.shutdown.take();
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for PlatformHandle {
    fn drop(&mut self) {
        // Dropping the sender wakes the accept loop and every connection task.
        self.shutdown.take();
    }
}

/// Binds `127.0.0.1:0` and serves the platform in a background task of the current Tokio
/// runtime.
pub async fn spawn(config: PlatformConfig) -> io::Result<PlatformHandle> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(());
    let task = tokio::spawn(run(listener, config, shutdown_rx));

    Ok(PlatformHandle {
        addr,
        shutdown: Some(shutdown),
        task: Some(task),
    })
}
