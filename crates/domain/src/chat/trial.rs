//! The free trial: a user who never bought a package may make a few calls per period on the
//! trial's models (the original: 10 a day). Periods are fixed windows that start at
//! midnight China Standard Time (UTC+8, where the official account's users are) when the
//! period is a whole number of days, so "today's 10" means the user's today.

use crate::product::ModelType;
use chrono::{DateTime, Utc};

/// Where the windows start: midnight at UTC+8.
const WINDOW_OFFSET_MS: i64 = 8 * 3_600_000;

/// The trial's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trial {
    calls: u32,
    period_ms: i64,
    models: Vec<ModelType>,
}

/// The trial's settings are unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrialError {
    #[error("the trial's period is at least one hour")]
    Period,
    #[error("a trial with calls names at least one model")]
    NoModels,
}

impl Trial {
    /// `calls` per `period_hours` on `models`; `None` when `calls` is 0 (no trial).
    pub fn new(
        calls: u32,
        period_hours: u32,
        models: Vec<ModelType>,
    ) -> Result<Option<Self>, TrialError> {
        if calls == 0 {
            return Ok(None);
        }
        if period_hours == 0 {
            return Err(TrialError::Period);
        }
        if models.is_empty() {
            return Err(TrialError::NoModels);
        }
        Ok(Some(Self {
            calls,
            period_ms: i64::from(period_hours) * 3_600_000,
            models,
        }))
    }

    /// Calls per period.
    pub fn calls(&self) -> u32 {
        self.calls
    }

    /// The models the trial may use.
    pub fn models(&self) -> &[ModelType] {
        &self.models
    }

    /// Whether the trial may use `model`.
    pub fn covers(&self, model: &ModelType) -> bool {
        self.models.contains(model)
    }

    /// The start of the window `now` is in (milliseconds since the epoch): the key the
    /// trial's calls are counted under.
    pub fn window_of(&self, now: DateTime<Utc>) -> i64 {
        let shifted = now.timestamp_millis() + WINDOW_OFFSET_MS;
        shifted.div_euclid(self.period_ms) * self.period_ms - WINDOW_OFFSET_MS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn trial(hours: u32) -> Trial {
        Trial::new(10, hours, ModelType::parse_list("chatglm_turbo").unwrap())
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_day_starts_at_midnight_in_beijing() {
        let day = trial(24);
        // 2026-12-01 15:59:59 UTC is 23:59:59 in Beijing; a second later is the next day.
        let before = Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap();
        assert_eq!(day.window_of(after), after.timestamp_millis());
        assert_eq!(day.window_of(before), after.timestamp_millis() - 86_400_000);
        assert_eq!(
            day.window_of(after + chrono::Duration::hours(23)),
            day.window_of(after)
        );
        let hourly = trial(1);
        assert_ne!(hourly.window_of(before), hourly.window_of(after));
    }

    #[test]
    fn terms_are_checked() {
        let models = ModelType::parse_list("m").unwrap();
        assert_eq!(Trial::new(0, 24, models.clone()), Ok(None));
        assert_eq!(Trial::new(10, 0, models), Err(TrialError::Period));
        assert_eq!(Trial::new(10, 24, vec![]), Err(TrialError::NoModels));
        let t = trial(24);
        assert!(t.covers(&ModelType::parse("chatglm_turbo").unwrap()));
        assert!(!t.covers(&ModelType::parse("gpt-4").unwrap()));
        assert_eq!(t.calls(), 10);
    }
}
