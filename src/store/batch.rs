//! Statements built with their own arguments ([`Stmt`]) and run together ([`Batch`]).
//!
//! `Stmt` is the store's one way to build SQL with conditions: `$N` placeholders (valid on
//! both backends) and owned [`Arg`]s, so that the same statement runs through sqlx
//! (`execute`, `fetch_one`, `fetch_all`) or a direct SQLite reader (`query_direct`).
//!
//! Every statement of sqlx's SQLite driver is a round trip to the connection's own thread;
//! on a busy core each one waits for the scheduler twice, and a write transaction holds
//! SQLite's one writer slot for all of them. A [`Batch`] sends its statements to SQLite as
//! one multi-statement query (one round trip; sqlx binds `$N` by number in each statement),
//! and to PostgreSQL one after the other (its extended protocol takes one statement per
//! query).

use sqlx::any::AnyArguments;
use sqlx::Arguments;

use super::{Conn, DbResult};

/// A statement's argument: the types the store binds, owned, so that statements can be
/// collected into a [`Batch`] and run by either driver (sqlx, or a direct reader).
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Int(i64),
    Bool(bool),
    Text(String),
    /// NULL, of the type the column has (PostgreSQL checks a parameter's type).
    NullInt,
    NullBool,
    NullText,
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_string())
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(v.clone())
    }
}
/// The NULL of a type (for `Option<T>`).
pub trait NullOf: Into<Arg> {
    const NULL: Arg;
}
impl NullOf for i64 {
    const NULL: Arg = Arg::NullInt;
}
impl NullOf for bool {
    const NULL: Arg = Arg::NullBool;
}
impl NullOf for String {
    const NULL: Arg = Arg::NullText;
}
impl NullOf for &str {
    const NULL: Arg = Arg::NullText;
}
impl NullOf for &String {
    const NULL: Arg = Arg::NullText;
}
impl<T: NullOf> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Arg {
        v.map_or(T::NULL, Into::into)
    }
}

/// `args` as sqlx's.
fn any_arguments(args: Vec<Arg>) -> DbResult<AnyArguments<'static>> {
    let mut out = AnyArguments::default();
    for a in args {
        let added = match a {
            Arg::NullInt => out.add(None::<i64>),
            Arg::NullBool => out.add(None::<bool>),
            Arg::NullText => out.add(None::<String>),
            Arg::Int(n) => out.add(n),
            Arg::Bool(b) => out.add(b),
            Arg::Text(t) => out.add(t),
        };
        added.map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// One statement and its arguments, placeholders `$1..$N` in the order of `push_bind`
/// (or written by hand in the SQL with [`Stmt::bind`]).
pub struct Stmt {
    sql: String,
    args: Vec<Arg>,
}

impl Stmt {
    pub fn new(sql: impl Into<String>) -> Stmt {
        Stmt {
            sql: sql.into(),
            args: Vec::new(),
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: &str) -> &mut Stmt {
        self.sql.push_str(sql);
        self
    }

    /// Appends the next placeholder and its value.
    pub fn push_bind(&mut self, value: impl Into<Arg>) -> &mut Stmt {
        self.args.push(value.into());
        self.sql.push('$');
        self.sql.push_str(&self.args.len().to_string());
        self
    }

    /// The value of the next `$N` the SQL already names.
    pub fn bind(mut self, value: impl Into<Arg>) -> Stmt {
        self.args.push(value.into());
        self
    }

    /// Appends `(v1, v2, …)` with one placeholder per value.
    pub fn push_list(&mut self, values: &[String]) -> &mut Stmt {
        self.push("(");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(v.clone());
        }
        self.push(")")
    }

    /// Appends `(…)` with the placeholders `f` binds, comma-separated (a row of `VALUES`).
    pub fn push_tuple(&mut self, f: impl FnOnce(&mut Tuple<'_>)) -> &mut Stmt {
        self.push("(");
        f(&mut Tuple {
            stmt: self,
            first: true,
        });
        self.push(")")
    }

    /// `SELECT cols FROM table WHERE pin = $1 AND region = $2`: what one account sees in
    /// one region, for conditions to be appended.
    pub fn select_scoped(cols: &str, table: &str, pin: &str, region: &str) -> Stmt {
        Stmt::new(format!(
            "SELECT {cols} FROM {table} WHERE pin = $1 AND region = $2"
        ))
        .bind(pin)
        .bind(region)
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    /// Appends ` AND col IN (…)` for a non-empty list.
    pub fn push_in(&mut self, col: &str, values: &[String]) -> &mut Stmt {
        if values.is_empty() {
            return self;
        }
        self.push(&format!(" AND {col} IN "));
        self.push_list(values)
    }

    /// Appends ` AND (col LIKE %v1% OR …)` for a non-empty list of fuzzy patterns.
    pub fn push_like_any(&mut self, col: &str, values: &[String]) -> &mut Stmt {
        if values.is_empty() {
            return self;
        }
        self.push(" AND (");
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                self.push(" OR ");
            }
            self.push(&format!("{col} LIKE "));
            self.push_bind(super::like_contains(v));
            self.push(" ESCAPE '\\'");
        }
        self.push(")")
    }

    /// Runs the query; its first row as `T` (an error if there is none).
    pub async fn fetch_one<T>(self, conn: &mut Conn) -> DbResult<T>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(&self.sql, any_arguments(self.args)?)
            .fetch_one(conn)
            .await
    }

    /// Runs the query; every row as `T`.
    pub async fn fetch_all<T>(self, conn: &mut Conn) -> DbResult<Vec<T>>
    where
        T: Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(&self.sql, any_arguments(self.args)?)
            .fetch_all(conn)
            .await
    }

    /// Runs the statement alone; how many rows it changed.
    pub async fn execute(self, conn: &mut Conn) -> DbResult<u64> {
        Ok(sqlx::query_with(&self.sql, any_arguments(self.args)?)
            .execute(conn)
            .await?
            .rows_affected())
    }
}

