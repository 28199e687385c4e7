//! The `url` of a save callback as a server-side request forgery vector.
//!
//! Every row is a status 2 callback for the current key, correctly signed by the Document
//! Server double in body and header, whose `url` points somewhere else than the double's cache.
//! Other places are a second server on 127.0.0.1 that records every connection (and would
//! respond with a real docx, so a wrong fetch could also store it), or addresses where nothing
//! is contacted. The host's outbound allow-list is opened to every port of 127.0.0.1 and
//! localhost, so the connector's own origin check is the only wall between a callback and the
//! recording server. 169.254.169.254 stays outside the allow-list, so no request leaves the
//! machine even if the check failed.
//!
//! Each row checks the status, the code, that neither server saw a request it should not have
//! seen, that nothing was stored, and that the host still answers `/health`.

mod support;

use serde_json::{Value, json};
use support::attack::{OpenConnector, Recorder, document_state, health_problem, short};
use support::connector::{DS_SECRET, PUBLIC_BASE, fixture, user_token};
use support::ds::{self, CallbackOptions, DocumentServer, Fault};
use support::host::{Reply, Setup, send};

const DOC: &str = "3e8b1c7a-9d2f-4a6e-b5c4-7f8e9d0a1b2c";
const EDITOR: &str = "u-101";

/// What a callback with a given `url` must lead to.
#[derive(Clone, Debug)]
enum Outcome {
    /// 403 `non_habilite` before any request.
    Refused,
    /// 415: the callback is invalid (a URL over 4096 characters) and nothing is requested.
    Unsupported,
    /// The URL names the Document Server's origin in another spelling: the connector fetches
    /// this path from the double's internal origin, gets a 404, and responds 500
    /// `ecriture_sur_disque_impossible`.
    FetchedFromDs(String),
}

/// A connector with one docx document, the Document Server double, the recording server and
/// the editor's callback URL.
struct Bench {
    ds: DocumentServer,
    recorder: Recorder,
    connector: OpenConnector,
    callback: String,
    key: String,
}

impl Bench {
    fn open() -> Bench {
        let ds = DocumentServer::start(DS_SECRET, "https://ds.example.test");
        let recorder = Recorder::start();
        let internal = ds.internal_base();
        let connector = OpenConnector::start(
            &[("onlyoffice_internal_url", internal.as_str())],
            &["*://127.0.0.1:*", "*://localhost:*"],
            Setup::default(),
        );
        let authorization = format!("Bearer {}", user_token(EDITOR, json!({})));
        let headers = [("authorization", authorization.as_str())];
        let upload_url = connector.host.url(&format!("/api/documents/{DOC}/binaire?nom=rapport.docx"));
        let uploaded = send("PUT", &upload_url, &headers, Some(&fixture("rapport.docx")));
        assert_eq!(uploaded.status, 201, "{}", uploaded.text());
        let acces = send("GET", &connector.host.url(&format!("/api/only-office/{DOC}/acces")), &headers, None);
        assert_eq!(acces.status, 200, "{}", acces.text());
        let public_callback = acces.json()["callback"].as_str().unwrap().to_owned();
        let callback = connector.host.url(public_callback.strip_prefix(PUBLIC_BASE).unwrap());
        let state = document_state(&connector.host, EDITOR, DOC).unwrap();
        let key = state.0["cle_onlyoffice"].as_str().unwrap().to_owned();
        Bench { ds, recorder, connector, callback, key }
    }

    /// Sends one status 2 callback of a docx file at `url`, once, as the double signs it.
    fn save_from(&self, url: &str) -> Reply {
        let mut body = ds::status2(&self.key, url, EDITOR);
        body["filetype"] = json!("docx");
        self.save(body)
    }

    fn save(&self, body: Value) -> Reply {
        // A header token carrying a 10 000-character URL is larger than the test host's 16 KiB
        // header limit and would get 431 before the connector runs. Such callbacks carry the
        // body token only, which the connector reads first anyway.
        let header_token = body.to_string().len() < 8000;
        let options = CallbackOptions { retries: 0, header_token, ..CallbackOptions::default() };
        let outcome = self.ds.send_callback_with(&self.callback, body, options);
        let attempt = outcome.attempts.last().unwrap();
        Reply { status: attempt.status.unwrap_or(0), headers: Vec::new(), body: attempt.body.clone().into_bytes() }
    }

    fn state(&self) -> Option<(Value, Value)> {
        document_state(&self.connector.host, EDITOR, DOC)
    }

