//! [`Stmt`]: the store's one way to write SQL — `$N` placeholders (valid on both
//! backends) and owned [`Arg`]s, so the same statement runs on either (see [`super::Db`]).

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
impl<T: NullOf + Clone> From<&Option<T>> for Arg {
    fn from(v: &Option<T>) -> Arg {
        v.clone().into()
    }
}
impl<T: NullOf> From<Option<T>> for Arg {
    fn from(v: Option<T>) -> Arg {
        v.map_or(T::NULL, Into::into)
    }
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

    /// Whether the statement changes rows of `table` (`INSERT INTO`, `UPDATE`,
    /// `DELETE FROM`, anywhere in it), for the caches of that table.
    pub fn changes_table(&self, table: &str) -> bool {
        let words: Vec<&str> = self
            .sql
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(3).any(|w| {
            let is = |i: usize, k: &str| w[i].eq_ignore_ascii_case(k);
            (is(0, "insert") && is(1, "into") && is(2, table))
                || (is(0, "delete") && is(1, "from") && is(2, table))
                || (is(0, "update") && is(1, table))
                || (is(1, "update") && is(2, table))
        })
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

#[cfg(test)]
mod tests {
    use super::Stmt;

    #[test]
    fn knows_which_table_a_statement_changes() {
        let changes = |sql: &str| Stmt::new(sql).changes_table("images");
        assert!(changes("INSERT INTO images(id) VALUES ($1)"));
        assert!(changes("update images SET status = $1"));
        assert!(changes("DELETE FROM images WHERE id = $1"));
        assert!(changes("WITH x AS (SELECT 1) UPDATE images SET a = 1"));
        assert!(!changes("SELECT * FROM images"));
        assert!(!changes("UPDATE image_tasks SET status = $1"));
        assert!(!changes("INSERT INTO images_x(id) VALUES (1)"));
        assert!(!changes(
            "DELETE FROM disks WHERE id IN (SELECT id FROM images)"
        ));
    }
}
