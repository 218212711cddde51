//! Workbooks from untrusted files, read within named limits before anything
//! large is allocated.
//!
//! A spreadsheet is a zip of XML parts, and its parser would otherwise
//! believe what the file says: a 1.7 KB workbook with cells at A1 and
//! XFD1048576 asks for a dense grid of 17 billion cells, and a few MB of
//! deflated shared strings unpack to gigabytes. So, before the parser sees it:
//!
//! - every zip part is unpacked once into nothing, counting its real size
//!   (declared sizes can lie), against [`PART_BYTES_MAX`],
//!   [`SHARED_STRINGS_BYTES_MAX`] and [`UNPACKED_BYTES_MAX`] in all, with at
//!   most [`PARTS_MAX`] parts;
//! - `.xlsx` and `.xlsb` sheets are read cell by cell into a sparse [`Sheet`]
//!   (never a dense grid), refusing a cell beyond [`COLUMNS_MAX`] or beyond
//!   `ROWS_MAX` rows, and more than [`CELLS_MAX`] cells.
//!
//! Old `.xls` files (not a zip) and `.ods` are read by the parser's own
//! dense sheet reader, after [`super::dense`] has scanned them and refused a
//! sheet larger than [`super::dense::DENSE_CELLS_MAX`] cells.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};

use calamine::{Data, DataRef, Reader, Sheets};

use super::ROWS_MAX;

/// How a zip file (and so an xlsx, xlsb or ods workbook) begins.
pub(super) const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// Parts (files inside the zip) a workbook may have.
pub const PARTS_MAX: usize = 10_000;
/// Unpacked bytes of one part (a worksheet's XML).
pub const PART_BYTES_MAX: u64 = 2 * 1024 * 1024 * 1024;
/// Unpacked bytes of the shared strings part, which the parser holds whole.
pub const SHARED_STRINGS_BYTES_MAX: u64 = 256 * 1024 * 1024;
/// Unpacked bytes of all parts together.
pub const UNPACKED_BYTES_MAX: u64 = 3 * 1024 * 1024 * 1024;
/// Columns a sheet may use (A to ALL); the contract's files use a dozen.
pub const COLUMNS_MAX: u32 = 1_000;
/// Non-empty cells a sheet may hold (the rows limit times a wide row).
pub const CELLS_MAX: usize = 64 * 1024 * 1024;

/// The first worksheet, sparse: the non-empty rows in order, each with its
/// non-empty cells in column order.
#[derive(Debug, Default)]
pub struct Sheet {
    /// (0-based row, cells as (0-based column, value)), ascending.
    rows: Vec<(u32, Vec<(u32, Data)>)>,
}

impl Sheet {
    /// The non-empty rows, in order: (0-based row, the row).
    pub fn rows(&self) -> impl Iterator<Item = (u32, SheetRow<'_>)> {
        self.rows.iter().map(|(r, cells)| (*r, SheetRow { cells }))
    }

    /// How many non-empty rows there are.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// A sheet from `(row, column, value)` cells in any order.
    fn from_cells(mut cells: Vec<(u32, u32, Data)>) -> Sheet {
        cells.sort_by_key(|(r, c, _)| (*r, *c));
        let mut rows: Vec<(u32, Vec<(u32, Data)>)> = Vec::new();
        for (r, c, value) in cells {
            match rows.last_mut() {
                Some((last, row)) if *last == r => row.push((c, value)),
                _ => rows.push((r, vec![(c, value)])),
            }
        }
        Sheet { rows }
    }
}

/// One row of a [`Sheet`].
#[derive(Debug, Clone, Copy)]
pub struct SheetRow<'s> {
    cells: &'s [(u32, Data)],
}

