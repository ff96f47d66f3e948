//! Code tables of the standard (standard.md §4.10 and the per-field code lists of §4).

/// One code table: the values a field may take and what they mean.
#[derive(Debug, PartialEq, Eq)]
pub struct CodeTable {
    /// The table's Japanese name, e.g. `要介護状態区分`.
    pub name: &'static str,
    /// `(code, meaning)` pairs in the order of the standard.
    pub codes: &'static [(&'static str, &'static str)],
}

impl CodeTable {
    /// The meaning of `code`, if the table has it.
    pub fn meaning(&self, code: &str) -> Option<&'static str> {
        self.codes.iter().find(|(c, _)| *c == code).map(|(_, m)| *m)
    }

    /// The codes as a short list for messages: `1（男性）、2（女性）`.
    pub fn describe(&self) -> String {
        let parts: Vec<String> = self
            .codes
            .iter()
            .map(|(c, m)| format!("{c}（{m}）"))
            .collect();
        parts.join("、")
    }
}

/// 性別.
pub static SEX: CodeTable = CodeTable {
    name: "性別",
    codes: &[("1", "男性"), ("2", "女性")],
};

/// 認定状況区分.
pub static NINTEI_STATUS: CodeTable = CodeTable {
    name: "認定状況区分",
    codes: &[("1", "申請中"), ("2", "認定済")],
};

/// 要介護状態区分 (利用者補足情報, 第1表).
pub static YOKAIGO: CodeTable = CodeTable {
    name: "要介護状態区分",
    codes: &[
        ("06", "事業対象者"),
        ("12", "要支援１"),
        ("13", "要支援２"),
        ("21", "要介護１"),
        ("22", "要介護２"),
        ("23", "要介護３"),
        ("24", "要介護４"),
        ("25", "要介護５"),
    ],
};

/// 要介護状態区分 of 利用者基本情報 (介護予防): `01 非該当` instead of `06 事業対象者`.
pub static YOKAIGO_KIHON: CodeTable = CodeTable {
    name: "要介護状態区分",
    codes: &[
        ("01", "非該当"),
        ("12", "要支援１"),
        ("13", "要支援２"),
        ("21", "要介護１"),
        ("22", "要介護２"),
        ("23", "要介護３"),
        ("24", "要介護４"),
        ("25", "要介護５"),
    ],
};

/// 計画書区分.
pub static KEIKAKUSHO: CodeTable = CodeTable {
    name: "計画書区分",
    codes: &[
        ("11", "初回"),
        ("12", "紹介"),
        ("21", "継続"),
        ("51", "初回＆紹介"),
        ("52", "初回＆継続"),
        ("53", "紹介＆継続"),
        ("54", "初回＆紹介＆継続"),
    ],
};

/// 生活援助中心型の算定理由.
pub static SEIKATSU_ENJO: CodeTable = CodeTable {
    name: "生活援助中心型の算定理由",
    codes: &[
        ("1", "一人暮らし"),
        ("2", "家族等が障害、疾病等"),
        ("3", "その他"),
    ],
};

/// 保険対象区分.
pub static HOKEN_TAISHO: CodeTable = CodeTable {
    name: "保険対象区分",
    codes: &[("Y", "対象"), ("N", "対象外")],
};

/// 曜日 (第3表).
pub static YOUBI: CodeTable = CodeTable {
    name: "曜日",
    codes: &[
        ("1", "月曜日"),
        ("2", "火曜日"),
        ("3", "水曜日"),
        ("4", "木曜日"),
        ("5", "金曜日"),
        ("6", "土曜日"),
        ("7", "日曜日"),
    ],
};

/// ３０日超区分.
pub static OVER30: CodeTable = CodeTable {
    name: "３０日超区分",
    codes: &[("1", "該当"), ("0", "非該当")],
};

/// 計画種類 (介護予防).
pub static KEIKAKU_SHURUI: CodeTable = CodeTable {
    name: "計画種類",
    codes: &[("1", "介護予防支援"), ("2", "介護予防ケアマネジメント")],
};

/// 委託の有無.
pub static ITAKU: CodeTable = CodeTable {
    name: "委託の有無",
    codes: &[("1", "自前"), ("2", "委託")],
};

