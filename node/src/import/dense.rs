//! Bounds for the two formats the parser reads into dense grids: `.ods` and
//! old `.xls`.
//!
//! For both, the parser lays every sheet out as a rectangle of cells when the
//! workbook opens, sized by the extreme cells the file names, before anything
//! can be checked. A few hundred bytes can name a rectangle of billions of
//! cells: an `.ods` cell repeated 16,384 columns wide on a row repeated a
//! million times, or an `.xls` cell at row 65,536, column 65,536. So the file
//! is scanned first, with a reader that holds one row (ods) or one record
//! (xls) at a time, and refused when a sheet would take more than
//! [`DENSE_CELLS_MAX`] cells. The scan follows the parser's own layout
//! rules, erring on the side of counting more.

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Cells a sheet of an `.ods` or `.xls` file may span (its rectangle, and the
/// cells its rows spell out): 4,194,304, about 350,000 rows of 12 columns.
/// Larger sheets are read as `.xlsx` or `.csv`, which are read sparsely.
pub const DENSE_CELLS_MAX: u64 = 4 * 1024 * 1024;

/// How an `.xls` (a compound document) begins.
pub(super) const CFB_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The parser's own caps on an `.ods` sheet: repeats beyond them are cut.
const ODS_ROWS_MAX: u64 = 1_048_576;
const ODS_COLUMNS_MAX: u64 = 16_384;

// Every XML event the scanner holds is bounded before it runs: the zip
// check refuses a part with a tag or text over `workbook::SPAN_BYTES_MAX`.

/// A sheet's extent as the parser will lay it out.
#[derive(Debug, Default)]
struct Extent {
    /// Cells its rows spell out one by one (the parser's row buffer).
    spelled: u64,
    /// First filled row and the row after the last (repeats expanded).
    rows: Option<(u64, u64)>,
    /// First filled column and the column after the last.
    columns: Option<(u64, u64)>,
}

impl Extent {
    fn fill(&mut self, rows: (u64, u64), columns: (u64, u64)) {
        self.rows = Some(match self.rows {
            None => rows,
            Some((a, b)) => (a.min(rows.0), b.max(rows.1)),
        });
        self.columns = Some(match self.columns {
            None => columns,
            Some((a, b)) => (a.min(columns.0), b.max(columns.1)),
        });
    }

    fn rectangle(&self) -> u64 {
        match (self.rows, self.columns) {
            (Some((r0, r1)), Some((c0, c1))) => (r1 - r0).saturating_mul(c1 - c0),
            _ => 0,
        }
    }

    /// Cells the sheet takes.
    fn cells(&self) -> u64 {
        self.rectangle().max(self.spelled)
    }

    /// Refuses the sheet when it, with `before` cells of the sheets before it
    /// (all are held at once), outgrows [`DENSE_CELLS_MAX`]; `last` names
    /// the cell that made it (0-based row and column).
    fn check(&self, before: u64, sheet: &str, last: (u64, u64)) -> Result<(), String> {
        let cells = self.cells().saturating_add(before);
        if cells <= DENSE_CELLS_MAX {
            return Ok(());
        }
        let top_left = match (self.rows, self.columns) {
            (Some((r, _)), Some((c, _))) => cell_name(r, c),
            _ => cell_name(0, 0),
        };
        Err(format!(
            "sheet {sheet} spans {top_left}:{} ({cells} cells with the sheets before it, more than \
             {DENSE_CELLS_MAX} for an .ods or .xls file); save it as .xlsx or .csv",
            cell_name(last.0, last.1)
        ))
    }
}

/// The row being read: its repeat count, the column reached, and the span
/// of its filled cells.
type OdsRow = (u64, u64, Option<(u64, u64)>);

/// Refuses an `.ods` workbook (the zip's bytes) whose sheets the parser
/// would lay out larger than [`DENSE_CELLS_MAX`] cells.
pub fn check_ods(bytes: &[u8]) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable workbook: {e}"))?;
    let content = match zip.by_name("content.xml") {
        Ok(part) => part,
        // Not an .ods (or an empty one): the parser says which.
        Err(_) => return Ok(()),
    };
    let mut reader = Reader::from_reader(std::io::BufReader::new(content));
    let mut buf = Vec::new();
    let mut sheet = String::new();
    let mut extent = Extent::default();
    let mut before: u64 = 0;
    let mut row_at: u64 = 0;
    let mut row: Option<OdsRow> = None;
    loop {
        buf.clear();
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("content.xml: {e}"))?;
        let (start, empty) = match &event {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            Event::End(e) => {
                match e.name().into_inner() {
                    "table:table-row" => {
                        if let Some((repeats, _, filled)) = row.take() {
                            if let Some((first, end)) = filled {
                                // The parser spells out every cell up to the last
                                // filled one, once per row element, then repeats
                                // the row in the grid.
                                extent.spelled = extent.spelled.saturating_add(end);
                                extent.fill((row_at, row_at + repeats), (first, end));
                                extent.check(before, &sheet, (row_at + repeats - 1, end - 1))?;
                            }
                            row_at = (row_at + repeats).min(ODS_ROWS_MAX);
                        }
                    }
                    "table:table" => {
                        before = before.saturating_add(extent.cells());
                        extent = Extent::default();
                        row_at = 0;
                    }
                    _ => {}
                }
                continue;
            }
            Event::Eof => return Ok(()),
            _ => continue,
        };
        let Some(e) = start else { continue };
        match e.name().into_inner() {
            "table:table" => {
                sheet = attr(e, "table:name")?
                    .map(|n| n.chars().take(64).collect())
                    .unwrap_or_default();
                extent = Extent::default();
                row_at = 0;
            }
            "table:table-row" => {
                let repeats = count(e, "table:number-rows-repeated")?
                    .min(ODS_ROWS_MAX - row_at)
                    .max(1);
                if empty {
                    row_at = (row_at + repeats).min(ODS_ROWS_MAX);
                } else {
                    row = Some((repeats, 0, None));
                }
            }
            "table:table-cell" | "table:covered-table-cell" => {
                let Some((_, reached, filled)) = row.as_mut() else {
                    continue;
                };
                let repeats = count(e, "table:number-columns-repeated")?
                    .min(ODS_COLUMNS_MAX - (*reached).min(ODS_COLUMNS_MAX));
                // A cell with content or a value counts as filled (the
                // parser may still find it empty: counting it is the safe side).
                let is_filled = !empty
                    || attr(e, "office:value-type")?.is_some()
                    || attr(e, "table:formula")?.is_some();
                if is_filled && repeats > 0 {
                    let span = (*reached, *reached + repeats);
                    *filled = Some(match *filled {
                        None => span,
                        Some((a, _)) => (a, span.1),
                    });
                }
                *reached += repeats;
            }
            _ => {}
        }
    }
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|e| format!("content.xml: {e}"))?;
        if a.key.into_inner() == name {
            let value: String = a.value.chars().take(256).collect();
            return Ok(Some(value));
        }
    }
    Ok(None)
}

