//! From a file on disk to header-mapped rows of cells, whatever the file was
//! saved as: CSV in UTF-8 (with or without BOM) or GB18030/GBK, or a workbook.
//!
//! The row readers of `roster` and `trainings` only ever see [`Row`]s, so the
//! rules are written once for both formats, and line numbers are the ones the
//! user sees in an editor or in Excel.

use std::borrow::Cow;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use super::cell::{Cell, EMPTY_REQUIRED};
use super::workbook::{self, Sheet};
use super::{FILE_BYTES_MAX, ImportError, ImportOptions, PROGRESS_ROWS_MIN, ROWS_MAX};

/// Most columns one file kind knows; rows are read into a fixed array of this
/// size so no row allocates.
pub(crate) const FIELDS_MAX: usize = 12;

/// A column a file kind knows, with the header spellings accepted for it.
#[derive(Debug)]
pub(crate) struct Field {
    /// The English header of the contract, also the name used in messages.
    pub key: &'static str,
    /// The Chinese header of the contract.
    pub zh: &'static str,
    /// Other spellings seen in real spreadsheets.
    pub aliases: &'static [&'static str],
    pub required: bool,
}

impl Field {
    fn matches(&self, normalized: &str) -> bool {
        normalized == self.key || normalized == self.zh || self.aliases.contains(&normalized)
    }
}

/// Where each known field sits in the file, found once from the header row.
#[derive(Debug)]
pub(crate) struct Columns {
    /// For each field, the index of its column, if the file has it.
    index: [Option<usize>; FIELDS_MAX],
    /// For each field, its header as written in the file ("" when absent).
    names: [String; FIELDS_MAX],
}

impl Columns {
    /// The header text of field `field` as the file writes it, for messages.
    pub fn name(&self, field: usize) -> &str {
        self.names.get(field).map(String::as_str).unwrap_or("")
    }
}

/// One data row: its line and one cell per known field (empty when the file
/// lacks the column or the row is short).
pub(crate) struct Row<'r, 'c> {
    pub line: u64,
    pub cells: &'r [Cell<'c>; FIELDS_MAX],
    pub columns: &'r Columns,
}

impl<'c> Row<'_, 'c> {
    pub fn cell(&self, field: usize) -> Cell<'c> {
        self.cells.get(field).copied().unwrap_or(Cell::Empty)
    }

    pub fn column(&self, field: usize) -> &str {
        self.columns.name(field)
    }

    /// The cell of a column that must be filled in.
    pub fn required(&self, field: usize) -> Result<Cell<'c>, String> {
        let cell = self.cell(field);
        if cell.is_empty() {
            Err(EMPTY_REQUIRED.to_owned())
        } else {
            Ok(cell)
        }
    }
}

/// A loaded file, ready to be walked row by row.
pub(crate) enum Table {
    /// Decoded CSV text, BOM removed.
    Csv(String),
    /// The first worksheet of a workbook, sparse.
    Sheet(Sheet),
}

impl Table {
    /// Reads and decodes `path`, refusing files over [`FILE_BYTES_MAX`].
    pub fn load(path: &Path, file: &str) -> Result<Table, ImportError> {
        let io = |source| ImportError::Io {
            file: file.to_owned(),
            source,
        };
        let format = |reason: String| ImportError::Format {
            file: file.to_owned(),
            reason,
        };
        let too_large = || {
            format(format!(
                "file is larger than {} MiB; split it into smaller files",
                FILE_BYTES_MAX / (1024 * 1024)
            ))
        };
        let handle = File::open(path).map_err(io)?;
        if handle.metadata().map_err(io)?.len() > FILE_BYTES_MAX {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        // `take` as well as the metadata: pipes and growing files have no
        // honest length.
        handle
            .take(FILE_BYTES_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > FILE_BYTES_MAX {
            return Err(too_large());
        }
        if is_workbook(path, &bytes) {
            workbook::load(&bytes).map(Table::Sheet).map_err(format)
        } else {
            decode_text(bytes).map(Table::Csv).map_err(format)
        }
    }

    /// Maps the header row to `fields` and calls `visit` for every non-empty
    /// data row, in file order.
    pub fn for_each_row(
        &self,
        file: &str,
        fields: &[Field],
        opts: &ImportOptions,
        visit: &mut dyn FnMut(&Row<'_, '_>),
    ) -> Result<(), ImportError> {
        match self {
            Table::Csv(text) => csv_rows(text, file, fields, opts, visit),
            Table::Sheet(sheet) => sheet_rows(sheet, file, fields, opts, visit),
        }
    }
}

const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// A workbook by extension or by content: people rename files, and an `.xls`
/// saved by WPS is as common as an `.xlsx`.
fn is_workbook(path: &Path, bytes: &[u8]) -> bool {
    let by_extension = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["xlsx", "xlsm", "xls", "xlsb", "ods"]
            .iter()
            .any(|w| e.eq_ignore_ascii_case(w))
    });
    by_extension || bytes.starts_with(workbook::ZIP_MAGIC) || bytes.starts_with(OLE_MAGIC)
}

