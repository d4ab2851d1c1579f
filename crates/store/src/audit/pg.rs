//! The PostgreSQL reader for verification: native connections, one `REPEATABLE READ`
//! snapshot, and the entries streamed with `COPY (…) TO STDOUT` in the binary format, parsed
//! in place instead of decoded row by row.
//!
//! Producing the rows is most of the work and it happens in the server, one backend per
//! connection. So the `seq` range is split into [`VerifyOptions::read_parts`] consecutive
//! ranges, each copied over its own connection at the same time. The first connection
//! exports its snapshot (`pg_export_snapshot()`) and the others import it (`SET TRANSACTION
//! SNAPSHOT`), so every range is read from the same state of the database.

use super::chain::{self, Batch, Hashers, Part, TEXT_FIELDS};
use super::{Snapshot, VerifyOptions, COLUMNS};
use crate::db::DbError;
use futures_util::TryStreamExt;
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

/// The 11-byte signature that opens a binary `COPY` stream.
const SIGNATURE: &[u8] = b"PGCOPY\n\xff\r\n\0";
const FIELDS: i16 = 2 + TEXT_FIELDS as i16;

fn bad(what: &str) -> DbError {
    DbError::Invalid(format!(
        "audit verification (PostgreSQL): unexpected COPY data: {what}"
    ))
}

/// Parser of the binary `COPY` format for the rows of `audit_log`.
#[derive(Default)]
struct CopyParser {
    header_done: bool,
    done: bool,
}

fn be_i16(b: &[u8], at: usize) -> Option<i16> {
    Some(i16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl CopyParser {
    /// Parse the complete rows at the start of `buf` into `hashers`, collecting the batches
    /// they fill in `full`. Returns how many bytes were used; the rest is an incomplete row.
    fn parse(
        &mut self,
        buf: &[u8],
        hashers: &mut Hashers,
        full: &mut Vec<Batch>,
    ) -> Result<usize, DbError> {
        let mut pos = 0usize;
        if !self.header_done {
            let Some(ext) = be_i32(buf, SIGNATURE.len() + 4) else {
                return Ok(0);
            };
            if !buf.starts_with(SIGNATURE) {
                return Err(bad("no PGCOPY signature"));
            }
            let ext = usize::try_from(ext).map_err(|_| bad("header extension"))?;
            let end = SIGNATURE.len() + 8 + ext;
            if buf.len() < end {
                return Ok(0);
            }
            pos = end;
            self.header_done = true;
        }
        while !self.done {
            let Some(n) = be_i16(buf, pos) else {
                break;
            };
            if n == -1 {
                self.done = true;
                pos += 2;
                break;
            }
            if n != FIELDS {
                return Err(bad("wrong number of columns"));
            }
            // Field boundaries of one row; stop (and wait for more data) if it is incomplete.
            let mut at = pos + 2;
            let mut spans = [(0usize, 0usize); 2 + TEXT_FIELDS];
            let mut complete = true;
            for span in spans.iter_mut() {
                let Some(len) = be_i32(buf, at) else {
                    complete = false;
                    break;
                };
                let len = usize::try_from(len).map_err(|_| bad("NULL in a NOT NULL column"))?;
                let start = at + 4;
                if buf.len() < start + len {
                    complete = false;
                    break;
                }
                *span = (start, start + len);
                at = start + len;
            }
            if !complete {
                break;
            }
            let int = |(s, e): (usize, usize)| -> Result<i64, DbError> {
                let b: [u8; 8] = buf[s..e].try_into().map_err(|_| bad("BIGINT size"))?;
                Ok(i64::from_be_bytes(b))
            };
            let seq = int(spans[0])?;
            let at_micros = int(spans[1])?;
            let fields: [&[u8]; TEXT_FIELDS] = std::array::from_fn(|i| {
                let (s, e) = spans[i + 2];
                &buf[s..e]
            });
            if let Some(b) = hashers.add(seq, at_micros, fields) {
                full.push(b);
            }
            pos = at;
        }
        Ok(pos)
    }
}

const BEGIN: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
/// Stream in index order: without statistics (a freshly filled table) the planner may pick a
/// scan plus a sort, which would spill a large trail to disk before sending the first row.
const NO_SORT: &str = "SET LOCAL enable_sort = off";

/// Read the trail in one snapshot and check it.
pub(super) async fn read(url: &str, opts: &VerifyOptions) -> Result<Snapshot, DbError> {
    let mut conn = PgConnection::connect(url).await?;
    let snap = read_on(url, &mut conn, opts).await;
    // The transaction is read-only and never committed. After an early stop a COPY may still
    // be running: closing the connection ends it.
    let _ = conn.close().await;
    snap
}

/// `parts` consecutive ranges covering `lo..=hi`.
fn ranges(lo: i64, hi: i64, parts: usize) -> Vec<(i64, i64)> {
    let n = i128::from(hi) - i128::from(lo) + 1;
    let parts = i128::try_from(parts.max(1)).unwrap_or(1);
    let at = |k: i128| i128::from(lo) + n * k / parts;
    let int = |v: i128| i64::try_from(v).unwrap_or(i64::MAX);
    (0..parts)
        .map(|k| (int(at(k)), int(at(k + 1) - 1)))
        .collect()
}

async fn read_on(
    url: &str,
    conn: &mut PgConnection,
    opts: &VerifyOptions,
) -> Result<Snapshot, DbError> {
    let mut tx = conn.begin_with(format!("{BEGIN}; {NO_SORT}")).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(&mut *tx)
        .await?;
    let head_seq: i64 = head.try_get(0)?;
    let head_hash: String = head.try_get(1)?;
    let stray: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE seq < 1")
        .fetch_one(&mut *tx)
        .await?;
    let (lo, hi): (Option<i64>, Option<i64>) =
        sqlx::query_as("SELECT MIN(seq), MAX(seq) FROM audit_log WHERE seq >= 1")
            .fetch_one(&mut *tx)
            .await?;
    let parts = match (lo, hi) {
        // A range per part, when each part gets at least a batch of entries.
        (Some(lo), Some(hi))
            if i128::from(hi) - i128::from(lo) + 1
                >= (opts.read_parts as i128) * (opts.batch_rows.max(1) as i128) =>
        {
            ranges(lo, hi, opts.read_parts)
        }
        _ => vec![(1, i64::MAX)],
    };
    let threads = (opts.hash_threads / parts.len()).max(1);
    // The other ranges, each on a task and a connection of its own, in this snapshot.
    let mut others = Vec::new();
    if parts.len() > 1 {
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut *tx)
            .await?;
        if !id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Err(bad("snapshot id"));
        }
        for range in parts[1..].iter().copied() {
            let (url, id, batch_rows) = (url.to_string(), id.clone(), opts.batch_rows);
            others.push(tokio::spawn(async move {
                let mut c = PgConnection::connect(&url).await?;
                let part = async {
                    let begin = format!("{BEGIN}; SET TRANSACTION SNAPSHOT '{id}'; {NO_SORT}");
                    let mut t = c.begin_with(begin).await?;
                    copy_part(&mut t, range, threads, batch_rows).await
                }
                .await;
                let _ = c.close().await;
                part
            }));
        }
    }
    let first = copy_part(&mut tx, parts[0], threads, opts.batch_rows).await;
    if first.is_err() {
        others.iter().for_each(|t| t.abort());
    }
    let mut done = vec![first?];
    for task in others {
        done.push(
            task.await
                .map_err(|e| DbError::Invalid(format!("audit verification: {e}")))??,
        );
    }
    Ok(Snapshot {
        walk: chain::walk(done),
        stray,
        head_seq,
        head_hash: head_hash.into_bytes(),
    })
}

