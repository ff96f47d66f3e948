//! Rules across the fields of a record and across the records of one file (standard.md
//! §2.4, §4): items required when a code has a given value, rows that must be present,
//! dates and months that must agree with one another or with the file name, one row per
//! 利用者 and key. Every rule is listed in `docs/csv.md` with its code.

use std::collections::BTreeMap;

use crate::finding::{Finding, Severity};
use crate::kind::FileKind;
use crate::name::FileName;

use super::layout::{Layout, shown};
use super::reader::Record;
use super::validate::{Sink, is_date, is_month};

/// 0-based index of the field called `name` (the first one when names repeat).
fn idx(layout: &Layout, name: &str) -> Option<usize> {
    layout.fields.iter().position(|f| f.name == name)
}

fn field_name(layout: &Layout, i: usize) -> &'static str {
    layout.fields.get(i).map_or("", |f| f.name)
}

/// Push a finding at `record` / field `i` (0-based) when one more of `code` is wanted.
fn emit(
    sink: &mut Sink,
    code: &'static str,
    severity: Severity,
    record: usize,
    i: usize,
    message: impl FnOnce() -> String,
) {
    if !sink.wants(code, severity) {
        return;
    }
    let f = match severity {
        Severity::Error => Finding::error(code, message()),
        Severity::Warning => Finding::warning(code, message()),
    };
    sink.push(f.at_record(record).at_field(i + 1));
}

fn get(r: &Record, i: Option<usize>) -> &str {
    i.and_then(|i| r.get(i)).unwrap_or_default()
}

/// Check every rule of `kind` on the data records of one file.
pub(super) fn check(
    sink: &mut Sink,
    kind: FileKind,
    layout: &Layout,
    name: Option<&FileName>,
    records: &[Record],
) {
    use FileKind as K;
    match kind {
        K::UpPlan | K::UpJsk => sheet6(sink, kind, layout, name, records),
        K::UpSikyu => sheet7(sink, layout, records),
        K::Up1Kyo => {
            date_order(
                sink,
                layout,
                records,
                "初回居宅サービス計画作成日",
                "居宅サービス計画作成（変更）日",
            );
            date_order(
                sink,
                layout,
                records,
                "認定有効期間開始日",
                "認定有効期間終了日",
            );
            required_when(
                sink,
                layout,
                records,
                "生活援助中心型の算定理由",
                "3",
                "その他理由",
                "3（その他）",
            );
        }
        K::Up2Kyo => {
            for n in ["課題ＮＯ", "援助目標ＮＯ", "援助内容ＮＯ"] {
                numbers_from_one(sink, layout, records, n);
            }
        }
        K::UpYoboSub => {
            for n in ["課題ＮＯ", "支援計画ＮＯ", "利用サービスＮＯ"] {
                numbers_from_one(sink, layout, records, n);
            }
        }
        K::UpHosoku => hosoku(sink, layout, records),
        K::UpKihon => {
            date_order(
                sink,
                layout,
                records,
                "認定有効期限開始日",
                "認定有効期間終了日",
            );
            date_order(sink, layout, records, "前回相談日", "相談日");
            required_when(
                sink,
                layout,
                records,
                "相談方法",
                "03",
                "相談方法(その他の内容)",
                "03（その他）",
            );
        }
        K::UpYobo => {
            date_order(
                sink,
                layout,
                records,
                "認定有効期間開始日",
                "認定有効期間終了日",
            );
            date_order(sink, layout, records, "初回作成日", "計画作成(変更)日");
            for area in [
                "【運動・移動】",
                "【日常生活(家庭生活)】",
                "【社会参加、対人関係・コミュニケーション】",
                "【健康管理】",
            ] {
                let flag = format!("{area}領域における課題の有無");
                let text = format!("{area}領域における課題（背景・原因）");
                recommended_when(sink, layout, records, &flag, "1", &text);
            }
        }
        _ => {}
    }
    let key: &[&str] = match kind {
        K::Up1Kyo => &[
            "保険者番号",
            "被保険者番号",
            "居宅サービス計画作成（変更）日",
        ],
        K::UpHosoku => &[
            "保険者番号",
            "被保険者番号",
            "居宅サービス計画作成（変更）日",
            "対象年月",
        ],
        K::UpKihon => &["保険者番号", "被保険者番号", "相談日"],
        K::UpYobo => &["保険者番号", "被保険者番号", "計画作成(変更)日"],
        K::Dlt1Kyo => &[
            "保険者番号",
            "被保険者番号",
            "居宅サービス計画作成（変更）日",
        ],
        K::DltPlan => &["保険者番号", "被保険者番号", "削除対象年月"],
        K::DltKihon => &["保険者番号", "被保険者番号", "相談日"],
        K::DltYobo => &["保険者番号", "被保険者番号", "計画作成(変更)日"],
        K::DltJsk => &[
            "保険者番号",
            "被保険者番号",
            "削除対象年月",
            "サービス事業者コード",
            "サービス種類コード",
        ],
        _ => &[],
    };
    if !key.is_empty() {
        one_row_per_key(sink, kind, layout, records, key);
    }
    if let Some(name) = name {
        created_before_name(sink, layout, name, records);
    }
}

