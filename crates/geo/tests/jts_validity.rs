//! Runs every `isValid` case of the JTS XML conformance suite (`shared/testdata/jts-testxml`)
//! through tudi's validity check.
//!
//! Cases where tudi and JTS disagree are listed, each with the reason, in
//! `tests/jts-validity-disagreements.tsv`. The test fails when a new disagreement appears *and*
//! when a listed one starts to agree, so the list stays exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use geo_types::Geometry;
use quick_xml::Reader;
use quick_xml::events::Event;
use wkt::TryFromWkt;

struct Case {
    id: String,
    wkt: String,
    expected: bool,
}

fn suite_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        here.join("../../../shared/testdata/jts-testxml"),
        here.join("../../shared/testdata/jts-testxml"),
    ];
    candidates
        .into_iter()
        .find(|p| p.is_dir())
        .expect("shared/testdata/jts-testxml must sit beside the project root")
}

fn cases_in(path: &Path, rel: &str) -> Vec<Case> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut reader = Reader::from_str(&text);
    let mut out = Vec::new();
    let mut case_no = 0usize;
    let mut a = String::new();
    let mut in_a = false;
    let mut in_op_valid = false;
    let mut op_text = String::new();
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => match e.name().as_ref() {
                b"case" => {
                    case_no += 1;
                    a.clear();
                }
                b"a" => in_a = true,
                b"op" => {
                    let is_valid = e.attributes().flatten().any(|at| {
                        at.key.as_ref() == b"name"
                            && at.value.as_ref().eq_ignore_ascii_case(b"isValid")
                    });
                    in_op_valid = is_valid;
                    op_text.clear();
                }
                _ => {}
            },
            Event::Text(t) => {
                let s = t.xml_content().unwrap().into_owned();
                if in_a {
                    a.push_str(&s);
                } else if in_op_valid {
                    op_text.push_str(&s);
                }
            }
            Event::End(e) => match e.name().as_ref() {
                b"a" => in_a = false,
                b"op" if in_op_valid => {
                    in_op_valid = false;
                    out.push(Case {
                        id: format!("{rel}#{case_no}"),
                        wkt: a.trim().to_owned(),
                        expected: op_text.trim().eq_ignore_ascii_case("true"),
                    });
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    out
}

fn parse(wkt: &str) -> Result<Geometry<f64>, String> {
    if wkt.chars().all(|c| c.is_ascii_hexdigit()) {
        let bytes: Vec<u8> = (0..wkt.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&wkt[i..i + 2], 16).unwrap())
            .collect();
        return tudi_geo::io::wkb::from_wkb(&bytes).map_err(|e| e.to_string());
    }
    Geometry::try_from_wkt_str(wkt).map_err(|e| e.to_string())
}

fn check(wkt: &str) -> bool {
    // A bare LINEARRING must be closed and simple; geo reads it as a plain line string.
    if wkt
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("LINEARRING")
    {
        let body = wkt.trim_start()["LINEARRING".len()..].to_owned();
        return match parse(&format!("LINESTRING{body}")) {
            Ok(Geometry::LineString(ls)) => tudi_geo::validity::ring_problems(&ls).is_empty(),
            Ok(_) => false,
            Err(_) => body.trim().eq_ignore_ascii_case("EMPTY"),
        };
    }
    match parse(wkt) {
        Ok(g) => tudi_geo::validity::is_valid(&g),
        // Input that cannot even be read is invalid for tudi: readers refuse it.
        Err(_) => false,
    }
}

#[test]
fn agrees_with_the_jts_validity_suite() {
    let dir = suite_dir();
    let files = [
        "general/TestValid.xml",
        "general/TestValid2.xml",
        "general/TestValid2-big.xml",
        "misc/TestValid.xml",
        "misc/TestInvalidA.xml",
    ];
    let listed: BTreeMap<String, String> = include_str!("jts-validity-disagreements.tsv")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('\t'))
        .map(|(id, why)| (id.to_owned(), why.to_owned()))
        .collect();
    let mut total = 0;
    let mut found = BTreeMap::new();
    for f in files {
        for case in cases_in(&dir.join(f), f) {
            total += 1;
            let got = check(&case.wkt);
            if got != case.expected {
                found.insert(case.id.clone(), format!("jts={} tudi={got}", case.expected));
            }
        }
    }
    assert!(total > 900, "only {total} isValid cases found");
    let new: Vec<_> = found.keys().filter(|k| !listed.contains_key(*k)).collect();
    let fixed: Vec<_> = listed.keys().filter(|k| !found.contains_key(*k)).collect();
    if !new.is_empty() || !fixed.is_empty() {
        for id in &new {
            eprintln!("{id}\t{}", found[*id]);
        }
        panic!("{total} cases; new disagreements: {new:?}; listed but now agreeing: {fixed:?}");
    }
    eprintln!(
        "{total} isValid cases, {} listed disagreements",
        listed.len()
    );
}
