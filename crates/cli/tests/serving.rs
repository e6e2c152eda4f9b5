//! `tudi serve` as an operator runs it: `/metrics` read by Prometheus's own parser and closed
//! to others, JSON log lines, HTTPS served directly with rustls (HSTS, HTTP/2, plain HTTP
//! redirected), each checked with independent clients (Python's `prometheus_client`, `urllib`
//! with `ssl`, curl).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{s, start_server, text, tudi};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;

/// A small demo district, shared (building it is the slow part).
fn demo() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serving-demo");
        let _ = std::fs::remove_dir_all(&dir);
        let o = tudi(&["demo", "--data", s(&dir), "--parcels", "300", "--seed", "3"]);
        assert!(o.status.success(), "{}", text(&o));
        dir
    })
}

struct Server {
    child: Child,
    /// The server's copy of the district (removed with the server).
    _dir: tempfile::TempDir,
    /// `http://127.0.0.1:port` or `https://…`.
    base: String,
    stderr: Option<std::process::ChildStderr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(config: &str, extra: &[&str], env_log: &str) -> Server {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    // Each server on its own copy: servers sharing a store take turns at the background jobs
    // (by lease), and this one must run them.
    let data = dir.join("d");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(demo().join("tudi.gpkg"), data.join("tudi.gpkg")).unwrap();
    let cfg = dir.join("tudi.toml");
    std::fs::write(
        &cfg,
        format!("data = {:?}\nlisten = \"127.0.0.1:0\"\n{config}", s(&data)),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_tudi"));
    command
        .args(["serve", "--config", s(&cfg)])
        .args(extra)
        .env("TUDI_LOG", env_log)
        .stderr(Stdio::piped());
    let (mut child, base) = start_server(command);
    let stderr = child.stderr.take();
    Server {
        child,
        _dir: tmp,
        base,
        stderr,
    }
}

/// Runs a Python snippet with Debian's or the first python3 (both have what is needed here).
fn python(code: &str, args: &[&str]) -> Output {
    Command::new("python3")
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap()
}

const FETCH: &str = r#"
import sys, urllib.request, urllib.error, ssl, json
url, token = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=sys.argv[3]) if len(sys.argv) > 3 else None
req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
try:
    r = urllib.request.urlopen(req, context=ctx)
    print(json.dumps({"status": r.status, "headers": dict(r.headers), "body": r.read().decode()}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "headers": dict(e.headers), "body": e.read().decode()}))
"#;