impl<'s> SheetRow<'s> {
    /// The value at 0-based `column`, if the cell is filled.
    pub fn get(&self, column: usize) -> Option<&'s Data> {
        let column = u32::try_from(column).ok()?;
        self.cells
            .binary_search_by_key(&column, |(c, _)| *c)
            .ok()
            .map(|i| &self.cells[i].1)
    }

    /// The filled cells, in column order, with the empty ones between them.
    pub fn dense(&self) -> Vec<&'s Data> {
        const EMPTY: &Data = &Data::Empty;
        let width = self.cells.last().map_or(0, |(c, _)| *c as usize + 1);
        let mut out = vec![EMPTY; width];
        for (c, value) in self.cells {
            out[*c as usize] = value;
        }
        out
    }
}

/// Reads the first worksheet of a workbook within the limits above. The
/// parser is a large third-party library fed with untrusted bytes: a panic in
/// it becomes a format error rather than taking the node down.
pub fn load(bytes: &[u8]) -> Result<Sheet, String> {
    catch_unwind(AssertUnwindSafe(|| {
        if bytes.starts_with(ZIP_MAGIC) {
            check_zip(bytes)?;
            super::dense::check_ods(bytes)?;
        } else if bytes.starts_with(super::dense::CFB_MAGIC) {
            super::dense::check_xls(bytes)?;
        }
        read(bytes)
    }))
    .unwrap_or_else(|_| Err("workbook is corrupt (the reader failed on it)".to_owned()))
}

/// Bytes of one tag or one text between tags in an XML part: the parser
/// holds each whole.
pub const SPAN_BYTES_MAX: u64 = 1024 * 1024;

/// A sink that measures the longest run of bytes without a `<`: the longest
/// tag or text an XML part holds.
#[derive(Default)]
struct Spans {
    run: u64,
    longest: u64,
}

impl std::io::Write for Spans {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for chunk in buf.split_inclusive(|b| *b == b'<') {
            self.run += chunk.len() as u64;
            self.longest = self.longest.max(self.run);
            if chunk.last() == Some(&b'<') {
                self.run = 0;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Unpacks every part into nothing, counting the bytes it really holds.
fn check_zip(bytes: &[u8]) -> Result<(), String> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| format!("not a readable workbook (xlsx, xls or ods): {e}"))?;
    if zip.len() > PARTS_MAX {
        return Err(format!(
            "workbook has {} parts (at most {PARTS_MAX}); it is not a spreadsheet",
            zip.len()
        ));
    }
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut part = zip
            .by_index(i)
            .map_err(|e| format!("not a readable workbook: part {i}: {e}"))?;
        let name: String = part
            .name()
            .map(|n| n.chars().take(64).collect())
            .unwrap_or_else(|_| format!("part {i}"));
        let shared_strings = name.ends_with("sharedStrings.xml");
        let max = if shared_strings {
            SHARED_STRINGS_BYTES_MAX
        } else {
            PART_BYTES_MAX
        };
        let mut spans = Spans::default();
        let size = std::io::copy(&mut (&mut part).take(max + 1), &mut spans)
            .map_err(|e| format!("not a readable workbook: {name}: {e}"))?;
        if name.ends_with(".xml") && spans.longest > SPAN_BYTES_MAX {
            return Err(format!(
                "workbook part {name} holds a tag or text of more than {} KiB; it is not a \
                 spreadsheet a bureau keeps",
                SPAN_BYTES_MAX / 1024
            ));
        }
        if size > max {
            return Err(format!(
                "workbook part {name} unpacks to more than {} MiB; it is not a spreadsheet a bureau keeps",
                max / (1024 * 1024)
            ));
        }
        total += size;
        if total > UNPACKED_BYTES_MAX {
            return Err(format!(
                "workbook unpacks to more than {} MiB in all; split it into smaller files",
                UNPACKED_BYTES_MAX / (1024 * 1024)
            ));
        }
    }
    Ok(())
}

