//! The binary on its default store, an SQLite file, and on PostgreSQL:
//! what it answered survives a stop (SIGTERM) and a crash (SIGKILL) when
//! it is started again on the same file or schema.
//!
//! The PostgreSQL test skips (with a line saying so) without the test
//! database; with `CI` set it fails instead.
// Test support: failing loudly is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;

use common::*;

/// How long the create load runs before the server is killed.
const LOAD: Duration = Duration::from_secs(2);
/// Client tasks creating at once during the load.
const CLIENTS: usize = 4;

/// A store a test starts the server on, again and again.
enum Store {
    /// A file in a temporary directory (removed on drop).
    Sqlite { _dir: TempDir, url: String },
    /// A fresh schema of the test database, dropped by [`Store::finish`].
    Postgres {
        url: String,
        schema: String,
        admin: invitation_postgres::PgStore,
    },
}

impl Store {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("invitations.db").display());
        Self::Sqlite { _dir: dir, url }
    }

    async fn postgres() -> Option<Self> {
        let (url, admin) = test_database().await?;
        let schema = format!("inv_crash_{}", uuid::Uuid::new_v4().simple());
        Some(Self::Postgres { url, schema, admin })
    }

    /// The server on a free port with this directory file, on this store.
    fn start(&self, file: &TempFile) -> Running {
        let directory = file.0.to_str().unwrap();
        match self {
            Self::Sqlite { url, .. } => Running::start(
                &[
                    "--listen",
                    "127.0.0.1:0",
                    "--directory",
                    directory,
                    "--database-url",
                    url,
                ],
                &[],
            ),
            Self::Postgres { url, schema, .. } => Running::start(
                &database_args(file, schema, &[]),
                &[("INVITATION_DATABASE_URL", url.as_str())],
            ),
        }
    }

    async fn finish(self) {
        if let Self::Postgres { schema, admin, .. } = self {
            drop_schema(&admin, &schema).await;
        }
    }
}

/// Every invitation the server lists, as it lists them (all pages).
async fn list_all(url: &str) -> Vec<Value> {
    let mut all = Vec::new();
    for page in 1.. {
        let path = format!("{INVITATIONS}?page={page}&page_size=100&ordering=name");
        let (status, text) = call(url, reqwest::Method::GET, &path, TOKEN, None).await;
        assert_eq!(status, 200, "{text}");
        let answer = json_of(&text);
        let results = answer["results"].as_array().unwrap().clone();
        let count = answer["pagination"]["count"].as_u64().unwrap();
        let done = results.is_empty();
        all.extend(results);
        if done || all.len() as u64 >= count {
            break;
        }
    }
    all
}

/// The `ETag` (the version) of the invitation `pk`.
async fn etag(url: &str, pk: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{url}{INVITATIONS}{pk}/"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["etag"].to_str().unwrap().to_owned()
}

/// `PATCH` of the invitation `pk` under `If-Match: if_match`: the status
/// and the new `ETag`, if any.
async fn patch(url: &str, pk: &str, if_match: &str, body: Value) -> (u16, Option<String>) {
    let response = reqwest::Client::new()
        .patch(format!("{url}{INVITATIONS}{pk}/"))
        .bearer_auth(TOKEN)
        .header("If-Match", if_match)
        .json(&body)
        .send()
        .await
        .unwrap();
    let etag = response
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), etag)
}

async fn create(url: &str, body: Value) -> String {
    let (status, text) = call(url, reqwest::Method::POST, INVITATIONS, TOKEN, Some(body)).await;
    assert_eq!(status, 201, "{text}");
    json_of(&text)["pk"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn without_a_store_flag_the_server_keeps_invitations_in_invitations_db_of_its_working_directory(
) {
    let dir = tempfile::tempdir().unwrap();
    let file = TempFile::new(DIRECTORY);
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--directory",
        file.0.to_str().unwrap(),
    ];
    let start = || {
        let mut command = bare_command(&args, &[("RUST_LOG", "info")]);
        command.current_dir(dir.path());
        Running::spawn(command)
    };
    let server = start();
    let pk = create(&server.url, json!({"name": "in-the-default-file"})).await;
    let (exit, log) = server.stop_reading_stderr("TERM");
    assert_eq!(exit.code(), Some(0), "{log}");
    let path = dir.path().join("invitations.db");
    assert!(path.is_file(), "no {}", path.display());
    let ready = log
        .lines()
        .find(|l| l.contains("SQLite storage ready"))
        .unwrap_or_else(|| panic!("no start-up line naming the store: {log}"));
    assert!(
        ready.contains(&path.display().to_string()),
        "{ready} does not name {}",
        path.display()
    );

    let server = start();
    let listed = list_all(&server.url).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["pk"], pk.as_str());
    assert_eq!(server.stop("TERM").code(), Some(0));
}

