//! `tudi farmland`: a compensation project registered and accepted into the pool, a higher
//! level's freeze, a reversal, balances and the journal, the ledger verified — and bad input
//! refused by field with nothing posted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{s, text, tudi};
use serde_json::json;

#[test]
fn a_district_fills_and_reads_its_quota_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = tudi(&["init", "--data", s(&data), "--district", "440605"]);
    assert!(o.status.success(), "{}", text(&o));
    let project = tmp.path().join("project.json");
    std::fs::write(
        &project,
        json!({
            "name": "九江镇垦造水田项目", "kind": "reclamation", "grade": 6,
            "new_farmland_m2": 20000, "new_paddy_m2": 12000,
            "geometry": {"type": "Polygon", "coordinates": [[[113.03, 22.84], [113.032, 22.84], [113.032, 22.842], [113.03, 22.842], [113.03, 22.84]]]}
        })
        .to_string(),
    )
    .unwrap();
    let o = tudi(&["farmland", "project-add", "--data", s(&data), s(&project)]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let id: String = out[out.find("BC").unwrap()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(id.starts_with("BC20"), "{out}");
    let o = tudi(&[
        "farmland",
        "project-accept",
        "--data",
        s(&data),
        &id,
        "--on",
        "2026-01-15",
        "--document",
        "南自然资验〔2026〕1号",
    ]);
    assert!(o.status.success(), "{}", text(&o));

    let freeze = tmp.path().join("freeze.json");
    std::fs::write(
        &freeze,
        json!({"movement": "freeze", "amounts": {"farmland_m2": 6666.67, "paddy_m2": 0, "capacity_kg": 10000}, "document": "粤自然资冻〔2026〕7号", "reason": "卫片图斑未整改"}).to_string(),
    )
    .unwrap();
    let o = tudi(&[
        "farmland",
        "post",
        "--data",
        s(&data),
        s(&freeze),
        "--request",
        "freeze-7",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The same request again: told, not posted.
    let o = tudi(&[
        "farmland",
        "post",
        "--data",
        s(&data),
        s(&freeze),
        "--request",
        "freeze-7",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("未重复记账"), "{}", text(&o));
    // Negative amounts: refused by field.
    let bad = tmp.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"movement": "freeze", "amounts": {"farmland_m2": -1}, "document": "x", "reason": "y"}).to_string(),
    )
    .unwrap();
    let o = tudi(&["farmland", "post", "--data", s(&data), s(&bad)]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("amounts"), "{}", text(&o));

    let o = tudi(&["farmland", "balance", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    // 30 亩 in, 10 亩 frozen.
    assert!(
        text(&o).contains("补充耕地指标库（440605）\t20.0000 亩"),
        "{}",
        text(&o)
    );
    let o = tudi(&[
        "farmland",
        "reverse",
        "--data",
        s(&data),
        "2",
        "--reason",
        "省厅撤销冻结",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = tudi(&["farmland", "journal", "--data", s(&data)]);
    assert!(text(&o).contains("共 3 笔"), "{}", text(&o));
    assert!(text(&o).contains("冲正"), "{}", text(&o));
    let o = tudi(&[
        "farmland",
        "balance",
        "--data",
        s(&data),
        "--as-of",
        "2000-01-01T00:00:00Z",
    ]);
    assert!(text(&o).contains("截至第 0 号"), "{}", text(&o));
    let o = tudi(&["farmland", "verify", "--data", s(&data)]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 postings"), "{}", text(&o));
}
