//! The file kinds of the standard (standard.md §2), their name prefixes, categories and
//! the shape of their names.

use serde::{Deserialize, Serialize};

/// 登録 / 削除 / PDF等: the ファイル種別 column of the client's lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    /// `UP…` files: registration data (登録).
    #[serde(rename = "登録")]
    Registration,
    /// `DLT…` files: deletion records (削除).
    #[serde(rename = "削除")]
    Deletion,
    /// Anything that is not a standard data file: PDFs, images, other files (PDF等).
    #[serde(rename = "PDF等")]
    Attachment,
}

impl Category {
    /// The label shown to users: `登録`, `削除` or `PDF等`.
    pub fn label(self) -> &'static str {
        match self {
            Category::Registration => "登録",
            Category::Deletion => "削除",
            Category::Attachment => "PDF等",
        }
    }

    /// Parse a label back (`登録`, `削除`, `PDF等`).
    pub fn from_label(label: &str) -> Option<Self> {
        match label {
            "登録" => Some(Category::Registration),
            "削除" => Some(Category::Deletion),
            "PDF等" => Some(Category::Attachment),
            _ => None,
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// v3 names (no service-type segments, CSVバージョン 202208 and older) or v4 names
/// (with the sender's and receiver's サービス種類コード, CSVバージョン 202407).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NameShape {
    /// `PREFIX_[YYYYMM_]FROM10_TO10_TS14.CSV`
    V3,
    /// `PREFIX_[YYYYMM_]FROM10_SVC2_TO10_SVC2_TS14.CSV`
    V4,
}

impl NameShape {
    /// `v3` or `v4`.
    pub fn label(self) -> &'static str {
        match self {
            NameShape::V3 => "v3",
            NameShape::V4 => "v4",
        }
    }
}

/// Every data-file kind of the standard (v3.x and v4.1), including the family-structure image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FileKind {
    /// 利用者補足情報 `UPHOSOKU`
    UpHosoku,
    /// 居宅サービス計画書 第1表 `UP1KYO`
    Up1Kyo,
    /// 居宅サービス計画書 第1表 削除 `DLT1KYO`
    Dlt1Kyo,
    /// 居宅サービス計画書 第2表 `UP2KYO`
    Up2Kyo,
    /// 居宅サービス計画書 第3表 `UP3KYO` (v4 only)
    Up3Kyo,
    /// 第6表 サービス利用票 予定 `UPPLAN`
    UpPlan,
    /// 第6表 予定削除 `DLTPLAN`
    DltPlan,
    /// 第6表 実績 `UPJSK`
    UpJsk,
    /// 第6表 実績削除 `DLTJSK`
    DltJsk,
    /// 第7表 サービス利用票別表 `UPSIKYU`
    UpSikyu,
    /// 利用者基本情報 (介護予防) `UPKIHON` (v4 only)
    UpKihon,
    /// 利用者基本情報 削除 `DLTKIHON` (v4 only)
    DltKihon,
    /// 利用者基本情報 別表1 `UPKIHON_SUB1` (v4 only)
    UpKihonSub1,
    /// 利用者基本情報 別表2 `UPKIHON_SUB2` (v4 only)
    UpKihonSub2,
    /// 家族構成 画像 `UPKIHON_IMAGE` (JPEG, v4 only)
    UpKihonImage,
    /// 介護予防サービス・支援計画書 `UPYOBO` (v4 only)
    UpYobo,
    /// 介護予防サービス・支援計画書 削除 `DLTYOBO` (v4 only)
    DltYobo,
    /// 介護予防サービス・支援計画書 別表 `UPYOBO_SUB` (v4 only)
    UpYoboSub,
}

impl FileKind {
    /// Every kind, in the order of standard.md §2.2.
    pub const ALL: [FileKind; 18] = [
        FileKind::UpHosoku,
        FileKind::Up1Kyo,
        FileKind::Dlt1Kyo,
        FileKind::Up2Kyo,
        FileKind::Up3Kyo,
        FileKind::UpPlan,
        FileKind::DltPlan,
        FileKind::UpJsk,
        FileKind::DltJsk,
        FileKind::UpSikyu,
        FileKind::UpKihon,
        FileKind::DltKihon,
        FileKind::UpKihonSub1,
        FileKind::UpKihonSub2,
        FileKind::UpKihonImage,
        FileKind::UpYobo,
        FileKind::DltYobo,
        FileKind::UpYoboSub,
    ];