/// UTF-8 when the bytes are valid UTF-8 (a GBK file almost never is),
/// otherwise GB18030, a superset of GBK and GB2312.
fn decode_text(bytes: Vec<u8>) -> Result<String, String> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err("file is UTF-16 text; save it as CSV (UTF-8 or GBK) or as .xlsx".to_owned());
    }
    if bytes.contains(&0) {
        return Err("file contains NUL bytes; it is not a CSV text file".to_owned());
    }
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.into_bytes();
            match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(&bytes) {
                Some(text) => text.into_owned(),
                None => {
                    return Err("file is neither UTF-8 nor GB18030/GBK text; \
                                save it as CSV (UTF-8) or as .xlsx"
                        .to_owned());
                }
            }
        }
    };
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// Trims a header and folds ASCII case, so `Person_ID `, `　身份证号` and
/// `person_id` are one column.
fn normalize_header(text: &str) -> String {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .to_ascii_lowercase()
}

/// Finds each field's column. Unknown columns are ignored; a missing required
/// column or a field given twice is an error naming it in both languages.
fn map_headers(file: &str, headers: &[String], fields: &[Field]) -> Result<Columns, ImportError> {
    let header_error = |reason: String| ImportError::Header {
        file: file.to_owned(),
        reason,
    };
    let mut index = [None; FIELDS_MAX];
    let mut names: [String; FIELDS_MAX] = Default::default();
    for (col, header) in headers.iter().enumerate() {
        let normalized = normalize_header(header);
        if normalized.is_empty() {
            continue;
        }
        let Some(field) = fields.iter().position(|f| f.matches(&normalized)) else {
            continue;
        };
        let (Some(slot), Some(name)) = (index.get_mut(field), names.get_mut(field)) else {
            continue;
        };
        if slot.is_some() {
            let f = &fields[field];
            return Err(header_error(format!(
                "column {} ({}) appears twice, as {:?} and {:?}",
                f.key,
                f.zh,
                name,
                header.trim()
            )));
        }
        *slot = Some(col);
        *name = header.trim().to_owned();
    }
    let missing: Vec<String> = fields
        .iter()
        .zip(index)
        .filter(|(f, i)| f.required && i.is_none())
        .map(|(f, _)| format!("{} ({})", f.key, f.zh))
        .collect();
    if !missing.is_empty() {
        let found: Vec<Cow<'_, str>> = headers
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .map(mask_id_like)
            .collect();
        let mut found = found.join(", ");
        if found.chars().count() > 200 {
            found = found.chars().take(200).collect::<String>() + "...";
        }
        let s = if missing.len() == 1 { "" } else { "s" };
        return Err(header_error(format!(
            "missing required column{s} {}; the header row has: {found}",
            missing.join(", ")
        )));
    }
    Ok(Columns { index, names })
}

/// Title rows tolerated above the header. Chinese spreadsheets often start
/// with one ("中原区信访干部名单", "附件1") before the column headers.
const TITLE_ROWS_MAX: usize = 3;
/// A row with at most this many filled cells may be a title rather than a
/// header; a wider row that does not match is a wrong header.
const TITLE_CELLS_MAX: usize = 2;

