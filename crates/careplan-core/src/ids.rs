//! Identifiers of the standard and of the system, with typed constructors and Japanese
//! error messages (standard.md §5).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::finding::Finding;

/// An identifier that does not have the right form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct IdError {
    /// Stable code such as `E_OFFICE_LENGTH`.
    pub code: &'static str,
    /// What is wrong and what to do, in Japanese.
    pub message: String,
}

impl IdError {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// This error as an error [`Finding`].
    pub fn to_finding(&self) -> Finding {
        Finding::error(self.code, self.message.clone())
    }
}

/// Letters allowed in position 3 of a 事業所番号 and their values (A=10 … Z=32, no I/O/Q).
const OFFICE_LETTERS: &str = "ABCDEFGHJKLMNPRSTUVWXYZ";

fn office_char_value(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    OFFICE_LETTERS
        .find(c)
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| 10 + i)
}

/// Modulus-10, weights 2-1 from the right, two-digit products split into digits.
fn mod10_w21(values: impl DoubleEndedIterator<Item = u32>) -> u32 {
    let sum: u32 = values
        .rev()
        .enumerate()
        .map(|(i, v)| {
            let p = v * if i % 2 == 0 { 2 } else { 1 };
            p / 10 + p % 10
        })
        .sum();
    (10 - sum % 10) % 10
}

/// The same rule over ASCII digits only, without iterator overhead (the hot path: every
/// file name carries two office numbers).
fn mod10_w21_digits(digits: &[u8]) -> Option<u32> {
    // digit sum of 2×d for d = 0..9
    const DOUBLED: [u32; 10] = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];
    let mut sum = 0;
    for (i, &c) in digits.iter().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 { DOUBLED[d as usize] } else { d };
    }
    Some((10 - sum % 10) % 10)
}

/// Shows a value in a message without letting control characters through.
fn shown(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(40)
        .collect();
    cleaned
}