fn read(bytes: &[u8]) -> Result<Sheet, String> {
    let book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes))
        .map_err(|e| format!("not a readable workbook (xlsx, xls or ods): {e}"))?;
    let no_sheet = || "workbook has no worksheet".to_owned();
    let cannot = |e: &dyn std::fmt::Display| format!("cannot read the first worksheet: {e}");
    match book {
        Sheets::Xlsx(mut book) => {
            let name = book.sheet_names().first().cloned().ok_or_else(no_sheet)?;
            let mut reader = book.worksheet_cells_reader(&name).map_err(|e| cannot(&e))?;
            collect(|| reader.next_cell().map_err(|e| cannot(&e)))
        }
        Sheets::Xlsb(mut book) => {
            let name = book.sheet_names().first().cloned().ok_or_else(no_sheet)?;
            let mut reader = book.worksheet_cells_reader(&name).map_err(|e| cannot(&e))?;
            collect(|| reader.next_cell().map_err(|e| cannot(&e)))
        }
        mut book => {
            let range = match book.worksheet_range_at(0) {
                Some(Ok(range)) => range,
                Some(Err(e)) => return Err(cannot(&e)),
                None => return Err(no_sheet()),
            };
            let (top, left) = range.start().unwrap_or((0, 0));
            let mut cells = Vec::new();
            for (r, row) in range.rows().enumerate() {
                for (c, value) in row.iter().enumerate() {
                    if !matches!(value, Data::Empty) {
                        cells.push((top + r as u32, left + c as u32, value.clone()));
                    }
                }
            }
            Ok(Sheet::from_cells(cells))
        }
    }
}

/// Collects the cells `next` yields, within the limits.
fn collect<'a>(
    mut next: impl FnMut() -> Result<Option<calamine::Cell<DataRef<'a>>>, String>,
) -> Result<Sheet, String> {
    let rows_max = u32::try_from(ROWS_MAX)
        .unwrap_or(u32::MAX)
        .saturating_add(16);
    let mut cells: Vec<(u32, u32, Data)> = Vec::new();
    while let Some(cell) = next()? {
        let (row, column) = cell.get_position();
        let value = Data::from(cell.get_value().clone());
        if matches!(value, Data::Empty) {
            continue;
        }
        if column >= COLUMNS_MAX {
            return Err(format!(
                "cell {} is beyond column {} (a sheet may use at most {COLUMNS_MAX} columns)",
                cell_name(row, column),
                column_name(COLUMNS_MAX - 1),
            ));
        }
        if row >= rows_max {
            return Err(format!(
                "cell {} is beyond row {rows_max}; split the file into smaller ones",
                cell_name(row, column)
            ));
        }
        if cells.len() >= CELLS_MAX {
            return Err(format!(
                "sheet has more than {CELLS_MAX} filled cells; split it into smaller files"
            ));
        }
        cells.push((row, column, value));
    }
    Ok(Sheet::from_cells(cells))
}

/// A column's letters as Excel writes them (`XFD` for the 16,384th).
fn column_name(column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(column) + 1;
    while n > 0 {
        letters.push(b'A' + ((n - 1) % 26) as u8);
        n = (n - 1) / 26;
    }
    letters.reverse();
    String::from_utf8_lossy(&letters).into_owned()
}

/// A cell's name as Excel writes it (`XFD1048576`).
fn cell_name(row: u32, column: u32) -> String {
    format!("{}{}", column_name(column), u64::from(row) + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_names_are_excels() {
        assert_eq!(cell_name(0, 0), "A1");
        assert_eq!(cell_name(9, 25), "Z10");
        assert_eq!(cell_name(0, 26), "AA1");
        assert_eq!(cell_name(1_048_575, 16_383), "XFD1048576");
    }

    #[test]
    fn a_sparse_sheet_reads_like_a_dense_one() {
        let sheet = Sheet::from_cells(vec![
            (3, 2, Data::String("c".into())),
            (0, 0, Data::String("a".into())),
            (3, 0, Data::Int(1)),
        ]);
        let rows: Vec<_> = sheet.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 0);
        assert_eq!(rows[1].1.get(2), Some(&Data::String("c".into())));
        assert_eq!(rows[1].1.get(1), None);
        assert_eq!(rows[1].1.dense().len(), 3);
    }
}