    /// Sends each row and checks it, then panics listing every failed check.
    fn run(&self, rows: Vec<(String, String, Outcome)>) {
        let mut failures = Vec::new();
        let count = rows.len();
        let mut state = self.state();
        let mut recorded_before = self.recorder.received().len();
        for (label, url, outcome) in rows {
            self.ds.clear_requests();
            let reply = self.save_from(&url);
            let (status, code) = match &outcome {
                Outcome::Refused => (403, Some("non_habilite")),
                Outcome::Unsupported => (415, None),
                Outcome::FetchedFromDs(_) => (500, Some("ecriture_sur_disque_impossible")),
            };
            if reply.status != status {
                failures.push(format!("{label}: status {} instead of {status}: {}", reply.status, short(&reply.text())));
            } else {
                let body: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
                if body.get("code").and_then(Value::as_str) != code {
                    failures.push(format!("{label}: code {:?} instead of {code:?}", body.get("code")));
                }
            }

            let seen: Vec<String> = self.ds.requests().iter().map(|request| request.path.clone()).collect();
            match &outcome {
                Outcome::FetchedFromDs(path) if seen != [path.clone()] => {
                    failures.push(format!("{label}: the DS double saw {seen:?} instead of one GET {}", short(path)));
                }
                Outcome::Refused | Outcome::Unsupported if !seen.is_empty() => {
                    failures.push(format!("{label}: the DS double was requested: {seen:?}"));
                }
                _ => {}
            }
            let recorded = self.recorder.received();
            if recorded.len() != recorded_before {
                let new: Vec<String> = recorded[recorded_before..].iter().map(|text| short(text)).collect();
                failures.push(format!("{label}: the recording server was reached: {new:?}"));
                recorded_before = recorded.len();
            }
            let new_state = self.state();
            if new_state != state {
                failures.push(format!("{label}: stored metadata or versions changed"));
                state = new_state;
            }
            if let Some(problem) = health_problem(&self.connector.host) {
                failures.push(format!("{label}: {problem}"));
            }
        }
        assert!(failures.is_empty(), "{} failed check(s) over {count} rows:\n{}", failures.len(), failures.join("\n"));
    }
}

fn refused(label: &str, url: String) -> (String, String, Outcome) {
    (label.to_owned(), url, Outcome::Refused)
}

#[test]
fn foreign_callback_urls_are_refused() {
    let bench = Bench::open();
    let port = bench.recorder.port();
    let ds_port = bench.ds.internal_base().rsplit(':').next().unwrap().to_owned();
    let file = "/cache/files/data/k_1/output.docx/output.docx?md5=abc&expires=9999999999&filename=output.docx";
    let published = bench.ds.publish(&bench.key, "docx", fixture("rapport-modifie.docx"));
    let published_rest = published.strip_prefix("https://ds.example.test").unwrap().to_owned();

    let rows = vec![
        refused("other host", format!("https://evil.example.test{file}")),
        refused("recording server", format!("{}{file}", bench.recorder.base())),
        refused("DS host as a prefix", format!("https://ds.example.test.evil.test{file}")),
        refused("DS host as a suffix", format!("https://evil-ds.example.test{file}")),
        refused("DS host glued to a prefix", format!("https://xds.example.test{file}")),
        refused("parent domain of the DS", format!("https://example.test{file}")),
        refused("subdomain of the DS", format!("https://cache.ds.example.test{file}")),
        refused("DS host with a trailing dot", format!("https://ds.example.test.{file}")),
        refused("DS host as user info", format!("https://ds.example.test@127.0.0.1:{port}{file}")),
        refused("DS host and port as user info", format!("https://ds.example.test:443@127.0.0.1:{port}{file}")),
        refused("user info before the DS host", format!("https://evil@ds.example.test{file}")),
        refused("user and password before the DS host", format!("https://user:password@ds.example.test{file}")),
        refused("user info before the internal origin", format!("http://user@127.0.0.1:{ds_port}{file}")),
        refused("percent-encoded at sign after the DS host", format!("https://ds.example.test%40127.0.0.1:{port}{file}")),
        refused("fragment hiding another host", format!("https://ds.example.test/cache/x#@127.0.0.1:{port}/")),
        refused("decimal IPv4 literal", format!("http://2130706433:{port}/")),
        refused("octal IPv4 literal", format!("http://0177.0.0.1:{port}/")),
        refused("hexadecimal IPv4 literal", format!("http://0x7f000001:{port}/")),
        refused("shortened IPv4 literal", format!("http://127.1:{port}/")),
        refused("IPv4-mapped IPv6 literal", format!("http://[::ffff:127.0.0.1]:{port}/")),
        refused("IPv6 loopback", format!("http://[::1]:{port}/")),
        refused("localhost", format!("http://localhost:{port}{file}")),
        refused("127.0.0.1", format!("http://127.0.0.1:{port}{file}")),
        refused("0.0.0.0", format!("http://0.0.0.0:{port}{file}")),
        refused("link-local metadata address", "http://169.254.169.254/latest/meta-data/iam/security-credentials/".to_owned()),
        refused("DS over http instead of https", format!("http://ds.example.test{published_rest}")),
        refused("DS on another port", format!("https://ds.example.test:8443{published_rest}")),
        refused("internal origin over https", format!("https://127.0.0.1:{ds_port}{published_rest}")),
        refused("internal host on the recording port", format!("http://127.0.0.1:{port}{published_rest}")),
        refused("percent-encoded DS host over http", "http://%64s.example.test/cache/files/x".to_owned()),
        refused("percent-encoded foreign host", format!("https://%65vil.example.test{file}")),
        refused("percent-encoded loopback", format!("http://%31%32%37.0.0.1:{port}/")),
        refused("non-ASCII look-alike of the DS host (s with acute)", format!("https://dś.example.test{file}")),
        refused("non-ASCII look-alike of the DS host (a with diaeresis)", format!("https://ds.exämple.test{file}")),
        refused("4 000-character URL on the recording server", format!("{}/{}", bench.recorder.base(), "a".repeat(4000))),
        refused("file scheme", "file:///etc/passwd".to_owned()),
        refused("ftp scheme on the DS host", format!("ftp://ds.example.test{file}")),
        refused("gopher scheme on the recording server", format!("gopher://127.0.0.1:{port}/_GET%20/")),
        refused("relative URL", file.to_owned()),
        refused("scheme-relative URL", format!("//127.0.0.1:{port}{file}")),
        ("10 000-character URL on the DS host".to_owned(), format!("https://ds.example.test/cache/{}", "a".repeat(10_000)), Outcome::Unsupported),
        ("10 000-character URL on the recording server".to_owned(), format!("{}/{}", bench.recorder.base(), "a".repeat(10_000)), Outcome::Unsupported),
    ];
    bench.run(rows);
}