macro_rules! string_id {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

macro_rules! inline_id {
    ($(#[$m:meta])* $name:ident, $n:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $n]);

        impl $name {
            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                // Only ASCII is ever stored (checked by `parse`).
                std::str::from_utf8(&self.0).unwrap_or_default()
            }

            fn from_ascii(s: &str) -> Option<Self> {
                <[u8; $n]>::try_from(s.as_bytes()).ok().map(Self)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

inline_id!(
    /// 介護保険事業所番号: 10 characters; position 3 may be an upper-case letter (not I, O, Q);
    /// the 10th is a check digit, which is only checked as a warning
    /// ([`OfficeNumber::check_digit_ok`]) because dummy numbers are common in test data.
    /// Stored inline (no allocation): it is parsed for every file name.
    OfficeNumber, 10
);

impl OfficeNumber {
    /// Parse a 事業所番号. The check digit is NOT enforced here.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        if b.len() == 10
            && b.iter().enumerate().all(|(i, &c)| {
                c.is_ascii_digit() || (i == 2 && OFFICE_LETTERS.as_bytes().contains(&c))
            })
            && let Some(n) = Self::from_ascii(s)
        {
            return Ok(n);
        }
        let n = s.chars().count();
        if n != 10 {
            return Err(IdError::new(
                "E_OFFICE_LENGTH",
                format!(
                    "事業所番号「{}」は{}桁です。事業所番号は10桁で指定してください。",
                    shown(s),
                    n
                ),
            ));
        }
        for (i, c) in s.chars().enumerate() {
            let ok = if i == 2 {
                c.is_ascii_digit() || OFFICE_LETTERS.contains(c)
            } else {
                c.is_ascii_digit()
            };
            if !ok {
                let what = if i == 2 {
                    "数字または英大文字（I・O・Qを除く）"
                } else {
                    "半角数字"
                };
                return Err(IdError::new(
                    "E_OFFICE_CHAR",
                    format!(
                        "事業所番号「{}」の{}文字目「{}」が使えない文字です。{}文字目は{}で指定してください。",
                        shown(s),
                        i + 1,
                        shown(&c.to_string()),
                        i + 1,
                        what
                    ),
                ));
            }
        }
        // Unreachable in practice: every character was checked above.
        Self::from_ascii(s)
            .ok_or_else(|| IdError::new("E_OFFICE_CHAR", "事業所番号が正しくありません。"))
    }

    /// Parse and return the check-digit warning, if any, beside the number.
    pub fn parse_checked(s: &str) -> Result<(Self, Option<Finding>), IdError> {
        let n = Self::parse(s)?;
        let w = n.check_digit_warning();
        Ok((n, w))
    }

    /// The check digit the first 9 characters call for (モジュラス10 ウェイト2-1 分割方式).
    pub fn expected_check_digit(first9: &str) -> Option<u32> {
        let b = first9.as_bytes();
        if b.len() != 9 {
            return None;
        }
        let mut values = [0u32; 9];
        for (v, &c) in values.iter_mut().zip(b) {
            *v = if c.is_ascii_digit() {
                u32::from(c - b'0')
            } else {
                office_char_value(char::from(c))?
            };
        }
        Some(mod10_w21(values.into_iter()))
    }

    /// Build a valid number from its first 9 characters by appending the check digit.
    pub fn with_check_digit(first9: &str) -> Result<Self, IdError> {
        let d = Self::expected_check_digit(first9).ok_or_else(|| {
            IdError::new(
                "E_OFFICE_LENGTH",
                format!(
                    "事業所番号の先頭9桁「{}」が正しくありません。",
                    shown(first9)
                ),
            )
        })?;
        Self::parse(&format!("{first9}{d}"))
    }

    /// Whether the 10th character is the right check digit.
    pub fn check_digit_ok(&self) -> bool {
        let b = &self.0;
        if let Some(expected) = mod10_w21_digits(&b[..9]) {
            return b[9].is_ascii_digit() && expected == u32::from(b[9] - b'0');
        }
        let mut values = [0u32; 9];
        for (v, &c) in values.iter_mut().zip(&b[..9]) {
            *v = match c {
                b'0'..=b'9' => u32::from(c - b'0'),
                _ => match office_char_value(char::from(c)) {
                    Some(x) => x,
                    None => return false,
                },
            };
        }
        b[9].is_ascii_digit() && mod10_w21(values.into_iter()) == u32::from(b[9] - b'0')
    }

    /// A warning when the check digit does not match (dummy numbers are common in test data).
    pub fn check_digit_warning(&self) -> Option<Finding> {
        if self.check_digit_ok() {
            return None;
        }
        let expected = Self::expected_check_digit(&self.as_str()[..9]).unwrap_or(0);
        Some(Finding::warning(
            "W_OFFICE_CHECK_DIGIT",
            format!(
                "事業所番号「{}」の検証番号（10桁目）が計算上の値「{}」と一致しません。番号に誤りがないか確認してください（テスト用の番号であれば問題ありません）。",
                self.as_str(),
                expected
            ),
        ))
    }

    /// 都道府県番号 (first two digits).
    pub fn prefecture(&self) -> &str {
        &self.as_str()[..2]
    }
}

inline_id!(
    /// サービス種類コード: 2 characters, digits or upper-case letters (`11`, `43`, `2A`, `A1`).
    ServiceType, 2
);

impl ServiceType {
    /// Parse a サービス種類コード.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = s.len() == 2
            && s.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        match Self::from_ascii(s) {
            Some(t) if ok => Ok(t),
            _ => Err(IdError::new(
                "E_SERVICE_TYPE",
                format!(
                    "サービス種類コード「{}」が正しくありません。半角英数字2桁（例: 43, 11, 2A）で指定してください。",
                    shown(s)
                ),
            )),
        }
    }

    /// The Japanese name of common service types, when known.
    pub fn label(&self) -> Option<&'static str> {
        service_type_label(self.as_str())
    }
}

/// Japanese names of the service types that take part in the exchange (standard.md §2.4).
pub fn service_type_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "11" => "訪問介護",
        "12" => "訪問入浴介護",
        "13" => "訪問看護",
        "14" => "訪問リハビリテーション",
        "15" => "通所介護",
        "16" => "通所リハビリテーション",
        "17" => "福祉用具貸与",
        "21" => "短期入所生活介護",
        "22" => "短期入所療養介護（老健）",
        "23" => "短期入所療養介護（病院等）",
        "2A" => "短期入所療養介護（介護医療院）",
        "27" => "特定施設入居者生活介護（短期）",
        "28" => "地域密着型特定施設入居者生活介護（短期）",
        "31" => "居宅療養管理指導",
        "38" => "認知症対応型共同生活介護（短期）",
        "43" => "居宅介護支援",
        "46" => "介護予防支援",
        "68" => "小規模多機能型居宅介護（短期）",
        "71" => "夜間対応型訪問介護",
        "72" => "認知症対応型通所介護",
        "73" => "小規模多機能型居宅介護",
        "76" => "定期巡回・随時対応型訪問介護看護",
        "77" => "看護小規模多機能型居宅介護",
        "78" => "地域密着型通所介護",
        "79" => "看護小規模多機能型居宅介護（短期）",
        "62" => "介護予防訪問入浴介護",
        "63" => "介護予防訪問看護",
        "64" => "介護予防訪問リハビリテーション",
        "66" => "介護予防通所リハビリテーション",
        "67" => "介護予防福祉用具貸与",
        "24" => "介護予防短期入所生活介護",
        "25" => "介護予防短期入所療養介護（老健）",
        "26" => "介護予防短期入所療養介護（病院等）",
        "2B" => "介護予防短期入所療養介護（介護医療院）",
        "34" => "介護予防居宅療養管理指導",
        "74" => "介護予防認知症対応型通所介護",
        "75" => "介護予防小規模多機能型居宅介護",
        "69" => "介護予防小規模多機能型居宅介護（短期）",
        "39" => "介護予防認知症対応型共同生活介護（短期）",
        "A1" | "A2" | "A3" | "A4" => "訪問型サービス（総合事業）",
        "A5" | "A6" | "A7" | "A8" => "通所型サービス（総合事業）",
        _ => return None,
    })
}

