//! The accept loop: each connection served by hyper with a header timeout that also closes
//! idle kept-alive connections, at most [`Limits::max_connections`] at once (the rest wait in
//! the kernel's queue rather than in memory), the client's address handed to the application,
//! and a graceful stop on Ctrl-C that lets requests in flight finish. With TLS (rustls), the
//! handshake runs on the connection's own task under the same header timeout, and HTTP/2 is
//! offered by ALPN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::Limits;

/// How long requests in flight may take to finish after Ctrl-C.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until Ctrl-C.
///
/// # Errors
/// None today: accept errors (out of descriptors, a reset before accept) are logged and the
/// loop goes on after a pause.
pub(crate) async fn run(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.header_timeout)
        .keep_alive_timeout(limits.header_timeout);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        // Answers are small and written whole: send them at once rather than waiting to
        // coalesce them with more (Nagle).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
                req
            });
        let (builder, watcher, tls) = (builder.clone(), graceful.watcher(), tls.clone());
        let handshake_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let service = TowerToHyperService::new(service);
            let served = match tls {
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let conn = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(conn.into_owned()).await
                        }
                        // A client that is not speaking TLS, or too slowly: its doing.
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!("TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                // Timeouts and resets are the client's doing.
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {DRAIN:?}; stopping anyway");
    }
    Ok(())
}

/// Reads a certificate chain and its private key (PEM files, as certbot or a CA issues them)
/// into a TLS acceptor offering HTTP/2 and HTTP/1.1.
///
/// # Errors
/// A file that cannot be read, holds no certificate or no key, or a key that does not match
/// the certificate: the message names the file.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, tudi_core::msg::Msg> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    use tudi_core::msg::Msg;
    let (c, k) = (cert.display(), key.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| {
            Msg::new(
                format!("证书文件 {c} 无法读取：{e}"),
                format!("cannot read the certificate file {c}: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(Msg::new(
            format!("证书文件 {c} 中没有 PEM 证书"),
            format!("the certificate file {c} holds no PEM certificate"),
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        Msg::new(
            format!("私钥文件 {k} 无法读取或没有 PEM 私钥：{e}"),
            format!("cannot read a PEM private key from {k}: {e}"),
        )
    })?;
    // ring rather than aws-lc-rs: it builds without cmake and a C++ toolchain. rustls 0.23.48
    // deprecates it for lacking post-quantum key exchange (X25519MLKEM768); TLS 1.3 with
    // X25519 and the usual suites remain. Revisit when a district asks for post-quantum.
    #[allow(deprecated)]
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Msg::new(format!("TLS 设置有误：{e}"), format!("TLS settings: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            Msg::new(
                format!("私钥 {k} 与证书 {c} 不匹配或不受支持：{e}"),
                format!("the key {k} does not fit the certificate {c}, or is not supported: {e}"),
            )
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// Answers every plain-HTTP request with a permanent redirect to the same path over HTTPS:
/// under `public_url` when it is an `https://` address, else on the host the client asked for
/// at `https_port`. Runs until Ctrl-C.
///
/// # Errors
/// I/O errors of the listener.
pub async fn redirect_to_https(
    listener: TcpListener,
    public_url: Option<String>,
    https_port: u16,
) -> std::io::Result<()> {
    let public: Option<std::sync::Arc<str>> = public_url
        .filter(|u| u.starts_with("https://"))
        .map(|u| u.trim_end_matches('/').into());
    let app = Router::new().fallback(
        move |uri: axum::http::Uri, headers: axum::http::HeaderMap| {
            let public = public.clone();
            async move {
                let path = uri
                    .path_and_query()
                    .map_or("/", axum::http::uri::PathAndQuery::as_str);
                let base = public.map_or_else(
                    || {
                        let host = headers
                            .get(axum::http::header::HOST)
                            .and_then(|h| h.to_str().ok())
                            .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
                            .map_or_else(|| "localhost".to_owned(), |a| a.host().to_owned());
                        if https_port == 443 {
                            format!("https://{host}")
                        } else {
                            format!("https://{host}:{https_port}")
                        }
                    },
                    |p| p.to_string(),
                );
                axum::response::Redirect::permanent(&format!("{base}{path}"))
            }
        },
    );
    run(listener, app, Limits::default(), None).await
}
