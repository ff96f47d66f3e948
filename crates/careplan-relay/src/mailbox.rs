//! Mailbox queries: sends, transmissions, files, acknowledgements, drafts.

use std::borrow::Cow;
use std::sync::Arc;

use sqlx::Row;

use crate::RelayError;
use crate::db::Db;

/// A file's first acknowledgement by the office it was sent to. `EXISTS` looks the file's
/// transmission up by its key: SQLite planned `transmission_id IN (SELECT id FROM
/// transmissions WHERE to_office = …)` as a list of every transmission to the office, built
/// anew for each acknowledgement (a million rows for a large office).
pub(crate) const ACK_SQL: &str = "UPDATE files SET acquired_at = $1 WHERE id = $2 AND acquired_at IS NULL AND EXISTS (SELECT 1 FROM transmissions t WHERE t.id = files.transmission_id AND t.to_office = $3)";

/// Forget a file's download nonces (index `download_nonces_file`, schema version 6).
pub(crate) const DROP_NONCES_SQL: &str = "DELETE FROM download_nonces WHERE file_id = $1";

/// A file to store.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Prefix of its kind, if a data file.
    pub kind: Option<String>,
    /// 登録 / 削除 / PDF等.
    pub category: String,
    /// CSVバージョン.
    pub csv_version: Option<String>,
    /// SHA-256 hex: the key of its blob, stored before the send is committed.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// A send to store: one transmission per destination.
#[derive(Debug, Clone)]
pub struct NewSend {
    /// Send id.
    pub id: String,
    /// Client-chosen idempotency key.
    pub key: String,
    /// Sender office.
    pub from: String,
    /// メッセージ.
    pub message: String,
    /// Unix seconds.
    pub sent_at: i64,
    /// SHA-256 of the request the key was first used with.
    pub request_hash: String,
    /// (transmission id, destination, files).
    pub destinations: Vec<(String, String, Vec<NewFile>)>,
}

/// The receipt of a stored send.
#[derive(Debug, Clone)]
pub struct Receipt {
    /// Send id.
    pub send_id: String,
    /// Transmission ids, in destination order.
    pub ids: Vec<String>,
    /// Destination offices, in order.
    pub offices: Vec<String>,
    /// Unix seconds.
    pub sent_at: i64,
    /// SHA-256 of the request the key was first used with ("" for sends stored before
    /// schema version 2).
    pub request_hash: String,
}

/// A file row for the lists.
#[derive(Debug, Clone)]
pub struct FileRow {
    /// Transmission it belongs to.
    pub transmission_id: String,
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Kind prefix.
    pub kind: Option<String>,
    /// Category label.
    pub category: String,
    /// CSVバージョン.
    pub csv_version: Option<String>,
    /// Size.
    pub size: i64,
    /// SHA-256.
    pub sha256: String,
    /// When acknowledged.
    pub acquired_at: Option<i64>,
}

/// A transmission row for the lists.
#[derive(Debug, Clone)]
pub struct TransmissionRow {
    /// Transmission id.
    pub id: String,
    /// Send id.
    pub send_id: String,
    /// Sent (Unix seconds).
    pub sent_at: i64,
    /// Sender.
    pub from_office: String,
    /// Sender name ("" when unknown).
    pub from_name: String,
    /// Destination.
    pub to_office: String,
    /// Destination name.
    pub to_name: Option<String>,
    /// メッセージ.
    pub message: String,
}

/// The outcome of storing a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftPut {
    /// Stored.
    Stored,
    /// A newer save of the same draft exists.
    Conflict,
    /// The office's draft quota would be exceeded.
    Quota,
    /// A file's blob is gone (its upload expired and was swept meanwhile).
    BlobGone,
}

/// A draft row.
#[derive(Debug, Clone)]
pub struct DraftRow {
    /// Id.
    pub id: String,
    /// 保存日時.
    pub saved_at: i64,
    /// 端末名.
    pub terminal: String,
    /// メッセージ.
    pub message: String,
    /// 送信先.
    pub to_office: Option<String>,
    /// (name, size, sha256).
    pub files: Vec<(String, i64, String)>,
}

/// A position in a list, newest first: the (time, id) of the last row of a page. The next
/// page is the rows strictly after it in the order (`sent_at` DESC, `id` DESC), read from one
/// range of one index, so a page costs the same however deep it is and however large the
/// store. Opaque on the wire (base64url of `v1.<sent_at>.<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Unix seconds of the row.
    pub sent_at: i64,
    /// Its id (transmission id in the received list, send id in the sent list).
    pub id: String,
}

