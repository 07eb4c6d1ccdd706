//! What a test run found, as data: the report modules render it.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use cedar_policy::Decision;

use super::coverage::Coverage;
use super::suite::Check;
use crate::diagnostic::Diagnostic;
use crate::source::SourceFile;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
        }
    }
}

/// An evaluation error raised by one policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub policy: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// Index into [`RunReport::suites`].
    pub suite: usize,
    pub check: Arc<Check>,
    pub status: Status,
    /// `None` when the request could not be evaluated at all.
    pub decision: Option<Decision>,
    /// Determining policies, sorted.
    pub reasons: Vec<String>,
    /// Policies that raised an evaluation error, sorted by policy.
    pub errors: Vec<PolicyError>,
    /// Why the case failed, one sentence each.
    pub failures: Vec<String>,
    /// For a failed case: the principal and resource as the entity data
    /// has them (Cedar JSON), or `None` when the data does not hold them.
    pub involved: Vec<(String, Option<serde_json::Value>)>,
    /// Why AVP refuses the case's token (no decision then).
    pub refusal: Option<crate::identity::Refusal>,
    /// The deployed store's answer (`test --store`).
    pub store: Option<StoreOutcome>,
    pub duration: Duration,
}

impl CaseOutcome {
    pub fn passed(&self) -> bool {
        self.status == Status::Pass
    }

    pub fn error_ids(&self) -> BTreeSet<String> {
        self.errors.iter().map(|e| e.policy.clone()).collect()
    }
}

#[derive(Debug, Clone)]
pub struct StoreOutcome {
    pub decision: Decision,
    /// Determining policies by project id (store ids when unmanaged).
    pub reasons: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct SuiteInfo {
    pub file: SourceFile,
}

#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub suites: Vec<SuiteInfo>,
    pub outcomes: Vec<CaseOutcome>,
    /// Problems that kept suites or entity data from loading.
    pub diagnostics: Vec<Diagnostic>,
    /// Remarks that do not fail the run (e.g. policies that do not validate).
    pub warnings: Vec<Diagnostic>,
    /// Cases not run because `--fail-fast` stopped the run.
    pub skipped: usize,
    pub elapsed: Duration,
    pub coverage: Option<Coverage>,
    /// The store the cases were replayed against (`test --store`).
    pub store: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
}

impl RunReport {
    pub fn summary(&self) -> Summary {
        let passed = self.outcomes.iter().filter(|o| o.passed()).count();
        Summary {
            total: self.outcomes.len(),
            passed,
            failed: self.outcomes.len() - passed,
        }
    }

    pub fn suite_file(&self, outcome: &CaseOutcome) -> &SourceFile {
        &self.suites[outcome.suite].file
    }
}