/// 相談方法.
pub static SODAN_HOHO: CodeTable = CodeTable {
    name: "相談方法",
    codes: &[("01", "来所"), ("02", "電話"), ("03", "その他")],
};

/// 相談回数.
pub static SODAN_KAISU: CodeTable = CodeTable {
    name: "相談回数",
    codes: &[("01", "初回"), ("02", "再来")],
};

/// 利用者の現況.
pub static GENKYO: CodeTable = CodeTable {
    name: "利用者の現況",
    codes: &[("01", "在宅"), ("02", "入院又は入所中")],
};

/// 障害高齢者の日常生活自立度.
pub static SHOGAI_JIRITSU: CodeTable = CodeTable {
    name: "障害高齢者の日常生活自立度",
    codes: &[
        ("01", "自立"),
        ("11", "J1"),
        ("12", "J2"),
        ("21", "A1"),
        ("22", "A2"),
        ("31", "B1"),
        ("32", "B2"),
        ("41", "C1"),
        ("42", "C2"),
    ],
};

/// 認知症高齢者の日常生活自立度.
pub static NINCHI_JIRITSU: CodeTable = CodeTable {
    name: "認知症高齢者の日常生活自立度",
    codes: &[
        ("01", "自立"),
        ("02", "Ⅰ"),
        ("03", "Ⅱａ"),
        ("04", "Ⅱｂ"),
        ("05", "Ⅲａ"),
        ("06", "Ⅲｂ"),
        ("07", "Ⅳ"),
        ("08", "Ｍ"),
    ],
};

/// 基本チェックリスト記入結果.
pub static CHECKLIST: CodeTable = CodeTable {
    name: "基本チェックリスト記入結果",
    codes: &[("1", "事業対象者の該当あり"), ("2", "事業対象者の該当なし")],
};

/// 該当 / 非該当 (障害等認定, 経済状況).
pub static GAITO: CodeTable = CodeTable {
    name: "該当／非該当",
    codes: &[("1", "該当"), ("0", "非該当")],
};

/// 居住形態.
pub static KYOJU: CodeTable = CodeTable {
    name: "居住形態",
    codes: &[
        ("01", "自宅"),
        ("02", "借家"),
        ("03", "一戸建て"),
        ("04", "集合住宅"),
        ("05", "自宅・一戸建て"),
        ("06", "自宅・集合住宅"),
        ("07", "借家・一戸建て"),
        ("08", "借家・集合住宅"),
    ],
};

/// 有 / 無 (住宅改修の有無, 領域における課題の有無).
pub static UMU: CodeTable = CodeTable {
    name: "有無",
    codes: &[("1", "有"), ("2", "無")],
};

/// 主治医・意見作成者フラグ.
pub static SHUJII: CodeTable = CodeTable {
    name: "主治医・意見作成者フラグ",
    codes: &[("1", "主治医"), ("2", "それ以外")],
};

/// 経過 (現病歴・既往歴).
pub static KEIKA: CodeTable = CodeTable {
    name: "経過",
    codes: &[("01", "治療中"), ("02", "経過観察中"), ("03", "その他")],
};

/// 要支援状態区分 (介護予防サービス・支援計画書).
pub static YOSHIEN: CodeTable = CodeTable {
    name: "要支援状態区分",
    codes: &[("1", "要支援１"), ("2", "要支援２"), ("3", "地域支援事業")],
};

/// 事業プログラムの要否.
pub static YOHI: CodeTable = CodeTable {
    name: "要否",
    codes: &[("1", "要"), ("2", "否")],
};

/// Every code table, for documentation and tests.
pub static ALL_TABLES: [&CodeTable; 24] = [
    &SEX,
    &NINTEI_STATUS,
    &YOKAIGO,
    &YOKAIGO_KIHON,
    &KEIKAKUSHO,
    &SEIKATSU_ENJO,
    &HOKEN_TAISHO,
    &YOUBI,
    &OVER30,
    &KEIKAKU_SHURUI,
    &ITAKU,
    &SODAN_HOHO,
    &SODAN_KAISU,
    &GENKYO,
    &SHOGAI_JIRITSU,
    &NINCHI_JIRITSU,
    &CHECKLIST,
    &GAITO,
    &KYOJU,
    &UMU,
    &SHUJII,
    &KEIKA,
    &YOSHIEN,
    &YOHI,
];
