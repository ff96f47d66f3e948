//! Which received file is the latest (issue 15): for every file of an inbox, whether a later
//! file from the same sender replaces it (`superseded_by`) or a later 削除 file removes it
//! (`deleted_by`), and the order in which a care software imports a set of files.
//!
//! Pure: the caller gives the files' names, senders, received times and IDs, and — when it
//! has read a file — the 利用者 the file holds ([`Identity`], from [`identity`]). The
//! decisions where the standard is silent are in `docs/csv.md` (「最新のファイル」).
//!
//! - "Later" is the import order of [`import_order`]: ファイル連番 ascending (standard.md
//!   §2.4), within one send-set 削除 files first, then 補足, 1表, 2表, 3表, 6表, 7表, ….
//! - A file is replaced by a later one of the same kind, sender (事業所番号, サービス種類),
//!   destination (事業所番号, サービス種類), month segment (kinds that have one) and image
//!   branch number. With identities on both sides, only when every 利用者 of the earlier
//!   file is in a later file; a file without identity is taken to hold every 利用者 of its
//!   series (all the name says).
//! - A 削除 file removes the earlier files its kind deletes (DLT1KYO → 1表/2表/3表,
//!   DLTPLAN → 6表/7表 of its month, DLTJSK → 実績 of its month, DLTKIHON → 利用者基本情報
//!   and its 別表/画像, DLTYOBO → 支援計画書 and its 別表). With identities, per 利用者 and
//!   plan key (計画作成（変更）日, 対象年月, 相談日, …).
//! - 削除 files and attachments are never marked themselves; files whose name has no
//!   ファイル連番 are never compared.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::csv::{Layout, Record};
use crate::ids::{OfficeNumber, ServiceType};
use crate::kind::FileKind;
use crate::name::{FileName, Month, Serial, parse_name};
use crate::view::field_index;

/// The relay's ID of a received file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub String);

impl FileId {
    /// The ID as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for FileId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One 利用者 of a file with the key a 削除 file names it by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserKey {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// What a 削除 file deletes by: 居宅サービス計画作成（変更）日 (第1〜3表), 対象年月
    /// (第6表・第7表), `対象年月|サービス事業者コード|サービス種類コード` (実績), 相談日
    /// (利用者基本情報), 計画作成(変更)日 (支援計画書), 対象年月 (利用者補足情報).
    pub key: String,
}

/// The 利用者 a file holds, read from its records (see [`identity`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Every distinct (利用者, key) of the file, sorted.
    pub users: Vec<UserKey>,
}

/// The identity of a file of `kind` read with `layout`: its 利用者 and their plan keys.
/// Records without 保険者番号 and 被保険者番号 are left out.
pub fn identity(kind: FileKind, layout: &Layout, records: &[Record]) -> Identity {
    let col = |name: &str| field_index(layout, name);
    let get = |r: &Record, i: Option<usize>| -> String {
        i.and_then(|i| r.get(i)).unwrap_or_default().to_owned()
    };
    let insurer = col("保険者番号");
    let insured = col("被保険者番号");
    let plan_key = |r: &Record| -> String {
        use FileKind as K;
        match kind {
            K::Up1Kyo | K::Dlt1Kyo | K::Up2Kyo | K::Up3Kyo => {
                get(r, col("居宅サービス計画作成（変更）日"))
            }
            K::UpPlan | K::UpSikyu | K::UpHosoku => get(r, col("対象年月")),
            K::DltPlan => get(r, col("削除対象年月")),
            K::UpJsk => {
                let code = get(r, col("サービスコード"));
                format!(
                    "{}|{}|{}",
                    get(r, col("対象年月")),
                    get(r, col("サービス事業者コード")),
                    code.get(..2).unwrap_or_default()
                )
            }
            K::DltJsk => format!(
                "{}|{}|{}",
                get(r, col("削除対象年月")),
                get(r, col("サービス事業者コード")),
                get(r, col("サービス種類コード"))
            ),
            K::UpKihon | K::DltKihon | K::UpKihonSub1 | K::UpKihonSub2 => get(r, col("相談日")),
            K::UpYobo | K::DltYobo | K::UpYoboSub => get(r, col("計画作成(変更)日")),
            K::UpKihonImage => String::new(),
        }
    };
    let mut users: Vec<UserKey> = records
        .iter()
        .filter_map(|r| {
            let insurer = get(r, insurer);
            let insured = get(r, insured);
            if insurer.is_empty() && insured.is_empty() {
                return None;
            }
            Some(UserKey {
                insurer,
                insured,
                key: plan_key(r),
            })
        })
        .collect();
    users.sort();
    users.dedup();
    Identity { users }
}

