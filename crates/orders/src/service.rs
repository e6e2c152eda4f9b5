//! Orders kept in the store as records (collection `order`), each write with its audit entry.
//!
//! Intake checks everything before a number is taken; a step is applied to the version the caller
//! read, so when two people act on one order at once exactly one succeeds and the other gets
//! [`OrderError::Conflict`] naming the versions.

use serde::Deserialize;
use serde_json::json;
use tudi_access::Jurisdiction;
use tudi_core::calendar::WorkCalendar;
use tudi_core::msg::Msg;
use tudi_core::text::Lines;
use tudi_store::{Change, Expect, RecordQuery, RecordWrite, Store, StoreError};

use crate::category::{CategoryError, Taxonomy, Urgency};
use crate::lifecycle::{State, Step};
use crate::order::{Channel, Order, Reporter, StepError, StepInput, TimelineEntry, shanghai};
use crate::routing::ResponsibilityList;

/// The store collection.
pub const COLLECTION: &str = "order";

/// `tudi_meta` key holding the responsibility list (JSON).
pub const RESPONSIBILITIES_KEY: &str = "orders:responsibilities";

/// A JSON setting in `tudi_meta` (the default when none was saved).
fn load_setting<T: serde::de::DeserializeOwned + Default>(
    store: &dyn Store,
    key: &str,
    doing: &'static str,
) -> Result<T, OrderError> {
    match store.meta(key)? {
        None => Ok(T::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            OrderError::Store(StoreError::Database {
                doing,
                source: Box::new(e),
            })
        }),
    }
}

/// Saves a JSON setting (audited as a setting change).
fn save_setting<T: serde::Serialize>(
    store: &dyn Store,
    key: &str,
    value: &T,
    change: &Change,
) -> Result<(), OrderError> {
    let text = serde_json::to_string(value).map_err(|e| {
        OrderError::Store(StoreError::Database {
            doing: "encoding a setting",
            source: Box::new(e),
        })
    })?;
    store.set_meta(key, &text, change)?;
    Ok(())
}

/// The responsibility list in force (empty when none was saved: every dispatch is then by hand).
///
/// # Errors
/// The store failed, or the saved list cannot be read.
pub fn load_responsibilities(store: &dyn Store) -> Result<ResponsibilityList, OrderError> {
    load_setting(
        store,
        RESPONSIBILITIES_KEY,
        "reading the responsibility list",
    )
}

/// Saves the responsibility list (audited as a setting change).
///
/// # Errors
/// The store failed.
pub fn save_responsibilities(
    store: &dyn Store,
    list: &ResponsibilityList,
    change: &Change,
) -> Result<(), OrderError> {
    save_setting(store, RESPONSIBILITIES_KEY, list, change)
}

/// `tudi_meta` key holding the district's own categories (the TSV of `data/categories.tsv`).
pub const CATEGORIES_KEY: &str = "orders:categories";

/// The categories in force: the district's own if saved, else the shipped defaults.
///
/// # Errors
/// The store failed, or the saved categories cannot be read.
pub fn load_taxonomy(store: &dyn Store) -> Result<Taxonomy, OrderError> {
    match store.meta(CATEGORIES_KEY)? {
        None => Ok(Taxonomy::defaults()?),
        Some(tsv) => Ok(Taxonomy::from_tsv(&tsv)?),
    }
}

/// Replaces the categories with `tsv` (the format of `data/categories.tsv`). Codes in use may
/// not disappear — orders keep their category code — so every current code must remain; names
/// and time limits may change and codes may be added.
///
/// # Errors
/// [`OrderError::Category`] naming the bad line, [`OrderError::Invalid`] on `categories` for a
/// code left out; nothing is saved.
pub fn save_taxonomy(
    store: &dyn Store,
    tsv: &str,
    change: &Change,
) -> Result<Taxonomy, OrderError> {
    let new = Taxonomy::from_tsv(tsv)?;
    let current = load_taxonomy(store)?;
    if let Some(gone) = current.iter().find(|c| new.get(&c.code).is_err()) {
        return Err(invalid(
            "categories",
            &format!(
                "分类「{}」（{}）不能删除：工单以分类代码记录；可改名或调整时限",
                gone.name_zh, gone.code
            ),
            &format!(
                "category {} cannot be removed: orders refer to it by code",
                gone.code
            ),
        ));
    }
    store.set_meta(CATEGORIES_KEY, tsv, change)?;
    Ok(new)
}