impl Cursor {
    /// The opaque form.
    pub fn encode(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("v1.{}.{}", self.sent_at, self.id))
    }

    /// Parse an opaque cursor; `None` for anything this relay did not make.
    pub fn decode(text: &str) -> Option<Self> {
        use base64::Engine;
        if text.is_empty() || text.len() > 200 {
            return None;
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let rest = raw.strip_prefix("v1.")?;
        let (t, id) = rest.split_once('.')?;
        let ok_id = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_id {
            return None;
        }
        Some(Self {
            sent_at: t.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

/// One page of a list and the cursor of the next page (`None`: this was the last).
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows, newest first.
    pub rows: Vec<T>,
    /// Where the next page starts.
    pub next: Option<Cursor>,
}

/// PostgreSQL: the columns of a list page, one row per file — a transmission without files is
/// one row with the file's columns `NULL` — the transmission (0–7), then its file (8–15); `t`
/// is the page's transmissions, joined by [`PAGE_JOINS`]. Read by [`joined_rows`].
const PAGE_COLS: &str = "t.id, t.send_id, t.sent_at, t.from_office, COALESCE(fo.name, ''), t.to_office, tof.name, t.message, \
     f.id, f.name, f.kind, f.category, f.csv_version, f.size, f.sha256, f.acquired_at";
const PAGE_JOINS: &str = "LEFT JOIN files f ON f.transmission_id = t.id LEFT JOIN offices fo ON fo.number = t.from_office LEFT JOIN offices tof ON tof.number = t.to_office";

/// The transmissions of PostgreSQL page rows ([`PAGE_COLS`], a transmission's rows together
/// and its files in order), each with its files.
fn joined_rows(
    rows: &[sqlx::any::AnyRow],
) -> Result<Vec<(TransmissionRow, Vec<FileRow>)>, sqlx::Error> {
    let mut out: Vec<(TransmissionRow, Vec<FileRow>)> = Vec::new();
    for r in rows {
        let id: String = r.try_get(0)?;
        if out.last().is_none_or(|(t, _)| t.id != id) {
            out.push((
                TransmissionRow {
                    id,
                    send_id: r.try_get(1)?,
                    sent_at: r.try_get(2)?,
                    from_office: r.try_get(3)?,
                    from_name: r.try_get(4)?,
                    to_office: r.try_get(5)?,
                    to_name: r.try_get(6)?,
                    message: r.try_get(7)?,
                },
                Vec::new(),
            ));
        }
        // No file: the row of a transmission without files (its file columns `NULL`).
        let Some(file_id) = r.try_get::<Option<String>, _>(8)? else {
            continue;
        };
        if let Some((t, files)) = out.last_mut() {
            files.push(FileRow {
                transmission_id: t.id.clone(),
                id: file_id,
                name: r.try_get(9)?,
                kind: r.try_get(10)?,
                category: r.try_get(11)?,
                csv_version: r.try_get(12)?,
                size: r.try_get(13)?,
                sha256: r.try_get(14)?,
                acquired_at: r.try_get(15)?,
            });
        }
    }
    Ok(out)
}

/// SQLite: the files of transmission `t` as one JSON array of `[seq, id, name, kind,
/// category, csv_version, size, sha256, acquired_at]` (`[]` for none), put in order by
/// `seq` after parsing ([`in_order`]). (`json(…)`: nested as JSON, not as a string holding
/// JSON.)
const FILES_JSON: &str = "json((SELECT json_group_array(json_array(f.seq, f.id, f.name, f.kind, f.category, f.csv_version, f.size, f.sha256, f.acquired_at)) FROM files f WHERE f.transmission_id = t.id))";

/// SQLite: one page as one JSON text, the rows `r` of `inner` (a query with its own
/// `ORDER BY … LIMIT`) joined into one array. A page is then one statement and one row
/// however many transmissions and files it holds: the driver's cost per row (each row handed
/// over from the connection's worker thread, each value copied into an `AnyRow` and decoded
/// again) is paid once per page, and SQLite writes the JSON in C. The rows are JSON text
/// already and are joined as they are (`json_group_array` would parse each again).
///
/// The aggregates are not asked for an order (`ORDER BY` inside an aggregate sorts its
/// input in a temporary b-tree, once per page and once per transmission): the page's rows
/// and each list of files carry their keys and are put in order after parsing. They
/// normally arrive in order already, which the sorts check in one pass.
fn page_sql(inner: &str) -> String {
    format!("SELECT '[' || COALESCE(group_concat(p.r, ','), '') || ']' FROM ({inner}) p")
}

/// Newest first (`sent_at` DESC, `id` DESC: the order of the lists' indexes; byte order of
/// the ids, as SQLite's BINARY collation).
fn newest_first<T>(rows: &mut [T], key: impl Fn(&T) -> (i64, &str)) {
    rows.sort_by(|a, b| key(b).cmp(&key(a)));
}

/// Put a page's rows (read with one extra) newest first and cut them to `limit`; the
/// cursor of the next page when the extra row was there.
fn cut_page<T>(rows: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> (i64, &str)) -> Option<Cursor> {
    newest_first(rows, &key);
    let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
    let more = rows.len() > limit;
    rows.truncate(limit);
    more.then(|| rows.last()).flatten().map(|r| {
        let (sent_at, id) = key(r);
        Cursor {
            sent_at,
            id: id.to_owned(),
        }
    })
}

/// In `seq` order (files of a transmission, transmissions of a send).
fn in_order<T>(rows: &mut [T], seq: impl Fn(&T) -> i64) {
    rows.sort_by_key(|r| seq(r));
}

/// A file of a page as SQLite writes it (see [`FILES_JSON`]).
#[derive(serde::Deserialize)]
struct FileJson<'a> {
    seq: i64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    category: Cow<'a, str>,
    #[serde(borrow)]
    csv_version: Option<Cow<'a, str>>,
    size: i64,
    #[serde(borrow)]
    sha256: Cow<'a, str>,
    acquired_at: Option<i64>,
}

/// The files of a transmission, in order, as rows.
fn file_rows(mut files: Vec<FileJson<'_>>, transmission_id: &str) -> Vec<FileRow> {
    in_order(&mut files, |f| f.seq);
    files
        .into_iter()
        .map(|f| FileRow {
            transmission_id: transmission_id.to_owned(),
            id: f.id.into_owned(),
            name: f.name.into_owned(),
            kind: f.kind.map(Cow::into_owned),
            category: f.category.into_owned(),
            csv_version: f.csv_version.map(Cow::into_owned),
            size: f.size,
            sha256: f.sha256.into_owned(),
            acquired_at: f.acquired_at,
        })
        .collect()
}

/// A received transmission as SQLite writes it (a JSON array of these fields, in order).
#[derive(serde::Deserialize)]
struct ReceivedJson<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    send_id: Cow<'a, str>,
    sent_at: i64,
    #[serde(borrow)]
    from_office: Cow<'a, str>,
    #[serde(borrow)]
    from_name: Cow<'a, str>,
    #[serde(borrow)]
    to_office: Cow<'a, str>,
    #[serde(borrow)]
    to_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    files: Vec<FileJson<'a>>,
}

/// A send as SQLite writes it (a JSON array of these fields, in order).
#[derive(serde::Deserialize)]
struct SendJson<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    sent_at: i64,
    #[serde(borrow)]
    from_office: Cow<'a, str>,
    #[serde(borrow)]
    from_name: Cow<'a, str>,
    #[serde(borrow)]
    message: Cow<'a, str>,
    #[serde(borrow)]
    transmissions: Vec<SentTxJson<'a>>,
}

