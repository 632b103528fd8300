//! Connection strings read the way libpq reads their TLS settings, and the
//! rustls connector that enforces them (`docs/adr/0006-postgres-tls.md`).
//!
//! tokio-postgres knows `sslmode=disable|prefer|require` and nothing about
//! certificates; libpq's `verify-ca`, `verify-full` and `sslrootcert` are
//! taken out of the string here, and the connector's certificate verifier
//! does what they ask:
//!
//! | `sslmode` | TLS | certificate chain | host name |
//! |---|---|---|---|
//! | `disable` | never | – | – |
//! | `prefer` (the default) | when the server offers it | not checked | not checked |
//! | `require` | always | not checked (checked against `sslrootcert` when one is named, as libpq does) | not checked |
//! | `verify-ca` | always | checked against `sslrootcert` | not checked |
//! | `verify-full` | always | checked against `sslrootcert` | checked (subject alternative names) |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres::Config;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::PgError;

/// What the server's certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateCheck {
    /// Nothing: the connection is encrypted, not authenticated
    /// (`prefer`, `require`).
    None,
    /// The chain up to a trusted root, not the host name (`verify-ca`, or
    /// `require` with an `sslrootcert`).
    Chain,
    /// The chain and the host name (`verify-full`).
    Full,
}

/// A connection string's settings and the TLS connector for them.
///
/// [`PgStore::connect`](crate::PgStore::connect) reads its URL through this;
/// a host building its own pool can too, so `sslmode=verify-full` and
/// `sslrootcert` mean in its pool what they mean to libpq:
///
/// ```rust,no_run
/// use invitation_postgres::deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
/// use invitation_postgres::{ConnectionSettings, PgOptions};
///
/// # fn pool() -> Result<Pool, Box<dyn std::error::Error>> {
/// let settings = ConnectionSettings::parse(
///     "postgres://app@db.internal/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
/// )?;
/// let (mut config, tls) = settings.into_parts();
/// // Statement timeout, keepalives, TCP user timeout (see `PgOptions`).
/// PgOptions::default().apply_to(&mut config);
/// let manager = Manager::from_config(config, tls, ManagerConfig {
///     recycling_method: RecyclingMethod::Fast,
/// });
/// Ok(Pool::builder(manager).max_size(16).build()?)
/// # }
/// ```
#[derive(Clone)]
pub struct ConnectionSettings {
    config: Config,
    tls: MakeRustlsConnect,
    check: CertificateCheck,
}

impl std::fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Config's Debug redacts the password.
        f.debug_struct("ConnectionSettings")
            .field("config", &self.config)
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    /// Reads a `postgres://` URL or a `key=value` connection string.
    ///
    /// # Errors
    /// [`PgError::Config`] when tokio-postgres cannot read what is left
    /// after the TLS settings are taken out, [`PgError::Tls`] for an unknown
    /// `sslmode`, `sslrootcert=system`, or a root certificate file that
    /// cannot be read or holds no certificate.
    pub fn parse(url: &str) -> Result<Self, PgError> {
        let (rest, tls) = take_tls_settings(url)?;
        let mut config: Config = rest.parse().map_err(PgError::Config)?;
        let mode = tls.mode.as_deref().unwrap_or("prefer");
        let (ssl_mode, check) = match mode {
            "disable" => (SslMode::Disable, CertificateCheck::None),
            "prefer" => (SslMode::Prefer, CertificateCheck::None),
            // libpq: "if a root CA file exists, the behavior of
            // sslmode=require will be the same as that of verify-ca".
            "require" if tls.root_cert.is_some() => (SslMode::Require, CertificateCheck::Chain),
            "require" => (SslMode::Require, CertificateCheck::None),
            "verify-ca" => (SslMode::Require, CertificateCheck::Chain),
            "verify-full" => (SslMode::Require, CertificateCheck::Full),
            other => {
                return Err(PgError::Tls(
                    format!(
                        "sslmode={other} is not supported: use disable, prefer, require, \
                         verify-ca or verify-full"
                    )
                    .into(),
                ))
            }
        };
        config.ssl_mode(ssl_mode);
        let roots = match check {
            CertificateCheck::None => None,
            CertificateCheck::Chain | CertificateCheck::Full => Some(load_roots(&root_cert_path(
                tls.root_cert.as_deref(),
                mode,
            )?)?),
        };
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new(client_config(check, roots)?),
            check,
        })
    }

    /// The tokio-postgres settings (`sslmode` as tokio-postgres knows it:
    /// `verify-ca` and `verify-full` read as `require`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What the server's certificate is checked for.
    pub fn certificate_check(&self) -> CertificateCheck {
        self.check
    }

    /// The connector for a `deadpool_postgres::Manager` (or
    /// `Config::connect`, or a `CancelToken`).
    pub fn tls(&self) -> MakeRustlsConnect {
        self.tls.clone()
    }

    /// The settings and the connector.
    pub fn into_parts(self) -> (Config, MakeRustlsConnect) {
        (self.config, self.tls)
    }
}

