//! Ledgers (台账) as Excel downloads: a [`Table`] written as one sheet with a title row, bold
//! headings, codes as text, counts and measures as numbers, rates as percentages.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_xlsxwriter::{Format, Workbook, XlsxError};
use tudi_core::table::{Cell, Table};

use crate::problem::Problem;

fn workbook(t: &Table) -> Result<Vec<u8>, XlsxError> {
    workbook_of(&[t])
}

/// Tables as the sheets of one workbook, in order.
///
/// # Errors
/// A sheet name Excel refuses (over 31 characters, or with `[]:*?/\\`).
pub fn workbook_of(tables: &[&Table]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    for t in tables {
        sheet(&mut book, t)?;
    }
    book.save_to_buffer()
}

fn sheet(book: &mut Workbook, t: &Table) -> Result<(), XlsxError> {
    let sheet = book.add_worksheet();
    sheet.set_name(&t.sheet)?;
    let bold = Format::new().set_bold();
    let pct = Format::new().set_num_format("0.00%");
    let decimal = Format::new().set_num_format("0.0#");
    sheet.write_string_with_format(0, 0, &t.title, &bold)?;
    for (c, h) in t.headings.iter().enumerate() {
        let col = u16::try_from(c).unwrap_or(u16::MAX);
        sheet.write_string_with_format(1, col, *h, &bold)?;
        let width = t
            .rows
            .iter()
            .filter_map(|r| match r.get(c) {
                Some(Cell::Text(s)) => Some(s.chars().count()),
                _ => None,
            })
            .chain(std::iter::once(h.chars().count()))
            .max()
            .unwrap_or(8);
        #[allow(clippy::cast_precision_loss)]
        sheet.set_column_width(col, (width.min(40) as f64).mul_add(1.8, 2.0))?;
    }
    for (i, r) in t.rows.iter().enumerate() {
        let row = u32::try_from(i + 2).unwrap_or(u32::MAX);
        for (c, cell) in r.iter().enumerate() {
            let col = u16::try_from(c).unwrap_or(u16::MAX);
            match cell {
                Cell::Text(s) => {
                    sheet.write_string(row, col, s)?;
                }
                #[allow(clippy::cast_precision_loss)]
                Cell::Count(n) => {
                    sheet.write_number(row, col, *n as f64)?;
                }
                Cell::Number(Some(v)) => {
                    sheet.write_number_with_format(row, col, *v, &decimal)?;
                }
                Cell::Rate(Some(v)) => {
                    sheet.write_number_with_format(row, col, *v, &pct)?;
                }
                Cell::Number(None) | Cell::Rate(None) => {}
            }
        }
    }
    Ok(())
}

/// The table as an `.xlsx` attachment named `file`.
pub(crate) fn download(t: &Table, file: &str) -> Result<Response, Problem> {
    let bytes = workbook(t).map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "export-failed",
            "导出失败",
            format!("生成 Excel 失败：{e}"),
            e.to_string(),
        )
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Whether a table route's `format` parameter asks for Excel (`xlsx`) rather than JSON.
pub(crate) fn wants(format: Option<&str>) -> Result<bool, Problem> {
    match format {
        None | Some("json") => Ok(false),
        Some("xlsx") => Ok(true),
        Some(other) => Err(Problem::bad_parameter(
            "format",
            format!("未知格式“{other}”（可用：json、xlsx）"),
            format!("unknown format {other:?} (json, xlsx)"),
        )),
    }
}
