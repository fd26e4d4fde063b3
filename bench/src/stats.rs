//! Median [min–max] summaries and paired ratios.
//!
//! Identical runs on the 2-vCPU VM vary 2–3×, so absolute medians are reported for context
//! only; implementations are compared by per-repetition ratios of runs that ran back to back.

use serde::Serialize;

/// Median, minimum and maximum of `n` values.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for an empty input. The median of an even count is the mean of the middle two
    /// (as Python's `statistics.median`, which `summarize.py` uses).
    pub fn of(values: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// "median [min–max]" with [`fmt_num`] precision; just the value for a single one.
    pub fn display(&self) -> String {
        if self.n == 1 {
            return fmt_num(self.median);
        }
        format!(
            "{} [{}–{}]",
            fmt_num(self.median),
            fmt_num(self.min),
            fmt_num(self.max)
        )
    }
}

/// Per-repetition ratios `a[i] / b[i]` for the repetitions where both runs succeeded with a
/// finite value (and `b[i]` is not 0), so the pair count is the count of usable pairs.
pub fn paired_ratios(a: &[Option<f64>], b: &[Option<f64>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter_map(|(x, y)| match (x, y) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() && *y != 0.0 => Some(x / y),
            _ => None,
        })
        .collect()
}

/// Three significant-ish digits, the precision `summarize.py` prints.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a < 10.0 {
        format!("{v:.3}")
    } else if a < 100.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_and_empty() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("non-empty");
        assert_eq!((s.n, s.median, s.min, s.max), (3, 2.0, 1.0, 3.0));
        let s = Summary::of(&[4.0, 1.0, 2.0, 3.0]).expect("non-empty");
        assert_eq!(s.median, 2.5);
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn display_range_or_single_value() {
        let s = Summary::of(&[1.0, 12.345, 150.0]).expect("non-empty");
        assert_eq!(s.display(), "12.35 [1.000–150.0]");
        assert_eq!(Summary::of(&[0.5]).expect("non-empty").display(), "0.500");
    }

    #[test]
    fn ratios_skip_failed_repetitions() {
        let r = paired_ratios(&[Some(2.0), None, Some(3.0)], &[Some(1.0), Some(1.0), None]);
        assert_eq!(r, vec![2.0]);
        let r = paired_ratios(
            &[Some(f64::NAN), Some(1.0), Some(6.0)],
            &[Some(1.0), Some(0.0), Some(3.0)],
        );
        assert_eq!(r, vec![2.0]);
    }
}