/// `E_CSV_DATE_ORDER`: the date in `first` must not be after the date in `second`.
fn date_order(sink: &mut Sink, layout: &Layout, records: &[Record], first: &str, second: &str) {
    let (Some(a), Some(b)) = (idx(layout, first), idx(layout, second)) else {
        return;
    };
    for r in records {
        let (x, y) = (get(r, Some(a)), get(r, Some(b)));
        if is_date(x.as_bytes()) && is_date(y.as_bytes()) && x > y {
            emit(
                sink,
                "E_CSV_DATE_ORDER",
                Severity::Error,
                r.number,
                a,
                || {
                    format!(
                        "{}行目 {}項目「{first}」が{x}で、{}項目「{second}」（{y}）より後です。日付の前後を確認して出力し直してください。",
                        r.number,
                        a + 1,
                        b + 1
                    )
                },
            );
        }
    }
}

/// `E_CSV_COND_REQUIRED`: `then` must not be empty when `when` is `value`.
fn required_when(
    sink: &mut Sink,
    layout: &Layout,
    records: &[Record],
    when: &str,
    value: &str,
    then: &str,
    shown_value: &str,
) {
    let (Some(w), Some(t)) = (idx(layout, when), idx(layout, then)) else {
        return;
    };
    for r in records {
        if get(r, Some(w)) == value && get(r, Some(t)).is_empty() {
            emit(
                sink,
                "E_CSV_COND_REQUIRED",
                Severity::Error,
                r.number,
                t,
                || {
                    format!(
                        "{}行目 {}項目「{then}」が空です。{}項目「{when}」が{shown_value}のときは必須です。介護ソフトで入力してから出力し直してください。",
                        r.number,
                        t + 1,
                        w + 1
                    )
                },
            );
        }
    }
}

/// `W_CSV_COND_RECOMMENDED`: `then` should be filled when `when` is `value`.
fn recommended_when(
    sink: &mut Sink,
    layout: &Layout,
    records: &[Record],
    when: &str,
    value: &str,
    then: &str,
) {
    let (Some(w), Some(t)) = (idx(layout, when), idx(layout, then)) else {
        return;
    };
    for r in records {
        if get(r, Some(w)) == value && get(r, Some(t)).is_empty() {
            emit(
                sink,
                "W_CSV_COND_RECOMMENDED",
                Severity::Warning,
                r.number,
                t,
                || {
                    format!(
                        "{}行目 {}項目「{then}」が空ですが、{}項目「{when}」は「1（有）」です。課題があるときはその内容を入力してください。",
                        r.number,
                        t + 1,
                        w + 1
                    )
                },
            );
        }
    }
}

/// `E_CSV_NUMBER_RANGE`: ＮＯ fields count from 1 (1–99).
fn numbers_from_one(sink: &mut Sink, layout: &Layout, records: &[Record], field: &str) {
    let Some(i) = idx(layout, field) else { return };
    for r in records {
        let v = get(r, Some(i));
        if !v.is_empty() && v.bytes().all(|b| b == b'0') {
            emit(
                sink,
                "E_CSV_NUMBER_RANGE",
                Severity::Error,
                r.number,
                i,
                || {
                    format!(
                        "{}行目 {}項目「{field}」が「{v}」です。番号は1〜99です。介護ソフトで番号を確認して出力し直してください。",
                        r.number,
                        i + 1
                    )
                },
            );
        }
    }
}

