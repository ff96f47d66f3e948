//! The records of a file arranged like the paper forms: 第2表 (課題 → 目標 → 援助内容),
//! the 第6表/実績 month calendar, 第7表 with its subtotal and total rows, 利用者補足情報 per
//! user. Every item keeps the 1-based record number it came from, so a viewer can mark the
//! problems of that record and jump to it.
//!
//! Fields are looked up by their Japanese name in the layout, so v3 and v4 layouts (which
//! differ in field positions) are read the same way. Missing fields read as empty.

use std::collections::HashMap;

use crate::csv::{Layout, Record, validate};
use crate::kind::FileKind;

/// 0-based index of the field named `name` in `layout` (the first one when the name repeats).
pub fn field_index(layout: &Layout, name: &str) -> Option<usize> {
    layout.fields.iter().position(|f| f.name == name)
}

/// Reads fields of records by name.
struct Cols<'a> {
    layout: &'a Layout,
}

impl<'a> Cols<'a> {
    fn get<'r>(&self, r: &'r Record, name: &str) -> &'r str {
        field_index(self.layout, name)
            .and_then(|i| r.get(i))
            .unwrap_or_default()
    }

    fn owned(&self, r: &Record, name: &str) -> String {
        self.get(r, name).to_owned()
    }
}

/// The records of one 利用者 (保険者番号 + 被保険者番号), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecords {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// 利用者氏名 when the layout has it (利用者補足情報, 利用者基本情報).
    pub name: Option<String>,
    /// Indexes into the record list (0-based positions, not record numbers).
    pub records: Vec<usize>,
}

impl UserRecords {
    /// A short label for a user selector: `保険者番号 / 被保険者番号 氏名`.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => format!("{} / {} {n}", self.insurer, self.insured),
            _ => format!("{} / {}", self.insurer, self.insured),
        }
    }
}

/// The records grouped per 利用者 in order of first appearance.
pub fn users(layout: &Layout, records: &[Record]) -> Vec<UserRecords> {
    let c = Cols { layout };
    let mut out: Vec<UserRecords> = Vec::new();
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        let key = (c.owned(r, "保険者番号"), c.owned(r, "被保険者番号"));
        let slot = *at.entry(key.clone()).or_insert_with(|| {
            let name = field_index(layout, "利用者氏名")
                .and_then(|x| r.get(x))
                .map(str::to_owned);
            out.push(UserRecords {
                insurer: key.0.clone(),
                insured: key.1.clone(),
                name,
                records: Vec::new(),
            });
            out.len() - 1
        });
        if let Some(u) = out.get_mut(slot) {
            u.records.push(i);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// 第2表
// ---------------------------------------------------------------------------------------

/// One 援助内容 line of 第2表.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// 1-based record number.
    pub record: usize,
    /// 援助内容ＮＯ.
    pub no: String,
    /// サービス内容.
    pub content: String,
    /// 保険対象区分 as printed: `○` for Y (給付対象), empty otherwise.
    pub insured: String,
    /// サービス種別.
    pub service_kind: String,
    /// サービス事業者コード.
    pub office_code: String,
    /// サービス事業所名 (※2 of the form).
    pub office_name: String,
    /// 頻度.
    pub frequency: String,
    /// 実施期間.
    pub period: String,
}

/// One 援助目標 of 第2表 with its 援助内容.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// 1-based record number of its first line.
    pub record: usize,
    /// 援助目標ＮＯ.
    pub no: String,
    /// 長期目標.
    pub long: String,
    /// 長期期間.
    pub long_period: String,
    /// 短期目標.
    pub short: String,
    /// 短期期間.
    pub short_period: String,
    /// 援助内容 lines.
    pub supports: Vec<Support>,
}

/// One 課題 (生活全般の解決すべき課題（ニーズ）) with its goals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// 1-based record number of its first line.
    pub record: usize,
    /// 課題ＮＯ.
    pub no: String,
    /// 課題.
    pub text: String,
    /// Its goals.
    pub goals: Vec<Goal>,
}

/// The 第2表 of one user and one 居宅サービス計画作成（変更）日.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan2 {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// 居宅サービス計画作成（変更）日 (`YYYYMMDD`).
    pub plan_date: String,
    /// 居宅計画書作成年月日 (`YYYYMMDD`).
    pub made: String,
    /// The 課題 in print order.
    pub needs: Vec<Need>,
}

