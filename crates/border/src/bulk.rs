//! Many rows in one statement (ghi hàng loạt): a batch is sent as one JSON array parameter and
//! unpacked by the database (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL),
//! instead of thousands of bound parameters. (SQLite looks up a numbered parameter's name by a
//! linear walk, so binding n parameters costs O(n²): a 1,000-event batch spent a third of its
//! time there.)
//!
//! Also: many items in one transaction, each behind its own savepoint (điểm lưu), so that a
//! refused item is undone and reported in its place while the others commit
//! ([`each_behind_savepoint`]).

use std::future::Future;
use tinhso_kernel::AppError;
use tinhso_store::native::Param;
use tinhso_store::{Backend, Db, DbError, Exec, Tx, WriteTx};

/// A column's type in the JSON rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Text,
    Int,
    Real,
}

/// `SELECT <col 0> AS <name 0>, … FROM <the rows of JSON parameter $param>`: each row is a JSON
/// array whose elements are the columns in order.
pub fn rows_sql(backend: Backend, param: usize, cols: &[(&str, Col)]) -> String {
    let select: Vec<String> = cols
        .iter()
        .enumerate()
        .map(|(i, (name, ty))| match backend {
            Backend::Sqlite => format!("value ->> {i} AS {name}"),
            Backend::Postgres => {
                let cast = match ty {
                    Col::Text => "text",
                    Col::Int => "bigint",
                    Col::Real => "double precision",
                };
                format!("(v ->> {i})::{cast} AS {name}")
            }
        })
        .collect();
    match backend {
        // Each row's array made binary JSON (`jsonb`) once, in a subquery that `OFFSET 0` keeps
        // from being merged into the outer query: reading the columns then walks the binary
        // row. Read straight from `json_each`, every column rendered its row back to text and
        // parsed it again (6.6 % of a simulated border day's instructions).
        Backend::Sqlite => format!(
            "SELECT {} FROM (SELECT jsonb(value) AS value FROM json_each(${param}) LIMIT -1 OFFSET 0)",
            select.join(", ")
        ),
        Backend::Postgres => format!(
            "SELECT {} FROM jsonb_array_elements(${param}::jsonb) AS v",
            select.join(", ")
        ),
    }
}

/// The JSON array of rows that [`rows_sql`] unpacks: one parameter for the whole batch.
pub fn json_rows(rows: impl IntoIterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(rows.into_iter().collect()).to_string()
}

/// Take the next `n` numbers of the counter `name` (bộ đếm, `border_counters`; no row = 0) in
/// one statement: returns the last of them, so they run from `last - n + 1` to `last`. Trip
/// codes per gate and day, fee receipts per year.
pub(crate) async fn take_numbers<E: Exec>(tx: &mut E, name: &str, n: i64) -> Result<i64, AppError> {
    tx.row(
        "INSERT INTO border_counters (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = border_counters.value + excluded.value RETURNING value",
        &[Param::Text(name), Param::Int(n)],
        |r| r.int(0),
    )
    .await?
    .ok_or_else(|| AppError::internal(format!("counter {name}: no value returned")))
}

/// `SELECT code FROM (<the rows of JSON parameter $1>)`: a list of codes (trip codes) as one
/// parameter ([`codes_json`]), for `… IN (…)`.
pub(crate) fn codes_sql(backend: Backend) -> String {
    let named = rows_sql(backend, 1, &[("code", Col::Text)]);
    format!("SELECT code FROM ({named}) AS j")
}

/// The JSON parameter of [`codes_sql`].
pub(crate) fn codes_json(codes: &[String]) -> Result<String, AppError> {
    let rows: Vec<[&str; 1]> = codes.iter().map(|c| [c.as_str()]).collect();
    serde_json::to_string(&rows).map_err(AppError::internal)
}

/// What a failed item of [`each_behind_savepoint`] does to its batch.
#[derive(Debug)]
pub enum Refusal<E> {
    /// The item is refused (từ chối): what it wrote is undone and `E` is its answer; the
    /// others go on.
    Item(E),
    /// The whole batch fails and nothing is written (a database failure).
    Batch(AppError),
}