/// One file of an inbox, as the relay listed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// The relay's file ID.
    pub id: FileId,
    /// The file name.
    pub name: String,
    /// The sending office's 事業所番号 as the relay knows it (the authenticated sender).
    pub sender: String,
    /// When the relay received the file.
    pub received_at: OffsetDateTime,
    /// The 利用者 the file holds, when the caller has read it; `None`: only the name is used.
    pub identity: Option<Identity>,
}

impl Incoming {
    /// Every file of the relay's 受信一覧 (`GET /api/v1/received`), by name only (no identity).
    pub fn from_received(list: &[crate::wire::ReceivedTransmission]) -> Vec<Incoming> {
        list.iter()
            .flat_map(|t| {
                t.files.iter().map(move |f| Incoming {
                    id: FileId(f.id.clone()),
                    name: f.name.clone(),
                    sender: t.sender_office.clone(),
                    received_at: t.received_at,
                    identity: None,
                })
            })
            .collect()
    }
}

/// The marks of one file: which later file replaces it and which later 削除 file removes it.
/// A file with neither is current ("the newest stays plain").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The file.
    pub id: FileId,
    /// The later file that replaces it, if any.
    pub superseded_by: Option<FileId>,
    /// The later 削除 file that removes it, if any.
    pub deleted_by: Option<FileId>,
}

impl Mark {
    /// True when no later file replaces or removes the file.
    pub fn is_current(&self) -> bool {
        self.superseded_by.is_none() && self.deleted_by.is_none()
    }

    /// A short Japanese label for lists: `差し替え済` / `削除済` / empty.
    pub fn label(&self) -> &'static str {
        match (&self.superseded_by, &self.deleted_by) {
            (_, Some(_)) => "削除済",
            (Some(_), None) => "差し替え済",
            (None, None) => "",
        }
    }
}

/// Import rank of a kind inside one send-set: 削除 files first, then the 利用者 data, then
/// each parent before the files that refer to it.
fn set_rank(kind: Option<FileKind>) -> u8 {
    use FileKind as K;
    match kind {
        Some(K::Dlt1Kyo | K::DltPlan | K::DltJsk | K::DltKihon | K::DltYobo) => 0,
        Some(K::UpHosoku) => 1,
        Some(K::Up1Kyo) => 2,
        Some(K::Up2Kyo) => 3,
        Some(K::Up3Kyo) => 4,
        Some(K::UpPlan) => 5,
        Some(K::UpSikyu) => 6,
        Some(K::UpJsk) => 7,
        Some(K::UpKihon) => 8,
        Some(K::UpKihonSub1) => 9,
        Some(K::UpKihonSub2) => 10,
        Some(K::UpKihonImage) => 11,
        Some(K::UpYobo) => 12,
        Some(K::UpYoboSub) => 13,
        None => 14,
    }
}

/// A parsed file: what the ordering and the marks need.
struct Parsed<'a> {
    file: &'a Incoming,
    name: FileName,
}

impl Parsed<'_> {
    /// The serial when the file can be compared (a data file with a readable serial).
    fn serial(&self) -> Option<Serial> {
        self.name.kind.and(self.name.serial)
    }
}

/// The order key of [`import_order`].
fn order_key<'p>(p: &'p Parsed<'_>) -> impl Ord + 'p {
    (
        p.serial().is_none(),
        p.serial(),
        p.file.sender.as_str(),
        p.name.to_office,
        set_rank(p.name.kind),
        p.file.received_at,
        p.file.name.as_str(),
        p.file.id.as_str(),
    )
}

fn parse_all(files: &[Incoming]) -> Vec<Parsed<'_>> {
    files
        .iter()
        .map(|f| Parsed {
            file: f,
            name: parse_name(&f.name),
        })
        .collect()
}

fn sorted(parsed: &[Parsed<'_>]) -> Vec<usize> {
    let keys: Vec<_> = parsed.iter().map(order_key).collect();
    let mut order: Vec<usize> = (0..parsed.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    order
}

/// The order in which a care software imports `files` (indexes into `files`): by
/// ファイル連番 ascending (standard.md §2.4), then sender and destination; inside one
/// send-set 削除 files first, then 利用者補足情報, 第1表, 第2表, 第3表, 第6表, 第7表,
/// 実績, 利用者基本情報 and its 別表1/別表2/画像, 支援計画書 and its 別表; then received
/// time and name. Attachments and names without a readable ファイル連番 come last, by sender
/// and received time.
pub fn import_order(files: &[Incoming]) -> Vec<usize> {
    sorted(&parse_all(files))
}

/// The sender's and destination's サービス種類 of a name (v4 names; `None` for v3 names).
type Services = Option<(ServiceType, Option<ServiceType>)>;

fn services(n: &FileName) -> Services {
    n.from_service.map(|s| (s, n.to_service))
}

/// Two files belong to the same sender/destination pair of services: equal, or one of them
/// has a v3 name without service types.
fn compatible(a: &Services, b: &Services) -> bool {
    a.is_none() || b.is_none() || a == b
}

/// What a series of files (one kind, sender, destination, month, branch) is keyed by.
#[derive(Hash, PartialEq, Eq)]
struct SeriesKey<'a> {
    sender: &'a str,
    to: Option<OfficeNumber>,
    kind: FileKind,
    month: Option<Month>,
    branch: Option<&'a str>,
}

/// What the 削除 files of an inbox are grouped by: sender, destination, 削除 kind, month.
type DeleteKey<'a> = (&'a str, Option<OfficeNumber>, FileKind, Option<Month>);

