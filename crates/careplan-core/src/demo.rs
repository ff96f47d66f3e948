//! Demo data: realistic but FAKE offices, users and monthly file sets, deterministic from a
//! seed. No real personal data: names are drawn from lists of common surnames and given
//! names, numbers are random (事業所番号 and 保険者番号 with valid check digits).
//!
//! Used by the relay's `demo` command, by tests and by benchmarks. Every CSV it makes is
//! written with [`write_csv`] and passes [`validate`](crate::csv::validate) without errors;
//! names are spec-conformant (v4 names with CSVバージョン 202407; one provider per world
//! runs v3-era software and sends 202208 files with v3 names).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, Weekday};

use crate::csv::write_csv;
use crate::ids::{OfficeNumber, ServiceType};
use crate::kind::{FileKind, NameShape};
use crate::name::{NameParts, serial_for};

/// A fake office.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoOffice {
    /// 事業所番号 with a valid check digit.
    pub number: OfficeNumber,
    /// Japanese office name, e.g. 「さくら訪問介護事業所」.
    pub name: String,
    /// The office's サービス種類コード.
    pub service: ServiceType,
    /// True for the 居宅介護支援事業所 (service 43).
    pub care_manager: bool,
}

/// One file: its standard name and its bytes (MS932 CSV, or a PDF attachment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoFile {
    /// File name.
    pub name: String,
    /// File content.
    pub bytes: Vec<u8>,
}

/// One send from an office to another, holding one or more send-sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoTransmission {
    /// Sender.
    pub from: OfficeNumber,
    /// Destination.
    pub to: OfficeNumber,
    /// When it was sent (before `now`).
    pub sent_at: OffsetDateTime,
    /// The メッセージ typed by the sender.
    pub message: String,
    /// The files.
    pub files: Vec<DemoFile>,
}

/// Offices and the transmissions between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoWorld {
    /// Office 0 is the 居宅介護支援事業所; the others are service providers.
    pub offices: Vec<DemoOffice>,
    /// Transmissions in ascending `sent_at` order.
    pub transmissions: Vec<DemoTransmission>,
}

/// A fake 利用者 (care receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// 保険者番号 (6 digits, valid check digit).
    pub insurer: String,
    /// 被保険者番号 (10 digits).
    pub insured: String,
    /// 氏名 in kanji, e.g. 「佐藤 和子」.
    pub name: String,
    /// フリガナ in full-width katakana.
    pub kana: String,
    /// 1 男性, 2 女性.
    pub sex: u8,
    /// 生年月日 `YYYYMMDD`.
    pub birth: String,
    /// 要介護状態区分 code (`21`…`25`, `12`, `13`).
    pub care_level: &'static str,
    /// 郵便番号 `XXX-XXXX`.
    pub postal: String,
    /// 住所.
    pub address: String,
    /// 電話番号.
    pub phone: String,
}

/// The version written in v4 files.
const V4: &str = "202407";
/// The version written by the demo's v3-era provider.
const V3: &str = "202208";

const SURNAMES: [(&str, &str); 24] = [
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("林", "ハヤシ"),
    ("斎藤", "サイトウ"),
    ("清水", "シミズ"),
    ("森", "モリ"),
    ("池田", "イケダ"),
    ("橋本", "ハシモト"),
    ("石川", "イシカワ"),
];

const MALE_NAMES: [(&str, &str); 10] = [
    ("茂", "シゲル"),
    ("清", "キヨシ"),
    ("勇", "イサム"),
    ("博", "ヒロシ"),
    ("実", "ミノル"),
    ("進", "ススム"),
    ("正雄", "マサオ"),
    ("和夫", "カズオ"),
    ("昭", "アキラ"),
    ("武", "タケシ"),
];

const FEMALE_NAMES: [(&str, &str); 10] = [
    ("和子", "カズコ"),
    ("幸子", "サチコ"),
    ("節子", "セツコ"),
    ("弘子", "ヒロコ"),
    ("京子", "キョウコ"),
    ("恵子", "ケイコ"),
    ("洋子", "ヨウコ"),
    ("美代子", "ミヨコ"),
    ("久子", "ヒサコ"),
    ("千代", "チヨ"),
];