impl Refusal<AppError> {
    /// A client error (4xx) refuses the item, anything else fails the batch.
    pub fn below_500(e: AppError) -> Self {
        if e.status() < 500 {
            Refusal::Item(e)
        } else {
            Refusal::Batch(e)
        }
    }
}

/// `INSERT INTO <table> (<the columns' names>) <the rows of JSON parameter $1> <tail>`: many
/// rows in one statement, each row of `rows` a JSON array of the columns in order (`tail`: an
/// `ON CONFLICT` clause, after `WHERE true` on an upsert, or nothing). Nothing is sent for no
/// rows. Returns the rows affected.
pub async fn insert_rows<R: serde::Serialize>(
    tx: &mut impl Exec,
    table: &str,
    cols: &[(&str, Col)],
    tail: &str,
    rows: &[R],
) -> Result<u64, AppError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let names: Vec<&str> = cols.iter().map(|(n, _)| *n).collect();
    let source = rows_sql(tx.backend(), 1, cols);
    let body = serde_json::to_string(rows).map_err(AppError::internal)?;
    let sql = format!("INSERT INTO {table} ({}) {source} {tail}", names.join(", "));
    Ok(tx.execute(&sql, &[Param::Text(&body)]).await?)
}

/// `UPDATE <set> FROM (<the rows of JSON parameter $1>) AS j WHERE <matched>`: many rows
/// updated in one statement (`set` is the table and its `SET` clause, reading the row's
/// columns as `j.<name>`; `matched` joins a row to its own). Every row must update one row
/// (one it did not find, e.g. no longer in the state it was read in, is a failure: a batch
/// decided on what it read). Nothing is sent for no rows.
pub(crate) async fn update_each<R: serde::Serialize>(
    tx: &mut impl Exec,
    set: &str,
    cols: &[(&str, Col)],
    matched: &str,
    rows: &[R],
) -> Result<(), AppError> {
    if rows.is_empty() {
        return Ok(());
    }
    let source = rows_sql(tx.backend(), 1, cols);
    let body = serde_json::to_string(rows).map_err(AppError::internal)?;
    let sql = format!("UPDATE {set} FROM ({source}) AS j WHERE {matched}");
    let n = tx.execute(&sql, &[Param::Text(&body)]).await?;
    if n != rows.len() as u64 {
        return Err(AppError::internal(format!(
            "UPDATE {set}: {n} of {} rows updated",
            rows.len()
        )));
    }
    Ok(())
}

/// Why an item of a [`Guard::DecideFirst`] batch stopped: every rule of the item is checked on
/// what the transaction read before anything is written (quyết trước, ghi sau), so a refusal
/// leaves nothing to undo; what fails after the first write is a database failure (or a broken
/// invariant) and fails the batch.
#[derive(Debug)]
pub(crate) enum Stop {
    /// Refused (or failed to read) before anything was written.
    Refused(AppError),
    /// Failed after the item's first write.
    Failed(AppError),
}

impl From<AppError> for Stop {
    fn from(e: AppError) -> Self {
        Stop::Refused(e)
    }
}

impl From<Refusal<AppError>> for Stop {
    /// An item refused is refused, a batch failure fails.
    fn from(r: Refusal<AppError>) -> Self {
        match r {
            Refusal::Item(e) => Stop::Refused(e),
            Refusal::Batch(e) => Stop::Failed(e),
        }
    }
}

impl From<Refusal<AppError>> for AppError {
    fn from(r: Refusal<AppError>) -> Self {
        match r {
            Refusal::Item(e) | Refusal::Batch(e) => e,
        }
    }
}

impl From<Stop> for AppError {
    fn from(s: Stop) -> Self {
        match s {
            Stop::Refused(e) | Stop::Failed(e) => e,
        }
    }
}