fn is_rental(code: &str) -> bool {
    code.starts_with("17") || code.starts_with("67")
}

/// 第6表 予定 / 実績.
fn sheet6(
    sink: &mut Sink,
    kind: FileKind,
    layout: &Layout,
    name: Option<&FileName>,
    records: &[Record],
) {
    let month = idx(layout, "対象年月");
    let day = idx(layout, "サービス利用日");
    let start = idx(layout, "サービス開始時刻");
    let end = idx(layout, "サービス終了時刻");
    let code = idx(layout, "サービスコード");
    let tais = idx(layout, "TAISコード");
    let todoke = idx(layout, "福祉用具届出コード");
    let meisai = idx(layout, "明細判別コード");
    let provider = idx(layout, "サービス事業者コード");
    let from = name
        .filter(|_| kind == FileKind::UpJsk)
        .and_then(|n| n.from_office.as_ref());
    for r in records {
        let n = r.number;
        // The record's fields looked up once (this loop runs for every row of the file).
        let view = r.view();
        let get = |_: &Record, i: Option<usize>| i.and_then(|i| view.get(i)).unwrap_or_default();
        let (m, d) = (get(r, month), get(r, day));
        if let Some(di) = day
            && is_month(m.as_bytes())
            && is_date(d.as_bytes())
            && !d.starts_with(m)
        {
            emit(sink, "E_CSV_DAY_MONTH", Severity::Error, n, di, || {
                format!(
                    "{n}行目 {}項目「サービス利用日」が{d}で、対象年月「{m}」の日ではありません。第6表は1ファイル1か月分です。利用日と対象年月を確認して出力し直してください。",
                    di + 1
                )
            });
        }
        let (s, e) = (get(r, start), get(r, end));
        if let Some(ei) = end
            && !s.is_empty()
            && !e.is_empty()
            && (s == "9999") != (e == "9999")
        {
            emit(sink, "E_CSV_TIME_PAIR", Severity::Error, n, ei, || {
                format!(
                    "{n}行目 開始時刻「{}」と終了時刻「{}」の片方だけが9999です。時間のないサービスは開始・終了とも9999、時間のあるサービスは両方に時刻（HHMM）を出力してください。",
                    shown(s),
                    shown(e)
                )
            });
        }
        let c = get(r, code);
        if let Some(ti) = tais
            && is_rental(c)
            && get(r, tais).is_empty()
            && get(r, todoke).is_empty()
        {
            emit(sink, "E_CSV_TAIS_REQUIRED", Severity::Error, n, ti, || {
                format!(
                    "{n}行目 サービスコード「{}」は福祉用具貸与ですが、TAISコード（{}項目）も福祉用具届出コード（{}項目）も空です。福祉用具貸与ではどちらかが必須です。介護ソフトで用具のコードを入力してから出力し直してください。",
                    shown(c),
                    ti + 1,
                    ti + 2
                )
            });
        }
        if let Some(mi) = meisai
            && !c.is_empty()
            && !is_rental(c)
            && !get(r, meisai).is_empty()
        {
            emit(sink, "W_CSV_MEISAI_CODE", Severity::Warning, n, mi, || {
                format!(
                    "{n}行目 {}項目「明細判別コード」は福祉用具貸与（サービス種類17・67）で同じコード・単位数の用具を区別するときだけ使う項目ですが、サービスコード「{}」の行に値があります。送信先で誤って区別される可能性があるため、介護ソフトの設定を確認してください。",
                    mi + 1,
                    shown(c)
                )
            });
        }
        if let (Some(from), Some(pi)) = (from, provider) {
            let p = get(r, provider);
            if !p.is_empty() && p != from.as_str() {
                emit(sink, "W_CSV_JSK_PROVIDER", Severity::Warning, n, pi, || {
                    format!(
                        "{n}行目 {}項目「サービス事業者コード」が「{}」で、実績ファイルの送信元「{from}」と異なります。実績は提供した事業所が自分の分を送ります。別の事業所の実績でないか確認してください。",
                        pi + 1,
                        shown(p)
                    )
                });
            }
        }
    }
}