/// A transmission of a [`SendJson`].
#[derive(serde::Deserialize)]
struct SentTxJson<'a> {
    seq: i64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    to_office: Cow<'a, str>,
    #[serde(borrow)]
    to_name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    files: Vec<FileJson<'a>>,
}

/// The page's JSON text, parsed.
fn parse_page<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<Vec<T>, RelayError> {
    serde_json::from_str(text).map_err(|e| RelayError::Db(sqlx::Error::Decode(Box::new(e))))
}

/// The rows of one send: the send, a transmission per destination, every file row naming
/// its blob. Each blob row is touched in this transaction; a blob row swept meanwhile fails
/// the send (nothing of it is stored).
pub(crate) async fn insert_rows<E: crate::exec::Exec>(
    e: &mut E,
    s: &NewSend,
) -> Result<(), sqlx::Error> {
    use crate::exec::Arg;
    if e.postgres() {
        return insert_rows_pg(e, s).await;
    }
    e.execute(
        "INSERT INTO sends (id, idem_key, from_office, message, sent_at, request_hash) VALUES ($1, $2, $3, $4, $5, $6)",
        &send_args(s),
    )
    .await?;
    for (seq, (tid, to, files)) in s.destinations.iter().enumerate() {
        e.execute(
            "INSERT INTO transmissions (id, send_id, seq, to_office, sent_at, from_office, message) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                Arg::Text(tid),
                Arg::Text(&s.id),
                Arg::Int(i64::try_from(seq).unwrap_or(i64::MAX)),
                Arg::Text(to),
                Arg::Int(s.sent_at),
                Arg::Text(&s.from),
                Arg::Text(&s.message),
            ],
        )
        .await?;
        if files.is_empty() {
            continue;
        }
        // Every blob row is touched (and must still be there), then the file rows, in one
        // statement each.
        let mut shas: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
        shas.sort_unstable();
        shas.dedup();
        let sql = format!(
            "UPDATE blobs SET touched_at = $1 WHERE sha256 IN ({})",
            crate::db::placeholders(2, shas.len())
        );
        let mut args = vec![Arg::Int(s.sent_at)];
        args.extend(shas.iter().map(|sha| Arg::Text(sha)));
        if e.execute(&sql, &args).await? != shas.len() as u64 {
            return Err(sqlx::Error::RowNotFound);
        }
        let rows = (0..files.len())
            .map(|k| format!("({}, 1)", crate::db::placeholders(k * 10 + 1, 10)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO files (id, transmission_id, seq, name, kind, category, csv_version, size, sha256, data, in_store) VALUES {rows}"
        );
        let mut args = Vec::with_capacity(files.len() * 10);
        for (fseq, f) in files.iter().enumerate() {
            args.extend([
                Arg::Text(&f.id),
                Arg::Text(tid),
                Arg::Int(i64::try_from(fseq).unwrap_or(i64::MAX)),
                Arg::Text(&f.name),
                Arg::OptText(f.kind.as_deref()),
                Arg::Text(&f.category),
                Arg::OptText(f.csv_version.as_deref()),
                Arg::Int(i64::try_from(f.size).unwrap_or(i64::MAX)),
                Arg::Text(&f.sha256),
                Arg::Bytes(&[]),
            ]);
        }
        e.execute(&sql, &args).await?;
    }
    Ok(())
}

