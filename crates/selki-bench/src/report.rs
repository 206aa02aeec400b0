//! One row per scenario and store, printed as it completes and written to
//! `results.json` and `results.md` at the end.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Serialize)]
pub(crate) struct Figure {
    pub(crate) name: &'static str,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
}

#[derive(Debug, Serialize)]
pub(crate) struct Row {
    pub(crate) scenario: &'static str,
    pub(crate) name: String,
    pub(crate) store: &'static str,
    /// The headline figure first.
    pub(crate) figures: Vec<Figure>,
    /// The headline figure over the pgbench ceiling of the same run.
    pub(crate) vs_ceiling: Option<f64>,
    /// The target, in words; only PostgreSQL rows have one.
    pub(crate) target: Option<&'static str>,
    pub(crate) met: Option<bool>,
    pub(crate) note: String,
}

impl Row {
    pub(crate) fn new(
        scenario: &'static str,
        name: impl Into<String>,
        store: &'static str,
    ) -> Self {
        Self {
            scenario,
            name: name.into(),
            store,
            figures: Vec::new(),
            vs_ceiling: None,
            target: None,
            met: None,
            note: String::new(),
        }
    }

    pub(crate) fn figure(mut self, name: &'static str, value: f64, unit: &'static str) -> Self {
        self.figures.push(Figure { name, value, unit });
        self
    }

    pub(crate) fn millis(self, name: &'static str, value: Duration) -> Self {
        self.figure(name, value.as_secs_f64() * 1000.0, "ms")
    }

    pub(crate) fn get(&self, name: &str) -> f64 {
        self.figures
            .iter()
            .find(|f| f.name == name)
            .map_or(f64::NAN, |f| f.value)
    }

    /// The target applies to PostgreSQL rows only.
    pub(crate) fn target(mut self, target: &'static str, met: impl FnOnce(&Self) -> bool) -> Self {
        if self.store == "postgres" {
            self.met = Some(self.note.is_empty() && met(&self));
            self.target = Some(target);
        }
        self
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        let note = note.into();
        if !note.is_empty() {
            if !self.note.is_empty() {
                self.note.push_str("; ");
            }
            self.note.push_str(&note);
        }
        self
    }

    fn figures_text(&self) -> String {
        self.figures
            .iter()
            .map(|f| format!("{} {}", f.name, number(f.value, f.unit)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(crate) fn markdown(&self) -> String {
        let ratio = self
            .vs_ceiling
            .map_or_else(|| "—".to_owned(), |r| format!("{r:.2}"));
        let met = match self.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "—",
        };
        let figures = if self.note.is_empty() {
            self.figures_text()
        } else {
            format!("{} ({})", self.figures_text(), self.note)
        };
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            self.scenario,
            self.name,
            self.store,
            figures,
            ratio,
            self.target.unwrap_or("—"),
            met
        )
    }
}

fn number(value: f64, unit: &str) -> String {
    let digits = if value.abs() >= 100.0 || unit.is_empty() {
        0
    } else if value.abs() >= 10.0 {
        1
    } else {
        2
    };
    let space = if unit.is_empty() { "" } else { " " };
    format!("{value:.digits$}{space}{unit}")
}

pub(crate) const HEADER: &str = "| # | scenario | store | figures | × pgbench | target | met |\n\
                          |---|---|---|---|---|---|---|";

/// The whole run, as JSON and as a markdown table.
pub(crate) fn write(dir: &Path, rows: &[Row], machine: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::json!({ "machine": machine, "rows": rows });
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    let mut md = format!("{machine}\n\n{HEADER}\n");
    for row in rows {
        let _ = writeln!(md, "{}", row.markdown());
    }
    std::fs::write(dir.join("results.md"), md)?;
    Ok(())
}

/// The `p`th percentile of sorted samples.
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index]
}