/// What one 利用者 of a 第7表 file has.
#[derive(Default)]
struct Sheet7User {
    first: usize,
    total: bool,
    /// Per サービス種類 (first two characters): the codes seen and whether its 区分支給
    /// subtotal row ({種類}AAAA) is there.
    types: BTreeMap<String, (Vec<String>, bool, usize)>,
}

/// 第7表: total rows.
fn sheet7(sink: &mut Sink, layout: &Layout, records: &[Record]) {
    let (insurer, insured) = (idx(layout, "保険者番号"), idx(layout, "被保険者番号"));
    let office = idx(layout, "サービス事業所コード");
    let code = idx(layout, "サービスコード");
    let units = idx(layout, "単位数");
    let mut users: BTreeMap<(String, String), Sheet7User> = BTreeMap::new();
    for r in records {
        let n = r.number;
        let c = get(r, code);
        let user = users
            .entry((get(r, insurer).to_owned(), get(r, insured).to_owned()))
            .or_insert_with(|| Sheet7User {
                first: n,
                ..Sheet7User::default()
            });
        let sub = c.len() == 6 && matches!(c.get(2..), Some("AAAA" | "EEEE" | "ZZZZ"));
        if c == "999999" {
            user.total = true;
            let o = get(r, office);
            if let Some(oi) = office
                && o != "9999999999"
            {
                emit(
                    sink,
                    "E_CSV_TOTAL_ROW_OFFICE",
                    Severity::Error,
                    n,
                    oi,
                    || {
                        format!(
                            "{n}行目は合計行（サービスコード999999）ですが、{}項目「サービス事業所コード」が「{}」です。合計行の事業所コードは9999999999です。介護ソフトで出力し直してください。",
                            oi + 1,
                            shown(o)
                        )
                    },
                );
            }
        } else if sub {
            let t = c.get(..2).unwrap_or_default().to_owned();
            if c.ends_with("AAAA") {
                user.types.entry(t).or_default().1 = true;
            }
        } else if c.len() >= 2 {
            let t = c.get(..2).unwrap_or_default().to_owned();
            let e = user
                .types
                .entry(t)
                .or_insert_with(|| (Vec::new(), false, n));
            if !e.0.iter().any(|x| x == c) {
                e.0.push(c.to_owned());
            }
        }
        let u = get(r, units);
        if let Some(ui) = units
            && (c == "999999" || sub)
            && !u.is_empty()
            && u.bytes().any(|b| b != b'0')
        {
            emit(
                sink,
                "W_CSV_TOTAL_ROW_UNITS",
                Severity::Warning,
                n,
                ui,
                || {
                    format!(
                        "{n}行目は合計・小計行（サービスコード「{}」）ですが、{}項目「単位数」が「{}」です。合計・小計行の単位数は0です。送信先で二重に数えられないか確認してください。",
                        shown(c),
                        ui + 1,
                        shown(u)
                    )
                },
            );
        }
    }
    for user in users.values() {
        if !user.total {
            let ci = code.unwrap_or(8);
            emit(
                sink,
                "E_CSV_TOTAL_ROW_MISSING",
                Severity::Error,
                user.first,
                ci,
                || {
                    format!(
                        "{}行目からの利用者に合計行（サービス事業所コード9999999999・サービスコード999999）がありません。第7表では利用者ごとに合計行が必須です。介護ソフトで出力し直してください。",
                        user.first
                    )
                },
            );
        }
        for (t, (codes, has_sub, first)) in &user.types {
            if codes.len() > 1 && !has_sub {
                let ci = code.unwrap_or(8);
                emit(
                    sink,
                    "W_CSV_SUBTOTAL_MISSING",
                    Severity::Warning,
                    *first,
                    ci,
                    || {
                        format!(
                            "{first}行目からの利用者はサービス種類「{}」のサービスコードが{}種類ありますが、小計行（{}AAAA）がありません。サービスコードが複数あるときは区分支給限度対象の小計行を出力します。介護ソフトの設定を確認してください。",
                            shown(t),
                            codes.len(),
                            shown(t)
                        )
                    },
                );
            }
        }
    }
}

