//! 取引先一覧 (issue 16): every office this office exchanged with, from its 受信一覧 and
//! 送信一覧.
//!
//! Pure: the caller gives the two lists (the relay's wire rows, or the cached ones when
//! offline) and `now`. The decisions where the issue is silent (`docs/desktop.md`,
//! 「取引先一覧」):
//!
//! - A partner is an office that appears as the sender of a received transmission or as a
//!   destination of one of our sends. This office itself is never a partner (a send to
//!   oneself stays out).
//! - 名称: the newest non-empty name the relay gave for it (as a sender, else as a
//!   destination); empty when the relay knows none.
//! - 未受信 (undownloaded): received files not yet saved on any terminal (済 is false);
//!   未読 (unread): received transmissions with at least one such file — the 未 rows of
//!   受信一覧.
//! - 今月の最新送信: our newest send to it in the current month of Japan time (JST, like
//!   every date on screen); 受信済 once the partner saved every file of it, 未受信 while
//!   one is left, なし when we sent nothing to it this month.
//! - Order: newest activity (last send or receipt) first, then 事業所番号.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

use crate::wire::{ReceivedTransmission, SentTransmission};

/// Japan Standard Time (UTC+9, no daylight saving).
const JST: UtcOffset = match UtcOffset::from_hms(9, 0, 0) {
    Ok(o) => o,
    Err(_) => UtcOffset::UTC,
};

/// Whether the partner has our newest set of the current month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MonthState {
    /// Nothing sent to it this month.
    None,
    /// Every file of our newest send this month is 済 at the partner.
    Acquired,
    /// Our newest send this month still has a file the partner has not saved.
    Pending,
}

impl MonthState {
    /// `なし` / `受信済` / `未受信`.
    pub fn label(self) -> &'static str {
        match self {
            MonthState::None => "なし",
            MonthState::Acquired => "受信済",
            MonthState::Pending => "未受信",
        }
    }
}

/// One row of 取引先一覧.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// 事業所番号.
    pub office: String,
    /// 事業所名称 (empty when unknown).
    pub name: String,
    /// 最終送信: our newest send to it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_sent: Option<OffsetDateTime>,
    /// 最終受信: its newest transmission to us.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_received: Option<OffsetDateTime>,
    /// 未読: its transmissions with a file not yet saved here.
    pub unread: usize,
    /// 未受信: its files not yet saved here.
    pub undownloaded: usize,
    /// Sends of ours to it (all months in the list).
    pub sends: usize,
    /// Its transmissions to us (all months in the list).
    pub receipts: usize,
    /// Our newest send to it this month, and whether it has it.
    pub this_month: MonthState,
}

impl Partner {
    /// The newest of [`Partner::last_sent`] and [`Partner::last_received`].
    pub fn last_activity(&self) -> Option<OffsetDateTime> {
        self.last_sent.max(self.last_received)
    }
}

#[derive(Default)]
struct Acc {
    recv_name: Option<(OffsetDateTime, String)>,
    sent_name: Option<(OffsetDateTime, String)>,
    last_sent: Option<OffsetDateTime>,
    last_received: Option<OffsetDateTime>,
    unread: usize,
    undownloaded: usize,
    sends: usize,
    receipts: usize,
    month: Option<(OffsetDateTime, bool)>,
}

fn newer(slot: &mut Option<(OffsetDateTime, String)>, at: OffsetDateTime, name: &str) {
    if name.trim().is_empty() {
        return;
    }
    if slot.as_ref().is_none_or(|(t, _)| at >= *t) {
        *slot = Some((at, name.trim().to_owned()));
    }
}

fn same_month_jst(a: OffsetDateTime, b: OffsetDateTime) -> bool {
    let (a, b) = (a.to_offset(JST), b.to_offset(JST));
    a.year() == b.year() && a.month() == b.month()
}

