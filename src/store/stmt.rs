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
    ///
    /// Asked of every statement a write transaction runs, so it allocates nothing and
    /// reads most statements once at most: a `SELECT` (which changes nothing; a change
    /// inside a query starts with `WITH`) by its first word, one that does not name
    /// `table` at all by one pass over its bytes; only the rest word by word, three at a
    /// time.
    pub fn changes_table(&self, table: &str) -> bool {
        let sql = self.sql.trim_start().as_bytes();
        if starts_with_word(sql, b"select") || !contains_ignore_case(sql, table.as_bytes()) {
            return false;
        }
        let mut words = self
            .sql
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty());
        let (Some(mut a), Some(mut b)) = (words.next(), words.next()) else {
            return false;
        };
        let is = |w: &str, k: &str| w.eq_ignore_ascii_case(k);
        for c in words {
            if (is(a, "insert") && is(b, "into") && is(c, table))
                || (is(a, "delete") && is(b, "from") && is(c, table))
                || (is(a, "update") && is(b, table))
                || (is(b, "update") && is(c, table))
            {
                return true;
            }
            (a, b) = (b, c);
        }
        false
    }
}

/// Whether `sql` begins with the word `word` (any case).
fn starts_with_word(sql: &[u8], word: &[u8]) -> bool {
    sql.len() > word.len()
        && sql[..word.len()].eq_ignore_ascii_case(word)
        && !(sql[word.len()].is_ascii_alphanumeric() || sql[word.len()] == b'_')
}

/// Whether `name` occurs anywhere in `sql` (any case).
fn contains_ignore_case(sql: &[u8], name: &[u8]) -> bool {
    !name.is_empty()
        && sql
            .windows(name.len())
            .any(|w| w.eq_ignore_ascii_case(name))
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
        assert!(changes("UPDATE tasks SET a = 1; UPDATE IMAGES SET b = 2"));
        assert!(!changes("SELECT id FROM disks"));
        assert!(!changes(
            "\n  select id FROM images WHERE a = 'update images'"
        ));
        assert!(changes("selection_x UPDATE images SET a = 1"));
    }
}
