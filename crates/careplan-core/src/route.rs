//! Send-sets and routing (standard.md §2.4, product.md §3 新規作成 / 一括送信).
//!
//! - [`route`] groups files by the destination 事業所番号 in their names (一括送信) and lists
//!   what cannot be routed with the reason; more destinations than the limit is an error
//!   carrying the office count, and [`split_batches`] cuts the groups into sends of at most
//!   the limit.
//! - [`single_destination`] applies the 新規作成 rule: every data file names the same office.
//! - [`send_sets`] groups files by their 14-digit serial and checks each set is complete.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::finding::Finding;
use crate::ids::OfficeNumber;
use crate::kind::{Category, FileKind, NameShape};
use crate::name::FileName;

/// The default and maximum number of destination offices of one 一括送信.
pub const MAX_OFFICES: usize = 50;

/// Files for one destination office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteGroup {
    /// Destination office.
    pub to_office: OfficeNumber,
    /// File names, in input order.
    pub files: Vec<String>,
}

/// A file that cannot be routed, with the reason in Japanese.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unrouted {
    /// File name.
    pub file: String,
    /// Stable code: `ATTACHMENT`, `NAME_ERROR`, `NOT_OUR_OFFICE`, `TO_OURSELVES`.
    pub code: String,
    /// Why, in Japanese.
    pub reason: String,
}

/// Too many destination offices for one send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteError {
    /// `E_TOO_MANY_OFFICES`.
    pub code: String,
    /// Japanese message with the count and the limit.
    pub message: String,
    /// The number of destination offices.
    pub offices: usize,
}

/// The outcome of routing a batch of files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routing {
    /// One group per destination office, ordered by office number.
    pub groups: Vec<RouteGroup>,
    /// Files that have no destination.
    pub unrouted: Vec<Unrouted>,
    /// Set when the destinations exceed the limit.
    pub error: Option<RouteError>,
}

impl Routing {
    /// Routable within the limit (unrouted files do not make it fail; they are not sent).
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }
}

/// Why a single file cannot be routed from `our_office`, or its destination.
pub fn destination_of<'a>(
    our_office: &OfficeNumber,
    name: &'a FileName,
) -> Result<&'a OfficeNumber, Unrouted> {
    let un = |code: &str, reason: String| Unrouted {
        file: name.file.clone(),
        code: code.to_owned(),
        reason,
    };
    if name.kind.is_none() {
        return Err(un(
            "ATTACHMENT",
            "標準仕様のファイル名ではないため送信先を判定できません（PDF等の添付ファイル）。送る場合は送信先を指定してください。".to_owned(),
        ));
    }
    if let Some(e) = name.findings.iter().find(|f| f.is_error()) {
        return Err(un(
            "NAME_ERROR",
            format!("ファイル名に誤りがあります: {}", e.message),
        ));
    }
    let (Some(from), Some(to)) = (&name.from_office, &name.to_office) else {
        return Err(un(
            "NAME_ERROR",
            "ファイル名から事業所番号を読み取れません。".to_owned(),
        ));
    };
    if from != our_office {
        return Err(un(
            "NOT_OUR_OFFICE",
            format!(
                "送信元の事業所番号「{from}」がログイン中の事業所「{our_office}」と異なります。自事業所が作成したファイルか確認してください。"
            ),
        ));
    }
    if to == our_office {
        return Err(un(
            "TO_OURSELVES",
            format!(
                "送信先が自事業所「{to}」になっています。送信先の事業所番号を確認してください。"
            ),
        ));
    }
    Ok(to)
}