/// 取引先一覧 of office `me` from its received and sent lists, at `now`.
pub fn partners(
    me: &str,
    received: &[ReceivedTransmission],
    sent: &[SentTransmission],
    now: OffsetDateTime,
) -> Vec<Partner> {
    let mut by: BTreeMap<&str, Acc> = BTreeMap::new();
    for t in received {
        if t.sender_office == me {
            continue;
        }
        let a = by.entry(t.sender_office.as_str()).or_default();
        a.receipts += 1;
        a.last_received = a.last_received.max(Some(t.received_at));
        newer(&mut a.recv_name, t.received_at, &t.sender_name);
        let missing = t.files.iter().filter(|f| !f.acquired).count();
        a.undownloaded += missing;
        if missing > 0 {
            a.unread += 1;
        }
    }
    for t in sent {
        for d in &t.destinations {
            if d.office == me {
                continue;
            }
            let a = by.entry(d.office.as_str()).or_default();
            a.sends += 1;
            a.last_sent = a.last_sent.max(Some(t.sent_at));
            if let Some(n) = &d.name {
                newer(&mut a.sent_name, t.sent_at, n);
            }
            if same_month_jst(t.sent_at, now) && a.month.is_none_or(|(at, _)| t.sent_at >= at) {
                a.month = Some((t.sent_at, d.all_acquired()));
            }
        }
    }
    let mut out: Vec<Partner> = by
        .into_iter()
        .map(|(office, a)| Partner {
            office: office.to_owned(),
            name: a
                .recv_name
                .or(a.sent_name)
                .map(|(_, n)| n)
                .unwrap_or_default(),
            last_sent: a.last_sent,
            last_received: a.last_received,
            unread: a.unread,
            undownloaded: a.undownloaded,
            sends: a.sends,
            receipts: a.receipts,
            this_month: match a.month {
                None => MonthState::None,
                Some((_, true)) => MonthState::Acquired,
                Some((_, false)) => MonthState::Pending,
            },
        })
        .collect();
    out.sort_by(|x, y| {
        y.last_activity()
            .cmp(&x.last_activity())
            .then_with(|| x.office.cmp(&y.office))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Category;
    use crate::wire::{ReceivedFile, SentDestination, SentFile};
    use time::macros::datetime;

    fn rfile(id: &str, acquired: bool) -> ReceivedFile {
        ReceivedFile {
            id: id.into(),
            name: format!("{id}.CSV"),
            kind: None,
            category: Category::Registration,
            csv_version: None,
            size: 10,
            sha256: String::new(),
            acquired,
        }
    }

    fn recv(office: &str, name: &str, at: OffsetDateTime, acq: &[bool]) -> ReceivedTransmission {
        ReceivedTransmission {
            id: format!("r-{office}-{at}"),
            received_at: at,
            sender_office: office.into(),
            sender_name: name.into(),
            message: String::new(),
            files: acq
                .iter()
                .enumerate()
                .map(|(i, a)| rfile(&format!("{office}{i}"), *a))
                .collect(),
        }
    }

    fn sent(at: OffsetDateTime, dests: &[(&str, Option<&str>, &[bool])]) -> SentTransmission {
        SentTransmission {
            id: format!("s-{at}"),
            sent_at: at,
            message: String::new(),
            destinations: dests
                .iter()
                .map(|(o, n, acq)| SentDestination {
                    office: (*o).into(),
                    name: n.map(str::to_owned),
                    files: acq
                        .iter()
                        .enumerate()
                        .map(|(i, a)| SentFile {
                            id: format!("{o}-{i}"),
                            name: format!("{o}-{i}.CSV"),
                            category: Category::Registration,
                            acquired: *a,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    #[test]
    fn counts_names_order_and_this_month() {
        let now = datetime!(2026-12-02 03:00 UTC); // 12:00 JST, 2 December
        let received = vec![
            recv(
                "1310000001",
                "旧名称",
                datetime!(2026-11-01 00:00 UTC),
                &[true],
            ),
            recv(
                "1310000001",
                "さくら居宅",
                datetime!(2026-11-20 00:00 UTC),
                &[false, true, false],
            ),
            recv("1310000002", "", datetime!(2026-10-01 00:00 UTC), &[true]),
            recv(
                "0000000000",
                "自分",
                datetime!(2026-12-01 00:00 UTC),
                &[false],
            ),
        ];
        let sends = vec![
            // 1 December 00:30 JST is still November in UTC: it counts for December.
            sent(
                datetime!(2026-11-30 15:30 UTC),
                &[("1310000002", Some("ひまわり"), &[true, true])],
            ),
            sent(
                datetime!(2026-12-01 01:00 UTC),
                &[
                    ("1310000002", Some("ひまわり訪問介護"), &[true, false]),
                    ("1310000003", None, &[true]),
                    ("0000000000", None, &[false]),
                ],
            ),
            sent(
                datetime!(2026-11-10 00:00 UTC),
                &[("1310000001", Some("送信側の名前"), &[false])],
            ),
        ];
        let p = partners("0000000000", &received, &sends, now);
        let offices: Vec<_> = p.iter().map(|p| p.office.as_str()).collect();
        // 1310000002 and 1310000003 last on 1 December 01:00, by number; 1310000001 last
        // in November.
        assert_eq!(offices, ["1310000002", "1310000003", "1310000001"]);
        let a = &p[2];
        assert_eq!(
            a.name, "さくら居宅",
            "newest sender name wins over a destination name"
        );
        assert_eq!(
            (a.unread, a.undownloaded, a.receipts, a.sends),
            (1, 2, 2, 1)
        );
        assert_eq!(a.this_month, MonthState::None, "sent in November only");
        let b = &p[0];
        assert_eq!(
            b.name, "ひまわり訪問介護",
            "no sender name: the newest destination name"
        );
        assert_eq!(
            b.this_month,
            MonthState::Pending,
            "the newest December send lacks one file"
        );
        assert_eq!((b.unread, b.undownloaded), (0, 0));
        assert_eq!(b.last_received, Some(datetime!(2026-10-01 00:00 UTC)));
        let c = &p[1];
        assert_eq!((c.name.as_str(), c.this_month), ("", MonthState::Acquired));
        assert_eq!(c.last_received, None);
    }

    #[test]
    fn the_newest_send_of_the_month_decides() {
        let now = datetime!(2026-12-20 00:00 UTC);
        let sends = vec![
            sent(
                datetime!(2026-12-05 00:00 UTC),
                &[("1310000002", None, &[false])],
            ),
            sent(
                datetime!(2026-12-10 00:00 UTC),
                &[("1310000002", None, &[true])],
            ),
        ];
        let p = partners("0000000000", &[], &sends, now);
        assert_eq!(p[0].this_month, MonthState::Acquired);
        let p = partners("0000000000", &[], &sends[..1], now);
        assert_eq!(p[0].this_month, MonthState::Pending);
        assert!(partners("0000000000", &[], &[], now).is_empty());
    }
}