const CARE_MANAGERS: [&str; 6] = [
    "介護 花子",
    "支援 一郎",
    "相談 美咲",
    "計画 直樹",
    "福祉 由美",
    "連携 健太",
];

const OFFICE_WORDS: [&str; 16] = [
    "さくら",
    "ひまわり",
    "あおば",
    "みどり",
    "すずらん",
    "つばさ",
    "やまびこ",
    "あさひ",
    "こもれび",
    "ふれあい",
    "なごみ",
    "たんぽぽ",
    "かえで",
    "いずみ",
    "ほほえみ",
    "わかば",
];

const TOWNS: [&str; 8] = [
    "みどり町",
    "さくら台",
    "ひかり丘",
    "あけぼの町",
    "中央",
    "本町",
    "東雲",
    "若葉",
];

/// Service types of the demo providers, in the order offices 1, 2, 3 … get them.
const PROVIDER_SERVICES: [&str; 8] = ["11", "15", "17", "13", "16", "12", "78", "14"];

fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

fn pick<'a, T>(r: &mut ChaCha8Rng, items: &'a [T]) -> &'a T {
    &items[r.random_range(0..items.len())]
}

fn office_number(prefecture: u32, area: u32, serial: u32) -> OfficeNumber {
    let first9 = format!(
        "{:02}7{:02}{:04}",
        prefecture % 100,
        area % 100,
        serial % 10000
    );
    OfficeNumber::with_check_digit(&first9).expect("nine digits always get a check digit")
}

fn service(code: &str) -> ServiceType {
    ServiceType::parse(code).expect("demo service codes are two digits")
}

/// `n` distinct fake 事業所番号 with valid check digits (for benchmarks with many offices).
pub fn fake_office_numbers(seed: u64, n: usize) -> Vec<OfficeNumber> {
    let mut r = rng(seed, 1);
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let pref = r.random_range(1..=47u32);
        let area = r.random_range(1..=40u32);
        let serial = r.random_range(1..=9999u32);
        let num = office_number(pref, area, serial);
        if seen.insert(num) {
            out.push(num);
        }
    }
    out
}

fn office_name(word: &str, code: &str) -> String {
    match code {
        "43" => format!("{word}居宅介護支援事業所"),
        "11" => format!("{word}訪問介護事業所"),
        "15" => format!("デイサービスセンター{word}"),
        "17" => format!("{word}福祉用具レンタル"),
        "13" => format!("{word}訪問看護ステーション"),
        "16" => format!("{word}通所リハビリテーション"),
        "12" => format!("{word}訪問入浴サービス"),
        "78" => format!("{word}地域密着型デイサービス"),
        "14" => format!("{word}訪問リハビリテーション"),
        _ => format!("{word}介護サービス"),
    }
}

/// `n` fake offices (n ≥ 1): office 0 is a 居宅介護支援事業所 (43), the others are providers.
pub fn demo_offices(seed: u64, n: usize) -> Vec<DemoOffice> {
    let mut r = rng(seed, 2);
    let area = r.random_range(1..=20u32);
    let start = r.random_range(100..=8000u32);
    let word0 = r.random_range(0..OFFICE_WORDS.len());
    (0..n.max(1))
        .map(|i| {
            let code = if i == 0 {
                "43"
            } else {
                PROVIDER_SERVICES[(i - 1) % PROVIDER_SERVICES.len()]
            };
            let word = OFFICE_WORDS[(word0 + i) % OFFICE_WORDS.len()];
            let serial = start + u32::try_from(i).unwrap_or(0) * 7;
            let mut name = office_name(word, code);
            if i >= OFFICE_WORDS.len() {
                name.push_str(&format!("（第{}）", i / OFFICE_WORDS.len() + 1));
            }
            DemoOffice {
                number: office_number(13, area, serial % 10000),
                name,
                service: service(code),
                care_manager: i == 0,
            }
        })
        .collect()
}