string_id!(
    /// 保険者番号: 6 digits (the last is a check digit; checked only as a warning).
    InsurerNumber
);

impl InsurerNumber {
    /// Parse a 保険者番号.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::new(
                "E_INSURER",
                format!(
                    "保険者番号「{}」が正しくありません。半角数字6桁で指定してください。",
                    shown(s)
                ),
            ))
        }
    }

    /// Whether the 6th digit matches the 検証番号 rule (standard.md §5.2, inferred).
    pub fn check_digit_ok(&self) -> bool {
        let first5 = self.0[..5].bytes().map(|b| u32::from(b - b'0'));
        let expected = mod10_w21(first5);
        u32::from(self.0.as_bytes()[5] - b'0') == expected
    }

    /// Build a valid number from its first 5 digits.
    pub fn with_check_digit(first5: &str) -> Result<Self, IdError> {
        if first5.len() != 5 || !first5.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::new(
                "E_INSURER",
                format!(
                    "保険者番号の先頭5桁「{}」が正しくありません。",
                    shown(first5)
                ),
            ));
        }
        let d = mod10_w21(first5.bytes().map(|b| u32::from(b - b'0')));
        Self::parse(&format!("{first5}{d}"))
    }
}

string_id!(
    /// 被保険者番号: 10 digits, or `H` + 9 digits for 生活保護単独.
    InsuredNumber
);

impl InsuredNumber {
    /// Parse a 被保険者番号.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let b = s.as_bytes();
        let ok = b.len() == 10
            && (b[0].is_ascii_digit() || b[0] == b'H')
            && b[1..].iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::new(
                "E_INSURED",
                "被保険者番号が正しくありません。半角数字10桁、または生活保護単独の場合は「H」＋数字9桁で指定してください。",
            ))
        }
    }
}

fn ascii_id(s: &str, prefix: &str, min: usize, max: usize) -> bool {
    s.starts_with(prefix)
        && (min..=max).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

string_id!(
    /// 個人ユーザID: starts with a lower-case `c`, then letters and digits (2–32 characters in
    /// all; the exact length is not published, see docs/decisions.md).
    PersonalUserId
);

impl PersonalUserId {
    /// Parse a 個人ユーザID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if ascii_id(s, "c", 2, 32) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::new(
                "E_PERSONAL_USER_ID",
                format!(
                    "個人ユーザID「{}」が正しくありません。「c」から始まる半角英数字で入力してください。",
                    shown(s)
                ),
            ))
        }
    }
}

string_id!(
    /// 事業所ユーザID: starts with `KJ`, then letters and digits (3–32 characters in all).
    OfficeUserId
);

impl OfficeUserId {
    /// Parse a 事業所ユーザID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if ascii_id(s, "KJ", 3, 32) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::new(
                "E_OFFICE_USER_ID",
                format!(
                    "事業所ユーザID「{}」が正しくありません。「KJ」から始まる半角英数字で入力してください。",
                    shown(s)
                ),
            ))
        }
    }
}