/// Copy the entries with `seq` in `lo..=hi` and check them.
async fn copy_part(
    conn: &mut PgConnection,
    (lo, hi): (i64, i64),
    threads: usize,
    batch_rows: usize,
) -> Result<Part, DbError> {
    let mut hashers = Hashers::new(threads, batch_rows)?;
    let mut parser = CopyParser::default();
    let mut pending: Vec<u8> = Vec::new();
    let mut full = Vec::new();
    let mut stopped = false;
    {
        let mut stream = conn
            .copy_out_raw(&format!(
                "COPY (SELECT {COLUMNS} FROM audit_log WHERE seq BETWEEN {lo} AND {hi} \
                 ORDER BY seq) TO STDOUT (FORMAT binary)"
            ))
            .await?;
        while let Some(chunk) = stream.try_next().await? {
            // PostgreSQL sends one message per row: parse it in place unless a row was split.
            if pending.is_empty() {
                let used = parser.parse(&chunk, &mut hashers, &mut full)?;
                pending.extend_from_slice(&chunk[used..]);
            } else {
                pending.extend_from_slice(&chunk);
                let used = parser.parse(&pending, &mut hashers, &mut full)?;
                pending.drain(..used);
            }
            for b in full.drain(..) {
                hashers.send(b).await?;
            }
            if hashers.should_stop() {
                stopped = true;
                break;
            }
        }
    }
    if !stopped && (!parser.done || !pending.is_empty()) {
        return Err(bad("the stream ended inside a row"));
    }
    hashers.finish().await?.part().await
}

#[cfg(test)]
mod tests {
    use super::ranges;

    #[test]
    fn ranges_cover_everything_once() {
        assert_eq!(ranges(1, 10, 1), vec![(1, 10)]);
        assert_eq!(ranges(1, 10, 2), vec![(1, 5), (6, 10)]);
        assert_eq!(ranges(1, 10, 3), vec![(1, 3), (4, 6), (7, 10)]);
        assert_eq!(ranges(5, 5, 1), vec![(5, 5)]);
        let r = ranges(1, i64::MAX, 4);
        assert_eq!(r.first().map(|p| p.0), Some(1));
        assert_eq!(r.last().map(|p| p.1), Some(i64::MAX));
        assert!(r.windows(2).all(|w| w[1].0 == w[0].1 + 1));
    }
}