/// The kinds a 削除 kind removes.
fn deletes(kind: FileKind) -> &'static [FileKind] {
    use FileKind as K;
    match kind {
        K::Dlt1Kyo => &[K::Up1Kyo, K::Up2Kyo, K::Up3Kyo],
        K::DltPlan => &[K::UpPlan, K::UpSikyu],
        K::DltJsk => &[K::UpJsk],
        K::DltKihon => &[K::UpKihon, K::UpKihonSub1, K::UpKihonSub2, K::UpKihonImage],
        K::DltYobo => &[K::UpYobo, K::UpYoboSub],
        _ => &[],
    }
}

/// The 削除 kind that removes files of `kind`, if any.
fn deleted_by_kind(kind: FileKind) -> Option<FileKind> {
    [
        FileKind::Dlt1Kyo,
        FileKind::DltPlan,
        FileKind::DltJsk,
        FileKind::DltKihon,
        FileKind::DltYobo,
    ]
    .into_iter()
    .find(|d| deletes(*d).contains(&kind))
}

/// Mark every file of an inbox (the result is in the order of `files`).
///
/// See the module documentation for the rules. Runs in O(n log n) for n files plus the
/// 利用者 of the identities given.
pub fn mark_latest(files: &[Incoming]) -> Vec<Mark> {
    let parsed = parse_all(files);
    let order = sorted(&parsed);
    // position[i] = place of file i in the import order.
    let mut position = vec![0usize; files.len()];
    for (pos, &i) in order.iter().enumerate() {
        position[i] = pos;
    }
    let mut marks: Vec<Mark> = files
        .iter()
        .map(|f| Mark {
            id: f.id.clone(),
            superseded_by: None,
            deleted_by: None,
        })
        .collect();

    // ---- series of registration files (in import order) ----
    let mut series: HashMap<SeriesKey<'_>, Vec<usize>> = HashMap::new();
    // ---- 削除 files per (sender, destination, removed kind family, month) ----
    let mut delete_groups: HashMap<DeleteKey<'_>, Vec<usize>> = HashMap::new();
    for &i in &order {
        let p = &parsed[i];
        let (Some(kind), Some(_)) = (p.name.kind, p.serial()) else {
            continue;
        };
        if !deletes(kind).is_empty() {
            delete_groups
                .entry((p.file.sender.as_str(), p.name.to_office, kind, p.name.month))
                .or_default()
                .push(i);
            continue;
        }
        series
            .entry(SeriesKey {
                sender: p.file.sender.as_str(),
                to: p.name.to_office,
                kind,
                month: p.name.month,
                branch: p.name.branch.as_deref(),
            })
            .or_default()
            .push(i);
    }

    for members in series.values() {
        mark_series(&parsed, &position, members, &mut marks);
    }
    for (i, p) in parsed.iter().enumerate() {
        let (Some(kind), Some(_)) = (p.name.kind, p.serial()) else {
            continue;
        };
        let Some(dk) = deleted_by_kind(kind) else {
            continue;
        };
        // 第1表 and 介護予防 deletes have no month; the 6表 family deletes a month.
        let month = if dk.has_month() { p.name.month } else { None };
        let Some(ds) = delete_groups.get(&(p.file.sender.as_str(), p.name.to_office, dk, month))
        else {
            continue;
        };
        if let Some(d) = first_deleting(&parsed, &position, i, ds) {
            marks[i].deleted_by = Some(files[d].id.clone());
        }
    }
    marks
}