/// The password policy of the system: 8–16 characters, half-width letters AND digits both
/// present; half-width symbols are allowed; no spaces or full-width characters.
/// The message never repeats the password.
pub fn check_password(password: &str) -> Result<(), IdError> {
    let n = password.chars().count();
    if !(8..=16).contains(&n) {
        return Err(IdError::new(
            "E_PASSWORD_LENGTH",
            format!("パスワードは8文字以上16文字以内で入力してください（現在{n}文字）。"),
        ));
    }
    if !password.chars().all(|c| c.is_ascii_graphic()) {
        return Err(IdError::new(
            "E_PASSWORD_CHAR",
            "パスワードに使えない文字（全角文字・空白など）が含まれています。半角英数字（と半角記号）で入力してください。",
        ));
    }
    let letters = password.chars().any(|c| c.is_ascii_alphabetic());
    let digits = password.chars().any(|c| c.is_ascii_digit());
    if !(letters && digits) {
        return Err(IdError::new(
            "E_PASSWORD_MIX",
            "パスワードには半角英字と半角数字の両方を含めてください。",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_office_numbers_pass_the_check_digit() {
        for n in ["12A8600011", "12A2400103"] {
            let o = OfficeNumber::parse(n).expect("valid");
            assert!(o.check_digit_ok(), "{n}");
            assert!(o.check_digit_warning().is_none());
        }
    }

    #[test]
    fn spec_sample_numbers_parse_with_a_warning() {
        for n in ["0300000100", "0300000005"] {
            let (o, w) = OfficeNumber::parse_checked(n).expect("valid shape");
            assert_eq!(o.as_str(), n);
            let w = w.expect("warning");
            assert_eq!(w.code, "W_OFFICE_CHECK_DIGIT");
            assert!(!w.is_error());
        }
    }

    #[test]
    fn office_number_shape_errors() {
        let e = OfficeNumber::parse("123456789").unwrap_err();
        assert_eq!(e.code, "E_OFFICE_LENGTH");
        assert!(e.message.contains("9桁"));
        assert_eq!(
            OfficeNumber::parse("12I8600011").unwrap_err().code,
            "E_OFFICE_CHAR"
        );
        assert_eq!(
            OfficeNumber::parse("1238A00011").unwrap_err().code,
            "E_OFFICE_CHAR"
        );
        assert_eq!(
            OfficeNumber::parse("１２３４５６７８９０")
                .unwrap_err()
                .code,
            "E_OFFICE_CHAR"
        );
        assert_eq!(OfficeNumber::parse("").unwrap_err().code, "E_OFFICE_LENGTH");
    }

    #[test]
    fn with_check_digit_round_trips() {
        let o = OfficeNumber::with_check_digit("12A860001").unwrap();
        assert_eq!(o.as_str(), "12A8600011");
        let o = OfficeNumber::with_check_digit("131234567").unwrap();
        assert!(o.check_digit_ok());
    }

    #[test]
    fn insurer_check_digit() {
        assert!(InsurerNumber::parse("131011").unwrap().check_digit_ok());
        assert!(!InsurerNumber::parse("131012").unwrap().check_digit_ok());
        assert_eq!(
            InsurerNumber::with_check_digit("13101").unwrap().as_str(),
            "131011"
        );
        assert!(InsurerNumber::parse("13101").is_err());
        assert!(InsurerNumber::parse("13101a").is_err());
    }

    #[test]
    fn insured_numbers() {
        assert!(InsuredNumber::parse("0000012345").is_ok());
        assert!(InsuredNumber::parse("H123456789").is_ok());
        assert!(InsuredNumber::parse("h123456789").is_err());
        assert!(InsuredNumber::parse("H12345678").is_err());
        let e = InsuredNumber::parse("12345678901").unwrap_err();
        // the message never repeats the number itself
        assert!(!e.message.contains("12345678901"));
    }

    #[test]
    fn service_types() {
        for s in ["11", "43", "2A", "A1"] {
            assert!(ServiceType::parse(s).is_ok(), "{s}");
        }
        for s in ["1", "111", "a1", "１１", ""] {
            assert!(ServiceType::parse(s).is_err(), "{s}");
        }
        assert_eq!(
            ServiceType::parse("43").unwrap().label(),
            Some("居宅介護支援")
        );
    }

    #[test]
    fn user_ids() {
        assert!(PersonalUserId::parse("c0001234").is_ok());
        assert!(PersonalUserId::parse("C0001234").is_err());
        assert!(PersonalUserId::parse("c").is_err());
        assert!(PersonalUserId::parse("c-01").is_err());
        assert!(OfficeUserId::parse("KJ12345678").is_ok());
        assert!(OfficeUserId::parse("kj12345678").is_err());
        assert!(OfficeUserId::parse("KJ").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(check_password("abc12345").is_ok());
        assert!(check_password("abc12345!").is_ok());
        assert_eq!(
            check_password("abc1234").unwrap_err().code,
            "E_PASSWORD_LENGTH"
        );
        assert_eq!(
            check_password("abcdefgh12345678X").unwrap_err().code,
            "E_PASSWORD_LENGTH"
        );
        assert_eq!(
            check_password("abcdefgh").unwrap_err().code,
            "E_PASSWORD_MIX"
        );
        assert_eq!(
            check_password("12345678").unwrap_err().code,
            "E_PASSWORD_MIX"
        );
        assert_eq!(
            check_password("abc 12345").unwrap_err().code,
            "E_PASSWORD_CHAR"
        );
        assert_eq!(
            check_password("ａｂｃ12345").unwrap_err().code,
            "E_PASSWORD_CHAR"
        );
        let e = check_password("secret1").unwrap_err();
        assert!(!e.message.contains("secret1"));
    }

    #[test]
    fn serde_validates() {
        let o: OfficeNumber = serde_json::from_str("\"12A8600011\"").unwrap();
        assert_eq!(serde_json::to_string(&o).unwrap(), "\"12A8600011\"");
        assert!(serde_json::from_str::<OfficeNumber>("\"123\"").is_err());
    }
}