/// The values of one `(…)` of [`Stmt::push_tuple`].
pub struct Tuple<'a> {
    stmt: &'a mut Stmt,
    first: bool,
}

impl Tuple<'_> {
    pub fn bind(&mut self, value: impl Into<Arg>) -> &mut Self {
        if !std::mem::take(&mut self.first) {
            self.stmt.push(", ");
        }
        self.stmt.push_bind(value);
        self
    }
}

/// Statements run in one go, in order; an error stops the rest (the caller's transaction
/// then rolls back).
#[derive(Default)]
pub struct Batch {
    stmts: Vec<Stmt>,
}

impl Batch {
    pub fn push(&mut self, stmt: Stmt) {
        self.stmts.push(stmt);
    }

    pub(super) fn into_stmts(self) -> Vec<Stmt> {
        self.stmts
    }

    /// Runs every statement; how many rows they changed together (a statement's own rows,
    /// not those its triggers change).
    pub async fn run(self, conn: &mut Conn) -> DbResult<u64> {
        if conn.backend_name() != "SQLite" || self.stmts.len() < 2 {
            let mut changed = 0;
            for s in self.stmts {
                changed += s.execute(conn).await?;
            }
            return Ok(changed);
        }
        let mut sql = String::new();
        let mut args = Vec::new();
        for s in self.stmts {
            if !sql.is_empty() {
                sql.push_str(";\n");
            }
            sql.push_str(&renumber(&s.sql, args.len()));
            args.extend(s.args);
        }
        Ok(sqlx::query_with(&sql, any_arguments(args)?)
            .execute(conn)
            .await?
            .rows_affected())
    }
}

impl Extend<Stmt> for Batch {
    fn extend<I: IntoIterator<Item = Stmt>>(&mut self, stmts: I) {
        self.stmts.extend(stmts);
    }
}

/// `sql` with every placeholder `$N` outside quotes turned into `$(N + offset)`.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        out.push(c);
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                match digits.parse::<usize>() {
                    Ok(n) => out.push_str(&(n + offset).to_string()),
                    Err(_) => out.push_str(&digits),
                }
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{renumber, Batch, Stmt};
    use proptest::prelude::*;

    /// On SQLite the batch is one multi-statement query: every statement runs with its
    /// own arguments, the changed rows add up, and an error stops the rest.
    #[tokio::test]
    async fn a_batch_runs_every_statement_with_its_own_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path()).await.unwrap();
        let mut tx = store.write().await.unwrap();
        sqlx::query("CREATE TABLE t(id TEXT PRIMARY KEY, n BIGINT)")
            .execute(tx.conn())
            .await
            .unwrap();
        let mut batch = Batch::default();
        batch.push(
            Stmt::new("INSERT INTO t VALUES ($1, $2), ($3, $4)")
                .bind("a")
                .bind(1i64)
                .bind("b")
                .bind(2i64),
        );
        batch.push(
            Stmt::new("UPDATE t SET n = n + $1 WHERE id = $2")
                .bind(10i64)
                .bind("b"),
        );
        let mut set = Stmt::new("UPDATE t SET n = ");
        set.push_bind(7i64)
            .push(" WHERE id IN ")
            .push_list(&["a".into(), "zz".into()]);
        batch.push(set);
        assert_eq!(batch.run(tx.conn()).await.unwrap(), 4);
        let rows: Vec<(String, i64)> = sqlx::query_as("SELECT id, n FROM t ORDER BY id")
            .fetch_all(tx.conn())
            .await
            .unwrap();
        assert_eq!(rows, vec![("a".into(), 7), ("b".into(), 12)]);

        let mut failing = Batch::default();
        failing.push(Stmt::new("INSERT INTO t VALUES ($1, 0)").bind("c"));
        failing.push(Stmt::new("INSERT INTO t VALUES ($1, 0)").bind("a"));
        failing.push(Stmt::new("INSERT INTO t VALUES ($1, 0)").bind("d"));
        assert!(failing.run(tx.conn()).await.is_err());
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM t ORDER BY id")
            .fetch_all(tx.conn())
            .await
            .unwrap();
        assert!(!ids.contains(&"d".to_string()), "{ids:?}");
    }

    #[test]
    fn renumbers_placeholders_outside_quotes() {
        assert_eq!(
            renumber("UPDATE t SET a = $1, b = '$2' WHERE id = $10", 3),
            "UPDATE t SET a = $4, b = '$2' WHERE id = $13"
        );
        assert_eq!(renumber("SELECT \"$1\", $2", 1), "SELECT \"$1\", $3");
        assert_eq!(renumber("x $1", 0), "x $1");
        assert_eq!(renumber("a $ b $", 2), "a $ b $");
    }

    proptest! {
        /// Renumbering never panics, changes nothing but placeholder numbers, and shifting
        /// by a then b is shifting by a + b.
        #[test]
        fn renumbering_only_shifts_numbers(sql in "[a-z $0-9'\",=()]{0,40}", a in 0usize..50, b in 0usize..50) {
            let once = renumber(&renumber(&sql, a), b);
            prop_assert_eq!(once, renumber(&sql, a + b));
            let strip = |s: &str| s.chars().filter(|c| !c.is_ascii_digit()).collect::<String>();
            prop_assert_eq!(strip(&renumber(&sql, a)), strip(&sql));
        }
    }
}