/// Finds the header row: the first non-empty row, unless that is a title.
struct HeaderSearch<'a> {
    file: &'a str,
    fields: &'a [Field],
    titles: usize,
    /// The first row's mismatch, which is what to report if nothing fits.
    first_error: Option<ImportError>,
}

impl<'a> HeaderSearch<'a> {
    fn new(file: &'a str, fields: &'a [Field]) -> Self {
        HeaderSearch {
            file,
            fields,
            titles: 0,
            first_error: None,
        }
    }

    /// Tries a non-empty row as the header: its columns, `None` to try the
    /// next row, or the error to report.
    fn offer(&mut self, headers: &[String]) -> Result<Option<Columns>, ImportError> {
        let error = match map_headers(self.file, headers, self.fields) {
            Ok(columns) => return Ok(Some(columns)),
            Err(error) => error,
        };
        let filled = headers.iter().filter(|h| !h.trim().is_empty()).count();
        let names_a_column = headers
            .iter()
            .any(|h| self.fields.iter().any(|f| f.matches(&normalize_header(h))));
        if filled > TITLE_CELLS_MAX && (self.titles == 0 || names_a_column) {
            // This row is the header, and it is wrong.
            return Err(error);
        }
        let first_error = self.first_error.take().unwrap_or(error);
        if filled > TITLE_CELLS_MAX || self.titles >= TITLE_ROWS_MAX {
            // The first row was the header after all (this one is data).
            return Err(first_error);
        }
        self.titles += 1;
        self.first_error = Some(first_error);
        Ok(None)
    }

    /// The file ended before a header row was found.
    fn give_up(self) -> ImportError {
        self.first_error.unwrap_or_else(|| ImportError::Format {
            file: self.file.to_owned(),
            reason: "file is empty (no header row)".to_owned(),
        })
    }
}

/// A file without a header row puts data where the header should be; an ID
/// number quoted back in the message is masked.
fn mask_id_like(text: &str) -> Cow<'_, str> {
    let looks_like_id =
        text.len() >= 15 && text.len() <= 18 && text.bytes().take(15).all(|b| b.is_ascii_digit());
    if looks_like_id {
        Cow::Owned(format!("{}********{}", &text[..6], &text[14..]))
    } else {
        Cow::Borrowed(text)
    }
}

/// Picks the known fields' cells out of a row of any width.
fn row_cells<'c>(
    columns: &Columns,
    get: impl Fn(usize) -> Option<Cell<'c>>,
) -> [Cell<'c>; FIELDS_MAX] {
    std::array::from_fn(|field| columns.index[field].and_then(&get).unwrap_or(Cell::Empty))
}

fn too_many_rows(file: &str) -> ImportError {
    ImportError::Format {
        file: file.to_owned(),
        reason: format!("file has more than {ROWS_MAX} rows; split it into smaller files"),
    }
}