/// `tudi_meta` key holding holiday lines added after this release (the TSV of
/// `tudi-core`'s `data/holidays-cn.tsv`), e.g. the next year's notice.
pub const HOLIDAYS_KEY: &str = "calendar:extra";

/// The working-day calendar in force: the shipped years and the lines a district added.
///
/// # Errors
/// The store failed, or the saved lines cannot be read.
pub fn load_calendar(store: &dyn Store) -> Result<WorkCalendar, OrderError> {
    let extra = store.meta(HOLIDAYS_KEY)?.unwrap_or_default();
    WorkCalendar::china_with(&extra).map_err(|e| OrderError::Invalid {
        field: "holidays",
        message: e.message(),
    })
}

/// Replaces the added holiday lines with `tsv`, checked against the shipped data first.
///
/// # Errors
/// [`OrderError::Invalid`] on `holidays` naming the bad line; nothing is saved.
pub fn save_holidays(
    store: &dyn Store,
    tsv: &str,
    change: &Change,
) -> Result<WorkCalendar, OrderError> {
    let cal = WorkCalendar::china_with(tsv).map_err(|e| OrderError::Invalid {
        field: "holidays",
        message: e.message(),
    })?;
    store.set_meta(HOLIDAYS_KEY, tsv, change)?;
    Ok(cal)
}

/// `tudi_meta` key holding the on-duty roster (JSON).
pub const ROSTER_KEY: &str = "orders:roster";

/// The on-duty roster (empty when none was saved).
///
/// # Errors
/// The store failed, or the saved roster cannot be read.
pub fn load_roster(store: &dyn Store) -> Result<crate::supervision::Roster, OrderError> {
    load_setting(store, ROSTER_KEY, "reading the on-duty roster")
}

/// Saves the on-duty roster (audited as a setting change).
///
/// # Errors
/// The store failed.
pub fn save_roster(
    store: &dyn Store,
    roster: &crate::supervision::Roster,
    change: &Change,
) -> Result<(), OrderError> {
    save_setting(store, ROSTER_KEY, roster, change)
}

/// Largest attachment accepted (bytes): 5 MiB, room for a phone photo.
pub const MAX_ATTACHMENT: usize = 5 << 20;

/// Most attachments on one order.
pub const MAX_ATTACHMENTS: usize = 9;

/// Longest description accepted (characters).
pub const MAX_DESCRIPTION: usize = 2000;

/// Longest address accepted (characters).
pub const MAX_ADDRESS: usize = 200;

/// Longest reporter name accepted (characters).
pub const MAX_NAME: usize = 50;

/// Free text checked by [`tudi_core::text`]: the value trimmed, or the field's error.
fn text_field<'v>(
    field: &'static str,
    label: &str,
    value: &'v str,
    max: usize,
    lines: Lines,
    required: bool,
) -> Result<&'v str, OrderError> {
    let checked = if required {
        tudi_core::text::check(value, max, lines)
    } else {
        tudi_core::text::check_optional(value, max, lines)
    };
    checked.map_err(|f| OrderError::Invalid {
        field,
        message: f.message(label, field),
    })
}