/// Route files to their destination offices (一括送信). `max_offices` is normally
/// [`MAX_OFFICES`]; it can lower the limit, never raise it (the 50 offices of one bulk send
/// are the standard's limit).
pub fn route(our_office: &OfficeNumber, names: &[FileName], max_offices: usize) -> Routing {
    let max_offices = max_offices.clamp(1, MAX_OFFICES);
    let mut groups: BTreeMap<&OfficeNumber, Vec<String>> = BTreeMap::new();
    let mut unrouted = Vec::new();
    for n in names {
        match destination_of(our_office, n) {
            Ok(to) => groups.entry(to).or_default().push(n.file.clone()),
            Err(u) => unrouted.push(u),
        }
    }
    let groups: Vec<RouteGroup> = groups
        .into_iter()
        .map(|(to, files)| RouteGroup {
            to_office: *to,
            files,
        })
        .collect();
    let error = (groups.len() > max_offices).then(|| too_many(groups.len(), max_offices));
    Routing {
        groups,
        unrouted,
        error,
    }
}

fn too_many(offices: usize, max: usize) -> RouteError {
    RouteError {
        code: "E_TOO_MANY_OFFICES".to_owned(),
        message: format!(
            "送信先が{offices}事業所あります。一度に送信できるのは{max}事業所までです。{max}事業所ずつ{}回に分けて送信してください。",
            offices.div_ceil(max.max(1))
        ),
        offices,
    }
}

/// Cut groups into batches of at most `max_offices` destinations (never more than
/// [`MAX_OFFICES`]), keeping order.
pub fn split_batches(groups: &[RouteGroup], max_offices: usize) -> Vec<Vec<RouteGroup>> {
    groups
        .chunks(max_offices.clamp(1, MAX_OFFICES))
        .map(<[RouteGroup]>::to_vec)
        .collect()
}

/// The 新規作成 rule: every data file goes to one and the same office. Attachments ride
/// along. Returns that office, or an error that points the user to 一括送信.
pub fn single_destination(
    our_office: &OfficeNumber,
    names: &[FileName],
) -> Result<OfficeNumber, Finding> {
    let mut dest: Option<&OfficeNumber> = None;
    let mut offices: Vec<&OfficeNumber> = Vec::new();
    for n in names.iter().filter(|n| n.is_data()) {
        let to = destination_of(our_office, n).map_err(|u| {
            Finding::error(
                &format!("E_ROUTE_{}", u.code),
                format!("{}: {}", u.file, u.reason),
            )
        })?;
        if !offices.contains(&to) {
            offices.push(to);
        }
        dest.get_or_insert(to);
    }
    match offices.len() {
        0 => Err(Finding::error(
            "E_NO_DESTINATION",
            "送信先を判定できるCSVファイルがありません。送信先の事業所番号を指定するか、標準仕様のCSVファイルを追加してください。",
        )),
        1 => Ok(*offices[0]),
        n => Err(Finding::error(
            "E_SEVERAL_DESTINATIONS",
            format!(
                "ファイルの送信先が{n}事業所（{}）に分かれています。新規作成は1つの事業所への送信です。複数の事業所へ送る場合は「一括送信」を使ってください。",
                offices
                    .iter()
                    .map(|o| o.as_str())
                    .collect::<Vec<_>>()
                    .join("、")
            ),
        )),
    }
}

/// What a send-set is, by the kinds it holds (standard.md §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetKind {
    /// ① 1表 + 2表 (+ 3表) + 利用者補足 (補足 month `000000`).
    CarePlan,
    /// ② 6表 + 7表 + 利用者補足 (補足 with the service month).
    MonthlyPlan,
    /// A delete file or 実績 file, which travel alone.
    Single,
    /// 介護予防: 利用者基本情報 and/or 支援計画書 with their sub-files.
    Prevention,
    /// Files that do not form any set of the standard.
    Other,
}

impl SetKind {
    /// Japanese label.
    pub fn label(self) -> &'static str {
        match self {
            SetKind::CarePlan => "計画書（第1表・第2表・第3表＋利用者補足情報）",
            SetKind::MonthlyPlan => "利用票（第6表・第7表＋利用者補足情報）",
            SetKind::Single => "単独ファイル（削除・実績）",
            SetKind::Prevention => "介護予防（利用者基本情報・支援計画書）",
            SetKind::Other => "その他",
        }
    }
}

