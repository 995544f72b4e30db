//! Serving the router over HTTPS. ALPN offers `h2` and `http/1.1`, and each connection then
//! speaks the HTTP version that the client starts with.

use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::FakeTls;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the server waits after an accept error that is not about one connection, such as
/// running out of file descriptors.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Builds the TLS acceptor from the PEM certificate chain and key.
///
/// Returns an `InvalidInput` error when the PEM contains no certificate or no key, or when
/// rustls rejects the pair.
pub(crate) fn acceptor(tls: &FakeTls) -> io::Result<TlsAcceptor> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
    let chain = CertificateDer::pem_slice_iter(&tls.cert_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("invalid TLS certificate chain PEM: {error}")))?;
    if chain.is_empty() {
        return Err(invalid("the TLS certificate chain PEM contains no certificate".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_slice(&tls.private_key_pem)
        .map_err(|error| invalid(format!("invalid TLS private key PEM: {error}")))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(format!("unsupported TLS settings: {error}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| invalid(format!("the TLS certificate and key do not form a usable pair: {error}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `app` over TLS until `stop` completes. Then it stops accepting, signals every open
/// connection to finish its requests and close, and returns once all of them have closed.
pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    app: Router,
    stop: impl Future<Output = ()>,
) -> io::Result<()> {
    // Every connection task keeps a receiver until it ends. A new value signals the tasks to
    // finish, and the channel closes when the last task has ended.
    let (stopping, _) = watch::channel(());
    let mut stop = pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if !is_connection_error(&error) {
                        tracing::warn!(%error, "fake API failed to accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                    continue;
                }
            },
            () = &mut stop => break,
        };
        // The same extension that `axum::serve` adds, so the request log can name the peer.
        let app = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        tokio::spawn(serve_connection(stream, acceptor.clone(), app, stopping.subscribe()));
    }

    drop(listener);
    stopping.send_replace(());
    stopping.closed().await;
    Ok(())
}

/// Runs the TLS handshake and then HTTP/1.1 or HTTP/2 on one connection. A change on
/// `stopping` drops a connection still in its handshake and shuts an established one down
/// gracefully: requests in progress finish, and no new ones start.
async fn serve_connection(stream: TcpStream, acceptor: TlsAcceptor, app: Router, mut stopping: watch::Receiver<()>) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%error, "fake API TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!("fake API TLS handshake timed out");
                return;
            }
        },
        _ = stopping.changed() => return,
    };

    let builder = auto::Builder::new(TokioExecutor::new());
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app)));
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            connection.as_mut().await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "fake API connection ended with an error");
    }
}

/// Returns whether an accept error concerns only the connection being accepted.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