    /// The standard's file-name prefix, e.g. `UPKIHON_SUB1`.
    pub fn prefix(self) -> &'static str {
        match self {
            FileKind::UpHosoku => "UPHOSOKU",
            FileKind::Up1Kyo => "UP1KYO",
            FileKind::Dlt1Kyo => "DLT1KYO",
            FileKind::Up2Kyo => "UP2KYO",
            FileKind::Up3Kyo => "UP3KYO",
            FileKind::UpPlan => "UPPLAN",
            FileKind::DltPlan => "DLTPLAN",
            FileKind::UpJsk => "UPJSK",
            FileKind::DltJsk => "DLTJSK",
            FileKind::UpSikyu => "UPSIKYU",
            FileKind::UpKihon => "UPKIHON",
            FileKind::DltKihon => "DLTKIHON",
            FileKind::UpKihonSub1 => "UPKIHON_SUB1",
            FileKind::UpKihonSub2 => "UPKIHON_SUB2",
            FileKind::UpKihonImage => "UPKIHON_IMAGE",
            FileKind::UpYobo => "UPYOBO",
            FileKind::DltYobo => "DLTYOBO",
            FileKind::UpYoboSub => "UPYOBO_SUB",
        }
    }

    /// The kind whose prefix is exactly `prefix` (upper case).
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.prefix() == prefix)
    }

    /// The Japanese name users know (ファイル名称).
    pub fn label(self) -> &'static str {
        match self {
            FileKind::UpHosoku => "利用者補足情報",
            FileKind::Up1Kyo => "居宅サービス計画書 第1表",
            FileKind::Dlt1Kyo => "居宅サービス計画書 第1表 削除",
            FileKind::Up2Kyo => "居宅サービス計画書 第2表",
            FileKind::Up3Kyo => "居宅サービス計画書 第3表",
            FileKind::UpPlan => "第6表 サービス利用票（予定）",
            FileKind::DltPlan => "第6表 サービス利用票（予定）削除",
            FileKind::UpJsk => "第6表 実績",
            FileKind::DltJsk => "第6表 実績 削除",
            FileKind::UpSikyu => "第7表 サービス利用票別表",
            FileKind::UpKihon => "利用者基本情報（介護予防）",
            FileKind::DltKihon => "利用者基本情報 削除",
            FileKind::UpKihonSub1 => "利用者基本情報 別表1（1日の生活・すごし方）",
            FileKind::UpKihonSub2 => "利用者基本情報 別表2（現病歴・既往歴）",
            FileKind::UpKihonImage => "家族構成 画像",
            FileKind::UpYobo => "介護予防サービス・支援計画書",
            FileKind::DltYobo => "介護予防サービス・支援計画書 削除",
            FileKind::UpYoboSub => "介護予防サービス・支援計画書 別表",
        }
    }

    /// 登録 for `UP…`, 削除 for `DLT…`.
    pub fn category(self) -> Category {
        if self.prefix().starts_with("DLT") {
            Category::Deletion
        } else {
            Category::Registration
        }
    }

    /// Whether the name carries a `YYYYMM` month segment right after the prefix.
    pub fn has_month(self) -> bool {
        matches!(
            self,
            FileKind::UpHosoku
                | FileKind::UpPlan
                | FileKind::DltPlan
                | FileKind::UpJsk
                | FileKind::DltJsk
                | FileKind::UpSikyu
        )
    }

    /// Whether a file of this kind holds one service month only (第6表, 第7表, 実績 and their
    /// deletes).
    pub fn is_monthly(self) -> bool {
        self.has_month() && self != FileKind::UpHosoku
    }

    /// Kinds that exist only from the v4 standard on (3表 and the 介護予防 files).
    pub fn v4_only(self) -> bool {
        matches!(
            self,
            FileKind::Up3Kyo
                | FileKind::UpKihon
                | FileKind::DltKihon
                | FileKind::UpKihonSub1
                | FileKind::UpKihonSub2
                | FileKind::UpKihonImage
                | FileKind::UpYobo
                | FileKind::DltYobo
                | FileKind::UpYoboSub
        )
    }

    /// The family image is a JPEG with a 4-digit branch number; every other kind is a CSV.
    pub fn is_image(self) -> bool {
        self == FileKind::UpKihonImage
    }

    /// Whether the file content is CSV (everything but the image).
    pub fn is_csv(self) -> bool {
        !self.is_image()
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.prefix())
    }
}