fn sort_no(s: &str) -> u32 {
    s.trim().parse().unwrap_or(u32::MAX)
}

/// Start a new group unless the row continues the current one: same number, or no number
/// and no text of its own (a printed continuation line).
fn continues(prev_no: Option<&str>, no: &str, text_empty: bool) -> bool {
    match prev_no {
        None => false,
        Some(p) if !no.is_empty() => p == no,
        Some(_) => text_empty,
    }
}

fn first_non_empty(target: &mut String, value: &str) {
    if target.is_empty() && !value.is_empty() {
        value.clone_into(target);
    }
}

/// 第2表 records grouped as printed: per user and plan date, 課題 → 援助目標 → 援助内容,
/// sorted by 課題ＮＯ, 援助目標ＮＯ, 援助内容ＮＯ (standard.md §4.4). Repeated 課題/目標 text
/// left blank on later rows is taken from the first row of the group.
pub fn sheet2(layout: &Layout, records: &[Record]) -> Vec<Plan2> {
    let c = Cols { layout };
    let mut plans: Vec<(Plan2, Vec<&Record>)> = Vec::new();
    for r in records {
        let key = (
            c.get(r, "保険者番号"),
            c.get(r, "被保険者番号"),
            c.get(r, "居宅サービス計画作成（変更）日"),
        );
        match plans
            .iter_mut()
            .find(|(p, _)| (p.insurer.as_str(), p.insured.as_str(), p.plan_date.as_str()) == key)
        {
            Some((_, rows)) => rows.push(r),
            None => plans.push((
                Plan2 {
                    insurer: key.0.to_owned(),
                    insured: key.1.to_owned(),
                    plan_date: key.2.to_owned(),
                    made: c.owned(r, "居宅計画書作成年月日"),
                    needs: Vec::new(),
                },
                vec![r],
            )),
        }
    }
    plans
        .into_iter()
        .map(|(mut plan, mut rows)| {
            // Stable: rows without numbers keep their place relative to each other.
            rows.sort_by_key(|r| {
                (
                    sort_no(c.get(r, "課題ＮＯ")),
                    sort_no(c.get(r, "援助目標ＮＯ")),
                    sort_no(c.get(r, "援助内容ＮＯ")),
                )
            });
            // Sorting puts rows without numbers last; keep file order in that case.
            if rows.iter().any(|r| c.get(r, "課題ＮＯ").is_empty()) {
                rows.sort_by_key(|r| r.number);
            }
            for r in rows {
                let need_no = c.get(r, "課題ＮＯ");
                let need_text = c.get(r, "課題");
                let new_need = !continues(
                    plan.needs.last().map(|n| n.no.as_str()),
                    need_no,
                    need_text.is_empty(),
                );
                if new_need {
                    plan.needs.push(Need {
                        record: r.number,
                        no: need_no.to_owned(),
                        text: String::new(),
                        goals: Vec::new(),
                    });
                }
                let Some(need) = plan.needs.last_mut() else {
                    continue;
                };
                first_non_empty(&mut need.text, need_text);
                let goal_no = c.get(r, "援助目標ＮＯ");
                let goal_text_empty =
                    c.get(r, "長期目標").is_empty() && c.get(r, "短期目標").is_empty();
                if new_need
                    || !continues(
                        need.goals.last().map(|g| g.no.as_str()),
                        goal_no,
                        goal_text_empty,
                    )
                {
                    need.goals.push(Goal {
                        record: r.number,
                        no: goal_no.to_owned(),
                        long: String::new(),
                        long_period: String::new(),
                        short: String::new(),
                        short_period: String::new(),
                        supports: Vec::new(),
                    });
                }
                let Some(goal) = need.goals.last_mut() else {
                    continue;
                };
                first_non_empty(&mut goal.long, c.get(r, "長期目標"));
                first_non_empty(&mut goal.long_period, c.get(r, "長期期間"));
                first_non_empty(&mut goal.short, c.get(r, "短期目標"));
                first_non_empty(&mut goal.short_period, c.get(r, "短期期間"));
                let support = Support {
                    record: r.number,
                    no: c.owned(r, "援助内容ＮＯ"),
                    content: c.owned(r, "サービス内容"),
                    insured: if c.get(r, "保険対象区分") == "Y" {
                        "○".to_owned()
                    } else {
                        String::new()
                    },
                    service_kind: c.owned(r, "サービス種別"),
                    office_code: c.owned(r, "サービス事業者コード"),
                    office_name: c.owned(r, "サービス事業所名"),
                    frequency: c.owned(r, "頻度"),
                    period: c.owned(r, "実施期間"),
                };
                let empty = support.content.is_empty()
                    && support.service_kind.is_empty()
                    && support.office_name.is_empty()
                    && support.frequency.is_empty();
                if !empty {
                    goal.supports.push(support);
                }
            }
            plan
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 第6表 / 実績 calendar
// ---------------------------------------------------------------------------------------

/// One line of the 第6表 calendar: a service at a time by an office, with counts per day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarRow {
    /// サービスコード.
    pub service_code: String,
    /// The service type of the code (`訪問介護`), when known.
    pub service_label: Option<String>,
    /// サービス開始時刻 `HHMM` (`9999`: no time).
    pub start: String,
    /// サービス終了時刻 `HHMM`.
    pub end: String,
    /// サービス事業者コード.
    pub office_code: String,
    /// サービス事業所名.
    pub office_name: String,
    /// 用具名称（機種名） (v4 福祉用具), first non-empty.
    pub item: String,
    /// Count per day of the month: index 0 = day 1; always 31 entries.
    pub days: Vec<u32>,
    /// Sum of the counts.
    pub total: u32,
    /// 1-based record numbers of the lines in this row.
    pub records: Vec<usize>,
}

/// The month calendar of one user (第6表 予定 or 実績).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// 対象年月 `YYYYMM` (from the first record).
    pub month: String,
    /// Number of days of the month (31 when the month cannot be read).
    pub days_in_month: u8,
    /// Weekday of day 1: 0 = 月曜 … 6 = 日曜 (`None` when the month cannot be read).
    pub first_weekday: Option<u8>,
    /// The service lines in order of first appearance.
    pub rows: Vec<CalendarRow>,
    /// Records whose サービス利用日 is missing, not a date, or outside the month.
    pub outside: Vec<usize>,
}

impl Calendar {
    /// Weekday label (`月`…`日`) of 1-based `day`, when the month is known.
    pub fn weekday(&self, day: u8) -> Option<&'static str> {
        const W: [&str; 7] = ["月", "火", "水", "木", "金", "土", "日"];
        let first = self.first_weekday?;
        let i = (usize::from(first) + usize::from(day.checked_sub(1)?)) % 7;
        W.get(i).copied()
    }
}