/// `n` fake 利用者.
pub fn demo_users(seed: u64, n: usize) -> Vec<DemoUser> {
    let mut r = rng(seed, 3);
    (0..n)
        .map(|_| {
            let (sur, sur_kana) = *pick(&mut r, &SURNAMES);
            let sex = if r.random_bool(0.6) { 2 } else { 1 };
            let (given, given_kana) = if sex == 2 {
                *pick(&mut r, &FEMALE_NAMES)
            } else {
                *pick(&mut r, &MALE_NAMES)
            };
            let insurer_first5 = format!("131{:02}", r.random_range(1..=23u32));
            let insurer = crate::ids::InsurerNumber::with_check_digit(&insurer_first5)
                .map(|i| i.as_str().to_owned())
                .unwrap_or_else(|_| String::from("131011"));
            let birth_year = r.random_range(1928..=1952u32);
            let levels = ["21", "22", "23", "24", "25", "12", "13"];
            DemoUser {
                insurer,
                insured: format!("{:010}", r.random_range(1..=9_999_999_999u64)),
                name: format!("{sur} {given}"),
                kana: format!("{sur_kana} {given_kana}"),
                sex,
                birth: format!(
                    "{birth_year}{:02}{:02}",
                    r.random_range(1..=12u32),
                    r.random_range(1..=28u32)
                ),
                care_level: levels[r.random_range(0..levels.len())],
                postal: format!(
                    "{:03}-{:04}",
                    r.random_range(100..=209u32),
                    r.random_range(0..=9999u32)
                ),
                address: format!(
                    "東京都架空市{}{}-{}-{}",
                    pick(&mut r, &TOWNS),
                    r.random_range(1..=5u32),
                    r.random_range(1..=30u32),
                    r.random_range(1..=20u32)
                ),
                phone: format!(
                    "042-{:03}-{:04}",
                    r.random_range(100..=999u32),
                    r.random_range(0..=9999u32)
                ),
            }
        })
        .collect()
}

/// The generation of files a set is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// CSVバージョン 202407, v4 names (with service-type codes).
    V4,
    /// CSVバージョン 202208, v3 names (no service-type codes).
    V3,
}

impl Era {
    fn version(self) -> &'static str {
        match self {
            Era::V4 => V4,
            Era::V3 => V3,
        }
    }
    fn shape(self) -> NameShape {
        match self {
            Era::V4 => NameShape::V4,
            Era::V3 => NameShape::V3,
        }
    }
}

fn file_name(
    kind: FileKind,
    era: Era,
    month: Option<&str>,
    from: &DemoOffice,
    to: &DemoOffice,
    serial: &str,
) -> String {
    NameParts {
        kind,
        shape: era.shape(),
        month: month.map(str::to_owned),
        from: from.number,
        from_service: (era == Era::V4).then_some(from.service),
        to: to.number,
        to_service: (era == Era::V4).then_some(to.service),
        serial: serial.to_owned(),
        branch: None,
    }
    .to_name()
}

fn csv_file(
    kind: FileKind,
    era: Era,
    month: Option<&str>,
    from: &DemoOffice,
    to: &DemoOffice,
    serial: &str,
    records: &[Vec<String>],
) -> DemoFile {
    // Demo text is MS932 by construction; an encoding failure would be a bug in the lists.
    let bytes = write_csv(kind, era.version(), records).unwrap_or_default();
    DemoFile {
        name: file_name(kind, era, month, from, to, serial),
        bytes,
    }
}

fn s(v: &str) -> String {
    v.to_owned()
}

/// Service code, units, start/end times and a name for equipment, per service type.
struct ServiceLine {
    code: &'static str,
    units: u32,
    start: &'static str,
    end: &'static str,
    days: &'static [Weekday],
    equipment: Option<(&'static str, &'static str)>,
}

fn service_line(service: &str) -> ServiceLine {
    use Weekday::{Friday, Monday, Thursday, Tuesday, Wednesday};
    match service {
        "11" => ServiceLine {
            code: "111211",
            units: 387,
            start: "0930",
            end: "1030",
            days: &[Monday, Wednesday, Friday],
            equipment: None,
        },
        "15" => ServiceLine {
            code: "151121",
            units: 658,
            start: "0915",
            end: "1630",
            days: &[Tuesday, Thursday],
            equipment: None,
        },
        "17" => ServiceLine {
            code: "171001",
            units: 1000,
            start: "9999",
            end: "9999",
            days: &[],
            equipment: Some((
                "00170-000123",
                "介護用ベッド, 3モーター\r\n(サイドレール付き)",
            )),
        },
        "13" => ServiceLine {
            code: "131111",
            units: 471,
            start: "1400",
            end: "1430",
            days: &[Tuesday],
            equipment: None,
        },
        "16" => ServiceLine {
            code: "161121",
            units: 715,
            start: "0930",
            end: "1600",
            days: &[Wednesday],
            equipment: None,
        },
        "12" => ServiceLine {
            code: "121111",
            units: 1266,
            start: "1330",
            end: "1430",
            days: &[Thursday],
            equipment: None,
        },
        "78" => ServiceLine {
            code: "781121",
            units: 753,
            start: "0930",
            end: "1545",
            days: &[Friday],
            equipment: None,
        },
        _ => ServiceLine {
            code: "141111",
            units: 308,
            start: "1000",
            end: "1040",
            days: &[Monday],
            equipment: None,
        },
    }
}

