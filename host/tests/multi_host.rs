//! Two `efalia-host serve` processes serve the connector component with one configuration and
//! share one real `redis-server`, as replicas behind a load balancer do. Callbacks, saves and
//! uploads reach both at the same moment, and every committed change must appear exactly once in
//! the shared store.
//!
//! Starting a host compiles the component, which takes several seconds in a debug build, so one
//! test starts the two hosts once and runs every scenario on its own documents.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Barrier;
use std::time::Duration;

use serde_json::{Value, json};
use support::component::component_wasm;
use support::connector::{ConnectorClient, DS_SECRET, fixture, host_config, verified_claims};
use support::ds::{self, CallbackOptions, CallbackOutcome, DocumentServer, Fault};
use support::host::{Reply, get};
use support::process::HostProcess;
use support::redis::RedisServer;

const DS_PUBLIC_BASE: &str = "https://ds.example.test";
const EDITOR: &str = "u-101";
const COEDITOR: &str = "u-404";

/// Maximum number of `/health` polls while a host finishes starting.
const HEALTH_POLLS: usize = 200;

/// Delay the Document Server double waits before it serves an edited file. All deliveries of one
/// callback then load the document before any of them stores the download, so they race on the
/// compare-and-swap instead of running one after the other.
const DOWNLOAD_DELAY: Duration = Duration::from_millis(300);

/// One `efalia-host serve` process and a client of the connector it serves.
struct Replica {
    name: &'static str,
    process: HostProcess,
    client: ConnectorClient,
}

/// Two replicas on one Redis server, and the Document Server double both fetch files from.
struct Cluster {
    replicas: [Replica; 2],
    ds: DocumentServer,
    redis: RedisServer,
    _config_dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let redis = RedisServer::start();
        let ds = DocumentServer::start(DS_SECRET, DS_PUBLIC_BASE);
        let internal = ds.internal_base();
        let config = host_config(
            &[
                ("onlyoffice_public_url", DS_PUBLIC_BASE),
                ("onlyoffice_internal_url", internal.as_str()),
            ],
            &["{{ onlyoffice_internal_url }}"],
        );
        let config_dir = tempfile::tempdir().unwrap();
        let config_path = config_dir.path().join("efalia.toml");
        std::fs::write(&config_path, config).unwrap();

        let wasm = component_wasm();
        let redis_url = redis.url();
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(|| start_replica("A", &wasm, &config_path, &redis_url));
            let second = scope.spawn(|| start_replica("B", &wasm, &config_path, &redis_url));
            (first.join().unwrap(), second.join().unwrap())
        });
        Self {
            replicas: [first, second],
            ds,
            redis,
            _config_dir: config_dir,
        }
    }

    fn a(&self) -> &Replica {
        &self.replicas[0]
    }

    fn b(&self) -> &Replica {
        &self.replicas[1]
    }

    /// Returns the replica a load balancer sends request `index` to, alternating between the two.
    fn by_turn(&self, index: usize) -> &Replica {
        &self.replicas[index % 2]
    }
}

fn start_replica(name: &'static str, wasm: &Path, config: &Path, redis_url: &str) -> Replica {
    let args = [
        wasm.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--redis-url",
        redis_url,
    ];
    let process = HostProcess::start(&args, &[]);
    assert!(
        process.address.is_some(),
        "host {name} did not start:\n{}",
        process.log_text()
    );
    let client = ConnectorClient::new(&process.url(""));
    let replica = Replica {
        name,
        process,
        client,
    };
    replica.wait_until_healthy();
    replica
}

impl Replica {
    /// Polls `/health` until it returns 200, at most [`HEALTH_POLLS`] times.
    fn wait_until_healthy(&self) {
        let mut last = None;
        for _ in 0..HEALTH_POLLS {
            let reply = get(&self.client.url("/health"));
            if reply.status == 200 {
                return;
            }
            last = Some(reply);
            std::thread::sleep(Duration::from_millis(50));
        }
        let last = last.expect("at least one poll");
        panic!(
            "host {} is not healthy: {} {}\n{}",
            self.name,
            last.status,
            last.text(),
            self.process.log_text()
        );
    }

