//! `.ods` and old `.xls` workbooks, which the parser lays out as dense grids:
//! good files import like their `.xlsx` and `.csv` twins, and files that name
//! a grid of billions of cells in a few bytes are refused in one line, with
//! the process under an address-space limit so that a regression fails here
//! instead of exhausting the machine.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

mod support;
use support::*;

/// Address space the node may use while reading a hostile workbook.
const CAP_BYTES: u64 = 1 << 30;

fn node(data: &Path, capped: bool, args: &[&str]) -> Out {
    if !capped {
        return support::node(data, args);
    }
    let mut prlimit = Command::new("prlimit");
    prlimit
        .arg(format!("--as={CAP_BYTES}"))
        .arg(env!("CARGO_BIN_EXE_lunxun-node"));
    run(prlimit, data, args)
}

fn roster_rows() -> Vec<Vec<String>> {
    let mut rows = vec![
        ["person_id", "name", "rank", "since"]
            .map(String::from)
            .to_vec(),
    ];
    for (i, (name, rank)) in [
        ("张三", "general"),
        ("李四", "leading"),
        ("王五", "general"),
    ]
    .into_iter()
    .enumerate()
    {
        rows.push(vec![
            id(&format!("4101021980010100{i}")),
            name.to_owned(),
            rank.to_owned(),
            "2024-01-01".to_owned(),
        ]);
    }
    rows
}

fn zip_of(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    for (name, bytes) in parts {
        let method = if *name == "mimetype" {
            zip::CompressionMethod::Stored
        } else {
            zip::CompressionMethod::Deflated
        };
        let options = zip::write::SimpleFileOptions::default().compression_method(method);
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

const ODS_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<office:document-content xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" \
xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" \
xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" office:version=\"1.2\">\
<office:body><office:spreadsheet><table:table table:name=\"Sheet1\">";
const ODS_TAIL: &str =
    "</table:table></office:spreadsheet></office:body></office:document-content>";

const MANIFEST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\" manifest:version=\"1.2\">\
<manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"application/vnd.oasis.opendocument.spreadsheet\"/>\
<manifest:file-entry manifest:full-path=\"content.xml\" manifest:media-type=\"text/xml\"/>\
</manifest:manifest>";

/// An `.ods` workbook whose first sheet's rows are `body` (table-row elements).
fn ods(body: &str) -> Vec<u8> {
    let content = format!("{ODS_HEAD}{body}{ODS_TAIL}");
    zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
        ),
        ("META-INF/manifest.xml", MANIFEST.as_bytes()),
        ("content.xml", content.as_bytes()),
    ])
}

fn ods_cell(text: &str) -> String {
    format!(
        "<table:table-cell office:value-type=\"string\"><text:p>{text}</text:p></table:table-cell>"
    )
}

fn ods_rows(rows: &[Vec<String>]) -> String {
    rows.iter()
        .map(|r| {
            let cells: String = r.iter().map(|c| ods_cell(c)).collect();
            format!("<table:table-row>{cells}</table:table-row>")
        })
        .collect()
}

fn biff(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out
}

fn bof(dt: u16) -> Vec<u8> {
    let mut data = Vec::new();
    for v in [0x0600u16, dt, 0x0DBB, 0x07CC] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.extend_from_slice(&[0; 8]);
    biff(0x0809, &data)
}

/// A BIFF8 Label record: a string cell.
fn label(row: u16, col: u16, text: &str) -> Vec<u8> {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut data = Vec::new();
    for v in [row, col, 0, units.len() as u16] {
        data.extend_from_slice(&v.to_le_bytes());
    }
    data.push(1); // UTF-16
    for u in units {
        data.extend_from_slice(&u.to_le_bytes());
    }
    biff(0x0204, &data)
}

/// An `.xls` workbook (BIFF8 in a compound document) with one sheet whose
/// records are `cells`.
fn xls(cells: &[Vec<u8>]) -> Vec<u8> {
    let name = b"Sheet1";
    let sheet_record_len = 4 + 4 + 2 + 2 + name.len();
    let globals_len = bof(5).len() + sheet_record_len + 4;
    let mut stream = bof(5);
    let mut sheet = (globals_len as u32).to_le_bytes().to_vec();
    sheet.extend_from_slice(&[0, 0, name.len() as u8, 0]);
    sheet.extend_from_slice(name);
    stream.extend(biff(0x0085, &sheet));
    stream.extend(biff(0x000A, &[]));
    assert_eq!(stream.len(), globals_len);
    stream.extend(bof(0x10));
    for c in cells {
        stream.extend_from_slice(c);
    }
    stream.extend(biff(0x000A, &[]));
    // Padded beyond the small-stream cutoff, as spreadsheet programs write it.
    stream.resize(stream.len().max(4096 + 512), 0);

    let mut file =
        cfb::CompoundFile::create_with_version(cfb::Version::V3, std::io::Cursor::new(Vec::new()))
            .unwrap();
    file.create_stream("/Workbook")
        .unwrap()
        .write_all(&stream)
        .unwrap();
    file.flush().unwrap();
    file.into_inner().into_inner()
}

