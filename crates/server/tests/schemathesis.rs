//! The OpenAPI document is kept true by schemathesis (PyPI, installed by `.ci/run`), which
//! generates requests from the document's own parameters and bodies and checks each answer
//! against it: no 5xx, only documented statuses and content types, bodies matching their
//! schemas.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

#[test]
fn schemathesis_finds_the_api_as_documented() {
    let token = common::demo().admin_token.clone();
    let (runtime, addr) = common::spawn_server();
    let report = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("schemathesis")
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
        .current_dir(report.path())
        .output()
        .expect("schemathesis is required (pip install schemathesis==4.32.5, see .ci/run)");
    runtime.shutdown_background();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis: {text}");
    // Its summary names how many operations it tested; all of /api/v1 and Open311 but the three
    // left out above.
    let tested = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .unwrap_or(0);
    assert!(tested >= 60, "operations tested: {tested}\n{text}");
}