    fn metadata(&self, id: &str) -> Value {
        let reply = self
            .client
            .as_user(EDITOR, "GET", &format!("/api/documents/{id}"), None);
        assert_eq!(
            reply.status,
            200,
            "metadata of {id} through host {}: {}",
            self.name,
            reply.text()
        );
        reply.json()
    }

    fn versions(&self, id: &str) -> Vec<Value> {
        let reply = self.client.as_user(
            EDITOR,
            "GET",
            &format!("/api/documents/{id}/versions"),
            None,
        );
        assert_eq!(
            reply.status,
            200,
            "versions of {id} through host {}: {}",
            self.name,
            reply.text()
        );
        reply
            .json()
            .as_array()
            .expect("the version list is an array")
            .clone()
    }

    fn binary(&self, path: &str) -> Vec<u8> {
        let reply = self.client.as_user(EDITOR, "GET", path, None);
        assert_eq!(
            reply.status,
            200,
            "GET {path} through host {}: {}",
            self.name,
            reply.text()
        );
        reply.body
    }

    fn current_binary(&self, id: &str) -> Vec<u8> {
        self.binary(&format!("/api/documents/{id}/binaire"))
    }

    fn key(&self, id: &str) -> String {
        self.metadata(id)["cle_onlyoffice"]
            .as_str()
            .expect("cle_onlyoffice is a string")
            .to_owned()
    }

    fn upload(&self, id: &str, name: &str, bytes: &[u8]) -> Reply {
        self.client.upload(EDITOR, id, name, bytes)
    }

    /// Opens an editing session: `/acces`, then `/token` with its `binaire` URL. Returns the
    /// `binaire` and `callback` URLs and the document key the signed configuration carries.
    fn open_session(&self, id: &str) -> (String, String, String) {
        let (binaire, callback) = self.client.acces(EDITOR, id);
        let config =
            json!({ "document": { "url": binaire }, "editorConfig": { "lang": "fr" } }).to_string();
        let reply = self.client.as_user(
            EDITOR,
            "POST",
            "/api/only-office/token",
            Some(config.as_bytes()),
        );
        assert_eq!(
            reply.status,
            200,
            "token through host {}: {}",
            self.name,
            reply.text()
        );
        let token = reply.json()["token"]
            .as_str()
            .expect("the reply has a token")
            .to_owned();
        let signed = verified_claims(&token, DS_SECRET);
        let key = signed["document"]["key"]
            .as_str()
            .expect("the signed configuration has a key")
            .to_owned();
        (binaire, callback, key)
    }
}

/// Returns the DS's callback settings without retries, so that a 5xx reaches the assertions
/// instead of being hidden by a successful retry.
fn single_attempt() -> CallbackOptions {
    CallbackOptions {
        retries: 0,
        ..CallbackOptions::default()
    }
}

fn assert_acknowledged(outcome: &CallbackOutcome, label: &str) {
    assert_eq!(outcome.attempts.len(), 1, "{label}: {:?}", outcome.attempts);
    let attempt = &outcome.attempts[0];
    assert_eq!(attempt.status, Some(200), "{label}: {}", attempt.body);
    let body: Value = serde_json::from_str(&attempt.body)
        .unwrap_or_else(|err| panic!("{label}: {err}: {}", attempt.body));
    assert_eq!(body, json!({ "error": 0 }), "{label}");
}

/// A request for [`run_at_once`] that returns `T`.
type Task<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// Runs each task on a thread of its own, releases them together with a barrier, and returns
/// their results in the order of `tasks`.
fn run_at_once<T: Send>(tasks: Vec<Task<'_, T>>) -> Vec<T> {
    let barrier = Barrier::new(tasks.len());
    std::thread::scope(|scope| {
        let threads: Vec<_> = tasks
            .into_iter()
            .map(|task| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    task()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| thread.join().unwrap())
            .collect()
    })
}