/// `$1`…`$6` of a send's row: id, idempotency key, sender, message, time, request hash.
fn send_args(s: &NewSend) -> [crate::exec::Arg<'_>; 6] {
    use crate::exec::Arg;
    [
        Arg::Text(&s.id),
        Arg::Text(&s.key),
        Arg::Text(&s.from),
        Arg::Text(&s.message),
        Arg::Int(s.sent_at),
        Arg::Text(&s.request_hash),
    ]
}

/// The statement of [`insert_rows_pg`]: the send, its transmissions and files (given as
/// JSON, so the statement has the same nine parameters for any number of them), and the
/// touch of every blob row it names; answers how many blob rows it touched.
const INSERT_SEND_PG: &str = "WITH s AS (\
     INSERT INTO sends (id, idem_key, from_office, message, sent_at, request_hash) VALUES ($1, $2, $3, $4, $5, $6)), \
   t AS (\
     INSERT INTO transmissions (id, send_id, seq, to_office, sent_at, from_office, message) \
     SELECT x.id, $1, x.seq, x.to_office, $5, $3, $4 FROM json_to_recordset($7::json) AS x(id TEXT, seq BIGINT, to_office TEXT)), \
   f AS (\
     INSERT INTO files (id, transmission_id, seq, name, kind, category, csv_version, size, sha256, data, in_store) \
     SELECT x.id, x.tid, x.seq, x.name, x.kind, x.category, x.csv_version, x.size, x.sha256, ''::bytea, 1 \
     FROM json_to_recordset($8::json) AS x(id TEXT, tid TEXT, seq BIGINT, name TEXT, kind TEXT, category TEXT, csv_version TEXT, size BIGINT, sha256 TEXT)), \
   b AS (\
     UPDATE blobs SET touched_at = $5 WHERE sha256 IN (SELECT y.sha FROM json_array_elements_text($9::json) AS y(sha)) RETURNING 1) \
   SELECT COUNT(*) FROM b";

