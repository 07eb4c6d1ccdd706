//! What a test run says while it works, as data: a reporter (an indicatif
//! bar on a terminal, nothing in CI) consumes these; the runner never
//! prints.

use super::outcome::CaseOutcome;

/// One moment of a run.
#[derive(Debug)]
pub enum Event<'a> {
    /// `total` cases are about to be evaluated.
    Started { total: usize },
    /// One case is done (cases finish in any order across threads).
    CaseFinished { outcome: &'a CaseOutcome },
    /// Every case is done.
    Finished,
}

/// Receives a run's events, from any of the runner's threads.
pub trait Events: Sync {
    fn event(&self, event: Event<'_>);
}

/// Listens to nothing: runs inside `deploy` and `diff`.
pub struct Quiet;

impl Events for Quiet {
    fn event(&self, _: Event<'_>) {}
}
