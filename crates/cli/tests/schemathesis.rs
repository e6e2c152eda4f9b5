//! The OpenAPI document is kept true by schemathesis (PyPI, installed by `.ci/run`): against the
//! demo district as `tudi demo` builds it and `tudi serve` serves it, signed in as its
//! administrator, schemathesis generates requests from the document's own parameters and bodies
//! and checks every answer against it: no 5xx, only documented statuses, content types and
//! headers, and bodies that match their schemas (the demo's orders, applications, events and
//! certificates are real data to match).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

/// Kills the server when the test ends, however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Signs in over plain HTTP; a few tries, as the server may still be loading its layers.
fn sign_in(addr: &str, username: &str, password: &str) -> String {
    let body = serde_json::json!({"username": username, "password": password}).to_string();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let mut answer = String::new();
        if let Ok(mut conn) = std::net::TcpStream::connect(addr) {
            let _ = write!(
                conn,
                "POST /api/v1/auth/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.read_to_string(&mut answer);
        }
        let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
        if let Some(token) = v["token"].as_str() {
            return token.to_owned();
        }
        answers.push(answer);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    panic!("could not sign in: {answers:?}");
}

#[test]
fn schemathesis_finds_the_api_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let data = data.to_str().unwrap();
    let built = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["demo", "--data", data])
        .output()
        .unwrap();
    assert!(built.status.success(), "{built:?}");
    let accounts: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("demo/demo-accounts.json")).unwrap(),
    )
    .unwrap();
    let admin = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["role"] == "admin")
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(["serve", "--data", data, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut lines = BufReader::new(stdout).lines();
    let console = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("/console"))
        .unwrap();
    // The server goes on writing to its standard output; a closed pipe would stop it.
    std::thread::spawn(move || lines.for_each(drop));
    let addr = console
        .split("http://")
        .nth(1)
        .unwrap()
        .trim_end_matches("/console")
        .to_owned();
    let token = sign_in(
        &addr,
        admin["username"].as_str().unwrap(),
        admin["password"].as_str().unwrap(),
    );
    let out = Command::new("schemathesis")
        .arg("run")
        .arg(format!("http://{addr}/api/v1/openapi.json"))
        .args(["--url", &format!("http://{addr}")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "25",
            // A fixed seed: the same requests on every run, so a failure can be replayed.
            "--seed",
            "15",
            "--workers",
            "2",
            "--no-shrink",
            // Hypothesis gives up generating for an operation whose inputs it must filter much
            // (the package upload's query and body together): a limit of the generator, not an
            // answer of the server, and which operation meets it moves as routes are added.
            "--suppress-health-check",
            "filter_too_much",
            "--output-truncate",
            "false",
            // Signing the test's own session out, or changing or resetting its password, would
            // only turn the rest of the run away.
            "--exclude-path",
            "/api/v1/auth/logout",
            "--exclude-path",
            "/api/v1/auth/password",
            "--exclude-path",
            "/api/v1/users/{name}/password",
        ])
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .expect("schemathesis is required (pip install schemathesis==4.32.5, see .ci/run)");
    drop(server);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis: {text}");
    // Its summary names how many operations it tested: all of /api/v1 and Open311 but the three
    // left out above.
    let tested = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(tested >= 60, "operations tested: {tested}\n{text}");
}