/// Marks the replaced files of one series (`members` in import order).
fn mark_series(parsed: &[Parsed<'_>], position: &[usize], members: &[usize], marks: &mut [Mark]) {
    if members.len() < 2 {
        return;
    }
    // Lanes: the distinct service pairs of the series (usually one).
    let mut lanes: Vec<Services> = Vec::new();
    for &i in members {
        let s = services(&parsed[i].name);
        if !lanes.contains(&s) {
            lanes.push(s);
        }
    }
    // Per lane: newest file without identity, newest file per 利用者.
    struct Lane<'a> {
        newest_any: Option<usize>,
        newest_plain: Option<usize>,
        newest_user: HashMap<(&'a str, &'a str), usize>,
    }
    let mut state: Vec<Lane<'_>> = lanes
        .iter()
        .map(|_| Lane {
            newest_any: None,
            newest_plain: None,
            newest_user: HashMap::new(),
        })
        .collect();
    for &i in members {
        let s = services(&parsed[i].name);
        let Some(l) = lanes.iter().position(|x| *x == s) else {
            continue;
        };
        let lane = &mut state[l];
        lane.newest_any = Some(i);
        match &parsed[i].file.identity {
            None => lane.newest_plain = Some(i),
            Some(id) => {
                for u in &id.users {
                    lane.newest_user
                        .insert((u.insurer.as_str(), u.insured.as_str()), i);
                }
            }
        }
    }
    let later = |a: Option<usize>, b: Option<usize>| -> Option<usize> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if position[x] >= position[y] { x } else { y }),
            (x, None) => x,
            (None, y) => y,
        }
    };
    for &i in members {
        let s = services(&parsed[i].name);
        let compatible_lanes: Vec<&Lane<'_>> = lanes
            .iter()
            .zip(&state)
            .filter(|(l, _)| compatible(&s, l))
            .map(|(_, st)| st)
            .collect();
        let by = match &parsed[i].file.identity {
            // Only the name is known: the newest file of the series replaces it.
            None => compatible_lanes
                .iter()
                .fold(None, |acc, l| later(acc, l.newest_any)),
            Some(id) if id.users.is_empty() => compatible_lanes
                .iter()
                .fold(None, |acc, l| later(acc, l.newest_any)),
            Some(id) => {
                let mut all: Option<usize> = None;
                let mut replaced = true;
                for u in &id.users {
                    let key = (u.insurer.as_str(), u.insured.as_str());
                    let newest = compatible_lanes.iter().fold(None, |acc, l| {
                        later(later(acc, l.newest_plain), l.newest_user.get(&key).copied())
                    });
                    match newest {
                        Some(n) if position[n] > position[i] => all = later(all, Some(n)),
                        _ => {
                            replaced = false;
                            break;
                        }
                    }
                }
                if replaced { all } else { None }
            }
        };
        if let Some(by) = by
            && position[by] > position[i]
        {
            marks[i].superseded_by = Some(parsed[by].file.id.clone());
        }
    }
}

