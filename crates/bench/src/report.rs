//! The results table: one row per figure, each with its same-run baseline and ratio.

use std::fmt::Write as _;

/// Whether a row meets its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Target met.
    Met,
    /// Target missed.
    Missed,
    /// No target for this figure (context only).
    Info,
}

/// One figure.
#[derive(Debug, Clone)]
pub struct Row {
    /// Benchmark number and name, e.g. `1 notify`.
    pub bench: String,
    /// What was measured.
    pub what: String,
    /// Our figure.
    pub ours: String,
    /// The same-run baseline, and what it is.
    pub baseline: String,
    /// ours / baseline, when meaningful.
    pub ratio: Option<f64>,
    /// The target, if any.
    pub target: String,
    /// Met or not.
    pub verdict: Verdict,
}

impl Row {
    /// A row without a target.
    pub fn info(bench: &str, what: impl Into<String>, ours: impl Into<String>) -> Self {
        Self {
            bench: bench.to_owned(),
            what: what.into(),
            ours: ours.into(),
            baseline: String::new(),
            ratio: None,
            target: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// Sets the baseline and the ratio.
    pub fn vs(mut self, baseline: impl Into<String>, ratio: f64) -> Self {
        self.baseline = baseline.into();
        self.ratio = Some(ratio);
        self
    }

    /// Sets a target and whether it is met.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = target.into();
        self.verdict = if met { Verdict::Met } else { Verdict::Missed };
        self
    }
}

/// Everything one run found.
#[derive(Debug, Default)]
pub struct Report {
    /// The figures, in order.
    pub rows: Vec<Row>,
    /// Free-text notes (why a target was missed, profiles, caveats).
    pub notes: Vec<String>,
}

impl Report {
    /// Adds rows and prints them as they come, so a long run shows progress.
    pub fn add(&mut self, rows: Vec<Row>) {
        for row in rows {
            println!(
                "  {:<10} {:<58} {:>16}  base {:>16}  ratio {:>6}  {}",
                row.bench,
                row.what,
                row.ours,
                row.baseline,
                row.ratio.map(|r| format!("{r:.2}")).unwrap_or_default(),
                verdict_text(row.verdict)
            );
            self.rows.push(row);
        }
    }

    /// Adds a note.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        println!("  note: {text}");
        self.notes.push(text);
    }

    /// The Markdown table.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| # | measurement | ours | baseline (same run) | ratio | target | met |\n|---|---|---:|---:|---:|---|---|\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                r.bench,
                r.what,
                r.ours,
                r.baseline,
                r.ratio.map(|x| format!("{x:.2}")).unwrap_or_default(),
                r.target,
                verdict_text(r.verdict)
            );
        }
        out
    }
}

fn verdict_text(v: Verdict) -> &'static str {
    match v {
        Verdict::Met => "yes",
        Verdict::Missed => "**NO**",
        Verdict::Info => "",
    }
}