impl Stop {
    /// What a [`Guard::DecideFirst`] batch does with it: a client error refuses the item alone
    /// (it wrote nothing), anything else fails the batch.
    pub(crate) fn refusal(self) -> Refusal<AppError> {
        match self {
            Stop::Refused(e) => Refusal::below_500(e),
            Stop::Failed(e) => Refusal::Batch(e),
        }
    }

    /// What a batch kept apart by `guard` does with it (behind a savepoint, any client error
    /// is undone and refuses the item alone).
    pub(crate) fn refusal_under(self, guard: Guard) -> Refusal<AppError> {
        match guard {
            Guard::DecideFirst => self.refusal(),
            Guard::Savepoint => Refusal::below_500(self.into()),
        }
    }
}

/// What one item's run hands back: the transaction and the state it was lent, and the
/// item's result.
pub type Step<S, T, E> = (WriteTx, S, Result<T, Refusal<E>>);

/// Run `run` for each item in one write transaction, each behind a savepoint: an item that
/// succeeds is kept, one refused ([`Refusal::Item`]) is rolled back — its rows, audit entries
/// and outbox events — and its error stands in its place; [`Refusal::Batch`] drops the
/// transaction (nothing is written) and is returned. Results in the order of `items` (an
/// item sees what the earlier ones wrote). No items: no transaction. The audit entries and
/// outbox events are kept in order and written at commit ([`WriteTx::defer_audit_and_outbox`]).
///
/// `run(tx, state, item)` gets the transaction and a state shared by the items (lookups
/// loaded once; `()` when there is none) by value and hands them back with the result: an
/// ordinary closure returning a future that owns what it uses, so the batch's future stays
/// `Send` for `tokio::spawn` (an async closure borrowing the transaction makes a
/// higher-ranked future whose `Send` the compiler cannot prove).
pub async fn each_behind_savepoint<S, I, T, E, Fut>(
    db: &Db,
    state: S,
    items: impl IntoIterator<Item = I>,
    run: impl FnMut(WriteTx, S, I) -> Fut,
) -> Result<Vec<Result<T, E>>, AppError>
where
    Fut: Future<Output = Step<S, T, E>>,
{
    each_behind_savepoint_then(db, state, items, run, |tx, e| {
        std::future::ready((tx, Ok(e)))
    })
    .await
}

/// [`each_behind_savepoint`], and after a refused item is undone, `undone(tx, error)` runs in
/// the same transaction (outside the savepoint, so what it writes is kept — e.g. an audit
/// entry of the refusal) and gives the item's answer (an `Err` fails the batch).
pub async fn each_behind_savepoint_then<S, I, T, E, F, Fut, UFut>(
    db: &Db,
    state: S,
    items: impl IntoIterator<Item = I>,
    run: impl FnMut(WriteTx, S, I) -> Fut,
    undone: impl FnMut(WriteTx, E) -> UFut,
) -> Result<Vec<Result<T, F>>, AppError>
where
    Fut: Future<Output = Step<S, T, E>>,
    UFut: Future<Output = (WriteTx, Result<F, AppError>)>,
{
    each_guarded(db, Guard::Savepoint, state, items, run, undone, |tx, _| {
        std::future::ready((tx, Ok(())))
    })
    .await
}

/// How the items of a batch are kept apart (tách các mục của lô).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Each item behind its own savepoint: a refused item's writes are rolled back. For items
    /// whose writes can still be refused (a unique index a concurrent writer may have taken,
    /// a row that changed under the item).
    Savepoint,
    /// No savepoint (quyết trước, ghi sau): every item reads and decides before it writes
    /// anything, so a refused item ([`Refusal::Item`]) has written nothing and there is
    /// nothing to undo; an item that fails after its first write must answer
    /// [`Refusal::Batch`] (the whole batch is dropped). Saves one or two statements per item.
    DecideFirst,
}