/// [`insert_rows`] on PostgreSQL: one statement (one round trip) instead of one per table
/// and destination — a batch of sends runs under the process's writer lock, and each round
/// trip there is paid by every send waiting behind it (docs/performance.md, "Where a
/// PostgreSQL send's time goes"). Every blob row must still be there (else the send fails
/// in its savepoint, as on SQLite).
async fn insert_rows_pg<E: crate::exec::Exec>(e: &mut E, s: &NewSend) -> Result<(), sqlx::Error> {
    use crate::exec::Arg;
    let mut transmissions = Vec::with_capacity(s.destinations.len());
    let mut files = Vec::new();
    let mut shas: Vec<&str> = Vec::new();
    for (seq, (tid, to, fs)) in s.destinations.iter().enumerate() {
        transmissions.push(serde_json::json!({"id": tid, "seq": seq, "to_office": to}));
        for (fseq, f) in fs.iter().enumerate() {
            files.push(serde_json::json!({
                "id": f.id, "tid": tid, "seq": fseq, "name": f.name, "kind": f.kind,
                "category": f.category, "csv_version": f.csv_version, "size": f.size,
                "sha256": f.sha256,
            }));
            shas.push(&f.sha256);
        }
    }
    shas.sort_unstable();
    shas.dedup();
    let (transmissions, files, blobs) = (
        serde_json::Value::Array(transmissions).to_string(),
        serde_json::Value::Array(files).to_string(),
        serde_json::json!(shas).to_string(),
    );
    let mut args = send_args(s).to_vec();
    args.extend([
        Arg::Text(&transmissions),
        Arg::Text(&files),
        Arg::Text(&blobs),
    ]);
    let touched = e
        .ints(INSERT_SEND_PG, &args)
        .await?
        .and_then(|r| r.first().copied())
        .unwrap_or(0);
    if touched != i64::try_from(shas.len()).unwrap_or(i64::MAX) {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

impl Db {
    /// The receipt of an earlier send with this key, if any.
    pub async fn receipt_for_key(
        &self,
        from: &str,
        key: &str,
    ) -> Result<Option<Receipt>, RelayError> {
        use crate::exec::Arg;
        // Asked by every send (almost always: no row): read on the caller's thread on SQLite.
        let Some(row) = self
            .read_row(
                "SELECT id, sent_at, request_hash FROM sends WHERE from_office = $1 AND idem_key = $2",
                &[Arg::Text(from), Arg::Text(key)],
            )
            .await?
        else {
            return Ok(None);
        };
        let [send_id, sent_at, request_hash] = crate::exec::columns(&row)?;
        let (send_id, sent_at, request_hash) =
            (send_id.text()?, sent_at.int()?, request_hash.text()?);
        let rows =
            sqlx::query("SELECT id, to_office FROM transmissions WHERE send_id = $1 ORDER BY seq")
                .bind(&send_id)
                .fetch_all(&self.pool)
                .await?;
        let mut ids = Vec::new();
        let mut offices = Vec::new();
        for r in &rows {
            ids.push(r.try_get(0)?);
            offices.push(r.try_get(1)?);
        }
        Ok(Some(Receipt {
            send_id,
            ids,
            offices,
            sent_at,
            request_hash,
        }))
    }

    /// Store a send and all its files durably; returns the receipt only after the commit.
    /// When the same key was stored concurrently (or earlier), the first send's receipt.
    ///
    /// **Group commit** (`group`): sends and the other small writes arriving while another
    /// commit runs queue up and are committed together in one transaction (one fsync),
    /// each send inside its own savepoint so that one failing send (e.g. a concurrent
    /// retry of the same key) does not take the others with it. Every caller is answered
    /// only after the transaction holding its send has committed.
    pub async fn insert_send(&self, s: NewSend) -> Result<Receipt, RelayError> {
        use crate::group::{Done, Failed, Write};
        let s = Arc::new(s);
        let outcome = self.write(Write::Send(s.clone())).await;
        match outcome {
            Ok(Done::Send(true)) => Ok(Receipt {
                send_id: s.id.clone(),
                ids: s.destinations.iter().map(|d| d.0.clone()).collect(),
                offices: s.destinations.iter().map(|d| d.1.clone()).collect(),
                sent_at: s.sent_at,
                request_hash: s.request_hash.clone(),
            }),
            outcome => match self.receipt_for_key(&s.from, &s.key).await? {
                Some(r) => Ok(r),
                None => Err(match outcome {
                    // The database went away mid-commit and the send is not there: the
                    // client's retry (same key) stores it once the database is back.
                    Err(Failed::Batch(e, true)) => RelayError::Unavailable(e),
                    Err(Failed::Batch(e, false)) => {
                        RelayError::Refused(format!("保存できませんでした: {e}"))
                    }
                    Err(Failed::Own(e)) if crate::db::is_unavailable(&e) => {
                        RelayError::Unavailable(e.to_string())
                    }
                    Err(Failed::Own(e)) => {
                        RelayError::Refused(format!("保存できませんでした: {e}"))
                    }
                    _ => RelayError::Refused("保存できませんでした。".into()),
                }),
            },
        }
    }

    /// One page of the transmissions to `office`, newest first, with their files: at most
    /// `limit` transmissions after `after`.
    pub async fn received(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        if self.postgres {
            self.received_rows(office, limit, after).await
        } else {
            self.received_json(office, limit, after).await
        }
    }

    /// One page of the sends of `office`, newest first: at most `limit` sends after
    /// `after`, each as its transmissions (one per destination, in order) with their files.
    pub async fn sent(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        if self.postgres {
            self.sent_rows(office, limit, after).await
        } else {
            self.sent_json(office, limit, after).await
        }
    }

    /// SQLite: the JSON text of one page ([`page_sql`]) of `select` (rows `r`, the listed
    /// table as `key`, filtered by `$1` = `office`), newest first, at most `limit` + 1 rows
    /// after `after` (the extra row says whether another page follows: [`cut_page`]).
    async fn json_page_text(
        &self,
        select: &str,
        key: &str,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<String, RelayError> {
        let (cond, lim) = match after {
            Some(_) => (format!("AND ({key}.sent_at, {key}.id) < ($2, $3)"), "$4"),
            None => (String::new(), "$2"),
        };
        let sql = page_sql(&format!(
            "{select} {cond} ORDER BY {key}.sent_at DESC, {key}.id DESC LIMIT {lim}"
        ));
        let mut q = sqlx::query(&sql).bind(office);
        if let Some(c) = after {
            q = q.bind(c.sent_at).bind(&c.id);
        }
        Ok(q.bind(limit.max(1) + 1)
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// [`Db::received`] on SQLite: one statement, one row holding the page as JSON
    /// ([`page_sql`]).
    async fn received_json(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        let text = self
            .json_page_text(
                &format!(
                    "SELECT json_array(t.id, t.send_id, t.sent_at, t.from_office, COALESCE(fo.name, ''), t.to_office, tof.name, t.message, {FILES_JSON}) AS r \
                     FROM transmissions t LEFT JOIN offices fo ON fo.number = t.from_office LEFT JOIN offices tof ON tof.number = t.to_office \
                     WHERE t.to_office = $1"
                ),
                "t",
                office,
                limit,
                after,
            )
            .await?;
        let mut rows: Vec<ReceivedJson<'_>> = parse_page(&text)?;
        let next = cut_page(&mut rows, limit, |t| (t.sent_at, &t.id));
        let rows = rows
            .into_iter()
            .map(|r| {
                let files = file_rows(r.files, &r.id);
                let t = TransmissionRow {
                    id: r.id.into_owned(),
                    send_id: r.send_id.into_owned(),
                    sent_at: r.sent_at,
                    from_office: r.from_office.into_owned(),
                    from_name: r.from_name.into_owned(),
                    to_office: r.to_office.into_owned(),
                    to_name: r.to_name.map(Cow::into_owned),
                    message: r.message.into_owned(),
                };
                (t, files)
            })
            .collect();
        Ok(Page { rows, next })
    }

    /// [`Db::sent`] on SQLite: one statement, one row holding the page as JSON
    /// ([`page_sql`]), each send with its transmissions, each with its files.
    async fn sent_json(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        let transmissions = format!(
            "json((SELECT json_group_array(json_array(t.seq, t.id, t.to_office, tof.name, {FILES_JSON})) FROM transmissions t LEFT JOIN offices tof ON tof.number = t.to_office WHERE t.send_id = s.id))"
        );
        let text = self
            .json_page_text(
                &format!(
                    "SELECT json_array(s.id, s.sent_at, s.from_office, COALESCE(fo.name, ''), s.message, {transmissions}) AS r \
                     FROM sends s LEFT JOIN offices fo ON fo.number = s.from_office \
                     WHERE s.from_office = $1"
                ),
                "s",
                office,
                limit,
                after,
            )
            .await?;
        let mut sends: Vec<SendJson<'_>> = parse_page(&text)?;
        let next = cut_page(&mut sends, limit, |s| (s.sent_at, &s.id));
        let mut rows = Vec::with_capacity(sends.len());
        for mut s in sends {
            in_order(&mut s.transmissions, |t| t.seq);
            for t in s.transmissions {
                let files = file_rows(t.files, &t.id);
                rows.push((
                    TransmissionRow {
                        id: t.id.into_owned(),
                        send_id: s.id.clone().into_owned(),
                        sent_at: s.sent_at,
                        from_office: s.from_office.clone().into_owned(),
                        from_name: s.from_name.clone().into_owned(),
                        to_office: t.to_office.into_owned(),
                        to_name: t.to_name.map(Cow::into_owned),
                        message: s.message.clone().into_owned(),
                    },
                    files,
                ));
            }
        }
        Ok(Page { rows, next })
    }

    /// [`Db::received`] on PostgreSQL: one statement, the page's transmissions (one range
    /// of `transmissions_to_page`) joined with their files, a row per file ([`PAGE_COLS`]).
    /// Rows come over the wire cheaply there; building JSON in the server measured slower
    /// (docs/performance.md, issue 13).
    async fn received_rows(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        let limit = limit.max(1);
        let (cond, lim) = match after {
            Some(_) => ("AND (sent_at, id) < ($2, $3)", "$4"),
            None => ("", "$2"),
        };
        let sql = format!(
            "SELECT {PAGE_COLS} FROM (SELECT id, send_id, sent_at, from_office, to_office, message FROM transmissions \
             WHERE to_office = $1 {cond} ORDER BY sent_at DESC, id DESC LIMIT {lim}) t {PAGE_JOINS} \
             ORDER BY t.sent_at DESC, t.id DESC, f.seq"
        );
        let mut q = sqlx::query(&sql).bind(office);
        if let Some(c) = after {
            q = q.bind(c.sent_at).bind(&c.id);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut rows = joined_rows(&rows)?;
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = more.then(|| rows.last()).flatten().map(|(t, _)| Cursor {
            sent_at: t.sent_at,
            id: t.id.clone(),
        });
        Ok(Page { rows, next })
    }

    /// [`Db::sent`] on PostgreSQL: one statement, the page's sends (one range of
    /// `sends_from_page`, one more than the page to know whether another follows) joined
    /// with their transmissions and files (see [`Db::received_rows`]).
    async fn sent_rows(
        &self,
        office: &str,
        limit: i64,
        after: Option<&Cursor>,
    ) -> Result<Page<(TransmissionRow, Vec<FileRow>)>, RelayError> {
        let limit = limit.max(1);
        let (cond, lim) = match after {
            Some(_) => ("AND (sent_at, id) < ($2, $3)", "$4"),
            None => ("", "$2"),
        };
        let sql = format!(
            "SELECT {PAGE_COLS} FROM (SELECT id, sent_at FROM sends WHERE from_office = $1 {cond} ORDER BY sent_at DESC, id DESC LIMIT {lim}) s \
             JOIN transmissions t ON t.send_id = s.id {PAGE_JOINS} \
             ORDER BY s.sent_at DESC, s.id DESC, t.seq, f.seq"
        );
        let mut q = sqlx::query(&sql).bind(office);
        if let Some(c) = after {
            q = q.bind(c.sent_at).bind(&c.id);
        }
        let rows = q.bind(limit + 1).fetch_all(&self.pool).await?;
        let mut rows = joined_rows(&rows)?;
        // Cut after the page's last send (its transmissions are together).
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut sends = 0usize;
        let mut cut = rows.len();
        for (i, (t, _)) in rows.iter().enumerate() {
            if i == 0 || rows[i - 1].0.send_id != t.send_id {
                if sends == limit {
                    cut = i;
                    break;
                }
                sends += 1;
            }
        }
        let more = cut < rows.len();
        rows.truncate(cut);
        let next = more.then(|| rows.last()).flatten().map(|(t, _)| Cursor {
            sent_at: t.sent_at,
            id: t.send_id.clone(),
        });
        Ok(Page { rows, next })
    }

    /// A file addressed to `office`: (name, sha256 = its blob's key, size).
    pub async fn file_for(
        &self,
        office: &str,
        id: &str,
    ) -> Result<Option<(String, String, u64)>, RelayError> {
        let row = sqlx::query("SELECT f.name, f.sha256, f.size FROM files f JOIN transmissions t ON t.id = f.transmission_id WHERE f.id = $1 AND t.to_office = $2")
            .bind(id)
            .bind(office)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get(0)?,
                r.try_get(1)?,
                u64::try_from(r.try_get::<i64, _>(2)?).unwrap_or(0),
            )),
            None => None,
        })
    }

    /// Acknowledge a file addressed to `office` (first time wins). Returns (sha256 stored,
    /// acquired_at), or None when there is no such file for that office.
    pub async fn ack(
        &self,
        office: &str,
        id: &str,
        now: i64,
    ) -> Result<Option<(String, i64)>, RelayError> {
        sqlx::query(ACK_SQL)
            .bind(now)
            .bind(id)
            .bind(office)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT f.sha256, f.acquired_at FROM files f JOIN transmissions t ON t.id = f.transmission_id WHERE f.id = $1 AND t.to_office = $2")
            .bind(id)
            .bind(office)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get(0)?,
                r.try_get::<Option<i64>, _>(1)?.unwrap_or(now),
            )),
            None => None,
        })
    }

    /// Remember the nonce given with a download of `file` to `office`.
    pub async fn put_nonce(
        &self,
        nonce: &str,
        file: &str,
        office: &str,
        now: i64,
    ) -> Result<(), RelayError> {
        sqlx::query(
            "INSERT INTO download_nonces (nonce, file_id, office, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(nonce)
        .bind(file)
        .bind(office)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether `nonce` was given with a download of `file` to `office`.
    pub async fn nonce_matches(
        &self,
        nonce: &str,
        file: &str,
        office: &str,
    ) -> Result<bool, RelayError> {
        Ok(sqlx::query(
            "SELECT 1 FROM download_nonces WHERE nonce = $1 AND file_id = $2 AND office = $3",
        )
        .bind(nonce)
        .bind(file)
        .bind(office)
        .fetch_optional(&self.pool)
        .await?
        .is_some())
    }

    /// Forget the nonces of a file (after its acknowledgement).
    pub async fn drop_nonces(&self, file: &str) -> Result<(), RelayError> {
        sqlx::query(DROP_NONCES_SQL)
            .bind(file)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Drafts of an office, newest first.
    pub async fn drafts(&self, office: &str) -> Result<Vec<DraftRow>, RelayError> {
        let rows = sqlx::query("SELECT id, saved_at, terminal, message, to_office FROM drafts WHERE office = $1 ORDER BY saved_at DESC, id")
            .bind(office)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::new();
        for r in &rows {
            let id: String = r.try_get(0)?;
            let files = sqlx::query("SELECT name, size, sha256 FROM draft_files WHERE office = $1 AND draft_id = $2 ORDER BY seq")
                .bind(office)
                .bind(&id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|f| Ok((f.try_get(0)?, f.try_get(1)?, f.try_get(2)?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            out.push(DraftRow {
                id,
                saved_at: r.try_get(1)?,
                terminal: r.try_get(2)?,
                message: r.try_get(3)?,
                to_office: r.try_get(4)?,
                files,
            });
        }
        Ok(out)
    }

    /// Store a draft unless a newer save of it exists or the office's draft quota
    /// (`max_drafts`, `max_bytes`, not counting the draft it replaces) would be exceeded.
    /// Its files (`d.files`: name, size, SHA-256) are blobs stored before this commits.
    pub async fn put_draft(
        &self,
        office: &str,
        d: &DraftRow,
        max_drafts: i64,
        max_bytes: i64,
    ) -> Result<DraftPut, RelayError> {
        // The quota is read, then written: saves of one office run one at a time.
        let (_writer, mut tx) = self.begin_office_write(727275, office).await?;
        let existing = sqlx::query("SELECT saved_at FROM drafts WHERE office = $1 AND id = $2")
            .bind(office)
            .bind(&d.id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = existing {
            let saved: i64 = r.try_get(0)?;
            if saved > d.saved_at {
                return Ok(DraftPut::Conflict);
            }
        }
        let others = sqlx::query(
            "SELECT COUNT(*), (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM draft_files WHERE office = $1 AND draft_id <> $2) FROM drafts WHERE office = $1 AND id <> $2",
        )
        .bind(office)
        .bind(&d.id)
        .fetch_one(&mut *tx)
        .await?;
        let count: i64 = others.try_get(0)?;
        let bytes: i64 = others.try_get(1)?;
        let new_bytes: i64 = d.files.iter().map(|f| f.1).fold(0, i64::saturating_add);
        if count + 1 > max_drafts || bytes.saturating_add(new_bytes) > max_bytes {
            return Ok(DraftPut::Quota);
        }
        sqlx::query("DELETE FROM draft_files WHERE office = $1 AND draft_id = $2")
            .bind(office)
            .bind(&d.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM drafts WHERE office = $1 AND id = $2")
            .bind(office)
            .bind(&d.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO drafts (id, office, saved_at, terminal, message, to_office) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&d.id)
            .bind(office)
            .bind(d.saved_at)
            .bind(&d.terminal)
            .bind(&d.message)
            .bind(&d.to_office)
            .execute(&mut *tx)
            .await?;
        for (seq, (name, size, sha)) in d.files.iter().enumerate() {
            if !crate::blob::keep_blob(&mut tx, sha, now_secs()).await? {
                return Ok(DraftPut::BlobGone);
            }
            sqlx::query("INSERT INTO draft_files (office, draft_id, seq, name, sha256, data, size, in_store) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)")
                .bind(office)
                .bind(&d.id)
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(name)
                .bind(sha)
                .bind(Vec::<u8>::new())
                .bind(*size)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(DraftPut::Stored)
    }

    /// Delete drafts last saved before `before` (Unix seconds); returns how many.
    pub async fn purge_drafts(&self, before: i64) -> Result<u64, RelayError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM draft_files WHERE (office, draft_id) IN (SELECT office, id FROM drafts WHERE saved_at < $1)")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM drafts WHERE saved_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n)
    }

    /// Delete a draft; false when there was none.
    pub async fn delete_draft(&self, office: &str, id: &str) -> Result<bool, RelayError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM draft_files WHERE office = $1 AND draft_id = $2")
            .bind(office)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM drafts WHERE office = $1 AND id = $2")
            .bind(office)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// One file of a draft: (sha256 = its blob's key, size).
    pub async fn draft_file(
        &self,
        office: &str,
        id: &str,
        name: &str,
    ) -> Result<Option<(String, u64)>, RelayError> {
        let row = sqlx::query(
            "SELECT sha256, size FROM draft_files WHERE office = $1 AND draft_id = $2 AND name = $3",
        )
        .bind(office)
        .bind(id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(r) => Some((
                r.try_get(0)?,
                u64::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
            )),
            None => None,
        })
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(key: &str, n: usize) -> NewSend {
        NewSend {
            id: crate::auth::new_id(),
            key: key.to_owned(),
            from: "1310000001".into(),
            message: format!("m{n}"),
            sent_at: 1_700_000_000 + i64::try_from(n).unwrap_or(0),
            request_hash: String::new(),
            destinations: vec![(
                crate::auth::new_id(),
                "1310000002".into(),
                vec![NewFile {
                    id: crate::auth::new_id(),
                    name: format!("f{n}.pdf"),
                    kind: None,
                    category: "PDF等".into(),
                    csv_version: None,
                    sha256: crate::auth::sha256_hex(b"x"),
                    size: 1,
                }],
            )],
        }
    }

    /// Concurrent sends are group-committed; a key sent twice at once is stored once and
    /// both callers get the same receipt.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn group_commit_stores_each_key_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::in_dir(dir.path()).await;
        let mut conn = db.pool.acquire().await.expect("conn");
        crate::blob::touch_blob(&mut *conn, &crate::auth::sha256_hex(b"x"), 1, 1_700_000_000)
            .await
            .expect("blob row");
        drop(conn);
        let mut tasks = Vec::new();
        for i in 0..40 {
            let db = db.clone();
            // keys k0..k19, each sent twice
            tasks.push(tokio::spawn(async move {
                let key = format!("k{}", i % 20);
                (key.clone(), db.insert_send(send(&key, i)).await)
            }));
        }
        let mut by_key = std::collections::HashMap::new();
        for t in tasks {
            let (key, r) = t.await.expect("join");
            let r = r.expect("stored");
            let first = by_key.entry(key).or_insert_with(|| r.send_id.clone());
            assert_eq!(*first, r.send_id, "same key, same receipt");
        }
        let rows = sqlx::query("SELECT COUNT(*) FROM sends")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        let n: i64 = rows.try_get(0).expect("n");
        assert_eq!(n, 20);
        let files = sqlx::query("SELECT COUNT(*) FROM files")
            .fetch_one(&db.pool)
            .await
            .expect("count");
        let f: i64 = files.try_get(0).expect("n");
        assert_eq!(f, 20, "no orphan rows from rolled-back savepoints");
    }

    /// The retention purge removes old sends with their transmissions and files, and
    /// nothing newer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn purge_removes_only_old_sends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::in_dir(dir.path()).await;
        let mut conn = db.pool.acquire().await.expect("conn");
        crate::blob::touch_blob(&mut *conn, &crate::auth::sha256_hex(b"x"), 1, 1_700_000_000)
            .await
            .expect("blob row");
        drop(conn);
        for i in 0..4 {
            db.insert_send(send(&format!("p{i}"), i * 1000))
                .await
                .expect("stored");
        }
        // sent_at = 1_700_000_000 + 0, 1000, 2000, 3000: purge the first two
        let n = db.purge(1_700_001_500).await.expect("purge");
        assert_eq!(n, 2);
        let count = |sql: &'static str| {
            let pool = db.pool.clone();
            async move {
                let r = sqlx::query(sql).fetch_one(&pool).await.expect("count");
                r.try_get::<i64, _>(0).expect("n")
            }
        };
        assert_eq!(count("SELECT COUNT(*) FROM sends").await, 2);
        assert_eq!(count("SELECT COUNT(*) FROM transmissions").await, 2);
        assert_eq!(count("SELECT COUNT(*) FROM files").await, 2);
        assert!(
            db.receipt_for_key("1310000001", "p3")
                .await
                .expect("q")
                .is_some()
        );
        assert!(
            db.receipt_for_key("1310000001", "p0")
                .await
                .expect("q")
                .is_none()
        );
    }
}