/// The files of one send-set: same sender, destination and serial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendSet {
    /// The shared 14-digit serial.
    pub serial: String,
    /// Destination office.
    pub to_office: Option<OfficeNumber>,
    /// File names in the set.
    pub files: Vec<String>,
    /// What kind of set it is.
    pub kind: SetKind,
    /// True when every mandatory member is there.
    pub complete: bool,
    /// Warnings about missing or extra members.
    pub findings: Vec<Finding>,
}

/// Group data files (names without errors) into send-sets by serial and destination, in
/// ascending serial order (the receiver's import order), and check their completeness.
pub fn send_sets(names: &[FileName]) -> Vec<SendSet> {
    type Key<'a> = (&'a str, Option<&'a OfficeNumber>, Option<&'a OfficeNumber>);
    let mut by_key: BTreeMap<Key<'_>, Vec<&FileName>> = BTreeMap::new();
    for n in names {
        if let (Some(_), Some(serial)) = (n.kind, n.serial.as_deref()) {
            by_key
                .entry((serial, n.to_office.as_ref(), n.from_office.as_ref()))
                .or_default()
                .push(n);
        }
    }
    let keyed: Vec<_> = by_key.into_iter().collect();
    let mut sets: Vec<SendSet> = keyed
        .iter()
        .map(|((serial, to, _), files)| check_set(serial, *to, files))
        .collect();
    // A delete file removes what an earlier set (lower serial, imported first) of the
    // same sender and destination registered.
    for (i, ((serial, to, from), files)) in keyed.iter().enumerate() {
        for del in files.iter().filter(|f| f.category == Category::Deletion) {
            let Some(dk) = del.kind else { continue };
            for ((earlier, eto, efrom), efiles) in &keyed {
                if earlier >= serial || eto != to || efrom != from {
                    continue;
                }
                for up in efiles {
                    let Some(uk) = up.kind else { continue };
                    if !removes(dk, uk) {
                        continue;
                    }
                    let same_month = match (del.month.as_deref(), up.month.as_deref()) {
                        (Some(a), Some(b)) => a == b,
                        _ => true,
                    };
                    if !same_month {
                        continue;
                    }
                    let exact = del.month.is_some();
                    let what = if exact {
                        "を削除します"
                    } else {
                        "を削除する可能性があります（どの計画を削除するかはファイルの中の日付で決まります）"
                    };
                    if let Some(set) = sets.get_mut(i) {
                        set.findings.push(Finding::warning(
                            "W_SET_DELETE_AFTER",
                            format!(
                                "連番 {serial} の{}は、先に取り込まれる連番 {earlier} の{}（{}）{what}。送信先は連番の順に取り込むため、先に送るファイルが削除されてよいか確認してください。登録し直す場合は、削除ファイルを先の連番にしてください。",
                                dk.label(),
                                uk.label(),
                                up.file
                            ),
                        ));
                    }
                }
            }
        }
    }
    sets
}

/// Whether a delete file of kind `delete` removes files of kind `up` (standard.md §2.4:
/// 1表削除 also removes 2表 and 3表, 6表削除 also 7表, 介護予防 deletes also their 別表 and
/// 画像).
pub fn removes(delete: FileKind, up: FileKind) -> bool {
    use FileKind as K;
    match delete {
        K::Dlt1Kyo => matches!(up, K::Up1Kyo | K::Up2Kyo | K::Up3Kyo),
        K::DltPlan => matches!(up, K::UpPlan | K::UpSikyu),
        K::DltJsk => up == K::UpJsk,
        K::DltKihon => matches!(
            up,
            K::UpKihon | K::UpKihonSub1 | K::UpKihonSub2 | K::UpKihonImage
        ),
        K::DltYobo => matches!(up, K::UpYobo | K::UpYoboSub),
        _ => false,
    }
}