/// [`each_behind_savepoint_then`] with the items kept apart by `guard`, and after the last
/// item `finish(tx, state)` runs in the same transaction before the commit (hoàn tất lô):
/// rows the items kept in the state are written there, one statement for the batch (an `Err`
/// fails the batch).
pub async fn each_guarded<S, I, T, E, F, Fut, UFut, DFut>(
    db: &Db,
    guard: Guard,
    state: S,
    items: impl IntoIterator<Item = I>,
    run: impl FnMut(WriteTx, S, I) -> Fut,
    undone: impl FnMut(WriteTx, E) -> UFut,
    finish: impl FnOnce(WriteTx, S) -> DFut,
) -> Result<Vec<Result<T, F>>, AppError>
where
    Fut: Future<Output = Step<S, T, E>>,
    UFut: Future<Output = (WriteTx, Result<F, AppError>)>,
    DFut: Future<Output = (WriteTx, Result<(), AppError>)>,
{
    let items: Vec<I> = items.into_iter().collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let tx = db.begin_write().await?;
    each_in(tx, guard, state, items, run, undone, finish).await
}

/// [`each_guarded`] with [`Guard::DecideFirst`] in a transaction from [`Db::begin_native`]
/// (giao dịch ghi trực tiếp): on a SQLite file its statements run on the calling thread, not
/// handed to sqlx's worker one by one. No savepoints (a refused item wrote nothing), so only
/// for batches whose items decide before they write.
pub(crate) async fn each_decided<S, I, T, E, F, Fut, UFut, DFut>(
    db: &Db,
    state: S,
    items: impl IntoIterator<Item = I>,
    run: impl FnMut(Tx, S, I) -> Fut,
    undone: impl FnMut(Tx, E) -> UFut,
    finish: impl FnOnce(Tx, S) -> DFut,
) -> Result<Vec<Result<T, F>>, AppError>
where
    Fut: Future<Output = (Tx, S, Result<T, Refusal<E>>)>,
    UFut: Future<Output = (Tx, Result<F, AppError>)>,
    DFut: Future<Output = (Tx, Result<(), AppError>)>,
{
    let items: Vec<I> = items.into_iter().collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let tx = db.begin_native().await?;
    each_in(tx, Guard::DecideFirst, state, items, run, undone, finish).await
}

/// A transaction a batch runs in (giao dịch của lô): a [`WriteTx`], or a [`Tx`], which has no
/// savepoints (only for [`Guard::DecideFirst`]).
pub(crate) trait BatchTx: Sized {
    /// The transaction's savepoints, if it has them.
    fn savepoints(&mut self) -> Option<&mut WriteTx>;
    /// [`WriteTx::defer_audit_and_outbox`].
    fn defer_audit_and_outbox(&mut self);
    /// Commit; the ids of the outbox events written.
    fn commit(self) -> impl Future<Output = Result<Vec<String>, DbError>> + Send;
}

impl BatchTx for WriteTx {
    fn savepoints(&mut self) -> Option<&mut WriteTx> {
        Some(self)
    }
    fn defer_audit_and_outbox(&mut self) {
        WriteTx::defer_audit_and_outbox(self)
    }
    fn commit(self) -> impl Future<Output = Result<Vec<String>, DbError>> + Send {
        WriteTx::commit(self)
    }
}

impl BatchTx for Tx {
    fn savepoints(&mut self) -> Option<&mut WriteTx> {
        None
    }
    fn defer_audit_and_outbox(&mut self) {
        Tx::defer_audit_and_outbox(self)
    }
    fn commit(self) -> impl Future<Output = Result<Vec<String>, DbError>> + Send {
        Tx::commit(self)
    }
}

fn savepoints<X: BatchTx>(tx: &mut X) -> Result<&mut WriteTx, AppError> {
    tx.savepoints().ok_or_else(|| {
        AppError::internal("a batch behind savepoints in a transaction without them")
    })
}

