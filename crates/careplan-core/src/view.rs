//! View models: the records of a standard file arranged the way people read them, and the
//! pre-send check of a batch of files (issue 6).
//!
//! Pure like the rest of the crate: records and bytes in, plain data out. The desktop app
//! draws these models; the headless commands may print them.
//!
//! - [`display`]: one field value as shown to a user (dates as dates, codes decoded, …).
//! - [`forms`]: 第2表 grouped as printed, the 第6表/実績 month calendar, 第7表 with its
//!   subtotal and total rows, 利用者補足情報 per user, records per user.
//! - [`precheck`]: every file of a batch checked (status OK / 注意 / エラー), plus the checks
//!   across files (sender office, incomplete sets, delete and re-send, duplicates).

pub mod display;
pub mod forms;
pub mod precheck;

pub use display::{Shown, ShownKind, show, show_date, show_month, show_time};
pub use forms::{
    Calendar, CalendarRow, Goal, HosokuUser, LimitSlot, Need, Plan2, Sheet7Row, Sheet7User,
    Subtotal, Support, UserRecords, calendar, field_index, guess_kinds, hosoku, sheet2, sheet7,
    users,
};
pub use precheck::{BatchFinding, FileCheck, Precheck, PrecheckItem, Status};
