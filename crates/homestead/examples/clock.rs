//! Runs the homestead clock on a data directory as of `DAYS` days from now, so that tests and
//! demonstrations can see what the law makes people wait for — the 公示 period ending by itself,
//! reminders and overdue notices — without waiting. A development tool, not part of `tudi`:
//! never point it at a live district's data.
//!
//! ```sh
//! cargo run -p tudi-homestead --example clock -- demo-data 8
//! cargo run -p tudi-homestead --example clock -- 'postgres://…?schema=d440605' 8
//! ```

#![allow(clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use tudi_access::Jurisdiction;
use tudi_homestead::service::Homesteads;
use tudi_onemap::compliance::RuleSet;
use tudi_onemap::snapshot::MapView;
use tudi_store::Store;
use tudi_store::gpkg::GeoPackageStore;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(dir), Some(days)) = (
        args.first(),
        args.get(1).and_then(|d| d.parse::<i64>().ok()),
    ) else {
        eprintln!("用法 / usage: clock DATA_DIR|postgres://… DAYS");
        return ExitCode::from(2);
    };
    let store: Result<Box<dyn Store>, String> = if dir.starts_with("postgres://") {
        tudi_store_pg::PgStore::open(dir)
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| e.to_string())
    } else {
        GeoPackageStore::open(&PathBuf::from(dir).join("tudi.gpkg"))
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| e.to_string())
    };
    match store.and_then(|store| run(&*store, days)) {
        Ok(changed) => {
            println!(
                "时钟已运行至 {days} 天后：{changed} 件案件变化 / the clock ran {days} days ahead: {changed} cases changed"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(store: &dyn Store, days: i64) -> Result<usize, String> {
    let district = store
        .meta("district")
        .map_err(|e| e.to_string())?
        .ok_or("the store has no district")?;
    let district = Jurisdiction::parse(&district).map_err(|m| m.en)?;
    let rules = RuleSet::for_district(RuleSet::builtin(), Some(district.as_str()))
        .into_iter()
        .find(|r| r.answers_to("宅基地选址"))
        .ok_or("no site rule set")?;
    let calendar = tudi_orders::service::load_calendar(store).map_err(|e| e.message().en)?;
    let h = Homesteads {
        store,
        map: MapView::new(store, None),
        calendar: &calendar,
        district: &district,
        site_rules: &rules,
        keys: None,
    };
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(24 * days))
        .map_err(|e| e.to_string())?;
    h.tick(at).map(|r| r.changed).map_err(|e| e.message().en)
}