/// Returns a task that delivers `body` to `callback` through `replica`, in one attempt.
fn delivery<'a>(
    cluster: &'a Cluster,
    replica: &Replica,
    callback: &str,
    body: &'a Value,
) -> Task<'a, CallbackOutcome> {
    let url = replica.client.local(callback);
    Box::new(move || {
        cluster
            .ds
            .send_callback_with(&url, body.clone(), single_attempt())
    })
}

/// Returns a task that uploads `bytes` named `name` as document `id`, as `user`, through `replica`.
fn upload_task<'a>(
    replica: &'a Replica,
    user: &'a str,
    id: &'a str,
    name: &'a str,
    bytes: &'a [u8],
) -> Task<'a, Reply> {
    Box::new(move || replica.client.upload(user, id, name, bytes))
}

/// Delivers `body` to `callback` `count` times at once, alternating between the replicas.
fn deliver_concurrently(
    cluster: &Cluster,
    callback: &str,
    body: &Value,
    count: usize,
) -> Vec<CallbackOutcome> {
    let tasks = (0..count)
        .map(|index| delivery(cluster, cluster.by_turn(index), callback, body))
        .collect();
    run_at_once(tasks)
}

/// Publishes `bytes` on the Document Server double, served after [`DOWNLOAD_DELAY`].
fn publish_slowly(cluster: &Cluster, key: &str, extension: &str, bytes: Vec<u8>) -> String {
    cluster.ds.publish_with(
        key,
        extension,
        bytes,
        Fault::Slow {
            delay: DOWNLOAD_DELAY,
        },
    )
}