/// A repeat count attribute (1 when absent).
fn count(e: &BytesStart<'_>, name: &str) -> Result<u64, String> {
    match attr(e, name)? {
        None => Ok(1),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("content.xml: {} is not a count: {v:?}", name)),
    }
}

/// Sheets an `.xls` workbook may name (each is laid out when it opens).
const XLS_SHEETS_MAX: usize = 256;

/// Refuses an `.xls` workbook whose sheets the parser would lay out larger
/// than [`DENSE_CELLS_MAX`] cells. Walks the BIFF records as the parser
/// does: the globals up to their EOF for the sheets' positions, then each
/// sheet from its position (which may be anywhere in the stream, and the
/// same for several sheets) to its EOF, skipping embedded substreams.
pub fn check_xls(bytes: &[u8]) -> Result<(), String> {
    let unreadable = |e: &dyn std::fmt::Display| format!("not a readable workbook (xls): {e}");
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let Some(name) = ["/Workbook", "/Book"]
        .into_iter()
        .find(|s| file.is_stream(s))
    else {
        // No workbook stream: the parser says so.
        return Ok(());
    };
    let mut stream = Vec::new();
    file.open_stream(name)
        .map_err(|e| unreadable(&e))?
        .take(bytes.len() as u64)
        .read_to_end(&mut stream)
        .map_err(|e| unreadable(&e))?;

    let mut positions = Vec::new();
    for (kind, data) in Records(&stream) {
        match kind {
            // BoundSheet8: where a sheet's records begin.
            0x0085 if data.len() >= 4 => {
                if positions.len() == XLS_SHEETS_MAX {
                    return Err(format!(
                        "workbook names more than {XLS_SHEETS_MAX} sheets; it is not a spreadsheet a bureau keeps"
                    ));
                }
                positions.push(u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize);
            }
            0x000A => break,
            _ => {}
        }
    }

    let mut before: u64 = 0;
    for (n, pos) in positions.into_iter().enumerate() {
        let Some(records) = stream.get(pos..) else {
            continue;
        };
        let sheet = format!("{}", n + 1);
        // Values and formulas are laid out as two rectangles; the cells are
        // first gathered in a list the Dimensions record reserves.
        let (mut values, mut formulas) = (Extent::default(), Extent::default());
        let mut reserved: u64 = 0;
        let (mut seen_bof, mut depth) = (false, 0usize);
        for (kind, data) in Records(records) {
            if depth > 0 {
                match kind {
                    0x0809 => depth += 1,
                    0x000A => depth -= 1,
                    _ => {}
                }
                continue;
            }
            let u16_at = |at: usize| {
                data.get(at..at + 2)
                    .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])))
            };
            let u32_at = |at: usize| {
                data.get(at..at + 4)
                    .map(|b| u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            };
            let cell = match kind {
                0x0809 if seen_bof => {
                    depth += 1;
                    None
                }
                0x0809 => {
                    seen_bof = true;
                    None
                }
                0x000A => break,
                // Dimensions, read as the parser reads it.
                0x0200 => {
                    let dims = match data.len() {
                        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
                        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
                        _ => (None, None, None, None),
                    };
                    if let (Some(rf), Some(rl), Some(cf), Some(cl)) = dims {
                        let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
                        if rl >= 1 && cl >= 1 && rl > rf {
                            reserved = (rl - rf).saturating_mul(cl - cf);
                        }
                    }
                    let cells = reserved.saturating_add(before);
                    if cells > DENSE_CELLS_MAX {
                        return Err(format!(
                            "sheet {sheet} declares {reserved} cells (more than {DENSE_CELLS_MAX} \
                             for an .xls file); save it as .xlsx or .csv"
                        ));
                    }
                    None
                }
                // Number, Label, RString, BoolErr, RK, LabelSst, Formula: one cell.
                0x0203 | 0x0204 | 0x00D6 | 0x0205 | 0x027E | 0x00FD | 0x0006 => {
                    u16_at(0).zip(u16_at(2)).map(|(r, c)| (r, c, c))
                }
                // MulRk: a row of cells from a first to a last column.
                0x00BD if data.len() >= 6 => u16_at(0)
                    .zip(u16_at(2))
                    .zip(u16_at(data.len() - 2))
                    .map(|((r, c0), c1)| (r, c0, c1.max(c0))),
                _ => None,
            };
            let Some((r, c0, c1)) = cell else { continue };
            values.fill((r, r + 1), (c0, c1 + 1));
            let at = before.saturating_add(reserved);
            values.check(at, &sheet, (r, c1))?;
            if kind == 0x0006 {
                formulas.fill((r, r + 1), (c0, c1 + 1));
                formulas.check(at.saturating_add(values.cells()), &sheet, (r, c1))?;
            }
        }
        before = before
            .saturating_add(reserved)
            .saturating_add(values.cells())
            .saturating_add(formulas.cells());
    }
    Ok(())
}

/// BIFF records as (type, data), to the end of the bytes or the first
/// record that does not fit.
struct Records<'a>(&'a [u8]);

impl<'a> Iterator for Records<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let header = self.0.get(..4)?;
        let kind = u16::from_le_bytes([header[0], header[1]]);
        let len = usize::from(u16::from_le_bytes([header[2], header[3]]));
        let data = self.0.get(4..4 + len)?;
        self.0 = &self.0[4 + len..];
        Some((kind, data))
    }
}

/// A column's letters as Excel writes them (`XFD` for the 16,384th).
fn column_name(column: u64) -> String {
    let mut letters = Vec::new();
    let mut n = column + 1;
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8_lossy(&letters).into_owned()
}

fn cell_name(row: u64, column: u64) -> String {
    format!("{}{}", column_name(column), row + 1)
}
