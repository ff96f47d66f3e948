//! MS932 CSV files of the standard (standard.md §3, §4): reading, layouts, validation and
//! writing. See `docs/csv.md` for the decisions taken where the standard is silent.
//!
//! - [`read_csv_version`]: the CSVバージョン of a file, cheaply (raw bytes, no decoding).
//! - [`validate`]: decode, tokenize, pick the layout and check every record → [`CsvReport`].
//! - [`layout`] / [`decode_code`]: the record layouts and code tables as data.
//! - [`encode_ms932`] / [`write_csv`]: write records back as MS932, refusing characters
//!   outside MS932.

pub mod codes;
mod encoding;
mod layout;
mod reader;
mod rules;
mod validate;
mod version;
mod write;

pub use codes::CodeTable;
pub use encoding::{EncodeError, decode_ms932, encode_ms932};
pub use layout::{
    FieldDef, Format, Generation, KNOWN_VERSIONS, Layout, V3, V4, V4_ALIASES, all_layouts,
    decode_code, decode_code_in, layout, layout_for, resolve_layout, resolve_version,
};
pub use reader::{Record, parse_records};
pub use validate::{CsvReport, validate};
pub use version::read_csv_version;
pub use write::write_csv;