/// Physical line numbers from byte offsets. The csv crate's own line count
/// is off by one after blank lines and with CRLF endings, and the user looks
/// for the line in an editor.
struct LineCounter<'a> {
    bytes: &'a [u8],
    /// Offset up to which terminators have been counted.
    offset: usize,
    /// Line number at `offset`.
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        LineCounter {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record csv reports at `start`: csv's start may sit on
    /// the previous record's terminator or on skipped blank lines, so move
    /// past those first.
    fn line_of_record(&mut self, start: u64) -> u64 {
        let mut start = usize::try_from(start).unwrap_or(self.bytes.len());
        while matches!(self.bytes.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        let start = start.min(self.bytes.len()).max(self.offset);
        for at in self.offset..start {
            match self.bytes.get(at) {
                Some(b'\n') => self.line += 1,
                // A lone CR ends a line too (old Mac files).
                Some(b'\r') if self.bytes.get(at + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
        }
        self.offset = start;
        self.line
    }
}

fn csv_cell(bytes: &[u8]) -> Cell<'_> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cell::from_text(text),
        // The whole file was decoded to UTF-8 before; fields split at ASCII
        // delimiters stay valid. Kept as an error, not a panic.
        Err(_) => Cell::Invalid("cell is not valid text"),
    }
}

fn csv_rows(
    text: &str,
    file: &str,
    fields: &[Field],
    opts: &ImportOptions,
    visit: &mut dyn FnMut(&Row<'_, '_>),
) -> Result<(), ImportError> {
    let bytes = text.as_bytes();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut read = |record: &mut csv::ByteRecord| {
        reader
            .read_byte_record(record)
            .map_err(|e| ImportError::Format {
                file: file.to_owned(),
                reason: format!("cannot read CSV: {e}"),
            })
    };

    let mut search = HeaderSearch::new(file, fields);
    let columns = loop {
        if !read(&mut record)? {
            return Err(search.give_up());
        }
        if record.iter().all(|f| f.trim_ascii().is_empty()) {
            continue;
        }
        let headers: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        if let Some(columns) = search.offer(&headers)? {
            break columns;
        }
    };

    let mut lines = LineCounter::new(bytes);
    let mut progress = Progress::new(opts, bytes.len() as u64);
    let mut rows = 0usize;
    while read(&mut record)? {
        let cells = row_cells(&columns, |col| record.get(col).map(csv_cell));
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        rows += 1;
        if rows > ROWS_MAX {
            return Err(too_many_rows(file));
        }
        let start = record.position().map_or(0, csv::Position::byte);
        let line = lines.line_of_record(start);
        visit(&Row {
            line,
            cells: &cells,
            columns: &columns,
        });
        progress.at(rows, start);
    }
    progress.finish();
    Ok(())
}

fn sheet_rows(
    sheet: &Sheet,
    file: &str,
    fields: &[Field],
    opts: &ImportOptions,
    visit: &mut dyn FnMut(&Row<'_, '_>),
) -> Result<(), ImportError> {
    let mut rows = sheet.rows().enumerate();
    let mut search = HeaderSearch::new(file, fields);
    let columns = loop {
        let Some((_, (_, row))) = rows.next() else {
            return Err(search.give_up());
        };
        let row = row.dense();
        if row.iter().all(|d| Cell::from_data(d).is_empty()) {
            continue;
        }
        let headers: Vec<String> = row
            .into_iter()
            .map(|d| Cell::from_data(d).display().into_owned())
            .collect();
        if let Some(columns) = search.offer(&headers)? {
            break columns;
        }
    };
    if sheet.row_count() > ROWS_MAX.saturating_add(1) {
        return Err(too_many_rows(file));
    }
    let mut progress = Progress::new(opts, sheet.row_count() as u64);
    let mut count = 0usize;
    for (i, (row_index, row)) in rows {
        let cells = row_cells(&columns, |col| row.get(col).map(Cell::from_data));
        if cells.iter().all(Cell::is_empty) {
            continue;
        }
        count += 1;
        visit(&Row {
            // Spreadsheet rows are numbered from 1.
            line: u64::from(row_index) + 1,
            cells: &cells,
            columns: &columns,
        });
        progress.at(count, i as u64);
    }
    progress.finish();
    Ok(())
}

/// A progress bar that appears only once a file proves large.
struct Progress {
    enabled: bool,
    /// Total units (bytes for CSV, rows for sheets).
    total: u64,
    bar: Option<ProgressBar>,
}

/// Rows between progress updates; updating every row would cost more than
/// parsing it.
const PROGRESS_EVERY_ROWS: usize = 1024;

impl Progress {
    fn new(opts: &ImportOptions, total: u64) -> Self {
        Progress {
            enabled: opts.progress,
            total,
            bar: None,
        }
    }

    fn at(&mut self, rows: usize, position: u64) {
        if !self.enabled || !rows.is_multiple_of(PROGRESS_EVERY_ROWS) {
            return;
        }
        if self.bar.is_none() && rows > PROGRESS_ROWS_MIN {
            let bar = ProgressBar::new(self.total);
            let style = ProgressStyle::with_template(
                "{spinner} reading [{bar:40}] {percent}% ({elapsed}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            self.bar = Some(bar);
        }
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