fn month_info(month: &str) -> Option<(u8, u8)> {
    let y: i32 = month.get(..4)?.parse().ok()?;
    let m: u8 = month.get(4..6)?.parse().ok()?;
    let m = time::Month::try_from(m).ok()?;
    let first = time::Date::from_calendar_date(y, m, 1).ok()?;
    Some((m.length(y), first.weekday().number_days_from_monday()))
}

/// 第6表 (予定 or 実績) records as month calendars, one per user: a row per service line
/// (サービスコード, times, office), a column per day, the サービス回数 in the cells.
pub fn calendar(layout: &Layout, records: &[Record]) -> Vec<Calendar> {
    let c = Cols { layout };
    let mut out: Vec<Calendar> = Vec::new();
    for r in records {
        let insurer = c.get(r, "保険者番号");
        let insured = c.get(r, "被保険者番号");
        let pos = match out
            .iter()
            .position(|k| k.insurer == insurer && k.insured == insured)
        {
            Some(p) => p,
            None => {
                let month = c.owned(r, "対象年月");
                let info = month_info(&month);
                out.push(Calendar {
                    insurer: insurer.to_owned(),
                    insured: insured.to_owned(),
                    days_in_month: info.map_or(31, |i| i.0),
                    first_weekday: info.map(|i| i.1),
                    month,
                    rows: Vec::new(),
                    outside: Vec::new(),
                });
                out.len() - 1
            }
        };
        let Some(cal) = out.get_mut(pos) else {
            continue;
        };
        let code = c.get(r, "サービスコード");
        let start = c.get(r, "サービス開始時刻");
        let end = c.get(r, "サービス終了時刻");
        let office = c.get(r, "サービス事業者コード");
        let row_pos = match cal.rows.iter().position(|x| {
            x.service_code == code && x.start == start && x.end == end && x.office_code == office
        }) {
            Some(p) => p,
            None => {
                cal.rows.push(CalendarRow {
                    service_code: code.to_owned(),
                    service_label: super::display::service_code_meaning(code),
                    start: start.to_owned(),
                    end: end.to_owned(),
                    office_code: office.to_owned(),
                    office_name: c.owned(r, "サービス事業所名"),
                    item: String::new(),
                    days: vec![0; 31],
                    total: 0,
                    records: Vec::new(),
                });
                cal.rows.len() - 1
            }
        };
        let Some(row) = cal.rows.get_mut(row_pos) else {
            continue;
        };
        row.records.push(r.number);
        first_non_empty(&mut row.item, c.get(r, "用具名称（機種名）"));
        let date = c.get(r, "サービス利用日");
        let count: u32 = c.get(r, "サービス回数").trim().parse().unwrap_or(1);
        let in_month = date.get(..6) == Some(cal.month.as_str()) && date.len() == 8;
        let day: Option<usize> = date.get(6..8).and_then(|d| d.parse().ok());
        match day {
            Some(d) if in_month && (1..=usize::from(cal.days_in_month)).contains(&d) => {
                if let Some(cell) = row.days.get_mut(d - 1) {
                    *cell = cell.saturating_add(count);
                }
                row.total = row.total.saturating_add(count);
            }
            _ => cal.outside.push(r.number),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// 第7表
// ---------------------------------------------------------------------------------------

/// The subtotal and total rows of 第7表 (standard.md §4.8, No.9 サービスコード).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subtotal {
    /// `{種類}AAAA`: 区分支給限度基準の対象分の小計.
    Kubun,
    /// `{種類}EEEE`: 区分支給限度基準の対象外分の小計.
    OutsideKubun,
    /// `{種類}ZZZZ`: 30日超過分の小計.
    Over30,
    /// `999999` / `9999999999`: 合計.
    Total,
}

impl Subtotal {
    /// What the row is, from its サービスコード and サービス事業所コード.
    pub fn of(service_code: &str, office_code: &str) -> Option<Self> {
        if service_code == "999999" || office_code == "9999999999" {
            return Some(Subtotal::Total);
        }
        match service_code.get(2..) {
            Some("AAAA") => Some(Subtotal::Kubun),
            Some("EEEE") => Some(Subtotal::OutsideKubun),
            Some("ZZZZ") => Some(Subtotal::Over30),
            _ => None,
        }
    }

    /// Japanese label shown in place of the service name.
    pub fn label(self) -> &'static str {
        match self {
            Subtotal::Kubun => "小計（区分支給限度対象）",
            Subtotal::OutsideKubun => "小計（区分支給限度対象外）",
            Subtotal::Over30 => "小計（30日超過分）",
            Subtotal::Total => "合計",
        }
    }
}

/// One row of 第7表.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sheet7Row {
    /// 0-based index into the record list.
    pub index: usize,
    /// 1-based record number.
    pub record: usize,
    /// `None` for a service line, else the kind of subtotal / total.
    pub subtotal: Option<Subtotal>,
}

