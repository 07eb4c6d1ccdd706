//! `avpctl test`: YAML test suites evaluated with Cedar's authorizer.
//!
//! Data flows one way: [`suite`] reads the YAML into checks, [`entities`]
//! builds each distinct entity set once, [`runner`] evaluates (through the
//! [`slicer`], which hands Cedar only the policies that can apply), and the
//! report modules render the [`outcome`].

pub mod coverage;
pub mod entities;
pub mod events;
pub mod memo;
pub mod outcome;
pub mod reads;
pub mod remote;
pub mod runner;
pub mod slicer;
pub mod suite;

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::project::{Loaded, Project};
use outcome::{RunReport, SuiteInfo};
use runner::{Prepared, Runner};
use suite::{CheckEntities, Suite};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Substrings; a check runs when its suite file or case name contains any.
    pub filters: Vec<String>,
    pub fail_fast: bool,
    pub coverage: bool,
    /// The caller has validated the policies already (deploy).
    pub skip_validation_warning: bool,
}

/// Loads the project at `dir` and runs its suites.
pub fn run_project(dir: &Path, options: &Options) -> Result<(Project, RunReport), Error> {
    let loaded = crate::project::load(dir)?;
    let project = usable(loaded)?;
    let report = run_suites(&project, options);
    Ok((project, report))
}

/// A project whose policies failed to load cannot be tested: its load
/// problems become the error.
pub fn usable(loaded: Loaded) -> Result<Project, Error> {
    let errors: Vec<Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .cloned()
        .collect();
    if errors.is_empty() {
        return Ok(loaded.project);
    }
    Err(Error::Diagnosed {
        context: "the project does not load; run `avpctl validate` for details".into(),
        diagnostics: errors,
    })
}

/// The project's suites, read and ready to evaluate: every check with its
/// entities, plus what could not be loaded.
pub struct Collected {
    pub suites: Vec<SuiteInfo>,
    pub prepared: Vec<Prepared>,
    pub diagnostics: Vec<Diagnostic>,
    /// Findings that did not stop any case (an undeclared parent).
    pub warnings: Vec<Diagnostic>,
}

/// Reads every suite under the tests directory and builds each distinct
/// entity set once.
pub fn collect(project: &Project, filters: &[String]) -> Collected {
    let mut collected = Collected {
        suites: Vec::new(),
        prepared: Vec::new(),
        diagnostics: Vec::new(),
        warnings: Vec::new(),
    };
    let (files, walk_problems) = suite::suite_files(&project.root, &project.config.tests);
    collected.diagnostics.extend(walk_problems);
    let identity = project.identity.as_ref().map(|identity| suite::Identity {
        source: &identity.source,
        types: project.schema.as_ref().and_then(|schema| {
            crate::identity::schema_types::SchemaTypes::of(
                schema.file.text(),
                schema.format == crate::project::SchemaFormat::Json,
            )
        }),
    });
    // Reading YAML is a fifth of a large run: the files are read on all
    // cores, and taken in their sorted order.
    let loaded: Vec<_> = {
        use rayon::prelude::*;
        files
            .par_iter()
            .map(|relative| suite::load_suite(&project.root, relative, identity.as_ref()))
            .collect()
    };
    let mut suites: Vec<Suite> = Vec::new();
    for result in loaded {
        match result {
            Ok(suite) => suites.push(suite),
            Err(problems) => collected.diagnostics.extend(problems),
        }
    }
    let mut loader = entities::EntityLoader::new(&project.root, project.schema());
    // Entity sets of tokens several cases give, by (suite data, token).
    let mut shared_tokens: std::collections::HashMap<
        (*const cedar_policy::Entities, *const serde_json::Value),
        Arc<cedar_policy::Entities>,
    > = std::collections::HashMap::new();
    let mut identity_checked: std::collections::HashMap<
        Vec<suite::ResolvedSource>,
        Option<crate::identity::Refusal>,
    > = std::collections::HashMap::new();
    for (index, suite) in suites.iter().enumerate() {
        collected.suites.push(SuiteInfo {
            file: suite.file.clone(),
        });
        let file_name = suite.file.display();
        for check in &suite.checks {
            if !selected(filters, &file_name, &check.name) {
                continue;
            }
            let sources = match &check.entities {
                CheckEntities::Suite => suite.entities.clone(),
                CheckEntities::SuitePlus(extra) => {
                    suite.entities.iter().chain(extra).cloned().collect()
                }
                CheckEntities::Own(own) => own.clone(),
            };
            let mut refusal = None;
            if let (Some(token), Some(identity)) = (&check.token, &project.identity) {
                // Judged once per distinct entity data, not once per case.
                refusal = match identity_checked.get(&sources) {
                    Some(known) => known.clone(),
                    None => {
                        let found =
                            identity_entities(&mut loader, &sources, &suite.file, &identity.source);
                        identity_checked.insert(sources.clone(), found.clone());
                        found
                    }
                };
                if let Err(refused) = &token.derived {
                    refusal = Some(refused.clone());
                }
            }
            let entities = loader.entities(&sources, &suite.file).map_err(|problem| {
                let message = problem.message.clone();
                if !collected
                    .diagnostics
                    .iter()
                    .any(|d| d.message == problem.message)
                {
                    collected.diagnostics.push(problem);
                }
                message
            });
            let mut prepared = Prepared {
                suite: index,
                check: Arc::clone(check),
                entities,
                refusal,
                with_token: None,
            };
            if let Some(Ok(derived)) = check.token.as_ref().map(|t| &t.derived)
                && Arc::strong_count(derived) > 1
                && let Ok(base) = &prepared.entities
            {
                let key = (Arc::as_ptr(base), Arc::as_ptr(derived));
                prepared.with_token = match shared_tokens.get(&key) {
                    Some(ready) => Some(Arc::clone(ready)),
                    None => prepared
                        .case_entities(project.schema())
                        .ok()
                        .inspect(|ready| {
                            shared_tokens.insert(key, Arc::clone(ready));
                        }),
                };
            }
            collected.prepared.push(prepared);
        }
    }
    collected.warnings = loader.take_warnings();
    collected
}