fn fetch(url: &str, token: &str, ca: Option<&Path>) -> serde_json::Value {
    let mut args = vec![url, token];
    if let Some(ca) = ca {
        args.push(s(ca));
    }
    let o = python(FETCH, &args);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn metrics_parse_with_prometheus_client_and_count_what_operators_watch() {
    let server = serve("", &[], "warn");
    // Something to count: a failed sign-in, a page of features.
    let o = python(
        r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/api/v1/auth/login", data=b'{"username": "nobody", "password": "wrong-password"}', headers={"content-type": "application/json"})
try:
    urllib.request.urlopen(req)
except urllib.error.HTTPError as e:
    print(e.code)
urllib.request.urlopen(sys.argv[1] + "/ogc/collections").read()
"#,
        &[&server.base],
    );
    assert!(o.status.success(), "{}", text(&o));
    // The background jobs run at start; wait for their first round.
    let mut families = serde_json::Value::Null;
    for _ in 0..100 {
        let o = python(
            r#"
import sys, urllib.request, json
from prometheus_client.parser import text_string_to_metric_families
body = urllib.request.urlopen(sys.argv[1] + "/metrics").read().decode()
out = {}
for fam in text_string_to_metric_families(body):
    out[fam.name] = {"type": fam.type, "samples": [[s.name, s.labels, s.value] for s in fam.samples]}
print(json.dumps(out))
"#,
            &[&server.base],
        );
        assert!(o.status.success(), "{}", text(&o));
        families = serde_json::from_slice(&o.stdout).unwrap();
        if families.get("tudi_orders_overdue").is_some()
            && families.get("tudi_homestead_steps_overdue").is_some()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let requests = &families["tudi_http_request_duration_seconds"];
    assert_eq!(requests["type"], "histogram", "{families}");
    let samples = requests["samples"].as_array().unwrap();
    assert!(
        samples.iter().any(|s| s[1]["route"] == "/ogc/collections"
            && s[1]["status"] == "200"
            && s[0] == "tudi_http_request_duration_seconds_count"
            && s[2].as_f64().unwrap() >= 1.0),
        "{requests}"
    );
    // Labels are route patterns, never paths with ids in them.
    assert!(
        samples
            .iter()
            .all(|s| !s[1]["route"].as_str().unwrap_or("").contains(".."))
    );
    let failures = &families["tudi_sign_in_failures"];
    assert!(
        failures["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s[1]["reason"] == "credentials" && s[2].as_f64().unwrap() >= 1.0),
        "{failures}"
    );
    assert_eq!(
        families["tudi_store_commit_seconds"]["type"], "histogram",
        "{families}"
    );
    assert!(
        families["tudi_snapshot_builds"]["samples"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{families}"
    );
    let jobs = &families["tudi_job_runs"]["samples"];
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .any(|s| s[1]["job"] == "homestead-clock"),
        "{families}"
    );
    assert!(
        families.get("tudi_homestead_steps_overdue").is_some(),
        "{families}"
    );
    assert!(families.get("tudi_orders_overdue").is_some(), "{families}");
    // Through a proxy the server does not trust, the loopback address earns nothing.
    let o = python(
        r#"
import sys, urllib.request, urllib.error
req = urllib.request.Request(sys.argv[1] + "/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
try:
    print(urllib.request.urlopen(req).status)
except urllib.error.HTTPError as e:
    print(e.code)
"#,
        &[&server.base],
    );
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "401",
        "{}",
        text(&o)
    );
}

#[test]
fn metrics_answer_only_allowed_addresses_or_the_token() {
    let token = "a-long-metrics-token-0123456789";
    let server = serve(
        &format!("metrics_allow = [\"10.0.0.0/8\"]\nmetrics_token = \"{token}\"\n"),
        &[],
        "warn",
    );
    let url = format!("{}/metrics", server.base);
    let refused = fetch(&url, "", None);
    assert_eq!(refused["status"], 401, "{refused}");
    assert_eq!(
        refused["headers"]["www-authenticate"], "Bearer realm=\"tudi metrics\"",
        "{refused}"
    );
    assert!(
        !refused["body"].as_str().unwrap().contains("tudi_http"),
        "{refused}"
    );
    let wrong = fetch(&url, "not-the-token-at-all-000000000", None);
    assert_eq!(wrong["status"], 403, "{wrong}");
    assert!(
        wrong["body"]
            .as_str()
            .unwrap()
            .contains("metrics-forbidden"),
        "{wrong}"
    );
    let ok = fetch(&url, token, None);
    assert_eq!(ok["status"], 200, "{ok}");
    assert!(
        ok["body"]
            .as_str()
            .unwrap()
            .contains("# TYPE tudi_http_request_duration_seconds histogram")
    );
    // The health checks stay open to all.
    assert_eq!(
        fetch(&format!("{}/healthz", server.base), "", None)["status"],
        200
    );
}

#[test]
fn json_logs_carry_request_id_route_status_and_duration_and_no_path() {
    let mut server = serve("", &["--log-format", "json"], "info");
    let base = server.base.clone();
    let o = python(
        r#"
import sys, urllib.request
r = urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/ogc/collections?secret-name=%E5%BC%A0%E4%B8%89", headers={"x-request-id": "trace-me-42"}))
r.read()
"#,
        &[&base],
    );
    assert!(o.status.success(), "{}", text(&o));
    let _ = server.child.kill();
    let _ = server.child.wait();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut server.stderr.take().unwrap(), &mut logs).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let access = lines
        .iter()
        .find(|l| {
            l["request_id"]
                .as_str()
                .is_some_and(|r| r.ends_with("trace-me-42"))
        })
        .unwrap_or_else(|| panic!("no access line: {logs}"));
    assert_eq!(access["route"], "/ogc/collections", "{access}");
    assert_eq!(access["status"], 200, "{access}");
    assert!(access["millis"].as_f64().is_some(), "{access}");
    assert_eq!(access["target"], "tudi::access", "{access}");
    assert!(
        !logs.contains("secret-name") && !logs.contains("%E5%BC%A0"),
        "{logs}"
    );
}

fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let o = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            s(&key),
            "-out",
            s(&cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    (cert, key)
}

#[test]
fn https_is_served_with_hsts_http2_and_plain_http_redirected() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(dir.path());
    let redirect = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirect_addr = redirect.local_addr().unwrap();
    drop(redirect);
    let server = serve(
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\nredirect_http = \"{redirect_addr}\"\n",
            s(&cert),
            s(&key)
        ),
        &[],
        "warn",
    );
    assert!(server.base.starts_with("https://"), "{}", server.base);
    let ok = fetch(&format!("{}/readyz", server.base), "", Some(&cert));
    assert!(ok["status"] == 200 || ok["status"] == 503, "{ok}");
    assert_eq!(
        ok["headers"]["strict-transport-security"], "max-age=31536000",
        "{ok}"
    );
    // Session cookies are Secure, and now travel.
    let o = Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "--cacert",
            s(&cert),
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            &format!("{}/healthz", server.base),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "2", "HTTP/2 by ALPN");
    // Plain HTTP on the redirect address goes to the same path over HTTPS.
    let o = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &format!("http://{redirect_addr}/console/orders?x=1"),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stdout).to_string();
    let port = server.base.rsplit(':').next().unwrap();
    assert_eq!(
        said,
        format!(
            "308 https://{}:{port}/console/orders?x=1",
            redirect_addr.ip()
        ),
        "{said}"
    );
    // A plain-HTTP client on the HTTPS port gets nothing, and the server goes on.
    let o = Command::new("curl")
        .args([
            "-sS",
            "-m",
            "5",
            &format!("http://127.0.0.1:{port}/healthz"),
        ])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(
        fetch(&format!("{}/healthz", server.base), "", Some(&cert))["status"],
        200
    );
}

#[test]
fn a_key_that_does_not_fit_its_certificate_is_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = self_signed(dir.path());
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (_, wrong_key) = self_signed(&other);
    let o = tudi(&[
        "serve",
        "--data",
        s(demo()),
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&wrong_key),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("does not fit"), "{}", text(&o));
}