#[tokio::test]
async fn a_restart_on_the_same_sqlite_file_keeps_every_invitation_with_its_version() {
    let store = Store::sqlite();
    let file = TempFile::new(DIRECTORY);
    let server = store.start(&file);
    let url = server.url.clone();
    let pks = [
        create(&url, json!({"name": "plain"})).await,
        create(
            &url,
            json!({
                "name": "single-use-bound",
                "flow": FLOW,
                "single_use": true,
                "expires": "2999-01-02T03:04:05.678901Z",
                "fixed_data": {"email": "bob@example.org", "groups": ["a", "b"]},
            }),
        )
        .await,
        create(&url, json!({"name": "to-be-renamed"})).await,
    ];
    let (status, renamed) = patch(&url, &pks[2], "*", json!({"name": "renamed"})).await;
    assert_eq!(status, 200);
    let renamed = renamed.unwrap();
    let before = list_all(&url).await;
    let mut etags = Vec::new();
    for pk in &pks {
        etags.push(etag(&url, pk).await);
    }
    assert_eq!(etags[2], renamed);
    assert_ne!(etags[2], etags[0], "an update gives a new version");
    assert_eq!(server.stop("TERM").code(), Some(0));

    let server = store.start(&file);
    let url = server.url.clone();
    assert_eq!(list_all(&url).await, before);
    for (pk, before) in pks.iter().zip(&etags) {
        assert_eq!(&etag(&url, pk).await, before, "{pk}");
    }
    // The versions carry on: the one before the update is stale, the
    // current one writes.
    let (status, _) = patch(&url, &pks[2], &etags[0], json!({"name": "stale"})).await;
    assert_eq!(status, 412);
    let (status, after) = patch(&url, &pks[2], &renamed, json!({"name": "again"})).await;
    assert_eq!(status, 200);
    assert_ne!(after.unwrap(), renamed);
    assert_eq!(server.stop("TERM").code(), Some(0));
    store.finish().await;
}

/// Creates from [`CLIENTS`] tasks for [`LOAD`], kills the server with
/// SIGKILL while they still send, starts it again on the same store and
/// checks that every create answered 201 is listed.
async fn a_crash_loses_no_acknowledged_create(store: Store) {
    let file = TempFile::new(DIRECTORY);
    let server = store.start(&file);
    let killed = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let url = format!("{}{INVITATIONS}", server.url);
            let killed = killed.clone();
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut acknowledged = Vec::new();
                for n in 0.. {
                    let answer = http
                        .post(&url)
                        .bearer_auth(TOKEN)
                        .json(&json!({"name": format!("load-{client}-{n}")}))
                        .send()
                        .await;
                    let response = match answer {
                        Ok(response) => response,
                        // Refused or cut off: the server is gone.
                        Err(_) if killed.load(Ordering::SeqCst) => break,
                        Err(e) => panic!("create {n} of client {client}: {e}"),
                    };
                    let status = response.status().as_u16();
                    let Ok(text) = response.text().await else {
                        assert!(killed.load(Ordering::SeqCst), "an answer cut off");
                        break;
                    };
                    assert_eq!(status, 201, "{text}");
                    acknowledged.push(json_of(&text)["pk"].as_str().unwrap().to_owned());
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(LOAD).await;
    killed.store(true, Ordering::SeqCst);
    let exit = server.stop("KILL");
    assert_eq!(exit.code(), None, "killed by the signal: {exit:?}");
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert!(
        acknowledged.len() >= 2 * CLIENTS,
        "only {} creates answered before the kill",
        acknowledged.len()
    );

    let server = store.start(&file);
    let listed: HashSet<String> = list_all(&server.url)
        .await
        .iter()
        .map(|i| i["pk"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|pk| !listed.contains(*pk))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged creates lost, among them {:?}",
        lost.len(),
        acknowledged.len(),
        &lost[..lost.len().min(5)]
    );
    assert_eq!(server.stop("TERM").code(), Some(0));
    store.finish().await;
}

#[tokio::test]
async fn a_crash_of_the_server_on_sqlite_loses_no_acknowledged_create() {
    a_crash_loses_no_acknowledged_create(Store::sqlite()).await;
}

#[tokio::test]
async fn a_crash_of_the_server_on_postgresql_loses_no_acknowledged_create() {
    let Some(store) = Store::postgres().await else {
        return;
    };
    a_crash_loses_no_acknowledged_create(store).await;
}