/// A connector that encrypts without checking the certificate: what a
/// store over a host's pool sends its cancel requests through, since it
/// cannot see the pool's own connector (the request carries only the
/// backend's cancel key).
pub(crate) fn unverified() -> Result<MakeRustlsConnect, PgError> {
    Ok(MakeRustlsConnect::new(client_config(
        CertificateCheck::None,
        None,
    )?))
}

#[derive(Debug, Default, PartialEq, Eq)]
struct TlsSettings {
    mode: Option<String>,
    root_cert: Option<String>,
}

impl TlsSettings {
    /// Keeps `key=value` when it is one of ours; says whether it was.
    fn take(&mut self, key: &str, value: &str) -> bool {
        match key {
            "sslmode" => self.mode = Some(value.to_owned()),
            "sslrootcert" => self.root_cert = Some(value.to_owned()),
            _ => return false,
        }
        true
    }
}

/// Splits `sslmode` and `sslrootcert` off a URL or `key=value` string.
fn take_tls_settings(url: &str) -> Result<(String, TlsSettings), PgError> {
    let mut tls = TlsSettings::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), tls));
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if !tls.take(&percent_decode(key)?, &percent_decode(value)?) {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((rest, tls));
    }
    let mut kept = String::new();
    for (key, value) in key_values(url)? {
        if !tls.take(&key, &value) {
            if !kept.is_empty() {
                kept.push(' ');
            }
            kept.push_str(&key);
            kept.push_str("='");
            for c in value.chars() {
                if c == '\'' || c == '\\' {
                    kept.push('\\');
                }
                kept.push(c);
            }
            kept.push('\'');
        }
    }
    Ok((kept, tls))
}

fn config_error(message: &str) -> PgError {
    PgError::Tls(message.to_owned().into())
}

/// `%XX` escapes in a URL's query part.
fn percent_decode(text: &str) -> Result<String, PgError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| config_error("invalid percent-encoding in the connection URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| config_error("the connection URL is not UTF-8"))
}