/// The 削除 file (index) after file `i` that removes it: without identities the first later
/// compatible one; with identities the one after which every (利用者, key) of `i` is removed.
fn first_deleting(
    parsed: &[Parsed<'_>],
    position: &[usize],
    i: usize,
    ds: &[usize],
) -> Option<usize> {
    let s = services(&parsed[i].name);
    // `ds` is in import order: the deletes after `i` start at the partition point.
    let from = ds.partition_point(|&d| position[d] <= position[i]);
    let later = ds
        .get(from..)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|&d| compatible(&s, &services(&parsed[d].name)));
    let first = later.clone().next()?;
    let Some(id) = parsed[i]
        .file
        .identity
        .as_ref()
        .filter(|id| !id.users.is_empty())
    else {
        return Some(first);
    };
    let mut last_needed = first;
    for u in &id.users {
        // A 削除 record shares 利用者 and key with the records it removes.
        let hit = later.clone().find(|&d| match &parsed[d].file.identity {
            None => true,
            Some(did) => did.users.binary_search(u).is_ok(),
        })?;
        if position[hit] > position[last_needed] {
            last_needed = hit;
        }
    }
    Some(last_needed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{validate, write_csv};
    use crate::ids::{OfficeNumber, ServiceType};
    use crate::kind::NameShape;
    use crate::name::NameParts;

    const CM: &str = "12A8600011";
    const PROVIDER: &str = "12A2400103";

    fn name(kind: FileKind, month: Option<&str>, serial: &str) -> String {
        name_in(kind, NameShape::V4, month, serial, CM, PROVIDER)
    }

    fn name_in(
        kind: FileKind,
        shape: NameShape,
        month: Option<&str>,
        serial: &str,
        from: &str,
        to: &str,
    ) -> String {
        let v4 = shape == NameShape::V4;
        NameParts {
            kind,
            shape,
            month: month.map(str::to_owned),
            from: OfficeNumber::parse(from).expect("office"),
            from_service: v4.then(|| ServiceType::parse("43").expect("svc")),
            to: OfficeNumber::parse(to).expect("office"),
            to_service: v4.then(|| ServiceType::parse("11").expect("svc")),
            serial: serial.to_owned(),
            branch: None,
        }
        .to_name()
    }

    fn at(minute: u8) -> OffsetDateTime {
        time::macros::datetime!(2025-04-01 09:00 UTC) + time::Duration::minutes(i64::from(minute))
    }

    fn file(id: &str, name: String, minute: u8) -> Incoming {
        Incoming {
            id: FileId(id.to_owned()),
            sender: CM.to_owned(),
            name,
            received_at: at(minute),
            identity: None,
        }
    }

    fn by_id<'a>(marks: &'a [Mark], id: &str) -> &'a Mark {
        marks.iter().find(|m| m.id.0 == id).expect("mark")
    }

    fn sup(marks: &[Mark], id: &str) -> Option<String> {
        by_id(marks, id).superseded_by.as_ref().map(|x| x.0.clone())
    }

    fn del(marks: &[Mark], id: &str) -> Option<String> {
        by_id(marks, id).deleted_by.as_ref().map(|x| x.0.clone())
    }

    fn users(list: &[(&str, &str)]) -> Identity {
        let mut users: Vec<UserKey> = list
            .iter()
            .map(|(insured, key)| UserKey {
                insurer: "131011".into(),
                insured: (*insured).to_owned(),
                key: (*key).to_owned(),
            })
            .collect();
        users.sort();
        Identity { users }
    }

    #[test]
    fn a_later_plan_of_the_same_month_replaces_the_earlier_one() {
        let files = vec![
            file(
                "a",
                name(FileKind::UpPlan, Some("202504"), "20250401090000"),
                0,
            ),
            file(
                "b",
                name(FileKind::UpPlan, Some("202504"), "20250415090000"),
                5,
            ),
            file(
                "c",
                name(FileKind::UpPlan, Some("202505"), "20250410090000"),
                6,
            ),
            file(
                "d",
                name(FileKind::UpSikyu, Some("202504"), "20250401090000"),
                0,
            ),
        ];
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "a").as_deref(), Some("b"));
        assert_eq!(sup(&m, "b"), None);
        // Another month and another kind are other series.
        assert_eq!(sup(&m, "c"), None);
        assert_eq!(sup(&m, "d"), None);
        assert!(by_id(&m, "b").is_current());
        assert_eq!(by_id(&m, "a").label(), "差し替え済");
    }

    #[test]
    fn the_serial_decides_not_the_arrival() {
        // The newer serial arrived first (a resend of an old file came later).
        let files = vec![
            file("new", name(FileKind::Up1Kyo, None, "20250420100000"), 0),
            file("old", name(FileKind::Up1Kyo, None, "20250401100000"), 9),
        ];
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "old").as_deref(), Some("new"));
        assert_eq!(sup(&m, "new"), None);
        // The same serial twice: the later arrival is the newer copy.
        let files = vec![
            file("x", name(FileKind::Up1Kyo, None, "20250401100000"), 0),
            file("y", name(FileKind::Up1Kyo, None, "20250401100000"), 3),
        ];
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "x").as_deref(), Some("y"));
        assert_eq!(sup(&m, "y"), None);
    }

    #[test]
    fn other_senders_destinations_and_services_are_other_series() {
        let mut other_sender = file("s", name(FileKind::Up1Kyo, None, "20250402100000"), 1);
        other_sender.sender = "1310100013".into();
        let files = vec![
            file("a", name(FileKind::Up1Kyo, None, "20250401100000"), 0),
            other_sender,
            file(
                "t",
                name_in(
                    FileKind::Up1Kyo,
                    NameShape::V4,
                    None,
                    "20250403100000",
                    CM,
                    "1310100013",
                ),
                2,
            ),
        ];
        let m = mark_latest(&files);
        assert!(m.iter().all(Mark::is_current), "{m:?}");
        // A v3 name (no service types) and a v4 name of the same sender are one series.
        let files = vec![
            file(
                "v3",
                name_in(
                    FileKind::Up1Kyo,
                    NameShape::V3,
                    None,
                    "20250101100000",
                    CM,
                    PROVIDER,
                ),
                0,
            ),
            file("v4", name(FileKind::Up1Kyo, None, "20250401100000"), 1),
        ];
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "v3").as_deref(), Some("v4"));
    }

    #[test]
    fn with_identities_only_a_file_whose_users_are_all_resent_is_replaced() {
        let mut a = file(
            "a",
            name(FileKind::UpPlan, Some("202504"), "20250401090000"),
            0,
        );
        a.identity = Some(users(&[("0000000001", "202504"), ("0000000002", "202504")]));
        let mut b = file(
            "b",
            name(FileKind::UpPlan, Some("202504"), "20250410090000"),
            1,
        );
        b.identity = Some(users(&[("0000000002", "202504")]));
        let m = mark_latest(&[a.clone(), b.clone()]);
        // 利用者 1 is only in a: a still holds the newest plan of that user.
        assert_eq!(sup(&m, "a"), None);
        let mut c = file(
            "c",
            name(FileKind::UpPlan, Some("202504"), "20250420090000"),
            2,
        );
        c.identity = Some(users(&[("0000000001", "202504")]));
        let m = mark_latest(&[a.clone(), b.clone(), c]);
        // Now both users of a were sent again (in b and c): the newest of them replaces a.
        assert_eq!(sup(&m, "a").as_deref(), Some("c"));
        assert_eq!(sup(&m, "b"), None);
        // A later file read by name only is taken to hold everyone.
        let d = file(
            "d",
            name(FileKind::UpPlan, Some("202504"), "20250425090000"),
            3,
        );
        let m = mark_latest(&[a, b, d]);
        assert_eq!(sup(&m, "a").as_deref(), Some("d"));
        assert_eq!(sup(&m, "b").as_deref(), Some("d"));
    }

    #[test]
    fn a_later_delete_removes_the_plan_and_its_sheet7_but_not_later_ones() {
        let files = vec![
            file(
                "plan",
                name(FileKind::UpPlan, Some("202504"), "20250401090000"),
                0,
            ),
            file(
                "s7",
                name(FileKind::UpSikyu, Some("202504"), "20250401090000"),
                0,
            ),
            file(
                "hosoku",
                name(FileKind::UpHosoku, Some("202504"), "20250401090000"),
                0,
            ),
            file(
                "dlt",
                name(FileKind::DltPlan, Some("202504"), "20250405090000"),
                1,
            ),
            file(
                "may",
                name(FileKind::UpPlan, Some("202505"), "20250401090000"),
                0,
            ),
            file(
                "again",
                name(FileKind::UpPlan, Some("202504"), "20250406090000"),
                2,
            ),
        ];
        let m = mark_latest(&files);
        assert_eq!(del(&m, "plan").as_deref(), Some("dlt"));
        assert_eq!(del(&m, "s7").as_deref(), Some("dlt"));
        assert_eq!(by_id(&m, "plan").label(), "削除済");
        // 補足, another month, the re-send after the delete and the delete itself stay.
        assert_eq!(del(&m, "hosoku"), None);
        assert_eq!(del(&m, "may"), None);
        assert_eq!(del(&m, "again"), None);
        assert!(by_id(&m, "dlt").is_current());
        assert_eq!(sup(&m, "plan").as_deref(), Some("again"));
    }

    #[test]
    fn a_delete_in_the_same_set_is_imported_first() {
        let files = vec![
            file("up", name(FileKind::Up1Kyo, None, "20250401090000"), 0),
            file("dlt", name(FileKind::Dlt1Kyo, None, "20250401090000"), 0),
        ];
        let m = mark_latest(&files);
        assert_eq!(del(&m, "up"), None);
        assert_eq!(import_order(&files), vec![1, 0]);
    }

    #[test]
    fn dlt1kyo_removes_sheets_1_2_3_of_the_plan_date_it_names() {
        let mut k1 = file("k1", name(FileKind::Up1Kyo, None, "20250401090000"), 0);
        k1.identity = Some(users(&[("0000000001", "20250401")]));
        let mut k2 = file("k2", name(FileKind::Up2Kyo, None, "20250401090000"), 0);
        k2.identity = Some(users(&[("0000000001", "20250401")]));
        let mut k3 = file("k3", name(FileKind::Up3Kyo, None, "20250401090000"), 0);
        k3.identity = Some(users(&[("0000000001", "20250401")]));
        let mut other = file("other", name(FileKind::Up1Kyo, None, "20250402090000"), 0);
        other.identity = Some(users(&[("0000000002", "20250401")]));
        let mut d = file("d", name(FileKind::Dlt1Kyo, None, "20250410090000"), 1);
        d.identity = Some(users(&[("0000000001", "20250401")]));
        let m = mark_latest(&[k1, k2, k3, other.clone(), d.clone()]);
        for id in ["k1", "k2", "k3"] {
            assert_eq!(del(&m, id).as_deref(), Some("d"), "{id}");
        }
        // Another user's plan is not named by the delete.
        assert_eq!(del(&m, "other"), None);
        // A delete of another plan date does not remove it either.
        d.identity = Some(users(&[("0000000002", "20240401")]));
        let m = mark_latest(&[other, d]);
        assert_eq!(del(&m, "other"), None);
    }

    #[test]
    fn jisseki_deletes_are_per_service_type() {
        let jsk = |svc: &str, serial: &str| {
            NameParts {
                kind: FileKind::UpJsk,
                shape: NameShape::V4,
                month: Some("202504".into()),
                from: OfficeNumber::parse(PROVIDER).expect("office"),
                from_service: Some(ServiceType::parse(svc).expect("svc")),
                to: OfficeNumber::parse(CM).expect("office"),
                to_service: Some(ServiceType::parse("43").expect("svc")),
                serial: serial.into(),
                branch: None,
            }
            .to_name()
        };
        let dlt = NameParts {
            kind: FileKind::DltJsk,
            shape: NameShape::V4,
            month: Some("202504".into()),
            from: OfficeNumber::parse(PROVIDER).expect("office"),
            from_service: Some(ServiceType::parse("11").expect("svc")),
            to: OfficeNumber::parse(CM).expect("office"),
            to_service: Some(ServiceType::parse("43").expect("svc")),
            serial: "20250510090000".into(),
            branch: None,
        }
        .to_name();
        let mk = |id: &str, name: String| Incoming {
            id: FileId(id.into()),
            name,
            sender: PROVIDER.into(),
            received_at: at(0),
            identity: None,
        };
        let files = vec![
            mk("home", jsk("11", "20250501090000")),
            mk("day", jsk("15", "20250501090000")),
            mk("dlt", dlt),
        ];
        let m = mark_latest(&files);
        assert_eq!(del(&m, "home").as_deref(), Some("dlt"));
        assert_eq!(del(&m, "day"), None);
    }

    #[test]
    fn the_relay_list_is_marked_file_by_file() {
        use crate::kind::Category;
        use crate::wire::{ReceivedFile, ReceivedTransmission};
        let t = |id: &str, minute: u8, serial: &str| ReceivedTransmission {
            id: format!("t-{id}"),
            received_at: at(minute),
            sender_office: CM.into(),
            sender_name: "さくら居宅介護支援事業所".into(),
            message: String::new(),
            files: vec![ReceivedFile {
                id: id.into(),
                name: name(FileKind::UpPlan, Some("202504"), serial),
                kind: Some("UPPLAN".into()),
                category: Category::Registration,
                csv_version: Some("202407".into()),
                size: 100,
                sha256: String::new(),
                acquired: false,
            }],
        };
        let list = vec![t("new", 5, "20250410090000"), t("old", 1, "20250401090000")];
        let files = Incoming::from_received(&list);
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].sender, CM);
        assert_eq!(files[0].received_at, at(5));
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "old").as_deref(), Some("new"));
        let json = serde_json::to_value(&m).expect("json");
        assert_eq!(json[1]["superseded_by"], "new");
        assert_eq!(json[0]["deleted_by"], serde_json::Value::Null);
    }

    #[test]
    fn hosoku_of_a_plan_set_and_of_a_month_are_other_series() {
        let files = vec![
            file(
                "h0",
                name(FileKind::UpHosoku, Some("000000"), "20250401090000"),
                0,
            ),
            file(
                "h4",
                name(FileKind::UpHosoku, Some("202504"), "20250402090000"),
                1,
            ),
            file(
                "h0b",
                name(FileKind::UpHosoku, Some("000000"), "20250403090000"),
                2,
            ),
        ];
        let m = mark_latest(&files);
        assert_eq!(sup(&m, "h0").as_deref(), Some("h0b"));
        assert_eq!(sup(&m, "h4"), None);
    }

    #[test]
    fn a_delete_read_with_its_users_removes_only_them() {
        let mut plan = file(
            "plan",
            name(FileKind::UpPlan, Some("202504"), "20250401090000"),
            0,
        );
        plan.identity = Some(users(&[("0000000001", "202504"), ("0000000002", "202504")]));
        let mut d1 = file(
            "d1",
            name(FileKind::DltPlan, Some("202504"), "20250402090000"),
            1,
        );
        d1.identity = Some(users(&[("0000000001", "202504")]));
        let m = mark_latest(&[plan.clone(), d1.clone()]);
        // 利用者 2 is still planned: the file is not removed.
        assert_eq!(del(&m, "plan"), None);
        let mut d2 = file(
            "d2",
            name(FileKind::DltPlan, Some("202504"), "20250403090000"),
            2,
        );
        d2.identity = Some(users(&[("0000000002", "202504")]));
        let m = mark_latest(&[plan, d1, d2]);
        // Both 利用者 deleted: removed by the delete that took the last one.
        assert_eq!(del(&m, "plan").as_deref(), Some("d2"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// The import order and the marks do not depend on the order the files are given in.
        #[test]
        fn results_do_not_depend_on_the_input_order(seed in 0u64..1000) {
            use rand::seq::SliceRandom;
            use rand::SeedableRng;
            let kinds = [
                (FileKind::UpPlan, Some("202504")),
                (FileKind::UpSikyu, Some("202504")),
                (FileKind::DltPlan, Some("202504")),
                (FileKind::Up1Kyo, None),
                (FileKind::Dlt1Kyo, None),
            ];
            let mut files = Vec::new();
            for (i, (kind, month)) in kinds.iter().cycle().take(15).enumerate() {
                let serial = format!("202504{:02}090000", i % 5 + 1);
                files.push(file(&format!("f{i}"), name(*kind, *month, &serial), u8::try_from(i % 3).unwrap_or(0)));
            }
            let ids = |fs: &[Incoming]| -> Vec<String> {
                import_order(fs).into_iter().map(|i| fs[i].id.0.clone()).collect()
            };
            let marks = |fs: &[Incoming]| -> Vec<Mark> {
                let mut m = mark_latest(fs);
                m.sort_by(|a, b| a.id.cmp(&b.id));
                m
            };
            let mut shuffled = files.clone();
            shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
            proptest::prop_assert_eq!(ids(&files), ids(&shuffled));
            proptest::prop_assert_eq!(marks(&files), marks(&shuffled));
        }
    }

    #[test]
    fn import_order_follows_the_serial_then_the_set_rank() {
        let files = vec![
            file(
                "s7",
                name(FileKind::UpSikyu, Some("202504"), "20250402090000"),
                0,
            ),
            file(
                "h",
                name(FileKind::UpHosoku, Some("202504"), "20250402090000"),
                0,
            ),
            file("pdf", "計画書.pdf".into(), 0),
            file(
                "p",
                name(FileKind::UpPlan, Some("202504"), "20250402090000"),
                0,
            ),
            file("k2", name(FileKind::Up2Kyo, None, "20250401090000"), 1),
            file("k1", name(FileKind::Up1Kyo, None, "20250401090000"), 1),
            file("bad", "UP1KYO_broken.CSV".into(), 0),
        ];
        let ids: Vec<&str> = import_order(&files)
            .into_iter()
            .map(|i| files[i].id.0.as_str())
            .collect();
        assert_eq!(ids, vec!["k1", "k2", "h", "p", "s7", "bad", "pdf"]);
        let m = mark_latest(&files);
        assert!(m.iter().all(Mark::is_current));
    }

    #[test]
    fn identity_reads_users_and_plan_keys_from_real_files() {
        let offices = crate::demo::demo_offices(3, 3);
        let people = crate::demo::demo_users(3, 3);
        let set = crate::demo::careplan_set(
            &offices[0],
            &offices[1],
            "20250401",
            "20250401090000",
            &people,
        );
        let k2 = set
            .iter()
            .find(|f| f.name.starts_with("UP2KYO"))
            .expect("2表");
        let report = validate(FileKind::Up2Kyo, None, &k2.bytes);
        let layout = report.layout.expect("layout");
        let id = identity(FileKind::Up2Kyo, layout, &report.records);
        assert_eq!(id.users.len(), 3, "{id:?}");
        assert!(id.users.iter().all(|u| u.key == "20250401"));
        // The matching delete file names the same keys.
        let recs: Vec<Vec<String>> = people
            .iter()
            .map(|u| {
                vec![
                    "202407".into(),
                    u.insurer.clone(),
                    u.insured.clone(),
                    "20250401".into(),
                ]
            })
            .collect();
        let bytes = write_csv(FileKind::Dlt1Kyo, "202407", &recs).expect("ms932");
        let r = validate(FileKind::Dlt1Kyo, None, &bytes);
        let did = identity(FileKind::Dlt1Kyo, r.layout.expect("layout"), &r.records);
        assert_eq!(did.users, id.users);
    }

    #[test]
    fn many_files_are_marked_without_quadratic_work() {
        // 20 000 files of 200 series: every series keeps exactly its newest file plain.
        let mut files = Vec::new();
        for s in 0..200u32 {
            let month = format!("2025{:02}", s % 12 + 1);
            let to = crate::demo::fake_office_numbers(u64::from(s / 12), 1)[0];
            for k in 0..100u32 {
                let serial = format!("202504{:02}{:02}{:02}00", k / 24 % 28 + 1, k % 24, s % 60);
                let n = name_in(
                    FileKind::UpPlan,
                    NameShape::V4,
                    Some(&month),
                    &serial,
                    CM,
                    to.as_str(),
                );
                files.push(Incoming {
                    id: FileId(format!("{s}-{k}")),
                    name: n,
                    sender: CM.into(),
                    received_at: at(0),
                    identity: None,
                });
            }
        }
        let m = mark_latest(&files);
        let current = m.iter().filter(|x| x.is_current()).count();
        let series: std::collections::HashSet<(String, Option<OfficeNumber>)> = files
            .iter()
            .map(|f| {
                let n = parse_name(&f.name);
                (n.month.map(String::from).unwrap_or_default(), n.to_office)
            })
            .collect();
        assert_eq!(current, series.len());
    }
}
