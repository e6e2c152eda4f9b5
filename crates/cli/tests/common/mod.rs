//! What the `tudi` binary's test files share: running it, and reading what it said.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

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