/// 利用者補足情報: which set the row belongs to, and its 限度額 dates.
fn hosoku(sink: &mut Sink, layout: &Layout, records: &[Record]) {
    let plan = idx(layout, "居宅サービス計画作成（変更）日");
    let month = idx(layout, "対象年月");
    for r in records {
        let (p, m) = (get(r, plan), get(r, month));
        if p.is_empty() || m.is_empty() {
            continue;
        }
        let (pz, mz) = (p == "00000000", m == "000000");
        if pz == mz
            && let Some(mi) = month
        {
            emit(
                sink,
                "E_CSV_HOSOKU_KEY",
                Severity::Error,
                r.number,
                mi,
                || {
                    let why = if pz {
                        "両方とも0です"
                    } else {
                        "両方に値があります"
                    };
                    format!(
                        "{}行目 4項目「居宅サービス計画作成（変更）日」（{}）と{}項目「対象年月」（{}）が{why}。第1表・第2表と送る補足は作成（変更）日を入れて対象年月を000000に、第6表・第7表と送る補足は作成（変更）日を00000000にして対象年月を入れます。介護ソフトで出力し直してください。",
                        r.number,
                        shown(p),
                        mi + 1,
                        shown(m)
                    )
                },
            );
        }
    }
    date_order(
        sink,
        layout,
        records,
        "限度額適用開始年月日",
        "限度額適用終了年月日",
    );
}

/// `E_CSV_DUPLICATE_KEY`: one row per 利用者 and key.
fn one_row_per_key(
    sink: &mut Sink,
    kind: FileKind,
    layout: &Layout,
    records: &[Record],
    key: &[&str],
) {
    let cols: Vec<usize> = key.iter().filter_map(|k| idx(layout, k)).collect();
    if cols.len() != key.len() {
        return;
    }
    let mut seen: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
    for r in records {
        let k: Vec<&str> = cols.iter().map(|&c| get(r, Some(c))).collect();
        if k.iter().any(|v| v.is_empty()) {
            continue;
        }
        if let Some(&first) = seen.get(&k) {
            let last = *cols.last().unwrap_or(&0);
            emit(
                sink,
                "E_CSV_DUPLICATE_KEY",
                Severity::Error,
                r.number,
                last,
                || {
                    format!(
                        "{}行目は{first}行目と同じ利用者・同じ{}の行です。{}は1人につき1行です。重複した行を除いて出力し直してください。",
                        r.number,
                        key.get(2..).map_or("キー".to_owned(), |k| k.join("・")),
                        kind.label()
                    )
                },
            );
        } else {
            seen.insert(k, r.number);
        }
    }
}

/// `W_CSV_CREATED_AFTER_NAME`: a 作成年月日 later than the file name's creation time.
fn created_before_name(sink: &mut Sink, layout: &Layout, name: &FileName, records: &[Record]) {
    let Some(serial) = name.serial.as_deref() else {
        return;
    };
    let Some(made) = serial.get(..8) else { return };
    let Some(i) = [
        "作成年月日",
        "居宅計画書作成年月日",
        "週間サービス計画表作成年月日",
    ]
    .iter()
    .find_map(|n| idx(layout, n)) else {
        return;
    };
    if let Some(r) = records.iter().find(|r| {
        let v = get(r, Some(i));
        is_date(v.as_bytes()) && v > made
    }) {
        let v = get(r, Some(i));
        emit(
            sink,
            "W_CSV_CREATED_AFTER_NAME",
            Severity::Warning,
            r.number,
            i,
            || {
                format!(
                    "{}行目 {}項目「{}」が{v}で、ファイル名の作成日時（{serial}）より後の日付です。作成年月日か、パソコンの日付が正しいか確認してください。",
                    r.number,
                    i + 1,
                    field_name(layout, i)
                )
            },
        );
    }
}
