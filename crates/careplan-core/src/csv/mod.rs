//! MS932 CSV files of the standard (standard.md §3, §4): reading, layouts, validation and
//! writing. See `docs/csv.md` for the decisions taken where the standard is silent.

mod version;

pub use version::read_csv_version;