#[test]
fn ds_origin_spellings_stay_on_ds() {
    let bench = Bench::open();
    let port = bench.recorder.port();
    let missing = "/cache/files/data/none/output.docx";
    let rows = vec![
        ("percent-encoded DS host".to_owned(), format!("https://%64s.example.test{missing}"), Outcome::FetchedFromDs(missing.to_owned())),
        ("DS host in capitals".to_owned(), format!("https://DS.EXAMPLE.TEST{missing}"), Outcome::FetchedFromDs(missing.to_owned())),
        ("explicit default port".to_owned(), format!("https://ds.example.test:443{missing}"), Outcome::FetchedFromDs(missing.to_owned())),
        ("tab inside the DS host".to_owned(), format!("https://ds.exam\tple.test{missing}"), Outcome::FetchedFromDs(missing.to_owned())),
        (
            "backslash before a user-info-like path".to_owned(),
            format!("https://ds.example.test\\@127.0.0.1:{port}/x"),
            Outcome::FetchedFromDs(format!("/@127.0.0.1:{port}/x")),
        ),
        ("dot segments climbing out of the cache".to_owned(), "https://ds.example.test/cache/../../admin".to_owned(), Outcome::FetchedFromDs("/admin".to_owned())),
        (
            "4 000-character path on the DS host".to_owned(),
            format!("https://ds.example.test/cache/{}", "a".repeat(4000)),
            Outcome::FetchedFromDs(format!("/cache/{}", "a".repeat(4000))),
        ),
    ];
    bench.run(rows);
}

#[test]
fn redirect_from_the_ds_is_not_followed() {
    let bench = Bench::open();
    let elsewhere = format!("{}/cache/files/data/stolen/output.docx", bench.recorder.base());
    let url = bench.ds.publish_with(&bench.key, "docx", fixture("rapport-modifie.docx"), Fault::Redirect { location: elsewhere });
    let before = bench.state();

    let reply = bench.save_from(&url);

    assert_eq!(reply.status, 500, "{}", reply.text());
    assert_eq!(reply.json()["code"], "ecriture_sur_disque_impossible");
    let fetched: Vec<String> = bench.ds.requests().iter().map(|request| request.path.clone()).collect();
    assert_eq!(fetched.len(), 1, "one fetch of the DS URL: {fetched:?}");
    assert!(fetched[0].starts_with("/cache/files/data/"), "{fetched:?}");
    assert!(bench.recorder.received().is_empty(), "the redirect was followed: {:?}", bench.recorder.received());
    assert!(bench.state() == before, "nothing stored");
    assert_eq!(health_problem(&bench.connector.host), None);
}

#[test]
fn foreign_changes_url_is_never_fetched() {
    let bench = Bench::open();
    let url = bench.ds.publish(&bench.key, "docx", fixture("rapport-modifie.docx"));
    let mut body = ds::status2(&bench.key, &url, EDITOR);
    body["changesurl"] = json!(format!("{}/cache/files/data/k_2/changes.zip/changes.zip", bench.recorder.base()));

    let reply = bench.save(body);

    assert_eq!(reply.status, 200, "the save itself goes on: {}", reply.text());
    assert!(bench.recorder.received().is_empty(), "the foreign changes URL was fetched: {:?}", bench.recorder.received());
    let (_, versions) = bench.state().unwrap();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2, "the edited file is stored");
    assert_ne!(versions[1]["modifications"], true, "no changes archive came from elsewhere");
}

#[test]
fn ds_public_url_is_fetched_from_internal_origin() {
    let bench = Bench::open();
    let url = bench.ds.publish(&bench.key, "docx", fixture("rapport-modifie.docx"));

    let reply = bench.save_from(&url);

    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), r#"{"error":0}"#);
    let fetched = bench.ds.requests();
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].query, url.split_once('?').unwrap().1, "the signed query is kept");
    assert!(bench.recorder.received().is_empty());
    let (_, versions) = bench.state().unwrap();
    assert_eq!(versions.as_array().unwrap().len(), 2);
}
