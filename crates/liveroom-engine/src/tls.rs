//! TLS for `wss://` and `https://` servers: the system's trusted roots, plus any roots the
//! application adds (a self-hosted server with a private CA or a self-signed certificate).

use liveroom_proto::ApiError;

/// How the engine checks a TLS server's certificate. The default trusts the system's roots.
#[derive(Clone, Default)]
pub struct TlsConfig {
    /// Set when extra roots were added; `None` uses the default connectors.
    connector: Option<native_tls::TlsConnector>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("extra_roots", &self.connector.is_some())
            .finish()
    }
}

impl TlsConfig {
    /// Trusts the certificates in `pem` (one or more PEM blocks) besides the system's roots.
    /// Invalid PEM is refused with 10004 (invalid parameter).
    pub fn with_root_certificates_pem(pem: &[u8]) -> Result<Self, ApiError> {
        let certs = native_tls::Certificate::stack_from_pem(pem)
            .map_err(|e| ApiError::invalid(format!("root certificate: {e}")))?;
        if certs.is_empty() {
            return Err(ApiError::invalid(
                "root certificate: no PEM certificate found",
            ));
        }
        let mut builder = native_tls::TlsConnector::builder();
        for cert in certs {
            builder.add_root_certificate(cert);
        }
        let connector = builder
            .build()
            .map_err(|e| ApiError::invalid(format!("root certificate: {e}")))?;
        Ok(Self {
            connector: Some(connector),
        })
    }

    /// The connector for the WebSocket; `None`: the library's default (system roots).
    pub(crate) fn ws_connector(&self) -> Option<tokio_tungstenite::Connector> {
        self.connector
            .clone()
            .map(tokio_tungstenite::Connector::NativeTls)
    }

    /// Sets up an HTTP client builder to trust the same roots (the engine's uploads and
    /// downloads, and an application's own calls to the server, such as the CLI's REST calls).
    pub fn http(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match &self.connector {
            Some(c) => builder.use_preconfigured_tls(c.clone()),
            None => builder,
        }
    }
}