/// A new order as taken in.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
pub struct NewOrder {
    /// How it came in.
    pub channel: Channel,
    /// Who reported it.
    #[serde(default)]
    pub reporter: Option<Reporter>,
    /// Category code.
    pub category: String,
    /// What was reported.
    pub description: String,
    /// Longitude, latitude.
    pub location: Option<[f64; 2]>,
    /// Address as given.
    pub address: Option<String>,
    /// Urgency (default normal).
    #[serde(default = "normal")]
    pub urgency: Urgency,
    /// 企业诉求.
    #[serde(default)]
    pub enterprise: bool,
}

fn normal() -> Urgency {
    Urgency::Normal
}

/// Why an order operation failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Unknown category.
    #[error(transparent)]
    Category(#[from] CategoryError),
    /// A field is wrong.
    #[error("{field}: {message:?}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: Msg,
    },
    /// No such order.
    #[error("no order {0}")]
    NotFound(String),
    /// The step is not allowed or incomplete.
    #[error(transparent)]
    Step(#[from] StepError),
    /// Someone else changed the order since it was read.
    #[error("order {number} changed: expected version {expected}, found {found}")]
    Conflict {
        /// The order.
        number: String,
        /// The version the caller read.
        expected: String,
        /// The version now.
        found: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict {
                id,
                expected,
                found,
                ..
            } => Self::Conflict {
                number: id,
                expected,
                found,
            },
            other => Self::Store(other),
        }
    }
}

impl OrderError {
    /// The message for users.
    #[must_use]
    pub fn message(&self) -> Msg {
        match self {
            Self::Category(e) => e.message(),
            Self::Invalid { message, .. } => message.clone(),
            Self::NotFound(n) => Msg::new(format!("工单 {n} 不存在"), format!("no work order {n}")),
            Self::Step(e) => e.message(),
            Self::Conflict { number, found, .. } => Msg::new(
                format!("工单 {number} 已被他人处理（当前版本 {found}），请刷新后再操作"),
                format!(
                    "work order {number} was changed by someone else (now version {found}): reload and try again"
                ),
            ),
            Self::Store(e) => Msg::new(format!("存储出错：{e}"), format!("store error: {e}")),
        }
    }
}

fn invalid(field: &'static str, zh: &str, en: &str) -> OrderError {
    OrderError::Invalid {
        field,
        message: Msg::new(zh, en),
    }
}

/// The order centre: the store, the rules, the district.
pub struct Orders<'a> {
    /// Where orders are kept.
    pub store: &'a dyn Store,
    /// Categories.
    pub taxonomy: &'a Taxonomy,
    /// Responsibility list.
    pub responsibilities: &'a ResponsibilityList,
    /// Working days.
    pub calendar: &'a WorkCalendar,
    /// The district (six digits), for numbers and the area check.
    pub district: &'a Jurisdiction,
}

/// One version of an order, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned {
    /// The order.
    pub order: Order,
    /// Its record version (send it back with the next step).
    pub version: u64,
}

