//! What the `tudi` binary's test files share: running it, and reading what it said.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs the built `tudi` with `args` and waits for it.
pub fn tudi(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tudi"))
        .args(args)
        .output()
        .unwrap()
}

/// What a run printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A path as an argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Checks a GeoPackage with GDAL's own validator (`validate_gpkg.py`, Debian's python3).
pub fn validate_gpkg(path: &Path) {
    let script = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import osgeo_utils.samples.validate_gpkg as m; print(m.__file__)",
        ])
        .output()
        .unwrap();
    assert!(
        script.status.success(),
        "python3-gdal is required (see .ci/run)"
    );
    let script = String::from_utf8_lossy(&script.stdout).trim().to_owned();
    let o = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "validate_gpkg.py {}: {}",
        path.display(),
        text(&o)
    );
}

/// A layer's feature count as `ogrinfo` reads it.
pub fn ogr_count(path: &Path, layer: &str) -> u64 {
    let o = Command::new("ogrinfo")
        .args(["-so", "-ro"])
        .arg(path)
        .arg(layer)
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t.lines()
        .find_map(|l| l.strip_prefix("Feature Count: "))
        .unwrap_or_else(|| panic!("no feature count in {t}"))
        .trim()
        .parse()
        .unwrap()
}

/// Starts the `tudi serve` that `command` describes and waits until it prints its console
/// address; returns the running server and its base URL (`http://127.0.0.1:port`). The
/// server's stdout is drained from then on: a pipe nobody reads, or one closed, would stop it.
pub fn start_server(mut command: Command) -> (Child, String) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let console = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("/console"))
        .unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let base = console
        .split_once(": ")
        .unwrap()
        .1
        .trim_end_matches("/console")
        .to_owned();
    (child, base)
}