fn xls_rows(rows: &[Vec<String>]) -> Vec<Vec<u8>> {
    let mut cells = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        for (c, text) in row.iter().enumerate() {
            cells.push(label(r as u16, c as u16, text));
        }
    }
    cells
}

fn people(data: &Path) -> Value {
    serde_json::from_str(&ok(data, &["people", "--format", "json"])).unwrap()
}

#[test]
fn ods_and_xls_rosters_import_like_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let rows = roster_rows();
    let csv: String = rows.iter().map(|r| r.join(",") + "\n").collect();
    let files = [
        ("roster.csv", csv.into_bytes()),
        ("roster.ods", ods(&ods_rows(&rows))),
        ("roster.xls", xls(&xls_rows(&rows))),
    ];
    let mut seen = Vec::new();
    for (name, bytes) in files {
        let file = tmp.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let data = tmp.path().join(format!("data-{name}"));
        ok(&data, &["init", "--org", "410102"]);
        let out = node(&data, true, &["import", "roster", file.to_str().unwrap()]);
        assert_eq!(out.code, 0, "{name}: {}", out.stderr);
        assert!(out.stdout.contains("3 "), "{name}: {}", out.stdout);
        seen.push((name, people(&data)));
    }
    for (name, p) in &seen[1..] {
        assert_eq!(p, &seen[0].1, "{name} reads as the csv does");
    }
}

#[test]
fn dense_workbook_bombs_are_refused_in_one_line_within_bounded_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    ok(&data, &["init", "--org", "410102"]);
    let rows = roster_rows();

    let header = ods_rows(&rows[..1]);
    let wide = "<table:table-cell table:number-columns-repeated=\"16384\" office:value-type=\"string\">\
         <text:p>x</text:p></table:table-cell>";
    let bombs: Vec<(&str, Vec<u8>, &str)> = vec![
        // Rows that each spell out 16,384 cells: 20,000 of them are 330 million.
        (
            "columns.ods",
            ods(&format!(
                "{header}{}",
                format!("<table:table-row>{wide}</table:table-row>").repeat(20_000)
            )),
            "sheet Sheet1 spans",
        ),
        // One row of two distant cells, repeated a million times.
        (
            "rows.ods",
            ods(&format!(
                "{header}<table:table-row table:number-rows-repeated=\"1048000\">{}\
                 <table:table-cell table:number-columns-repeated=\"5000\"/>{}</table:table-row>",
                ods_cell("a"),
                ods_cell("b")
            )),
            "sheet Sheet1 spans A1:",
        ),
        // A cell at the last row and column an xls record can name.
        (
            "corner.xls",
            xls(&[label(0, 0, "person_id"), label(65_535, 65_535, "x")]),
            "sheet 1 spans A1:",
        ),
        // A Dimensions record that declares 2^32 rows.
        (
            "dimensions.xls",
            xls(&[
                {
                    let mut d = Vec::new();
                    d.extend_from_slice(&0u32.to_le_bytes());
                    d.extend_from_slice(&u32::MAX.to_le_bytes());
                    d.extend_from_slice(&0u16.to_le_bytes());
                    d.extend_from_slice(&200u16.to_le_bytes());
                    d.extend_from_slice(&0u16.to_le_bytes());
                    biff(0x0200, &d)
                },
                label(0, 0, "person_id"),
            ]),
            "declares",
        ),
    ];
    let before = own_seq(&data);
    for (name, bytes, says) in bombs {
        assert!(bytes.len() < 1 << 20, "{name} is {} bytes", bytes.len());
        let file = tmp.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        let out = node(&data, true, &["import", "roster", file.to_str().unwrap()]);
        assert_eq!(out.code, 3, "{name}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{name}: {}",
            out.stderr
        );
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{name}: {}", out.stderr);
    }
    assert_eq!(own_seq(&data), before, "nothing was written");

    // A tag of 2 MiB in a sheet's XML: the parser would hold it whole.
    let long = ods(&format!(
        "<table:table-row><table:table-cell office:value-type=\"string\"><text:p>{}</text:p>\
         </table:table-cell></table:table-row>",
        "x".repeat(2 << 20)
    ));
    let file = tmp.path().join("long.ods");
    std::fs::write(&file, long).unwrap();
    let out = node(&data, true, &["import", "roster", file.to_str().unwrap()]);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("content.xml holds a tag or text"),
        "{}",
        out.stderr
    );
    assert_eq!(own_seq(&data), before);
}