/// AVP refuses a with-token request whose entities hold the identity
/// source's principal or group types (API reference
/// `API_IsAuthorizedWithToken.html`, `entities`): the token is the only
/// source of principal data.
fn identity_entities(
    loader: &mut entities::EntityLoader<'_>,
    sources: &[suite::ResolvedSource],
    suite_file: &crate::source::SourceFile,
    source: &crate::identity::IdentitySource,
) -> Option<crate::identity::Refusal> {
    let given = loader.entities(sources, suite_file).ok()?;
    let forbidden = [
        ("PrincipalEntityType", Some(source.principal_type())),
        ("GroupEntityType", source.group_type()),
    ];
    forbidden.into_iter().find_map(|(what, type_name)| {
        let type_name = type_name?;
        given
            .iter()
            .find(|e| e.uid().type_name().to_string() == type_name)
            .map(|entity| crate::identity::Refusal {
                code: "token-identity-entities",
                message: format!(
                    "{what} {type_name} cannot be defined in Entities: the case's entity data holds {}",
                    entity.uid()
                ),
            })
    })
}

pub fn run_suites(project: &Project, options: &Options) -> RunReport {
    run_suites_keeping_checks(project, options, &events::Quiet).0
}

/// [`run_suites`], telling `events` as it goes, and also returning the
/// prepared checks (index-aligned with the outcomes) for a replay against a
/// store.
pub fn run_suites_keeping_checks(
    project: &Project,
    options: &Options,
    events: &dyn events::Events,
) -> (RunReport, Vec<Prepared>) {
    let started = Instant::now();
    let mut report = RunReport::default();
    if !options.skip_validation_warning {
        report.warnings.extend(validation_warning(project));
    }
    let collected = collect(project, &options.filters);
    report.suites = collected.suites;
    report.diagnostics.extend(collected.diagnostics);
    report.warnings.extend(collected.warnings);
    let runner = Runner::new(project);
    events.event(events::Event::Started {
        total: collected.prepared.len(),
    });
    report.outcomes = runner.run(&collected.prepared, options.fail_fast, events);
    events.event(events::Event::Finished);
    report.skipped = collected.prepared.len() - report.outcomes.len();
    if options.coverage {
        report.coverage = Some(coverage::measure(project, &report.outcomes));
    }
    report.elapsed = started.elapsed();
    (report, collected.prepared)
}

fn selected(filters: &[String], file: &str, name: &str) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| file.contains(f.as_str()) || name.contains(f.as_str()))
}

/// Cedar evaluates policies that do not validate; so does `test`, with a
/// warning that points to `validate`.
fn validation_warning(project: &Project) -> Option<Diagnostic> {
    project.schema()?;
    let errors = crate::validate::strict_validation(project)
        .into_iter()
        .filter(Diagnostic::is_error)
        .count();
    (errors > 0).then(|| {
        Diagnostic::warning(
            "not-validated",
            format!(
                "{errors} strict-validation error{} in the policies; they are evaluated anyway",
                crate::text::plural(errors)
            ),
        )
        .with_help("run `avpctl validate` to see them")
    })
}

/// Asks one store the cases' requests and records its answers beside the
/// local ones.
pub fn replay_on(
    project: &Project,
    prepared: &[Prepared],
    report: &mut RunReport,
    name: Option<&str>,
    address: &crate::store::StoreAddress,
    aws: &crate::cli::AwsArgs,
) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut store = crate::store::open(address, aws)?;
    remote::replay(project, prepared, &mut report.outcomes, store.as_mut())?;
    report.store = Some(crate::store::label(name, store.describe()));
    // The summary's time covers the store's answers too.
    report.elapsed += started.elapsed();
    Ok(())
}

/// A test case whose decision differs between two policy sets.
#[derive(Debug, Clone)]
pub struct Flip {
    pub file: String,
    pub check: Arc<suite::Check>,
    pub old: Option<cedar_policy::Decision>,
    pub new: Option<cedar_policy::Decision>,
}

/// Runs the project's cases against `old` and against the project's own
/// policies and lists the cases whose decision differs: the concrete
/// evidence of what a change does.
pub fn decision_flips(
    project: &Project,
    old: &cedar_policy::PolicySet,
) -> (Vec<Flip>, Vec<Diagnostic>) {
    let collected = collect(project, &[]);
    let before =
        Runner::with_policies(project, old).run(&collected.prepared, false, &events::Quiet);
    let after = Runner::new(project).run(&collected.prepared, false, &events::Quiet);
    let flips = before
        .into_iter()
        .zip(after)
        .filter(|(b, a)| b.decision != a.decision)
        .map(|(b, a)| Flip {
            file: collected.suites[a.suite].file.display(),
            check: Arc::clone(&a.check),
            old: b.decision,
            new: a.decision,
        })
        .collect();
    (flips, collected.diagnostics)
}