fn parse_month(month: &str) -> Option<(i32, Month)> {
    let y: i32 = month.get(..4)?.parse().ok()?;
    let m: u8 = month.get(4..6)?.parse().ok()?;
    Some((y, Month::try_from(m).ok()?))
}

/// The service days of `line` in `month` (`YYYYMM`); equipment rental: the 1st.
fn service_days(line: &ServiceLine, month: &str) -> Vec<Date> {
    let Some((y, m)) = parse_month(month) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for d in 1..=m.length(y) {
        let Ok(date) = Date::from_calendar_date(y, m, d) else {
            continue;
        };
        if (line.days.is_empty() && d == 1) || line.days.contains(&date.weekday()) {
            out.push(date);
        }
    }
    out
}

fn ymd(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

fn serial_date(serial: &str) -> String {
    serial.get(..8).unwrap_or("20250101").to_owned()
}

fn care_manager_name(office: &DemoOffice) -> &'static str {
    let i = office.number.as_str().bytes().fold(0usize, |a, b| {
        a.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    CARE_MANAGERS[i % CARE_MANAGERS.len()]
}

#[allow(clippy::too_many_arguments)]
/// 第6表 (予定 or 実績) records of `users` for the services of `provider` in `month`.
fn sheet6_records(
    era: Era,
    cm: &DemoOffice,
    provider: &DemoOffice,
    updater: &DemoOffice,
    month: &str,
    made: &str,
    users: &[DemoUser],
    actual: bool,
) -> Vec<Vec<String>> {
    let line = service_line(provider.service.as_str());
    let days = service_days(&line, month);
    let mut out = Vec::with_capacity(users.len() * days.len().max(1));
    for (ui, u) in users.iter().enumerate() {
        for (di, d) in days.iter().enumerate() {
            let (start, end) = if actual && line.start != "9999" && (ui + di) % 5 == 0 {
                // Actual times differ a little from the plan now and then.
                (shift_time(line.start, 5), shift_time(line.end, 5))
            } else {
                (s(line.start), s(line.end))
            };
            let mut r = vec![
                s(era.version()),
                u.insurer.clone(),
                u.insured.clone(),
                s(made),
                s(month),
                cm.number.as_str().to_owned(),
                s(care_manager_name(cm)),
                line.units.to_string(),
                String::new(),
                ymd(*d),
                String::new(),
                start,
                end,
                s("1"),
                s(line.code),
            ];
            if era == Era::V4 {
                let (tais, item) = line.equipment.unwrap_or(("", ""));
                r.extend([s(tais), String::new(), s(item)]);
            }
            r.extend([
                if line.equipment.is_some() {
                    s("1")
                } else {
                    String::new()
                },
                provider.number.as_str().to_owned(),
                provider.name.clone(),
                String::new(),
                s("0"),
                updater.number.as_str().to_owned(),
                String::new(),
            ]);
            out.push(r);
        }
    }
    out
}

fn shift_time(hhmm: &str, minutes: u32) -> String {
    let h: u32 = hhmm.get(..2).and_then(|x| x.parse().ok()).unwrap_or(9);
    let m: u32 = hhmm.get(2..).and_then(|x| x.parse().ok()).unwrap_or(0);
    let t = (h * 60 + m + minutes).min(23 * 60 + 59);
    format!("{:02}{:02}", t / 60, t % 60)
}

/// 第7表 records: one line per user and service, then the grand-total row.
fn sheet7_records(
    era: Era,
    cm: &DemoOffice,
    provider: &DemoOffice,
    month: &str,
    made: &str,
    users: &[DemoUser],
) -> Vec<Vec<String>> {
    let line = service_line(provider.service.as_str());
    let count = service_days(&line, month).len().max(1);
    let mut out = Vec::new();
    for u in users {
        let units = line.units * u32::try_from(count).unwrap_or(1);
        let row = |office: &str,
                   name: &str,
                   code: &str,
                   unit: u32,
                   n: usize,
                   sum: u32,
                   eq: Option<(&str, &str)>| {
            let mut r = vec![
                s(era.version()),
                u.insurer.clone(),
                u.insured.clone(),
                s(made),
                s(month),
                s(name),
                s(office),
                String::new(),
                s(code),
            ];
            if era == Era::V4 {
                let (tais, item) = eq.unwrap_or(("", ""));
                r.extend([s(tais), String::new(), s(item)]);
            }
            r.extend([
                unit.to_string(),
                String::new(),
                String::new(),
                n.to_string(),
                sum.to_string(),
                sum.to_string(),
                s("0"),
                sum.to_string(),
                s("0"),
                sum.to_string(),
                s("11.40"),
                (sum * 114 / 10).to_string(),
                s("90"),
                (sum * 114 / 10 * 9 / 10).to_string(),
                String::new(),
                (sum * 114 / 10 - sum * 114 / 10 * 9 / 10).to_string(),
                s("0"),
                String::new(),
                String::new(),
                String::new(),
                s("0"),
                String::new(),
                String::new(),
                cm.number.as_str().to_owned(),
                String::new(),
            ]);
            r
        };
        out.push(row(
            provider.number.as_str(),
            &provider.name,
            line.code,
            line.units,
            count,
            units,
            line.equipment,
        ));
        // Grand-total row: office and service code all 9, 単位数 0.
        out.push(row("9999999999", "", "999999", 0, 0, units, None));
    }
    out
}

/// 利用者補足情報 records; `plan_date` is `None` for a 6表/7表 set (No.4 = 00000000).
fn hosoku_records(
    era: Era,
    cm: &DemoOffice,
    month: &str,
    plan_date: Option<&str>,
    users: &[DemoUser],
) -> Vec<Vec<String>> {
    users
        .iter()
        .map(|u| {
            let limit = match u.care_level {
                "12" => "5032",
                "13" => "10531",
                "21" => "16765",
                "22" => "19705",
                "23" => "27048",
                "24" => "30938",
                _ => "36217",
            };
            let mut r = vec![String::new(); 63];
            r[0] = s(era.version());
            r[1] = u.insurer.clone();
            r[2] = u.insured.clone();
            r[3] = s(plan_date.unwrap_or("00000000"));
            r[4] = u.kana.clone();
            r[5] = u.name.clone();
            r[6] = u.sex.to_string();
            r[7] = u.birth.clone();
            r[8] = u.postal.clone();
            r[9] = u.address.clone();
            r[10] = s("");
            r[11] = u.phone.clone();
            r[12] = s("20250301");
            r[13] = s("20250401");
            r[14] = s("20260331");
            r[15] = s("2");
            r[17] = s(u.care_level);
            r[18] = s(limit);
            r[60] = cm.number.as_str().to_owned();
            r[62] = s(month);
            r
        })
        .collect()
}

/// A 6表+7表+補足 send-set (居宅 → provider) for `month` (`YYYYMM`), v4.
pub fn plan_set(
    from: &DemoOffice,
    to: &DemoOffice,
    month: &str,
    serial: &str,
    users: &[DemoUser],
) -> Vec<DemoFile> {
    plan_set_in(Era::V4, from, to, month, serial, users)
}

/// [`plan_set`] in the given era (v3 sets have 22/34-field records and v3 names).
pub fn plan_set_in(
    era: Era,
    from: &DemoOffice,
    to: &DemoOffice,
    month: &str,
    serial: &str,
    users: &[DemoUser],
) -> Vec<DemoFile> {
    let made = serial_date(serial);
    vec![
        csv_file(
            FileKind::UpPlan,
            era,
            Some(month),
            from,
            to,
            serial,
            &sheet6_records(era, from, to, from, month, &made, users, false),
        ),
        csv_file(
            FileKind::UpSikyu,
            era,
            Some(month),
            from,
            to,
            serial,
            &sheet7_records(era, from, to, month, &made, users),
        ),
        csv_file(
            FileKind::UpHosoku,
            era,
            Some(month),
            from,
            to,
            serial,
            &hosoku_records(era, from, month, None, users),
        ),
    ]
}

/// A 1表+2表+3表+補足 send-set (居宅 → provider), v4; `plan_date` is the
/// 居宅サービス計画作成（変更）日 `YYYYMMDD`.
pub fn careplan_set(
    from: &DemoOffice,
    to: &DemoOffice,
    plan_date: &str,
    serial: &str,
    users: &[DemoUser],
) -> Vec<DemoFile> {
    let era = Era::V4;
    let made = serial_date(serial);
    let cm_name = care_manager_name(from);
    let svc_label = to.service.label().unwrap_or("介護サービス");
    let line = service_line(to.service.as_str());
    let kyo1: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                s(V4),
                u.insurer.clone(),
                u.insured.clone(),
                made.clone(),
                u.postal.clone(),
                u.address.clone(),
                String::new(),
                s(cm_name),
                from.name.clone(),
                s("190-0001"),
                s("東京都架空市中央1-1-1"),
                s("ケアビル2階"),
                from.number.as_str().to_owned(),
                s(plan_date),
                s("20240401"),
                s("21"),
                s("2"),
                s("20250301"),
                s("20250401"),
                s("20260331"),
                s(u.care_level),
                s("本人：住み慣れた自宅で、できる限り自分のことは自分で続けたい。\r\n家族：無理をせず、\"安全に\"暮らしてほしい。"),
                s("特になし"),
                s("転倒を防ぎ、在宅生活を続けられるよう、関係事業所と連携して支援します。"),
                String::new(),
                String::new(),
                from.number.as_str().to_owned(),
                String::new(),
            ]
        })
        .collect();
    let mut kyo2 = Vec::new();
    for u in users {
        for (no, (issue, goal, content)) in [
            (
                "足腰が弱り、入浴や外出に不安がある",
                "安心して入浴できる",
                format!("{svc_label}による支援"),
            ),
            (
                "一人での家事が難しくなってきた",
                "週に一度は買い物に出かけられる",
                s("買い物同行、見守り"),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            kyo2.push(vec![
                s(V4),
                u.insurer.clone(),
                u.insured.clone(),
                made.clone(),
                s(plan_date),
                (no + 1).to_string(),
                s(issue),
                s("1"),
                s("在宅生活を続けられる"),
                s(goal),
                s("2025/04/01～2026/03/31"),
                s("2025/04/01～2025/09/30"),
                s("1"),
                content,
                s("Y"),
                s(svc_label),
                to.number.as_str().to_owned(),
                to.name.clone(),
                s("週2回"),
                s("2025/04/01～2025/09/30"),
                from.number.as_str().to_owned(),
                String::new(),
            ]);
        }
    }
    let mut kyo3 = Vec::new();
    for u in users {
        for (day, start, end) in [("1", line.start, line.end), ("4", line.start, line.end)] {
            let (start, end) = if start == "9999" {
                ("0900", "0900")
            } else {
                (start, end)
            };
            kyo3.push(vec![
                s(V4),
                u.insurer.clone(),
                u.insured.clone(),
                made.clone(),
                s(plan_date),
                s(svc_label),
                s(day),
                s(start),
                s(end),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        kyo3.push(vec![
            s(V4),
            u.insurer.clone(),
            u.insured.clone(),
            made.clone(),
            s(plan_date),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            s("起床・朝食"),
            s("0630"),
            s("0730"),
            s("通院（月1回）、福祉用具貸与"),
        ]);
    }
    vec![
        csv_file(FileKind::Up1Kyo, era, None, from, to, serial, &kyo1),
        csv_file(FileKind::Up2Kyo, era, None, from, to, serial, &kyo2),
        csv_file(FileKind::Up3Kyo, era, None, from, to, serial, &kyo3),
        csv_file(
            FileKind::UpHosoku,
            era,
            Some("000000"),
            from,
            to,
            serial,
            &hosoku_records(era, from, "000000", Some(plan_date), users),
        ),
    ]
}

/// A 実績 file (provider → 居宅) for `month`, v4.
pub fn jisseki(
    provider: &DemoOffice,
    care_manager: &DemoOffice,
    month: &str,
    serial: &str,
    users: &[DemoUser],
) -> DemoFile {
    jisseki_in(Era::V4, provider, care_manager, month, serial, users)
}

/// [`jisseki`] in the given era.
pub fn jisseki_in(
    era: Era,
    provider: &DemoOffice,
    care_manager: &DemoOffice,
    month: &str,
    serial: &str,
    users: &[DemoUser],
) -> DemoFile {
    let made = serial_date(serial);
    csv_file(
        FileKind::UpJsk,
        era,
        Some(month),
        provider,
        care_manager,
        serial,
        &sheet6_records(
            era,
            care_manager,
            provider,
            provider,
            month,
            &made,
            users,
            true,
        ),
    )
}

/// A 第6表 予定削除 (DLTPLAN) file for `month`, v4.
pub fn plan_delete(
    from: &DemoOffice,
    to: &DemoOffice,
    month: &str,
    serial: &str,
    users: &[DemoUser],
) -> DemoFile {
    let records: Vec<Vec<String>> = users
        .iter()
        .map(|u| vec![s(V4), u.insurer.clone(), u.insured.clone(), s(month)])
        .collect();
    csv_file(
        FileKind::DltPlan,
        Era::V4,
        Some(month),
        from,
        to,
        serial,
        &records,
    )
}

/// A tiny valid one-page PDF (an attachment: PDF等).
pub fn tiny_pdf(title: &str) -> Vec<u8> {
    let text: String = title
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
        .take(40)
        .collect();
    let content = format!("BT /F1 18 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        String::from("<< /Type /Catalog /Pages 2 0 R >>"),
        String::from("<< /Type /Pages /Kids [3 0 R] /Count 1 >>"),
        String::from(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        ),
        format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ),
        String::from("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"),
    ];
    let mut out = String::from("%PDF-1.4\n");
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.push_str(&format!("{} 0 obj\n{o}\nendobj\n", i + 1));
    }
    let xref = out.len();
    out.push_str(&format!(
        "xref\n0 {}\n0000000000 65535 f \n",
        objects.len() + 1
    ));
    for off in offsets {
        out.push_str(&format!("{off:010} 00000 n \n"));
    }
    out.push_str(&format!(
        "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    ));
    out.into_bytes()
}

fn month_of(d: Date) -> String {
    format!("{:04}{:02}", d.year(), u8::from(d.month()))
}

fn next_month(d: Date) -> Date {
    let (y, m) = if d.month() == Month::December {
        (d.year() + 1, Month::January)
    } else {
        (d.year(), d.month().next())
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(d)
}

fn prev_month(d: Date) -> Date {
    let (y, m) = if d.month() == Month::January {
        (d.year() - 1, Month::December)
    } else {
        (d.year(), d.month().previous())
    };
    Date::from_calendar_date(y, m, 1).unwrap_or(d)
}

fn serial_at(t: OffsetDateTime) -> String {
    serial_for(PrimitiveDateTime::new(t.date(), t.time()))
}

/// A whole demo world: `offices` offices (at least 5; office 0 is the 居宅介護支援事業所)
/// and `weeks` weeks of transmissions ending before `now`.
///
/// Each week the 居宅 sends 6表+7表+補足 sets (around month end, for the next month) and
/// 1表+2表+3表+補足 sets (plan updates, sometimes with a PDF), and the providers send their
/// 実績 for the previous month at the start of a month; now and then a DLTPLAN is sent.
/// The last provider runs v3-era software (CSVバージョン 202208, v3 names) when there are
/// more than five offices.
pub fn generate(seed: u64, now: OffsetDateTime, offices: usize, weeks: u32) -> DemoWorld {
    let offices = demo_offices(seed, offices.max(5));
    let users = demo_users(seed, 4 + offices.len() * 2);
    let mut r = rng(seed, 4);
    let cm = &offices[0];
    let v3_provider = (offices.len() > 5).then(|| offices.len() - 1);
    // Each provider serves a few users.
    let served: Vec<Vec<DemoUser>> = offices
        .iter()
        .enumerate()
        .map(|(i, _)| {
            if i == 0 {
                return Vec::new();
            }
            let k = 2 + (i % 3);
            (0..k)
                .map(|j| users[(i * 3 + j * 5) % users.len()].clone())
                .collect()
        })
        .collect();
    let mut transmissions = Vec::new();
    let start = now - time::Duration::weeks(i64::from(weeks));
    for w in 0..weeks {
        let week_start = start + time::Duration::weeks(i64::from(w));
        for (pi, provider) in offices.iter().enumerate().skip(1) {
            let day = r.random_range(0..5i64);
            let hour = r.random_range(9..17u8);
            let minute = r.random_range(0..60u8);
            let second = r.random_range(0..60u8);
            let at = (week_start + time::Duration::days(day))
                .replace_time(Time::from_hms(hour, minute, second).unwrap_or(Time::MIDNIGHT));
            if at >= now {
                continue;
            }
            let date = at.date();
            let users_p = &served[pi];
            let serial = serial_at(at);
            let era = if Some(pi) == v3_provider {
                Era::V3
            } else {
                Era::V4
            };
            match (w as usize + pi) % 4 {
                0 => {
                    let month = month_of(next_month(date));
                    let mut files = plan_set_in(era, cm, provider, &month, &serial, users_p);
                    let label = month.get(4..).unwrap_or("").trim_start_matches('0');
                    let mut message = format!(
                        "{label}月分のサービス利用票（予定）と別表をお送りします。ご確認をお願いいたします。"
                    );
                    if r.random_bool(0.15) {
                        let old = month_of(date);
                        let del_serial = serial_at(at + time::Duration::seconds(1));
                        files.push(plan_delete(cm, provider, &old, &del_serial, &users_p[..1]));
                        message.push_str("あわせて今月分の予定を1件取り消します。");
                    }
                    transmissions.push(DemoTransmission {
                        from: cm.number,
                        to: provider.number,
                        sent_at: at,
                        message,
                        files,
                    });
                }
                1 => {
                    let month = month_of(prev_month(date));
                    let file = jisseki_in(era, provider, cm, &month, &serial, users_p);
                    let label = month.get(4..).unwrap_or("").trim_start_matches('0');
                    transmissions.push(DemoTransmission {
                        from: provider.number,
                        to: cm.number,
                        sent_at: at,
                        message: format!("{label}月分のサービス提供実績をお送りします。"),
                        files: vec![file],
                    });
                }
                2 if era == Era::V4 => {
                    let plan_date = ymd(date);
                    let mut files = careplan_set(cm, provider, &plan_date, &serial, users_p);
                    let mut message = String::from(
                        "居宅サービス計画書（第1表〜第3表）を更新しましたのでお送りします。",
                    );
                    if r.random_bool(0.3) {
                        files.push(DemoFile {
                            name: format!("サービス担当者会議録_{}.pdf", month_of(date)),
                            bytes: tiny_pdf("Service meeting minutes"),
                        });
                        message.push_str("担当者会議の記録（PDF）も添付します。");
                    }
                    transmissions.push(DemoTransmission {
                        from: cm.number,
                        to: provider.number,
                        sent_at: at,
                        message,
                        files,
                    });
                }
                _ => {}
            }
        }
    }
    transmissions.sort_by_key(|t| t.sent_at);
    DemoWorld {
        offices,
        transmissions,
    }
}

/// One 第6表 (UPPLAN, v4) file of about `target_bytes` bytes, for benchmarks: many users
/// of one month, with kanji, half-width digits and a quoted free text holding a comma and
/// a line break (福祉用具 用具名称).
pub fn large_plan_file(seed: u64, target_bytes: usize) -> Vec<u8> {
    let offices = demo_offices(seed, 4);
    let cm = &offices[0];
    let month = "202504";
    let made = "20250325";
    let mut out: Vec<u8> = Vec::with_capacity(target_bytes + 64 * 1024);
    let mut batch = 0u64;
    while out.len() < target_bytes {
        let users = demo_users(seed.wrapping_add(batch), 50);
        for p in &offices[1..] {
            let recs = sheet6_records(Era::V4, cm, p, cm, month, made, &users, false);
            // Batches of whole CRLF-terminated records concatenate into one valid file.
            out.extend(write_csv(FileKind::UpPlan, V4, &recs).unwrap_or_default());
        }
        batch += 1;
    }
    out
}
