//! Pure decisions of a sync: whether a resource is listed in full, and when an incremental
//! listing may stop early. Nothing here does I/O, so every rule is tested directly.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::archive::Outcome;

/// The listing mode of a resource in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every page, with no validators sent; deletions may be inferred.
    Full,
    /// Only what may have changed: early stops and conditional requests where the resource
    /// allows them.
    Incremental,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
        }
    }
}

/// The stored state of a resource, from `sync_state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceState {
    pub last_full_at: Option<String>,
    pub last_incremental_at: Option<String>,
    pub high_water: Option<String>,
    /// The resource's latest run did not succeed, so what it skipped may still be missing.
    pub last_failed: bool,
}

/// Chooses the mode of a resource. It is full when asked, when the resource was never listed in
/// full, or when its last full listing is older than `full_every`. It is also full after a run
/// that did not succeed, because an incremental run would not retry what that run missed (a
/// service detail, say).
pub fn choose_mode(state: Option<&ResourceState>, force_full: bool, full_every: Duration, now: DateTime<Utc>) -> Mode {
    if force_full || state.is_some_and(|state| state.last_failed) {
        return Mode::Full;
    }
    let Some(last_full) = state.and_then(|state| state.last_full_at.as_deref()) else {
        return Mode::Full;
    };
    let Ok(last_full) = DateTime::parse_from_rfc3339(last_full) else {
        return Mode::Full;
    };
    let age = now.signed_duration_since(last_full.with_timezone(&Utc));
    match age.to_std() {
        Ok(age) if age < full_every => Mode::Incremental,
        // A last full listing in the future means the clock moved back: list in full to be safe.
        _ => Mode::Full,
    }
}

/// Tells whether an activity-ordered listing can stop after a page: its oldest item is strictly
/// older than the high-water mark. Items equal to the mark are re-read, so a second item that
/// shares the mark's timestamp is not lost. A page missing the field never stops the listing.
pub fn older_than_mark(oldest_on_page: Option<&str>, high_water: &str) -> bool {
    oldest_on_page.is_some_and(|oldest| oldest < high_water)
}

/// The fields of one page item that the settled-tail rule reads.
#[derive(Debug, Clone)]
pub struct SettledItem<'a> {
    pub outcome: Outcome,
    pub status: Option<&'a str>,
    pub timestamp: Option<&'a str>,
}

/// Tells whether a newest-first listing can stop after a page. Every item must be archived
/// and unchanged, in a final status, and older than `horizon`. The horizon is the oldest archived
/// item whose status can still change, `None` when there is none. An empty page stops nothing.
pub fn settled_page(items: &[SettledItem<'_>], final_statuses: &[&str], horizon: Option<&str>) -> bool {
    !items.is_empty()
        && items.iter().all(|item| {
            item.outcome == Outcome::Unchanged
                && item.status.is_some_and(|status| final_statuses.contains(&status))
                && match (item.timestamp, horizon) {
                    (Some(timestamp), Some(horizon)) => timestamp < horizon,
                    (Some(_), None) => true,
                    (None, _) => false,
                }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn state(last_full: &str) -> ResourceState {
        ResourceState { last_full_at: Some(last_full.to_string()), ..ResourceState::default() }
    }

    #[test]
    fn mode_full_without_state() {
        assert_eq!(choose_mode(None, false, DAY, at("2026-12-01T00:00:00Z")), Mode::Full);
        assert_eq!(choose_mode(Some(&ResourceState::default()), false, DAY, at("2026-12-01T00:00:00Z")), Mode::Full);
    }

    #[test]
    fn mode_follows_full_every() {
        let last = state("2026-12-01T00:00:00Z");

        assert_eq!(choose_mode(Some(&last), false, DAY, at("2026-12-01T23:59:59Z")), Mode::Incremental);
        assert_eq!(choose_mode(Some(&last), false, DAY, at("2026-12-02T00:00:00Z")), Mode::Full);
        assert_eq!(choose_mode(Some(&last), true, DAY, at("2026-12-01T00:00:01Z")), Mode::Full);
    }

    #[test]
    fn mode_full_after_failed_run() {
        let mut last = state("2026-12-01T00:00:00Z");
        last.last_failed = true;

        assert_eq!(choose_mode(Some(&last), false, DAY, at("2026-12-01T01:00:00Z")), Mode::Full);
    }

    #[test]
    fn mode_full_when_clock_moved_back() {
        let last = state("2026-12-05T00:00:00Z");

        assert_eq!(choose_mode(Some(&last), false, DAY, at("2026-12-01T00:00:00Z")), Mode::Full);
    }

    #[test]
    fn mark_overlap_rereads_equal_timestamps() {
        let mark = "2026-04-19T08:00:00Z";

        assert!(!older_than_mark(Some("2026-04-19T08:00:00Z"), mark));
        assert!(!older_than_mark(Some("2026-04-19T09:00:00Z"), mark));
        assert!(older_than_mark(Some("2026-04-19T07:59:59Z"), mark));
        assert!(!older_than_mark(None, mark));
    }

    fn item(outcome: Outcome, status: &'static str, timestamp: &'static str) -> SettledItem<'static> {
        SettledItem { outcome, status: Some(status), timestamp: Some(timestamp) }
    }

    #[test]
    fn settled_page_rules() {
        let finals = ["paid", "void"];
        let horizon = Some("2026-03-01T00:00:00Z");
        let settled = item(Outcome::Unchanged, "paid", "2026-02-01T00:00:00Z");

        assert!(settled_page(std::slice::from_ref(&settled), &finals, horizon));
        assert!(settled_page(std::slice::from_ref(&settled), &finals, None));
        assert!(!settled_page(&[], &finals, horizon));
        assert!(!settled_page(
            &[settled.clone(), item(Outcome::Updated, "paid", "2026-02-01T00:00:00Z")],
            &finals,
            horizon
        ));
        assert!(!settled_page(&[item(Outcome::Unchanged, "open", "2026-02-01T00:00:00Z")], &finals, horizon));
        assert!(!settled_page(&[item(Outcome::Unchanged, "paid", "2026-03-01T00:00:00Z")], &finals, horizon));
        assert!(!settled_page(&[item(Outcome::Inserted, "paid", "2026-02-01T00:00:00Z")], &finals, horizon));
    }
}
