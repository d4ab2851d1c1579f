//! Many rows in one statement (ghi hàng loạt): a batch is sent as one JSON array parameter and
//! unpacked by the database (`json_each` on SQLite, `jsonb_array_elements` on PostgreSQL),
//! instead of thousands of bound parameters. (SQLite looks up a numbered parameter's name by a
//! linear walk, so binding n parameters costs O(n²): a 1,000-event batch spent a third of its
//! time there.)

use tinhso_store::Backend;

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
        Backend::Sqlite => format!("SELECT {} FROM json_each(${param})", select.join(", ")),
        Backend::Postgres => format!(
            "SELECT {} FROM jsonb_array_elements(${param}::jsonb) AS v",
            select.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects() {
        let cols = [("id", Col::Text), ("at", Col::Int)];
        assert_eq!(
            rows_sql(Backend::Sqlite, 1, &cols),
            "SELECT value ->> 0 AS id, value ->> 1 AS at FROM json_each($1)"
        );
        assert_eq!(
            rows_sql(Backend::Postgres, 2, &cols),
            "SELECT (v ->> 0)::text AS id, (v ->> 1)::bigint AS at FROM jsonb_array_elements($2::jsonb) AS v"
        );
    }
}