impl Orders<'_> {
    /// Takes in an order: checks the category, the text and that the grid cell (found by the
    /// caller from the location) lies in the district, then numbers and stores it.
    ///
    /// # Errors
    /// [`OrderError`] naming the field; nothing is written and no number is used.
    pub fn intake(
        &self,
        change: &Change,
        new: NewOrder,
        grid: Option<&Jurisdiction>,
    ) -> Result<Versioned, OrderError> {
        let order = self.prepare(change, new, grid)?;
        self.store_new(change, order, None)
    }

    /// Numbers a prepared order (its number holds the prefix) and writes it, in one transaction.
    fn store_new(
        &self,
        change: &Change,
        mut order: Order,
        step: Option<Step>,
    ) -> Result<Versioned, OrderError> {
        // `GD440605-20261122-` numbers from sequence `order:440605:20261122`.
        let prefix = order.number.clone();
        let mut parts = prefix.trim_start_matches("GD").split('-');
        let seq_key = format!(
            "order:{}:{}",
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default()
        );
        let (n, versions) = self.store.write_numbered(change, &seq_key, &mut |n| {
            order.number = format!("{prefix}{n:06}");
            Ok(vec![record_write(&order, Expect::Absent, step)?])
        })?;
        order.number = format!("{prefix}{n:06}");
        Ok(Versioned {
            order,
            version: versions.first().copied().unwrap_or(0),
        })
    }

    /// Takes in, files and dispatches an order in one write (一键派单: the operator files and
    /// dispatches at intake), routed by the responsibility list.
    ///
    /// # Errors
    /// As [`Orders::intake`], and [`OrderError::Invalid`] on `unit` when the list names no unit
    /// (take it in with [`Orders::intake`] and dispatch by hand); nothing is written.
    pub fn intake_and_dispatch(
        &self,
        change: &Change,
        new: NewOrder,
        grid: Option<&Jurisdiction>,
    ) -> Result<Versioned, OrderError> {
        let mut order = self.prepare(change, new, grid)?;
        let category = self.taxonomy.get(&order.category)?;
        let route = self.route_for(&order, change)?;
        order.apply(
            Step::File,
            StepInput::default(),
            category,
            self.calendar,
            &change.actor,
            change.at,
        )?;
        let input = StepInput {
            route: Some(route),
            ..StepInput::default()
        };
        order.apply(
            Step::Dispatch,
            input,
            category,
            self.calendar,
            &change.actor,
            change.at,
        )?;
        self.store_new(change, order, Some(Step::Dispatch))
    }

    fn route_for(
        &self,
        order: &Order,
        change: &Change,
    ) -> Result<crate::routing::Route, OrderError> {
        let category = self.taxonomy.get(&order.category)?;
        let grid = order
            .grid
            .as_deref()
            .map(Jurisdiction::parse)
            .transpose()
            .map_err(|m| OrderError::Invalid {
                field: "grid",
                message: m,
            })?;
        let place = grid.unwrap_or_else(|| self.district.clone());
        let day = change.at.to_zoned(shanghai()).date();
        self.responsibilities
            .route(self.taxonomy, category, &place, day, None)
            .map_err(|e| OrderError::Invalid {
                field: "unit",
                message: e.message(),
            })
    }

    /// Checks a new order and gives it its number; writes nothing else.
    fn prepare(
        &self,
        change: &Change,
        new: NewOrder,
        grid: Option<&Jurisdiction>,
    ) -> Result<Order, OrderError> {
        self.taxonomy.get(&new.category)?;
        let description = text_field(
            "description",
            "问题描述",
            &new.description,
            MAX_DESCRIPTION,
            Lines::Many,
            true,
        )?
        .to_owned();
        let address = text_field(
            "address",
            "地址",
            new.address.as_deref().unwrap_or(""),
            MAX_ADDRESS,
            Lines::One,
            false,
        )?;
        let address = (!address.is_empty()).then(|| address.to_owned());
        if let Some([lon, lat]) = new.location
            && !(lon.is_finite()
                && lat.is_finite()
                && (-180.0..=180.0).contains(&lon)
                && (-90.0..=90.0).contains(&lat))
        {
            return Err(invalid(
                "location",
                "位置坐标无效",
                "the location is not a longitude and latitude",
            ));
        }
        if new.location.is_some() && grid.is_none() {
            return Err(invalid(
                "location",
                &format!("该位置不在本区（{}）的网格内", self.district.as_str()),
                &format!(
                    "the location is outside the district's grid ({})",
                    self.district.as_str()
                ),
            ));
        }
        if let Some(g) = grid
            && !self.district.contains(g)
        {
            return Err(invalid(
                "location",
                &format!(
                    "网格 {} 不属于本区（{}）",
                    g.as_str(),
                    self.district.as_str()
                ),
                &format!(
                    "grid cell {} is outside the district {}",
                    g.as_str(),
                    self.district.as_str()
                ),
            ));
        }
        if new.location.is_none() && address.is_none() {
            return Err(invalid(
                "location",
                "请在地图上标注位置或填写地址",
                "give a location on the map or an address",
            ));
        }
        let reporter = match new.reporter {
            Some(r) => Some(check_reporter(r)?),
            None => None,
        };
        let day = change.at.to_zoned(shanghai()).date();
        // The number is taken in the same transaction as the write (`store_new`).
        let number = format!("GD{}-{}-", self.district.as_str(), day.strftime("%Y%m%d"));
        let order = Order {
            number,
            channel: new.channel,
            reporter,
            category: new.category,
            description,
            location: new.location,
            address,
            grid: grid.map(|g| g.as_str().to_owned()),
            urgency: new.urgency,
            enterprise: new.enterprise,
            state: State::Received,
            unit: None,
            route: None,
            due: None,
            received_at: change.at,
            closed_at: None,
            reworks: 0,
            satisfaction: None,
            merged_into: None,
            merged: Vec::new(),
            extension: None,
            notices: Vec::new(),
            attachments: Vec::new(),
            timeline: vec![TimelineEntry {
                at: change.at,
                actor: change.actor.clone(),
                step: None,
                state: State::Received,
                note: Some(format!("受理（{}）", new.channel.name_zh())),
            }],
        };
        Ok(order)
    }

    /// The order with `number`.
    ///
    /// # Errors
    /// [`OrderError::NotFound`], or the store failed.
    pub fn get(&self, number: &str) -> Result<Versioned, OrderError> {
        read_order(self.store, number)
    }

    /// Applies `step` to the order as it was at `version`. A 派遣 without a route is routed by the
    /// responsibility list; a 并单 also links the surviving order back, in the same transaction.
    ///
    /// # Errors
    /// [`OrderError::Conflict`] when the order moved on since `version`; [`OrderError::Step`]
    /// when the step is not allowed or incomplete; nothing is written.
    pub fn step(
        &self,
        change: &Change,
        number: &str,
        version: u64,
        step: Step,
        mut input: StepInput,
    ) -> Result<Versioned, OrderError> {
        let Versioned {
            mut order,
            version: found,
        } = self.get(number)?;
        if found != version {
            return Err(OrderError::Conflict {
                number: number.to_owned(),
                expected: format!("version {version}"),
                found: format!("version {found}"),
            });
        }
        let category = self.taxonomy.get(&order.category)?;
        if step == Step::Dispatch && input.route.is_none() {
            input.route = Some(self.route_for(&order, change)?);
        }
        let survivor = if step == Step::Merge {
            let into = input.into.clone().unwrap_or_default();
            let s = self.get(&into)?;
            if s.order.state.public().open311() == "closed" {
                return Err(invalid(
                    "into",
                    "只能并入未办结的工单",
                    "merge only into an open order",
                ));
            }
            Some(s)
        } else {
            None
        };
        order.apply(
            step,
            input,
            category,
            self.calendar,
            &change.actor,
            change.at,
        )?;
        let mut extra = Vec::new();
        if let Some(mut s) = survivor {
            s.order.merged.push(order.number.clone());
            extra.push((s.order, s.version));
        }
        let new_version = self.write_many(change, &order, version, &extra, step)?;
        Ok(Versioned {
            order,
            version: new_version,
        })
    }

    /// Attaches a photo or document to the order as it was at `version`: the file and the order
    /// are written in one transaction.
    ///
    /// # Errors
    /// [`OrderError::Invalid`] on `file` (too large, empty, a type other than JPEG, PNG, WebP or
    /// PDF, or bytes that are not what the type says), on `name`, or when the order already has
    /// [`MAX_ATTACHMENTS`] or is closed to changes (merged, not filed); [`OrderError::Conflict`]
    /// when the order moved on; nothing is written.
    pub fn attach(
        &self,
        change: &Change,
        number: &str,
        version: u64,
        name: &str,
        content_type: &str,
        bytes: &[u8],
    ) -> Result<Versioned, OrderError> {
        let name =
            tudi_core::upload::check(name, content_type, bytes, MAX_ATTACHMENT).map_err(|p| {
                OrderError::Invalid {
                    field: p.field,
                    message: p.message,
                }
            })?;
        let Versioned {
            mut order,
            version: found,
        } = self.get(number)?;
        if found != version {
            return Err(OrderError::Conflict {
                number: number.to_owned(),
                expected: format!("version {version}"),
                found: format!("version {found}"),
            });
        }
        if matches!(order.state, State::Merged | State::Rejected) {
            return Err(invalid(
                "file",
                &format!("工单状态为「{}」，不能再添加附件", order.state.name_zh()),
                "the order takes no more attachments",
            ));
        }
        if order.attachments.len() >= MAX_ATTACHMENTS {
            return Err(invalid(
                "file",
                &format!("每张工单最多 {MAX_ATTACHMENTS} 个附件"),
                "too many attachments on this order",
            ));
        }
        let sha256 = tudi_store::audit::sha256_hex(bytes);
        if let Some(same) = order.attachments.iter().find(|a| a.sha256 == sha256) {
            return Err(invalid(
                "file",
                &format!("同一文件已作为附件“{}”添加过", same.name),
                &format!("the same file is already attached as {:?}", same.name),
            ));
        }
        order.attachments.push(crate::order::Attachment {
            sha256,
            name: name.to_owned(),
            content_type: content_type.to_owned(),
            size: bytes.len() as u64,
            by: change.actor.clone(),
            at: change.at,
        });
        let resource = format!("order:{number}");
        let (_, versions) = self.store.write_blob_with_records(
            change,
            &tudi_store::BlobWrite {
                content_type,
                bytes,
                resource: &resource,
            },
            &[record_write(&order, Expect::Version(version), None)?],
        )?;
        Ok(Versioned {
            order,
            version: versions.first().copied().unwrap_or(0),
        })
    }

    /// Sends every running order the reminders, overdue warnings and automatic 督办 it is owed
    /// at `change.at` (each once per deadline), and returns how many notices were sent. An order
    /// someone changed meanwhile is left for the next round.
    ///
    /// # Errors
    /// The store failed.
    pub fn supervise(
        &self,
        change: &Change,
        roster: &crate::supervision::Roster,
    ) -> Result<usize, OrderError> {
        self.supervision_round(change, roster).map(|r| r.notices)
    }

    /// As [`Orders::supervise`], also counting the orders overdue at `change.at` (for
    /// monitoring).
    ///
    /// # Errors
    /// As [`Orders::supervise`].
    pub fn supervision_round(
        &self,
        change: &Change,
        roster: &crate::supervision::Roster,
    ) -> Result<SupervisionRound, OrderError> {
        let mut round = SupervisionRound::default();
        for state in [
            State::Dispatched,
            State::Returned,
            State::Handling,
            State::FedBack,
        ] {
            let (orders, _) = self.list(Some(state), u64::MAX >> 1, 0)?;
            for Versioned { mut order, version } in orders {
                if order.is_overdue(change.at) {
                    round.overdue += 1;
                }
                let notices =
                    crate::supervision::due_notices(&order, change.at, self.calendar, roster);
                if notices.is_empty() {
                    continue;
                }
                let n = notices.len();
                order.notices.extend(notices);
                match self.store.write_records(
                    change,
                    &[record_write(&order, Expect::Version(version), None)?],
                ) {
                    Ok(_) => round.notices += n,
                    Err(StoreError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(round)
    }

    /// Orders in `state` (all when `None`), by number, with the total.
    ///
    /// # Errors
    /// The store failed or a record could not be read.
    pub fn list(
        &self,
        state: Option<State>,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Versioned>, u64), OrderError> {
        list_orders(self.store, state, limit, offset)
    }

    fn write_many(
        &self,
        change: &Change,
        order: &Order,
        version: u64,
        others: &[(Order, u64)],
        step: Step,
    ) -> Result<u64, OrderError> {
        let mut writes = vec![record_write(order, Expect::Version(version), Some(step))?];
        for (o, v) in others {
            writes.push(record_write(o, Expect::Version(*v), Some(step))?);
        }
        let versions = self.store.write_records(change, &writes)?;
        Ok(versions.first().copied().unwrap_or(0))
    }
}

/// The order with `number`, read without loading the centre's rules (for reads).
///
/// # Errors
/// [`OrderError::NotFound`], or the store failed.
pub fn read_order(store: &dyn Store, number: &str) -> Result<Versioned, OrderError> {
    let rec = store
        .record(COLLECTION, number)?
        .ok_or_else(|| OrderError::NotFound(number.to_owned()))?;
    Ok(Versioned {
        order: decode(rec.body)?,
        version: rec.version,
    })
}

/// Orders in `state` (all when `None`), by number, with the total, read without loading the
/// centre's rules.
///
/// # Errors
/// The store failed or a record could not be read.
pub fn list_orders(
    store: &dyn Store,
    state: Option<State>,
    limit: u64,
    offset: u64,
) -> Result<(Vec<Versioned>, u64), OrderError> {
    let page = store.find_records(
        COLLECTION,
        &RecordQuery {
            key: state.map(|s| ("state".to_owned(), state_key(s))),
            limit: Some(limit),
            offset,
            descending: false,
        },
    )?;
    let orders = page
        .records
        .into_iter()
        .map(|rec| {
            Ok(Versioned {
                order: decode(rec.body)?,
                version: rec.version,
            })
        })
        .collect::<Result<Vec<_>, OrderError>>()?;
    Ok((orders, page.total))
}

fn decode(body: serde_json::Value) -> Result<Order, OrderError> {
    serde_json::from_value(body).map_err(|e| {
        OrderError::Store(StoreError::Database {
            doing: "decoding a work order",
            source: Box::new(e),
        })
    })
}

fn check_reporter(r: Reporter) -> Result<Reporter, OrderError> {
    let name = text_field(
        "reporter.name",
        "姓名",
        r.name.as_deref().unwrap_or(""),
        MAX_NAME,
        Lines::One,
        false,
    )?;
    let name = (!name.is_empty()).then(|| name.to_owned());
    let phone = match r.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(
            tudi_core::personal::Phone::parse(p)
                .map_err(|_| {
                    invalid(
                        "reporter.phone",
                        "电话号码格式不正确（11 位手机号或带区号的固定电话）",
                        "not a mobile or landline number",
                    )
                })?
                .expose()
                .to_owned(),
        ),
        None => None,
    };
    Ok(Reporter { name, phone })
}

fn state_key(s: State) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn record_write(
    order: &Order,
    expect: Expect,
    step: Option<Step>,
) -> Result<RecordWrite, StoreError> {
    let body = serde_json::to_value(order).map_err(|e| StoreError::Database {
        doing: "encoding a work order",
        source: Box::new(e),
    })?;
    let mut keys = vec![
        ("state".to_owned(), state_key(order.state)),
        ("category".to_owned(), order.category.clone()),
    ];
    if let Some(u) = &order.unit {
        keys.push(("unit".to_owned(), u.code.clone()));
    }
    if let Some(g) = &order.grid {
        keys.push(("grid".to_owned(), g.clone()));
    }
    Ok(RecordWrite {
        collection: COLLECTION.to_owned(),
        id: order.number.clone(),
        expect,
        body: Some(body),
        keys,
        // The step and state only: the description and reporter never go to the audit log.
        detail: Some(json!({"step": step.map(Step::id), "state": state_key(order.state)})),
    })
}

/// What one round of deadline supervision did and found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SupervisionRound {
    /// Notices sent (reminders, overdue warnings, 督办).
    pub notices: usize,
    /// Running orders past their handling deadline.
    pub overdue: usize,
}