/// The 第7表 of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sheet7User {
    /// 保険者番号.
    pub insurer: String,
    /// 被保険者番号.
    pub insured: String,
    /// 対象年月.
    pub month: String,
    /// The rows in file order.
    pub rows: Vec<Sheet7Row>,
    /// True when the user's rows include the grand-total row (mandatory, standard.md §4.8).
    pub has_total: bool,
}

/// 第7表 records per user, each row marked as service line, subtotal or total.
pub fn sheet7(layout: &Layout, records: &[Record]) -> Vec<Sheet7User> {
    let c = Cols { layout };
    users(layout, records)
        .into_iter()
        .map(|u| {
            let rows: Vec<Sheet7Row> = u
                .records
                .iter()
                .filter_map(|&i| {
                    let r = records.get(i)?;
                    Some(Sheet7Row {
                        index: i,
                        record: r.number,
                        subtotal: Subtotal::of(
                            c.get(r, "サービスコード"),
                            c.get(r, "サービス事業所コード"),
                        ),
                    })
                })
                .collect();
            let month = u
                .records
                .first()
                .and_then(|&i| records.get(i))
                .map(|r| c.owned(r, "対象年月"))
                .unwrap_or_default();
            Sheet7User {
                has_total: rows.iter().any(|r| r.subtotal == Some(Subtotal::Total)),
                insurer: u.insurer,
                insured: u.insured,
                month,
                rows,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 利用者補足情報
// ---------------------------------------------------------------------------------------

/// One of the nine サービス種類別 限度額 slots of 利用者補足情報.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitSlot {
    /// Slot number 1–9.
    pub no: u8,
    /// サービス種類コード.
    pub service_type: String,
    /// Its Japanese name, when known.
    pub label: Option<String>,
    /// 支給限度基準額.
    pub limit: String,
    /// 合計単位数.
    pub total: String,
    /// 限度超単位数.
    pub over: String,
}

/// The 利用者補足情報 of one user (one record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HosokuUser {
    /// 0-based index into the record list.
    pub index: usize,
    /// 1-based record number.
    pub record: usize,
    /// 利用者氏名.
    pub name: String,
    /// 利用者氏名フリガナ.
    pub kana: String,
    /// 1-based field numbers of the fields outside the slots, in order.
    pub fields: Vec<usize>,
    /// The used 限度額 slots (slots with every value empty are left out).
    pub slots: Vec<LimitSlot>,
}

/// 利用者補足情報 records per user: the plain fields and the used 限度額 slots.
pub fn hosoku(layout: &Layout, records: &[Record]) -> Vec<HosokuUser> {
    let c = Cols { layout };
    // A slot starts at a field named `{全角数字}サービス種類コード`.
    let slot_starts: Vec<(u8, usize)> = layout
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let rest = f.name.strip_suffix("サービス種類コード")?;
            let mut ch = rest.chars();
            let d = ch.next()?;
            if ch.next().is_some() {
                return None;
            }
            let no = u8::try_from(u32::from(d).checked_sub(u32::from('０'))?).ok()?;
            (1..=9).contains(&no).then_some((no, i))
        })
        .collect();
    let in_slot = |i: usize| slot_starts.iter().any(|&(_, s)| (s..s + 4).contains(&i));
    let fields: Vec<usize> = (0..layout.fields.len())
        .filter(|&i| !in_slot(i))
        .map(|i| i + 1)
        .collect();
    records
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let at = |i: usize| r.get(i).unwrap_or_default().to_owned();
            let slots = slot_starts
                .iter()
                .map(|&(no, s)| LimitSlot {
                    no,
                    label: crate::ids::service_type_label(r.get(s).unwrap_or_default())
                        .map(str::to_owned),
                    service_type: at(s),
                    limit: at(s + 1),
                    total: at(s + 2),
                    over: at(s + 3),
                })
                .filter(|s| {
                    !(s.service_type.is_empty()
                        && s.limit.is_empty()
                        && s.total.is_empty()
                        && s.over.is_empty())
                })
                .collect();
            HosokuUser {
                index,
                record: r.number,
                name: c.owned(r, "利用者氏名"),
                kana: c.owned(r, "利用者氏名フリガナ"),
                fields: fields.clone(),
                slots,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Kind of a file without a standard name
// ---------------------------------------------------------------------------------------

/// For a CSV whose name is not standard (opened from disk): the kinds whose layout reads it,
/// best first (fewest errors, then fewest findings). Empty when nothing fits at all.
pub fn guess_kinds(bytes: &[u8]) -> Vec<FileKind> {
    let mut scored: Vec<(usize, usize, FileKind)> = FileKind::ALL
        .into_iter()
        .filter(|k| k.is_csv())
        .filter_map(|k| {
            let report = validate(k, None, bytes);
            let layout = report.layout?;
            let first = report.records.first()?;
            if first.len() != layout.fields.len() {
                return None;
            }
            Some((report.errors().len(), report.findings.len(), k))
        })
        .collect();
    scored.sort_by_key(|&(e, f, _)| (e, f));
    scored.into_iter().map(|(_, _, k)| k).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::{Generation, layout_for, write_csv};
    use crate::demo;

    fn world() -> (Vec<demo::DemoOffice>, Vec<demo::DemoUser>) {
        (demo::demo_offices(7, 6), demo::demo_users(7, 3))
    }

    fn report(f: &demo::DemoFile) -> crate::csv::CsvReport {
        let name = crate::parse_name(&f.name);
        let kind = name.kind.unwrap_or(FileKind::UpPlan);
        validate(kind, Some(&name), &f.bytes)
    }

    #[test]
    fn sheet2_groups_needs_goals_and_supports() {
        let (offices, users_) = world();
        let set = demo::careplan_set(
            &offices[0],
            &offices[1],
            "20250401",
            "20250401093000",
            &users_,
        );
        let kyo2 = set
            .iter()
            .find(|f| f.name.starts_with("UP2KYO"))
            .expect("2表");
        let rep = report(kyo2);
        let plans = sheet2(rep.layout.expect("layout"), &rep.records);
        assert_eq!(plans.len(), 3);
        let p = &plans[0];
        assert_eq!(p.plan_date, "20250401");
        assert_eq!(p.needs.len(), 2);
        assert_eq!(p.needs[0].no, "1");
        assert!(p.needs[0].text.contains("入浴"));
        assert_eq!(p.needs[0].goals.len(), 1);
        assert_eq!(p.needs[0].goals[0].supports.len(), 1);
        assert_eq!(p.needs[0].goals[0].supports[0].insured, "○");
    }

    #[test]
    fn sheet2_continuation_rows_and_print_order() {
        let l = layout_for(FileKind::Up2Kyo, Generation::V4);
        let row = |need: &str, text: &str, goal: &str, long: &str, sup: &str, content: &str| {
            let mut r = vec![String::new(); 22];
            r[0] = "202407".into();
            r[1] = "131011".into();
            r[2] = "0000000001".into();
            r[3] = "20250401".into();
            r[4] = "20250401".into();
            r[5] = need.into();
            r[6] = text.into();
            r[7] = goal.into();
            r[8] = long.into();
            r[12] = sup.into();
            r[13] = content.into();
            r
        };
        // Out of order in the file; later rows leave 課題/目標 blank as printed.
        let rows = [
            row("2", "課題B", "1", "目標B1", "1", "内容B11"),
            row("1", "課題A", "1", "目標A1", "1", "内容A11"),
            row("1", "", "1", "", "2", "内容A12"),
            row("1", "", "2", "目標A2", "1", "内容A21"),
        ];
        let recs: Vec<Record> = rows
            .iter()
            .enumerate()
            .map(|(i, r)| Record::new(i + 1, r))
            .collect();
        let plans = sheet2(l, &recs);
        assert_eq!(plans.len(), 1);
        let needs = &plans[0].needs;
        assert_eq!(
            needs.iter().map(|n| n.text.as_str()).collect::<Vec<_>>(),
            ["課題A", "課題B"]
        );
        assert_eq!(needs[0].goals.len(), 2);
        assert_eq!(needs[0].goals[0].supports.len(), 2);
        assert_eq!(needs[0].goals[0].supports[1].content, "内容A12");
        assert_eq!(needs[0].goals[0].supports[1].record, 3);
        assert_eq!(needs[0].goals[1].long, "目標A2");
    }

    #[test]
    fn calendar_counts_days_per_service_line() {
        let (offices, users_) = world();
        // office 1 gets some service; find one with weekly days.
        let set = demo::plan_set(
            &offices[0],
            &offices[1],
            "202504",
            "20250325093000",
            &users_,
        );
        let plan = &set[0];
        let rep = report(plan);
        let cals = calendar(rep.layout.expect("layout"), &rep.records);
        assert_eq!(cals.len(), 3);
        let c = &cals[0];
        assert_eq!(c.month, "202504");
        assert_eq!(c.days_in_month, 30);
        // 2025-04-01 is a Tuesday.
        assert_eq!(c.first_weekday, Some(1));
        assert_eq!(c.weekday(1), Some("火"));
        assert_eq!(c.weekday(6), Some("日"));
        assert_eq!(c.rows.len(), 1);
        let total: u32 = c.rows[0].days.iter().sum();
        assert_eq!(total, c.rows[0].total);
        assert_eq!(usize::try_from(total).ok(), Some(c.rows[0].records.len()));
        assert!(c.outside.is_empty());
    }

    #[test]
    fn calendar_marks_dates_outside_the_month() {
        let l = layout_for(FileKind::UpPlan, Generation::V4);
        let row = |date: &str| {
            let mut r = vec![String::new(); 25];
            r[0] = "202407".into();
            r[1] = "131011".into();
            r[2] = "0000000001".into();
            r[4] = "202502".into();
            r[9] = date.into();
            r[11] = "0930".into();
            r[12] = "1030".into();
            r[13] = "2".into();
            r[14] = "111211".into();
            r[19] = "1370000001".into();
            r
        };
        let recs: Vec<Record> = ["20250203", "20250303", "2025"]
            .iter()
            .enumerate()
            .map(|(i, d)| Record::new(i + 1, &row(d)))
            .collect();
        let cals = calendar(l, &recs);
        assert_eq!(cals[0].days_in_month, 28);
        assert_eq!(cals[0].rows[0].days[2], 2);
        assert_eq!(cals[0].rows[0].total, 2);
        assert_eq!(cals[0].outside, vec![2, 3]);
    }

    #[test]
    fn sheet7_finds_subtotals_and_totals() {
        let (offices, users_) = world();
        let set = demo::plan_set(
            &offices[0],
            &offices[1],
            "202504",
            "20250325093000",
            &users_,
        );
        let rep = report(&set[1]);
        let users7 = sheet7(rep.layout.expect("layout"), &rep.records);
        assert_eq!(users7.len(), 3);
        assert!(users7.iter().all(|u| u.has_total));
        assert_eq!(users7[0].rows[0].subtotal, None);
        assert_eq!(users7[0].rows[1].subtotal, Some(Subtotal::Total));
        assert_eq!(Subtotal::of("15AAAA", "1370000001"), Some(Subtotal::Kubun));
        assert_eq!(Subtotal::of("15EEEE", ""), Some(Subtotal::OutsideKubun));
        assert_eq!(Subtotal::of("15ZZZZ", ""), Some(Subtotal::Over30));
        assert_eq!(Subtotal::of("151121", "1370000001"), None);
        assert_eq!(Subtotal::Total.label(), "合計");
    }

    #[test]
    fn hosoku_per_user_with_slots() {
        let (offices, users_) = world();
        let set = demo::plan_set(
            &offices[0],
            &offices[1],
            "202504",
            "20250325093000",
            &users_,
        );
        let rep = report(&set[2]);
        let layout = rep.layout.expect("layout");
        let h = hosoku(layout, &rep.records);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].name, users_[0].name);
        // 63 fields minus 9 slots × 4.
        assert_eq!(h[0].fields.len(), 63 - 36);
        assert!(!h[0].fields.contains(&20));
        assert!(h[0].fields.contains(&19));
        assert!(h[0].fields.contains(&56));

        // A record with slot 1 filled.
        let mut r = vec![String::new(); 63];
        r[0] = "202407".into();
        r[19] = "11".into();
        r[20] = "10000".into();
        r[21] = "9000".into();
        r[22] = "0".into();
        let h = hosoku(layout, &[Record::new(1, &r)]);
        assert_eq!(h[0].slots.len(), 1);
        assert_eq!(h[0].slots[0].no, 1);
        assert_eq!(h[0].slots[0].label.as_deref(), Some("訪問介護"));
        assert_eq!(h[0].slots[0].total, "9000");
    }

    #[test]
    fn users_group_records() {
        let (offices, users_) = world();
        let set = demo::plan_set(
            &offices[0],
            &offices[1],
            "202504",
            "20250325093000",
            &users_,
        );
        let rep = report(&set[2]);
        let u = users(rep.layout.expect("layout"), &rep.records);
        assert_eq!(u.len(), 3);
        assert!(u[0].label().contains(&users_[0].name));
        assert_eq!(u[1].records, vec![1]);
    }

    #[test]
    fn guesses_the_kind_of_an_unnamed_file() {
        let (offices, users_) = world();
        let set = demo::plan_set(
            &offices[0],
            &offices[1],
            "202504",
            "20250325093000",
            &users_,
        );
        let kinds = guess_kinds(&set[1].bytes);
        assert_eq!(kinds.first(), Some(&FileKind::UpSikyu));
        let kinds = guess_kinds(&set[2].bytes);
        assert_eq!(kinds.first(), Some(&FileKind::UpHosoku));
        let bytes = write_csv(
            FileKind::Dlt1Kyo,
            "202407",
            &[vec![
                "202407".to_owned(),
                "131011".to_owned(),
                "0000000001".to_owned(),
                "20250401".to_owned(),
            ]],
        )
        .expect("ms932");
        assert_eq!(guess_kinds(&bytes).first(), Some(&FileKind::Dlt1Kyo));
        assert!(guess_kinds(b"hello").is_empty());
    }
}
