//! Per-epoch (or per-evaluation) metrics as `metrics.csv` and `metrics.json`, rewritten whole
//! and atomically after each row, so a reader never sees half a file and a resumed run
//! continues the same table.
//!
//! The CSV opens in any spreadsheet and in `pandas.read_csv`; the JSON is
//! `{"columns": [...], "rows": [{"epoch": 1, "train_loss": 2.3, ...}, ...]}` (read it with
//! `pandas.DataFrame(json.load(f)["rows"])`). A value that is not finite (a NaN loss) is
//! written as `NaN`/`inf` in the CSV and as `null` in the JSON, which has no NaN.

use std::path::{Path, PathBuf};

use gradflow_layers::checkpoint::write_atomic;
use serde_json::{Map, Value};

use super::{FileError, RunDir};

/// The CSV file's name.
pub const CSV: &str = "metrics.csv";
/// The JSON file's name.
pub const JSON: &str = "metrics.json";

/// A metrics table could not be written or read back; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] FileError),
    /// The JSON file is not a metrics table.
    #[error("{}: not a metrics table: {why}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// A table of named f64 columns, one row per epoch or evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsLog {
    columns: Vec<String>,
    rows: Vec<Vec<f64>>,
}

impl MetricsLog {
    /// An empty table with these columns.
    ///
    /// ```
    /// use gradflow::run::metrics::MetricsLog;
    /// let mut log = MetricsLog::new(&["epoch", "train_loss"]);
    /// log.push(&[1.0, 2.31]);
    /// log.push(&[2.0, 1.72]);
    /// assert_eq!(log.column("train_loss"), Some(vec![2.31, 1.72]));
    /// assert!(log.to_csv().starts_with("epoch,train_loss\n1,2.31\n"));
    /// ```
    pub fn new(columns: &[&str]) -> Self {
        MetricsLog {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Append one row, its values in column order.
    ///
    /// # Panics
    /// If `values` does not have one value per column (a bug in the caller).
    pub fn push(&mut self, values: &[f64]) {
        assert_eq!(
            values.len(),
            self.columns.len(),
            "MetricsLog::push: {} values for the {} columns {:?}",
            values.len(),
            self.columns.len(),
            self.columns
        );
        self.rows.push(values.to_vec());
    }

    /// The column names.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The rows, each in column order.
    pub fn rows(&self) -> &[Vec<f64>] {
        &self.rows
    }

    /// One column's values, or `None` for an unknown name.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let i = self.columns.iter().position(|c| c == name)?;
        Some(self.rows.iter().map(|r| r[i]).collect())
    }

    /// Keep the first `rows` rows (a resumed run drops rows logged after its checkpoint).
    pub fn truncate(&mut self, rows: usize) {
        self.rows.truncate(rows);
    }

    /// The table as CSV text (header line, then one line per row; Rust's shortest
    /// round-trip formatting, so every value reads back exactly).
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in &self.rows {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }

    /// The table as JSON (see the [module docs](self)).
    pub fn to_json(&self) -> Value {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let obj: Map<String, Value> = self
                    .columns
                    .iter()
                    .zip(row)
                    .map(|(c, &v)| {
                        let value =
                            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number);
                        (c.clone(), value)
                    })
                    .collect();
                Value::Object(obj)
            })
            .collect();
        serde_json::json!({ "columns": self.columns, "rows": Value::Array(rows) })
    }

    /// Write `metrics.csv` and `metrics.json` into the run folder, each atomically.
    ///
    /// # Errors
    /// [`MetricsError::Io`] naming the file that could not be written.
    pub fn write(&self, dir: &RunDir) -> Result<(), MetricsError> {
        self.write_to(dir.path())
    }

    /// [`write`](MetricsLog::write) into any folder.
    ///
    /// # Errors
    /// [`MetricsError::Io`] naming the file that could not be written.
    pub fn write_to(&self, dir: &Path) -> Result<(), MetricsError> {
        let put = |name: &str, text: String| {
            let path = dir.join(name);
            write_atomic(&path, text.as_bytes()).map_err(FileError::at(&path, "write"))
        };
        put(CSV, self.to_csv())?;
        let json = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        Ok(put(JSON, json + "\n")?)
    }

    /// Read the table back from `dir/metrics.json` (a `null` reads as NaN).
    ///
    /// # Errors
    /// [`MetricsError::Io`] if the file cannot be read, [`MetricsError::Format`] if it is not
    /// a table this type wrote.
    pub fn read(dir: &Path) -> Result<Self, MetricsError> {
        let path = dir.join(JSON);
        let text = std::fs::read_to_string(&path).map_err(FileError::at(&path, "read"))?;
        let bad = |why: String| MetricsError::Format {
            path: path.clone(),
            why,
        };
        let value: Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let columns: Vec<String> = value
            .get("columns")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `columns` list".into()))?
            .iter()
            .map(|c| c.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("a column name is not a string".into()))?;
        let rows = value
            .get("rows")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no `rows` list".into()))?;
        let mut log = MetricsLog {
            columns,
            rows: Vec::with_capacity(rows.len()),
        };
        for (r, row) in rows.iter().enumerate() {
            let values = log
                .columns
                .iter()
                .map(|c| match row.get(c) {
                    Some(Value::Null) => Some(f64::NAN),
                    Some(v) => v.as_f64(),
                    None => None,
                })
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| bad(format!("row {r} lacks a number for some column")))?;
            log.rows.push(values);
        }
        Ok(log)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every finite value, and NaN, survives write + read exactly (the JSON numbers are
        /// written with the shortest round-trip formatting).
        #[test]
        fn tables_round_trip(rows in proptest::collection::vec(
            proptest::collection::vec(proptest::num::f64::NORMAL | proptest::num::f64::ZERO, 3), 0..6)) {
            let dir = tempfile::tempdir().unwrap();
            let mut log = MetricsLog::new(&["epoch", "loss", "top1"]);
            for r in &rows {
                log.push(r);
            }
            log.push(&[9.0, f64::NAN, 0.5]);
            log.write_to(dir.path()).unwrap();
            let back = MetricsLog::read(dir.path()).unwrap();
            prop_assert_eq!(back.columns(), log.columns());
            for (a, b) in back.rows().iter().zip(log.rows()) {
                for (x, y) in a.iter().zip(b) {
                    prop_assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()));
                }
            }
            let csv = std::fs::read_to_string(dir.path().join(CSV)).unwrap();
            prop_assert_eq!(csv.lines().count(), rows.len() + 2);
        }
    }

    #[test]
    fn a_foreign_json_is_named() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JSON), "[1, 2]").unwrap();
        let err = MetricsLog::read(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("metrics.json") && err.contains("columns"),
            "{err}"
        );
    }
}