fn check_set(serial: &str, to: Option<&OfficeNumber>, files: &[&FileName]) -> SendSet {
    use FileKind as K;
    let kinds: Vec<FileKind> = files.iter().filter_map(|f| f.kind).collect();
    let has = |k: FileKind| kinds.contains(&k);
    let hosoku_months: Vec<&str> = files
        .iter()
        .filter(|f| f.kind == Some(K::UpHosoku))
        .filter_map(|f| f.month.as_deref())
        .collect();
    let mut findings = Vec::new();
    let mut missing = |what: &str, set: &str| {
        findings.push(Finding::warning(
            "W_SET_INCOMPLETE",
            format!("送信セット（連番 {serial}）の{set}に{what}がありません。介護ソフトから同じ連番のファイルをすべて出力して一緒に送ってください。"),
        ));
    };
    let singles = [
        K::Dlt1Kyo,
        K::DltPlan,
        K::UpJsk,
        K::DltJsk,
        K::DltKihon,
        K::DltYobo,
    ];
    let kind = if kinds.iter().any(|k| singles.contains(k)) {
        SetKind::Single
    } else if has(K::UpPlan) || has(K::UpSikyu) {
        SetKind::MonthlyPlan
    } else if has(K::Up1Kyo) || has(K::Up2Kyo) || has(K::Up3Kyo) {
        SetKind::CarePlan
    } else if kinds.iter().any(|k| k.v4_only()) {
        SetKind::Prevention
    } else if has(K::UpHosoku) {
        if hosoku_months.iter().all(|m| *m == "000000") {
            SetKind::CarePlan
        } else {
            SetKind::MonthlyPlan
        }
    } else {
        SetKind::Other
    };
    match kind {
        SetKind::CarePlan => {
            let set = "計画書セット";
            if !has(K::Up1Kyo) {
                missing("第1表", set);
            }
            if !has(K::Up2Kyo) {
                missing("第2表", set);
            }
            // 第3表 exists from v4 on: a set named the v4 way must carry it.
            if !has(K::Up3Kyo) && files.iter().any(|f| f.shape == Some(NameShape::V4)) {
                missing("第3表（第4版から必須）", set);
            }
            if !has(K::UpHosoku) {
                missing("利用者補足情報", set);
            }
            if hosoku_months.iter().any(|m| *m != "000000") {
                findings.push(Finding::warning(
                    "W_SET_HOSOKU_MONTH",
                    format!("送信セット（連番 {serial}）の利用者補足情報の年月が000000ではありません。計画書と送る利用者補足情報は年月を000000にします。"),
                ));
            }
        }
        SetKind::MonthlyPlan => {
            let set = "利用票セット";
            if !has(K::UpPlan) {
                missing("第6表（サービス利用票）", set);
            }
            if !has(K::UpSikyu) {
                missing("第7表（サービス利用票別表）", set);
            }
            if !has(K::UpHosoku) {
                missing("利用者補足情報", set);
            }
            let months: Vec<&str> = files.iter().filter_map(|f| f.month.as_deref()).collect();
            if months.windows(2).any(|w| w[0] != w[1]) {
                findings.push(Finding::warning(
                    "W_SET_MONTHS_DIFFER",
                    format!(
                        "送信セット（連番 {serial}）のファイルの対象年月がそろっていません（{}）。",
                        months.join("、")
                    ),
                ));
            }
        }
        SetKind::Single => {
            if files.len() > 1 {
                findings.push(Finding::warning(
                    "W_SET_SINGLE_NOT_ALONE",
                    format!("削除ファイルと実績ファイルは単独で送るものですが、連番 {serial} に{}個のファイルがあります。連番が重複していないか確認してください。", files.len()),
                ));
            }
        }
        SetKind::Prevention => {
            let set = "介護予防セット";
            for (sub, parent, what) in [
                (K::UpKihonSub1, K::UpKihon, "利用者基本情報（別表1の親）"),
                (K::UpKihonSub2, K::UpKihon, "利用者基本情報（別表2の親）"),
                (
                    K::UpKihonImage,
                    K::UpKihon,
                    "利用者基本情報（家族構成画像の親）",
                ),
                (
                    K::UpYoboSub,
                    K::UpYobo,
                    "介護予防サービス・支援計画書（別表の親）",
                ),
            ] {
                if has(sub) && !has(parent) {
                    missing(what, set);
                }
            }
        }
        SetKind::Other => {}
    }
    let members: &[FileKind] = match kind {
        SetKind::CarePlan => &[K::Up1Kyo, K::Up2Kyo, K::Up3Kyo, K::UpHosoku],
        SetKind::MonthlyPlan => &[K::UpPlan, K::UpSikyu, K::UpHosoku],
        SetKind::Prevention => &[
            K::UpKihon,
            K::UpKihonSub1,
            K::UpKihonSub2,
            K::UpKihonImage,
            K::UpYobo,
            K::UpYoboSub,
        ],
        SetKind::Single | SetKind::Other => &[],
    };
    if !members.is_empty() {
        let foreign: Vec<&str> = files
            .iter()
            .filter(|f| f.kind.is_some_and(|k| !members.contains(&k)))
            .map(|f| f.file.as_str())
            .collect();
        if !foreign.is_empty() {
            findings.push(Finding::warning(
                "W_SET_FOREIGN",
                format!(
                    "送信セット（連番 {serial}）は{}ですが、このセットに入らないファイル（{}）が同じ連番です。標準仕様の送信セットは決まった組み合わせだけです。別の連番で出力し直してください。",
                    kind.label(),
                    foreign.join("、")
                ),
            ));
        }
        let mut seen: Vec<FileKind> = Vec::new();
        for k in &kinds {
            if k.is_image() {
                continue; // one image per 利用者 (branch numbers 0001, 0002, …)
            }
            if seen.contains(k) {
                findings.push(Finding::warning(
                    "W_SET_DUPLICATE_KIND",
                    format!(
                        "送信セット（連番 {serial}）に{}が2つ以上あります。1つのセットには各ファイルが1つずつです（複数の利用者は1つのファイルにまとめます）。連番が重複していないか確認してください。",
                        k.label()
                    ),
                ));
                break;
            }
            seen.push(*k);
        }
    }
    SendSet {
        serial: serial.to_owned(),
        to_office: to.cloned(),
        files: files.iter().map(|f| f.file.clone()).collect(),
        kind,
        complete: !findings.iter().any(|f| f.code == "W_SET_INCOMPLETE"),
        findings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::parse_name;

    const A: &str = "0300000100";

    fn ours() -> OfficeNumber {
        OfficeNumber::parse(A).unwrap()
    }

    fn names(list: &[&str]) -> Vec<FileName> {
        list.iter().map(|n| parse_name(n)).collect()
    }

    #[test]
    fn routes_by_destination_and_lists_the_rest() {
        let files = names(&[
            "UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UP2KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UPPLAN_202504_0300000100_43_0300000013_15_20250401093000.CSV",
            "sample.pdf",
            "UPJSK_202504_0300000005_11_0300000100_43_20250401093000.CSV",
            "UPPLAN_202513_0300000100_43_0300000013_15_20250401093000.CSV",
        ]);
        let r = route(&ours(), &files, MAX_OFFICES);
        assert!(r.is_ok());
        assert_eq!(r.groups.len(), 2);
        assert_eq!(r.groups[0].to_office.as_str(), "0300000005");
        assert_eq!(r.groups[0].files.len(), 2);
        let codes: Vec<&str> = r.unrouted.iter().map(|u| u.code.as_str()).collect();
        assert_eq!(codes, vec!["ATTACHMENT", "NOT_OUR_OFFICE", "NAME_ERROR"]);
    }

    #[test]
    fn fifty_one_offices_is_an_error_with_the_count_and_splits() {
        let files: Vec<FileName> = (0..51)
            .map(|i| {
                let to =
                    OfficeNumber::with_check_digit(&format!("13{:07}", 7_000_000 + i)).unwrap();
                parse_name(&format!("UPPLAN_202504_{A}_43_{to}_11_20250401093000.CSV"))
            })
            .collect();
        let r = route(&ours(), &files, MAX_OFFICES);
        let e = r.error.as_ref().expect("too many");
        assert_eq!(e.offices, 51);
        assert!(e.message.contains("51"));
        let batches = split_batches(&r.groups, MAX_OFFICES);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![50, 1]
        );
        assert!(route(&ours(), &files[..50], MAX_OFFICES).is_ok());
    }

    #[test]
    fn single_destination_rule() {
        let one = names(&[
            "UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UPHOSOKU_000000_0300000100_43_0300000005_11_20250401093000.CSV",
            "memo.pdf",
        ]);
        assert_eq!(
            single_destination(&ours(), &one).unwrap().as_str(),
            "0300000005"
        );
        let two = names(&[
            "UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UP1KYO_0300000100_43_0300000013_11_20250401093000.CSV",
        ]);
        let e = single_destination(&ours(), &two).unwrap_err();
        assert_eq!(e.code, "E_SEVERAL_DESTINATIONS");
        assert!(e.message.contains("一括送信"));
        assert_eq!(
            single_destination(&ours(), &names(&["memo.pdf"]))
                .unwrap_err()
                .code,
            "E_NO_DESTINATION"
        );
    }

    #[test]
    fn set_completeness() {
        let files = names(&[
            "UP1KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UP2KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UP3KYO_0300000100_43_0300000005_11_20250401093000.CSV",
            "UPHOSOKU_000000_0300000100_43_0300000005_11_20250401093000.CSV",
            "UPPLAN_202504_0300000100_43_0300000005_11_20250402093000.CSV",
            "UPHOSOKU_202504_0300000100_43_0300000005_11_20250402093000.CSV",
            "DLTPLAN_202504_0300000100_43_0300000005_11_20250403093000.CSV",
        ]);
        let sets = send_sets(&files);
        assert_eq!(sets.len(), 3);
        assert_eq!(sets[0].kind, SetKind::CarePlan);
        assert!(sets[0].complete);
        assert_eq!(sets[1].kind, SetKind::MonthlyPlan);
        assert!(!sets[1].complete);
        assert!(sets[1].findings[0].message.contains("第7表"));
        assert_eq!(sets[2].kind, SetKind::Single);
        assert!(sets[2].complete);
        // The delete comes after the plan of the same month: it removes it.
        assert_eq!(sets[2].findings[0].code, "W_SET_DELETE_AFTER");
        // A v4 care-plan set without 第3表 is incomplete.
        let sets = send_sets(&files[..2]);
        assert!(!sets[0].complete);
        assert!(sets[0].findings.iter().any(|f| f.message.contains("第3表")));
    }

    #[test]
    fn no_option_raises_the_fifty_office_limit() {
        let files: Vec<FileName> = (0..60)
            .map(|i| {
                let to = crate::ids::OfficeNumber::with_check_digit(&format!("131{i:06}"))
                    .expect("office");
                parse_name(&format!("UPPLAN_202504_{A}_43_{to}_11_20250401093000.CSV"))
            })
            .collect();
        let r = route(&ours(), &files, 1000);
        assert!(
            r.error.is_some(),
            "60 offices with max 1000 must still be refused"
        );
        assert!(r.error.unwrap().message.contains("50事業所"));
        assert!(
            split_batches(&r.groups, 1000)
                .iter()
                .all(|b| b.len() <= MAX_OFFICES)
        );
    }
}
