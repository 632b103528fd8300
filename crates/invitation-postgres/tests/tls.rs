//! TLS to a real PostgreSQL: a throw-away cluster started by the test, with
//! `ssl=on`, a CA and a server certificate (SANs `localhost` and
//! `127.0.0.1`) the test makes, and a `pg_hba.conf` that accepts only
//! `hostssl` connections.
//!
//! The cluster needs PostgreSQL's server binaries (`initdb`, `pg_ctl`). When
//! they are missing or the cluster does not start, the tests fail if `CI`
//! is set, and otherwise print one line saying they were skipped.

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use invitation_core::InvitationStore;
use invitation_postgres::{PgError, PgStore};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The server binaries: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/*/bin`.
fn bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists());
    from_pg_config.or_else(|| {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|dir| dir.join("initdb").exists())
            .collect();
        dirs.sort();
        dirs.pop()
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a server binary, as the `postgres` OS user when we are root
/// (initdb refuses to run as root).
fn run(bin: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin);
        c
    } else {
        Command::new(bin)
    };
    let output = command
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {args:?} failed: {}{}",
            bin.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

struct Certificates {
    ca: String,
    other_ca: String,
    server_cert: String,
    server_key: String,
}

fn certificates() -> Certificates {
    let ca = |name: &str| {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        (cert.pem(), Issuer::new(params, key))
    };
    let (ca_pem, issuer) = ca("invitation-postgres test CA");
    let (other_ca, _) = ca("some other CA");
    let server_key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = params
        .signed_by(&server_key, &issuer)
        .expect("server certificate");
    Certificates {
        ca: ca_pem,
        other_ca,
        server_cert: server.pem(),
        server_key: server_key.serialize_pem(),
    }
}

/// A running cluster: its directory (data, certificates, log) and port.
struct Cluster {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn url(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    fn stop(&self) {
        let data = self.path("data");
        let _ = run(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn start() -> Result<Cluster, String> {
    let bin = bindir().ok_or("no initdb found (pg_config --bindir, /usr/lib/postgresql/*/bin)")?;
    let dir = std::env::temp_dir().join(format!("inv-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let cluster = Cluster {
        dir: dir.clone(),
        port: free_port(),
        bin: bin.clone(),
    };
    let certs = certificates();
    for (name, text) in [
        ("ca.pem", &certs.ca),
        ("other-ca.pem", &certs.other_ca),
        ("server.crt", &certs.server_cert),
        ("server.key", &certs.server_key),
    ] {
        std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
    }
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("chown to postgres failed".to_owned());
        }
    }
    let _ = Command::new("chmod")
        .args(["600", &cluster.path("server.key")])
        .status();
    let data = cluster.path("data");
    run(
        &bin.join("initdb"),
        &[
            "-D",
            &data,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )?;
    let conf = format!(
        "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
         ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nfsync = off\n",
        cluster.port,
        dir.display(),
        cluster.path("server.crt"),
        cluster.path("server.key"),
    );
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("data/postgresql.conf"))
        .map_err(|e| e.to_string())?;
    file.write_all(conf.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("data/pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .map_err(|e| e.to_string())?;
    run(
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data,
            "-l",
            &cluster.path("log"),
            "-w",
            "-t",
            "30",
            "start",
        ],
    )?;
    Ok(cluster)
}

/// A cluster for one test, stopped and removed when dropped; `None` when
/// skipped.
fn cluster() -> Option<Cluster> {
    match start() {
        Ok(cluster) => Some(cluster),
        Err(reason) if in_ci() => panic!(
            "cannot start a throw-away PostgreSQL with TLS ({reason}); CI is set, so the TLS \
             tests fail instead of skipping"
        ),
        Err(reason) => {
            static SKIPPED: std::sync::Once = std::sync::Once::new();
            SKIPPED.call_once(|| {
                let _ = writeln!(
                    std::io::stderr(),
                    "skipped: cannot start a throw-away PostgreSQL with TLS: {reason}"
                );
            });
            None
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

async fn migrate(url: &str) -> Result<(), PgError> {
    let store = PgStore::connect(url).expect("store");
    let result = store.migrate().await;
    if result.is_ok() {
        store.ping().await.expect("ping over TLS");
    }
    store.pool().close();
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_connects_without_checking_the_certificate() {
    let Some(cluster) = cluster() else { return };
    migrate(&cluster.url("127.0.0.1", "sslmode=require"))
        .await
        .expect("require connects");
    // Any CA will do for require without sslrootcert, even the wrong one
    // named nowhere.
    migrate(&cluster.url("localhost", "sslmode=prefer"))
        .await
        .expect("prefer connects over TLS");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_with_the_right_ca_connects_by_ip_and_by_name() {
    let Some(cluster) = cluster() else { return };
    let ca = cluster.path("ca.pem");
    for host in ["127.0.0.1", "localhost"] {
        migrate(&cluster.url(host, &format!("sslmode=verify-full&sslrootcert={ca}")))
            .await
            .unwrap_or_else(|e| panic!("verify-full to {host}: {}", error_chain(&e)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_with_a_wrong_ca_fails_at_start_saying_the_certificate_is_not_trusted()
{
    let Some(cluster) = cluster() else { return };
    let other = cluster.path("other-ca.pem");
    for mode in ["verify-full", "verify-ca", "require"] {
        let url = cluster.url("127.0.0.1", &format!("sslmode={mode}&sslrootcert={other}"));
        let error = migrate(&url).await.expect_err("an untrusted certificate");
        let text = error_chain(&error);
        assert!(matches!(error, PgError::Certificate(_)), "{mode}: {text}");
        assert!(!error.is_retryable(), "{mode}: {text}");
        assert!(text.contains("not trusted"), "{mode}: {text}");
        assert!(text.contains("UnknownIssuer"), "{mode}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_accepts_a_host_name_the_certificate_does_not_name_and_verify_full_refuses_it() {
    let Some(cluster) = cluster() else { return };
    let ca = cluster.path("ca.pem");
    // Connect to 127.0.0.1, but check the certificate for another name.
    let url = |mode: &str| {
        format!(
            "host=db.invalid hostaddr=127.0.0.1 port={} user=postgres dbname=postgres \
             sslmode={mode} sslrootcert='{ca}'",
            cluster.port
        )
    };
    migrate(&url("verify-ca"))
        .await
        .unwrap_or_else(|e| panic!("verify-ca: {}", error_chain(&e)));
    let error = migrate(&url("verify-full"))
        .await
        .expect_err("a certificate for other names");
    let text = error_chain(&error);
    assert!(matches!(error, PgError::Certificate(_)), "{text}");
    assert!(text.contains("not valid for name"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_against_a_server_that_accepts_only_tls_fails_clearly() {
    let Some(cluster) = cluster() else { return };
    let error = migrate(&cluster.url("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plain connection refused");
    let text = error_chain(&error);
    assert!(matches!(error, PgError::Pool(_)), "{text}");
    assert!(!error.is_retryable(), "{text}");
    assert!(text.contains("no pg_hba.conf entry"), "{text}");
    assert!(
        text.contains("no encryption") || text.contains("SSL off"),
        "{text}"
    );
}