/// The pairs of a libpq `key=value` string: values bare or in single
/// quotes, `\` escaping the next character.
fn key_values(text: &str) -> Result<Vec<(String, String)>, PgError> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(config_error(
                "invalid connection string: expected key=value",
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\'') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                    None => {
                        return Err(config_error(
                            "invalid connection string: unterminated quoted value",
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

/// `sslrootcert`, or libpq's default `~/.postgresql/root.crt`.
fn root_cert_path(named: Option<&str>, mode: &str) -> Result<PathBuf, PgError> {
    match named {
        Some("system") => Err(config_error(
            "sslrootcert=system is not supported: name a PEM file of trusted roots",
        )),
        Some(path) => Ok(PathBuf::from(path)),
        None => std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(".postgresql").join("root.crt"))
            .filter(|path| path.exists())
            .ok_or_else(|| {
                PgError::Tls(
                    format!(
                        "sslmode={mode} needs trusted roots: name a PEM file with sslrootcert \
                         (~/.postgresql/root.crt does not exist)"
                    )
                    .into(),
                )
            }),
    }
}

fn load_roots(path: &Path) -> Result<RootCertStore, PgError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        PgError::Tls(format!("sslrootcert {}: {e}", path.display()).into())
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"holds no PEM certificate"));
    }
    Ok(roots)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(
    check: CertificateCheck,
    roots: Option<RootCertStore>,
) -> Result<ClientConfig, PgError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(Box::new(e)))?;
    let roots = Arc::new(roots.unwrap_or_else(RootCertStore::empty));
    let chain = match check {
        CertificateCheck::Full => {
            return Ok(builder.with_root_certificates(roots).with_no_client_auth());
        }
        CertificateCheck::None => None,
        CertificateCheck::Chain => Some(
            WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| PgError::Tls(Box::new(e)))?,
        ),
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Lenient { provider, chain }))
        .with_no_client_auth();
    Ok(config)
}

/// `prefer` and `require` (no chain), `verify-ca` (a chain): the
/// certificate is accepted as is, or its chain is checked and a failure on
/// the host name alone is let pass (webpki checks the chain first, so a
/// name error means the chain was good). The handshake's signatures are
/// checked either way, against the certificate the server sent.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(url: &str) -> (String, TlsSettings) {
        take_tls_settings(url).unwrap()
    }

    #[test]
    fn tls_settings_are_taken_out_of_a_url_and_the_rest_is_kept() {
        let (rest, tls) = split(
            "postgres://u:p@h:5/db?application_name=x&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem",
        );
        assert_eq!(rest, "postgres://u:p@h:5/db?application_name=x");
        assert_eq!(tls.mode.as_deref(), Some("verify-full"));
        assert_eq!(tls.root_cert.as_deref(), Some("/tmp/ca.pem"));
        let (rest, tls) = split("postgresql://h/db?sslmode=require");
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(tls.mode.as_deref(), Some("require"));
        assert_eq!(split("postgres://h/db").0, "postgres://h/db");
    }

    #[test]
    fn tls_settings_are_taken_out_of_a_key_value_string_with_quotes_kept() {
        let (rest, tls) = split(
            r"host=h  user = u password='it\'s x' sslmode=verify-ca sslrootcert='/a b/ca.pem'",
        );
        assert_eq!(tls.mode.as_deref(), Some("verify-ca"));
        assert_eq!(tls.root_cert.as_deref(), Some("/a b/ca.pem"));
        let config: Config = rest.parse().unwrap();
        assert_eq!(config.get_user(), Some("u"));
        assert_eq!(config.get_password(), Some(&b"it's x"[..]));
    }

    #[test]
    fn unknown_modes_and_missing_roots_are_refused_with_the_reason() {
        for (url, says) in [
            (
                "postgres://h/db?sslmode=allow",
                "sslmode=allow is not supported",
            ),
            (
                "host=h sslmode=verify-full sslrootcert=/nonexistent/ca.pem",
                "/nonexistent/ca.pem",
            ),
            ("host=h sslmode=verify-ca sslrootcert=system", "system"),
            ("host=h sslmode='unterminated", "unterminated"),
        ] {
            let error = ConnectionSettings::parse(url).unwrap_err();
            let text = format!("{error}: {}", std::error::Error::source(&error).unwrap());
            assert!(text.contains(says), "{url}: {text}");
        }
    }

    #[test]
    fn the_default_mode_is_prefer_without_certificate_checks() {
        let settings = ConnectionSettings::parse("postgres://h/db").unwrap();
        assert_eq!(settings.config().get_ssl_mode(), SslMode::Prefer);
        assert_eq!(settings.certificate_check(), CertificateCheck::None);
        let settings = ConnectionSettings::parse("host=h sslmode=disable").unwrap();
        assert_eq!(settings.config().get_ssl_mode(), SslMode::Disable);
    }
}