/// Returns the hex SHA-256 of `bytes`, as the document API shows it.
fn sha256_hex(bytes: &[u8]) -> String {
    hmac_sha256::Hash::hash(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn version_numbers(versions: &[Value]) -> Vec<u64> {
    versions
        .iter()
        .map(|version| version["numero"].as_u64().expect("numero is a number"))
        .collect()
}

fn kinds(versions: &[Value]) -> Vec<&str> {
    versions
        .iter()
        .map(|version| version["nature"].as_str().expect("nature is a string"))
        .collect()
}

/// Sends the same status 2, then the same status 6, four times at once to both replicas, as a
/// retrying Document Server behind a load balancer does, and checks that each stores one version.
fn repeated_callbacks_store_one_version(cluster: &Cluster, id: &str) {
    let uploaded = cluster
        .a()
        .upload(id, "rapport.docx", &fixture("rapport.docx"));
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());
    let (_, callback, key) = cluster.a().open_session(id);

    let edited = fixture("rapport-modifie.docx");
    let url = publish_slowly(cluster, &key, "docx", edited.clone());
    let mut status2 = ds::status2(&key, &url, EDITOR);
    status2["changesurl"] = Value::String(cluster.ds.publish_changes(&key));
    for (index, outcome) in deliver_concurrently(cluster, &callback, &status2, 4)
        .iter()
        .enumerate()
    {
        assert_acknowledged(outcome, &format!("status 2 delivery {index}"));
    }

    let versions = cluster.b().versions(id);
    assert_eq!(version_numbers(&versions), [1, 2], "one version per save");
    assert_eq!(kinds(&versions), ["upload", "save"]);
    assert_eq!(versions[1]["sha256"], sha256_hex(&edited).as_str());
    assert!(
        versions[1]["modifications"].as_bool().unwrap(),
        "the save keeps its changes archive"
    );
    assert!(
        cluster.a().current_binary(id) == edited,
        "the edited file is current"
    );
    let key_after_save = cluster.b().key(id);
    assert_ne!(key_after_save, key, "the save gives the document a new key");

    let (_, callback, key) = cluster.b().open_session(id);
    assert_eq!(key, key_after_save, "the next session gets the new key");
    let forcesaved = fixture("rapport.docx");
    let url = publish_slowly(cluster, &key, "docx", forcesaved.clone());
    let status6 = ds::status6(&key, &url, EDITOR, 1);
    for (index, outcome) in deliver_concurrently(cluster, &callback, &status6, 4)
        .iter()
        .enumerate()
    {
        assert_acknowledged(outcome, &format!("status 6 delivery {index}"));
    }

    let versions = cluster.a().versions(id);
    assert_eq!(
        version_numbers(&versions),
        [1, 2, 3],
        "one version per forcesave"
    );
    assert_eq!(kinds(&versions), ["upload", "save", "force_save"]);
    assert_eq!(versions[2]["sha256"], sha256_hex(&forcesaved).as_str());
    assert!(
        cluster.b().current_binary(id) == forcesaved,
        "the forcesaved file is current"
    );
    assert_eq!(cluster.a().key(id), key, "a forcesave keeps the key");
}

/// A document for the concurrent saves: its fixture, and the file the Document Server saves.
struct SavedDocument {
    id: String,
    name: &'static str,
    extension: &'static str,
    edited: Vec<u8>,
}

/// Saves eight documents at once, each through both replicas, while their owner changes their
/// rights, and checks that every save and every rights change is stored.
fn concurrent_saves_all_land(cluster: &Cluster) {
    const FILES: [(&str, &str, &str); 4] = [
        ("rapport.docx", "docx", "rapport-modifie.docx"),
        ("tableau.xlsx", "xlsx", "tableau.xlsx"),
        ("presentation.pptx", "pptx", "presentation.pptx"),
        ("rapport.odt", "odt", "rapport.odt"),
    ];
    let documents: Vec<SavedDocument> = (0..8)
        .map(|index| {
            let (name, extension, edited) = FILES[index % FILES.len()];
            SavedDocument {
                id: format!("5b1e0c2a-0000-4000-8000-{index:012}"),
                name,
                extension,
                edited: fixture(edited),
            }
        })
        .collect();

    let mut sessions = Vec::new();
    for (index, document) in documents.iter().enumerate() {
        let replica = cluster.by_turn(index);
        let uploaded = replica.upload(&document.id, document.name, &fixture(document.name));
        assert_eq!(
            uploaded.status,
            201,
            "{} through host {}: {}",
            document.id,
            replica.name,
            uploaded.text()
        );
        let (_, callback, key) = replica.open_session(&document.id);
        let url = publish_slowly(cluster, &key, document.extension, document.edited.clone());
        let mut body = ds::status2(&key, &url, EDITOR);
        body["changesurl"] = Value::String(cluster.ds.publish_changes(&key));
        sessions.push((callback, key, body));
    }

    // Each document gets one delivery per replica and one rights change, all released at once.
    let rights = json!({ "lecture": [], "ecriture": [COEDITOR] }).to_string();
    let mut deliveries = Vec::new();
    let mut rights_changes: Vec<Task<'_, Reply>> = Vec::new();
    for (index, (document, (callback, _, body))) in documents.iter().zip(&sessions).enumerate() {
        for replica in &cluster.replicas {
            deliveries.push((
                document.id.as_str(),
                replica.name,
                delivery(cluster, replica, callback, body),
            ));
        }
        let replica = cluster.by_turn(index + 1);
        let path = format!("/api/documents/{}/habilitations", document.id);
        let rights = rights.as_bytes();
        rights_changes.push(Box::new(move || {
            replica.client.as_user(EDITOR, "PUT", &path, Some(rights))
        }));
    }
    let labels: Vec<String> = deliveries
        .iter()
        .map(|(id, host, _)| format!("status 2 of {id} through host {host}"))
        .collect();
    let mut tasks: Vec<Task<'_, Result<CallbackOutcome, Reply>>> = Vec::new();
    for (_, _, task) in deliveries {
        tasks.push(Box::new(move || Ok(task())));
    }
    for task in rights_changes {
        tasks.push(Box::new(move || Err(task())));
    }
    let results = run_at_once(tasks);

    let (outcomes, replies): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    for (outcome, label) in outcomes.into_iter().zip(&labels) {
        assert_acknowledged(&outcome.unwrap(), label);
    }
    for (reply, document) in replies.into_iter().zip(&documents) {
        let reply = reply.unwrap_err();
        assert_eq!(
            reply.status,
            200,
            "rights of {}: {}",
            document.id,
            reply.text()
        );
    }

    for (document, (_, key, _)) in documents.iter().zip(&sessions) {
        let versions = cluster.a().versions(&document.id);
        assert_eq!(
            version_numbers(&versions),
            [1, 2],
            "versions of {}",
            document.id
        );
        assert_eq!(
            kinds(&versions),
            ["upload", "save"],
            "versions of {}",
            document.id
        );
        assert_eq!(
            versions[1]["sha256"],
            sha256_hex(&document.edited).as_str(),
            "saved file of {}",
            document.id
        );

        let metadata = cluster.b().metadata(&document.id);
        assert_eq!(metadata["proprietaire"], EDITOR, "owner of {}", document.id);
        assert_eq!(metadata["nom"], document.name, "name of {}", document.id);
        assert_eq!(metadata["version"], 2, "current version of {}", document.id);
        assert_eq!(
            metadata["habilitations"]["ecriture"],
            json!([COEDITOR]),
            "rights of {}",
            document.id
        );
        assert_ne!(
            metadata["cle_onlyoffice"],
            key.as_str(),
            "key of {}",
            document.id
        );
        assert!(
            cluster.b().current_binary(&document.id) == document.edited,
            "current binary of {}",
            document.id
        );
    }
}

/// Uploads four files as the same document at once, two through each replica, and checks that
/// each 2xx response matches exactly one version.
fn concurrent_uploads_keep_each_version(cluster: &Cluster, id: &str, create: bool) {
    let uploads = [
        ("rapport.docx", fixture("rapport.docx")),
        ("rapport-modifie.docx", fixture("rapport-modifie.docx")),
        ("tableau.xlsx", fixture("tableau.xlsx")),
        ("presentation.pptx", fixture("presentation.pptx")),
    ];
    let mut versions_before = 0;
    if !create {
        let first = cluster
            .a()
            .upload(id, "rapport.odt", &fixture("rapport.odt"));
        assert_eq!(first.status, 201, "{}", first.text());
        versions_before = 1;
    }

    let tasks = uploads
        .iter()
        .enumerate()
        .map(|(index, (name, bytes))| upload_task(cluster.by_turn(index), EDITOR, id, name, bytes))
        .collect();
    let replies = run_at_once(tasks);

    for ((name, _), reply) in uploads.iter().zip(&replies) {
        assert!(
            matches!(reply.status, 200 | 201),
            "upload of {name}: {} {}",
            reply.status,
            reply.text()
        );
    }
    let created = replies.iter().filter(|reply| reply.status == 201).count();
    assert_eq!(
        created,
        usize::from(create),
        "201 responses: one only when the uploads create the document"
    );

    let versions = cluster.b().versions(id);
    let expected: Vec<u64> = (1..=(versions_before + uploads.len()) as u64).collect();
    assert_eq!(
        version_numbers(&versions),
        expected,
        "one version per 2xx response, numbers not reused"
    );
    let reported: BTreeSet<u64> = replies
        .iter()
        .map(|reply| reply.json()["version"].as_u64().unwrap())
        .collect();
    assert_eq!(
        reported.len(),
        uploads.len(),
        "each response reports its own version"
    );

    // Each response describes the version it stored, so that version contains the uploaded file.
    for ((name, bytes), reply) in uploads.iter().zip(&replies) {
        let response = reply.json();
        let number = response["version"].as_u64().unwrap();
        let stored = &versions[number as usize - 1];
        assert_eq!(stored["nom"], *name, "version {number}");
        assert_eq!(
            stored["sha256"],
            sha256_hex(bytes).as_str(),
            "version {number}"
        );
        assert_eq!(
            response["sha256"],
            sha256_hex(bytes).as_str(),
            "response to the upload of {name}"
        );
    }

    let metadata = cluster.a().metadata(id);
    let last = versions.last().unwrap();
    assert_eq!(
        metadata["version"], last["numero"],
        "the last version is current"
    );
    let current = cluster.a().current_binary(id);
    let uploaded = uploads
        .iter()
        .find(|(name, _)| last["nom"] == *name)
        .expect("the last version is an upload");
    assert!(
        current == uploaded.1,
        "the current binary is {} byte for byte",
        uploaded.0
    );
}

/// Creates the same document as two users at once, one through each replica. The first creation
/// wins, and the other user, who has no right on the winner's document, gets 403.
fn concurrent_creations_by_two_users(cluster: &Cluster, id: &str) {
    let uploads = [
        (EDITOR, "rapport.docx", fixture("rapport.docx")),
        (COEDITOR, "tableau.xlsx", fixture("tableau.xlsx")),
    ];
    let tasks = uploads
        .iter()
        .enumerate()
        .map(|(index, (user, name, bytes))| {
            upload_task(cluster.by_turn(index), user, id, name, bytes)
        })
        .collect();
    let replies = run_at_once(tasks);

    let statuses: BTreeSet<u16> = replies.iter().map(|reply| reply.status).collect();
    assert_eq!(
        statuses,
        BTreeSet::from([201, 403]),
        "{:?}",
        replies.iter().map(Reply::text).collect::<Vec<_>>()
    );
    let winner = replies
        .iter()
        .position(|reply| reply.status == 201)
        .unwrap();
    let (owner, name, bytes) = &uploads[winner];

    let metadata = cluster
        .a()
        .client
        .as_user(owner, "GET", &format!("/api/documents/{id}"), None)
        .json();
    assert_eq!(metadata["proprietaire"], *owner);
    assert_eq!(metadata["nom"], *name);
    assert_eq!(
        metadata["version"], 1,
        "the rejected upload stored no version"
    );
    let current =
        cluster
            .b()
            .client
            .as_user(owner, "GET", &format!("/api/documents/{id}/binaire"), None);
    assert!(current.body == *bytes, "the winner's file is current");
}

/// Opens a session on `opener`, lets the Document Server download the file through `saver` and
/// save `edited` through `saver`, and returns the session's key. `expected` is the file the
/// session starts from.
fn save_through_other_host(
    cluster: &Cluster,
    opener: &Replica,
    saver: &Replica,
    id: &str,
    expected: &[u8],
    edited: Vec<u8>,
) -> String {
    let label = format!(
        "session opened on host {} and saved through host {}",
        opener.name, saver.name
    );
    let (binaire, callback, key) = opener.open_session(id);
    assert_eq!(key, saver.key(id), "{label}: both hosts read the same key");
    let download = saver.client.ds_download(&binaire);
    assert_eq!(download.status, 200, "{label}: {}", download.text());
    assert!(
        download.body == expected,
        "{label}: the download is the current file"
    );

    let url = cluster.ds.publish(&key, "docx", edited.clone());
    let outcome = cluster.ds.send_callback_with(
        &saver.client.local(&callback),
        ds::status2(&key, &url, EDITOR),
        single_attempt(),
    );
    assert_acknowledged(&outcome, &label);
    assert!(
        opener.current_binary(id) == edited,
        "{label}: the edited file is current"
    );
    key
}

/// Saves a session opened on replica A through replica B, then one opened on B through A, and
/// checks that both hosts give each next session the same new key.
fn session_moves_between_hosts(cluster: &Cluster, id: &str) {
    let original = fixture("rapport.docx");
    let edited = fixture("rapport-modifie.docx");
    let uploaded = cluster.a().upload(id, "rapport.docx", &original);
    assert_eq!(uploaded.status, 201, "{}", uploaded.text());

    let first_key = save_through_other_host(
        cluster,
        cluster.a(),
        cluster.b(),
        id,
        &original,
        edited.clone(),
    );
    let (_, _, key_on_a) = cluster.a().open_session(id);
    let (_, callback, key_on_b) = cluster.b().open_session(id);
    assert_ne!(key_on_a, first_key, "the save changed the key");
    assert_eq!(
        key_on_a, key_on_b,
        "both hosts give the next session the same key"
    );

    let second_key = save_through_other_host(
        cluster,
        cluster.b(),
        cluster.a(),
        id,
        &edited,
        original.clone(),
    );
    assert_eq!(
        second_key, key_on_b,
        "the second session kept the key both hosts gave it"
    );
    let (_, _, third_on_a) = cluster.a().open_session(id);
    let (_, _, third_on_b) = cluster.b().open_session(id);
    assert_ne!(third_on_a, second_key, "the second save changed the key");
    assert_eq!(
        third_on_a, third_on_b,
        "both hosts give the third session the same key"
    );
    assert_eq!(kinds(&cluster.b().versions(id)), ["upload", "save", "save"]);

    let stale = ds::status2(
        &first_key,
        &cluster.ds.publish(&first_key, "docx", edited),
        EDITOR,
    );
    let outcome = cluster.ds.send_callback_with(
        &cluster.a().client.local(&callback),
        stale,
        single_attempt(),
    );
    assert_acknowledged(&outcome, "late repeat of the first save");
    assert_eq!(
        cluster.b().versions(id).len(),
        3,
        "a repeat of an old save stores nothing"
    );
}

/// Reads every document through both hosts and compares metadata, version lists and bytes.
fn hosts_read_the_same_state(cluster: &Cluster, ids: &[String]) {
    for id in ids {
        let metadata = cluster.a().metadata(id);
        assert_eq!(metadata, cluster.b().metadata(id), "metadata of {id}");
        let versions = cluster.a().versions(id);
        assert_eq!(versions, cluster.b().versions(id), "versions of {id}");
        assert!(
            cluster.a().current_binary(id) == cluster.b().current_binary(id),
            "current binary of {id}"
        );
        for version in &versions {
            let number = version["numero"].as_u64().unwrap();
            let path = format!("/api/documents/{id}/versions/{number}/binaire");
            let bytes = cluster.a().binary(&path);
            assert_eq!(
                sha256_hex(&bytes),
                version["sha256"].as_str().unwrap(),
                "version {number} of {id}"
            );
            assert!(
                bytes == cluster.b().binary(&path),
                "version {number} of {id} through both hosts"
            );
        }
    }
}

#[test]
fn two_hosts_share_one_redis() {
    let cluster = Cluster::start();
    for replica in &cluster.replicas {
        let log = replica.process.log_text();
        let serving = log
            .lines()
            .find(|line| line.contains("serving"))
            .unwrap_or_default();
        assert!(
            serving.contains(&format!("redis://127.0.0.1:{}", cluster.redis.port())),
            "host {}: {serving}",
            replica.name
        );
    }

    let repeated = "5b1e0c2a-0001-4000-8000-000000000001".to_owned();
    let created = "5b1e0c2a-0002-4000-8000-000000000002".to_owned();
    let replaced = "5b1e0c2a-0003-4000-8000-000000000003".to_owned();
    let moved = "5b1e0c2a-0004-4000-8000-000000000004".to_owned();

    repeated_callbacks_store_one_version(&cluster, &repeated);
    concurrent_saves_all_land(&cluster);
    concurrent_uploads_keep_each_version(&cluster, &created, true);
    concurrent_uploads_keep_each_version(&cluster, &replaced, false);
    concurrent_creations_by_two_users(&cluster, "5b1e0c2a-0005-4000-8000-000000000005");
    session_moves_between_hosts(&cluster, &moved);

    let mut ids = vec![repeated, created, replaced, moved];
    ids.extend((0..8).map(|index| format!("5b1e0c2a-0000-4000-8000-{index:012}")));
    hosts_read_the_same_state(&cluster, &ids);

    for replica in &cluster.replicas {
        let log = replica.process.log_text();
        assert!(
            !log.contains(" ERROR "),
            "host {} logged an error:\n{log}",
            replica.name
        );
    }
}