/// The items of [`each_guarded`] / [`each_decided`] (at least one) in `tx`.
async fn each_in<X, S, I, T, E, F, Fut, UFut, DFut>(
    mut tx: X,
    guard: Guard,
    mut state: S,
    items: Vec<I>,
    mut run: impl FnMut(X, S, I) -> Fut,
    mut undone: impl FnMut(X, E) -> UFut,
    finish: impl FnOnce(X, S) -> DFut,
) -> Result<Vec<Result<T, F>>, AppError>
where
    X: BatchTx,
    Fut: Future<Output = (X, S, Result<T, Refusal<E>>)>,
    UFut: Future<Output = (X, Result<F, AppError>)>,
    DFut: Future<Output = (X, Result<(), AppError>)>,
{
    let last = items.len().saturating_sub(1);
    // The items' audit entries and outbox events are written at commit, one multi-row
    // statement each for the batch instead of one or two per item (a refused item's are
    // dropped with its savepoint).
    tx.defer_audit_and_outbox();
    let mut out = Vec::with_capacity(items.len());
    // The savepoint of the next item, opened in the same round trip as the previous item's
    // was released.
    let mut next = None;
    for (k, item) in items.into_iter().enumerate() {
        let sp = match (guard, next.take()) {
            (Guard::DecideFirst, _) => None,
            (Guard::Savepoint, Some(sp)) => Some(sp),
            (Guard::Savepoint, None) => Some(savepoints(&mut tx)?.savepoint().await?),
        };
        let (back, kept, result) = run(tx, state, item).await;
        (tx, state) = (back, kept);
        match result {
            Ok(done) => {
                if let Some(sp) = sp {
                    if k < last {
                        next = Some(savepoints(&mut tx)?.release_and_reopen(sp).await?);
                    } else {
                        savepoints(&mut tx)?.release(sp).await?;
                    }
                }
                out.push(Ok(done));
            }
            Err(Refusal::Item(e)) => {
                // Without a savepoint the item wrote nothing ([`Guard::DecideFirst`]).
                if let Some(sp) = sp {
                    savepoints(&mut tx)?.rollback_to(sp).await?;
                }
                let (back, answer) = undone(tx, e).await;
                tx = back;
                out.push(Err(answer?));
            }
            Err(Refusal::Batch(e)) => return Err(e),
        }
    }
    let (tx, done) = finish(tx, state).await;
    done?;
    tx.commit().await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects() {
        let cols = [("id", Col::Text), ("at", Col::Int)];
        assert_eq!(
            rows_sql(Backend::Sqlite, 1, &cols),
            "SELECT value ->> 0 AS id, value ->> 1 AS at FROM (SELECT jsonb(value) AS value \
             FROM json_each($1) LIMIT -1 OFFSET 0)"
        );
        assert_eq!(
            rows_sql(Backend::Postgres, 2, &cols),
            "SELECT (v ->> 0)::text AS id, (v ->> 1)::bigint AS at FROM jsonb_array_elements($2::jsonb) AS v"
        );
    }

    /// The rows come back as they were sent, in order, on the engine under test: Vietnamese
    /// text in NFC, escapes, NULLs, whole and real numbers.
    #[tokio::test]
    async fn rows_come_back_as_sent() {
        let t = tinhso_store::test_support::fresh(&[]).await;
        let mut tx = t.db.begin_native().await.unwrap();
        let rows = serde_json::json!([
            ["Lạng Sơn", 1, 2.5],
            [
                "Cửa khẩu \"Hữu Nghị\"\n\\ 友谊关",
                -9_007_199_254_740_991_i64,
                null
            ],
            [null, 0, 0.1],
        ])
        .to_string();
        let cols = [("name", Col::Text), ("n", Col::Int), ("x", Col::Real)];
        let sql = format!(
            "SELECT name, n, x FROM ({}) AS j",
            rows_sql(tx.backend(), 1, &cols)
        );
        let got = tx
            .rows(&sql, &[Param::Text(&rows)], |r| {
                Ok((r.opt_text(0)?, r.int(1)?, r.opt_float(2)?))
            })
            .await
            .unwrap();
        assert_eq!(
            got,
            vec![
                (Some("Lạng Sơn".to_string()), 1, Some(2.5)),
                (
                    Some("Cửa khẩu \"Hữu Nghị\"\n\\ 友谊关".to_string()),
                    -9_007_199_254_740_991,
                    None
                ),
                (None, 0, Some(0.1)),
            ]
        );
    }
}
