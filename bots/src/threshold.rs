//! Pass/fail thresholds on a report, as k6 has them: `rtt_ms.p99 < 150`,
//! `errors.rate < 0.001`, `time_to_match_ms.p99 < 2000`.
//!
//! An expression is `METRIC OP NUMBER`. `METRIC` is a path into the JSON report (a field, or
//! a field of a percentile block: `count`, `p50`, `p99`, `max`) or one of the derived metrics
//! `errors.count` and `errors.rate` (errors per ticket created). `OP` is one of `<`, `<=`,
//! `>`, `>=`, `==`.

use std::{fmt, str::FromStr};

use serde::Serialize;

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
}

impl Op {
    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Self::Lt => left < right,
            Self::Le => left <= right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            Self::Eq => left == right,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Eq => "==",
        }
    }
}

/// One threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The metric's path, e.g. `rtt_ms.p99`.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.value)
    }
}

/// An expression that is not a threshold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad threshold {expr:?}: {why} (expected e.g. `rtt_ms.p99 < 150`)")]
pub struct BadThreshold {
    /// What was given.
    pub expr: String,
    /// What is wrong.
    pub why: &'static str,
}

impl FromStr for Threshold {
    type Err = BadThreshold;

    fn from_str(expr: &str) -> Result<Self, Self::Err> {
        let bad = |why| BadThreshold {
            expr: expr.chars().take(200).collect(),
            why,
        };
        // Two-character operators first, so `<=` is not read as `<`.
        let (at, op, len) = ["<=", ">=", "==", "<", ">"]
            .iter()
            .find_map(|sym| expr.find(sym).map(|at| (at, *sym, sym.len())))
            .ok_or_else(|| bad("no comparison (<, <=, >, >=, ==)"))?;
        let op = match op {
            "<=" => Op::Le,
            ">=" => Op::Ge,
            "==" => Op::Eq,
            "<" => Op::Lt,
            _ => Op::Gt,
        };
        let metric = expr[..at].trim();
        if metric.is_empty()
            || !metric
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            return Err(bad("the metric must be a dotted name"));
        }
        let value: f64 = expr[at + len..]
            .trim()
            .parse()
            .map_err(|_| bad("the bound must be a number"))?;
        if !value.is_finite() {
            return Err(bad("the bound must be finite"));
        }
        Ok(Self {
            metric: metric.to_string(),
            op,
            value,
        })
    }
}

/// A threshold checked against a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The threshold, as written.
    pub threshold: String,
    /// The metric's value in the report; `None` if the report has no such metric.
    pub actual: Option<f64>,
    /// Whether it held (an unknown metric fails).
    pub passed: bool,
}

/// Checks each threshold against a report given as JSON (the shape `--report-json` writes).
pub fn check(thresholds: &[Threshold], report: &serde_json::Value) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let actual = metric(report, &t.metric);
            Verdict {
                threshold: t.to_string(),
                actual,
                passed: actual.is_some_and(|a| t.op.holds(a, t.value)),
            }
        })
        .collect()
}

/// A metric's value: a numeric leaf of the report, or a derived one.
fn metric(report: &serde_json::Value, path: &str) -> Option<f64> {
    let errors = || -> f64 {
        report["errors"]
            .as_object()
            // A fold from +0.0: an empty f64 sum is -0.0, which would print as "-0".
            .map_or(0.0, |m| {
                m.values()
                    .filter_map(|v| v.as_f64())
                    .fold(0.0, |a, v| a + v)
            })
    };
    match path {
        "errors.count" => return Some(errors()),
        "errors.rate" => {
            let attempts = report["tickets_created"].as_f64().unwrap_or(0.0).max(1.0);
            return Some(errors() / attempts);
        }
        _ => {}
    }
    path.split('.')
        .try_fold(report, |node, key| node.get(key))
        .and_then(|v| v.as_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse_and_bad_ones_say_why() {
        let t: Threshold = "rtt_ms.p99 < 150".parse().unwrap();
        assert_eq!(
            (t.metric.as_str(), t.op, t.value),
            ("rtt_ms.p99", Op::Lt, 150.0)
        );
        let t: Threshold = "errors.rate<=0.001".parse().unwrap();
        assert_eq!((t.op, t.value), (Op::Le, 0.001));
        assert_eq!("x >= 2".parse::<Threshold>().unwrap().op, Op::Ge);
        for bad in ["rtt_ms.p99", "< 3", "rtt ms < 3", "rtt < fast", "rtt < inf"] {
            assert!(bad.parse::<Threshold>().is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_pass_fail_and_unknown_metrics_fail() {
        let report = serde_json::json!({
            "rtt_ms": {"p99": 120.0},
            "tickets_created": 1000,
            "errors": {"connect": 1, "socket": 1},
            "disconnects_unexpected": 0,
        });
        let ts: Vec<Threshold> = [
            "rtt_ms.p99 < 150",
            "rtt_ms.p99 < 100",
            "errors.rate < 0.001",
            "errors.rate <= 0.002",
            "errors.count == 2",
            "disconnects_unexpected == 0",
            "nope.p99 < 1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let passed: Vec<bool> = check(&ts, &report).iter().map(|v| v.passed).collect();
        assert_eq!(passed, [true, false, false, true, true, true, false]);
        assert_eq!(check(&ts, &report)[6].actual, None);
    }
}
