//! `avpctl validate`: everything that can be said about a project without
//! running it — syntax, schema, strict typing, links, and what Amazon
//! Verified Permissions would refuse.

mod identity;
mod preflight;

use cedar_policy::{Policy, PolicyId, PolicySet, ValidationMode, ValidationResult, Validator};
use rayon::prelude::*;

use crate::diagnostic::{Counts, Diagnostic, Severity, variant_code};
use crate::project::{Loaded, Project};

pub use preflight::preflight;

/// What `validate` found, ready for any report format.
#[derive(Debug)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    /// Plain remarks about the run (e.g. that there is no schema).
    pub notes: Vec<String>,
    pub stats: Stats,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub files: usize,
    pub policies: usize,
    pub templates: usize,
    pub links: usize,
}

impl Report {
    pub fn counts(&self) -> Counts {
        Counts::of(&self.diagnostics)
    }
}

/// Validates a loaded project: the loading diagnostics, then Cedar's strict
/// validation and the AVP pre-flight over what loaded.
pub fn validate(loaded: &Loaded) -> Report {
    let project = &loaded.project;
    let mut diagnostics = loaded.diagnostics.clone();
    let mut notes = Vec::new();
    if project.schema().is_some() {
        diagnostics.extend(strict_validation(project));
    } else if project.config.schema_path(&project.root).is_none() {
        notes.push(
            "no schema (schema.cedarschema or schema.cedarschema.json): policies were parsed, not type-checked"
                .to_string(),
        );
    }
    diagnostics.extend(preflight(project));
    diagnostics.extend(identity::check_project(project));
    diagnostics.sort_by_key(Diagnostic::sort_key);
    let stats = Stats {
        files: project.policy_files.len(),
        policies: project.evaluated_ids().count() - project.links.len(),
        templates: project.templates().count(),
        links: project.links.len(),
    };
    Report {
        diagnostics,
        notes,
        stats,
    }
}

/// Cedar's validator in strict mode, each finding placed in its file.
pub fn strict_validation(project: &Project) -> Vec<Diagnostic> {
    let Some(schema) = project.schema() else {
        return Vec::new();
    };
    let validator = Validator::new(schema.clone());
    // Each policy is type-checked on its own, so the set can be split and
    // the parts validated on separate cores.
    let results: Vec<ValidationResult> = split_for_cores(&project.policy_set)
        .par_iter()
        .map(|part| validator.validate(part, ValidationMode::Strict))
        .collect();
    let mut found = Vec::new();
    for result in &results {
        found.extend(result.validation_errors().map(|e| {
            locate(project, e, e.policy_id(), Severity::Error).with_code(variant_code("cedar", e))
        }));
    }
    for result in &results {
        found.extend(result.validation_warnings().map(|w| {
            link_slot_type(project, w).unwrap_or_else(|| {
                locate(project, w, w.policy_id(), Severity::Warning)
                    .with_code(variant_code("cedar", w))
            })
        }));
    }
    found
}

/// Cedar warns that a policy can never apply when no action of its scope
/// takes its principal and resource types. For a link (whose template is
/// fine on its own) that means a slot holds an entity of the wrong type: an
/// error, not a warning, since the link can never grant anything.
fn link_slot_type(
    project: &Project,
    warning: &cedar_policy::ValidationWarning,
) -> Option<Diagnostic> {
    if !matches!(
        warning,
        cedar_policy::ValidationWarning::InvalidActionApplication(_)
    ) {
        return None;
    }
    let id = warning.policy_id().to_string();
    let link = project.link(&id)?;
    let slots: Vec<String> = [("principal", &link.principal), ("resource", &link.resource)]
        .into_iter()
        .filter_map(|(slot, uid)| {
            uid.as_ref()
                .map(|uid| format!("?{slot} = {uid} (type {})", uid.type_name()))
        })
        .collect();
    let diagnostic =
        locate(project, warning, warning.policy_id(), Severity::Error).with_code("link-slot-type");
    Some(Diagnostic {
        message: format!(
            "link `{id}` can never apply: no action of template `{}` takes {}",
            link.template,
            slots.join(" and ")
        ),
        help: Some("link an entity of a type the template's actions apply to (see `appliesTo` in the schema)".into()),
        ..diagnostic
    })
}

/// Below this many policies splitting costs more than it saves.
const SPLIT_THRESHOLD: usize = 256;

/// The static policies spread over one part per core; templates and links
/// stay together in the first part.
fn split_for_cores(set: &PolicySet) -> Vec<PolicySet> {
    let cores = rayon::current_num_threads().max(1);
    let statics: Vec<&Policy> = set.policies().filter(|p| p.is_static()).collect();
    if cores == 1 || statics.len() < SPLIT_THRESHOLD {
        return vec![set.clone()];
    }
    let mut parts: Vec<PolicySet> = (0..cores).map(|_| PolicySet::new()).collect();
    for template in set.templates() {
        let _ = parts[0].add_template(template.clone());
    }
    for link in set.policies().filter(|p| !p.is_static()) {
        if let Some(template) = link.template_id() {
            let _ = parts[0].link(
                template.clone(),
                link.id().clone(),
                link.template_links().unwrap_or_default(),
            );
        }
    }
    let chunk = statics.len().div_ceil(cores);
    for (i, policy) in statics.into_iter().enumerate() {
        let _ = parts[i / chunk].add(policy.clone());
    }
    parts
}

/// Places a validator finding: in the policy's file, or for a link, at the
/// link in `links.yaml` with the template's span as a related place.
fn locate(
    project: &Project,
    finding: &dyn miette::Diagnostic,
    policy_id: &PolicyId,
    severity: Severity,
) -> Diagnostic {
    let id = policy_id.to_string();
    if let Some(entry) = project.policy(&id) {
        return Diagnostic::from_miette(finding, severity, &entry.file, Some(entry.span.clone()))
            .for_policy(id);
    }
    if let Some(link) = project.link(&id) {
        let mut diagnostic = Diagnostic::new(
            severity,
            code_of(finding),
            format!("link `{id}`: {finding}"),
        )
        .at(link.location.clone())
        .for_policy(&id);
        diagnostic.help = finding.help().map(|h| h.to_string());
        if let Some(template) = project.policy(&link.template) {
            diagnostic = diagnostic.with_related(Diagnostic::from_miette(
                finding,
                severity,
                &template.file,
                Some(template.span.clone()),
            ));
        }
        return diagnostic;
    }
    Diagnostic::new(severity, code_of(finding), format!("{id}: {finding}")).for_policy(id)
}

fn code_of(finding: &dyn miette::Diagnostic) -> String {
    finding
        .code()
        .map_or_else(|| "cedar".to_string(), |c| c.to_string())
}

/// `validate --prove`: the per-policy proofs as warnings at each policy.
pub fn proven(project: &Project) -> Result<Vec<Diagnostic>, crate::error::Error> {
    use crate::prove::{PolicyFindingKind, ProveError};
    let schema = project
        .schema()
        .ok_or_else(|| crate::error::Error::Usage(ProveError::NoSchema.to_string()))?;
    let findings = crate::prove::prove_policies(
        &project.policy_set,
        schema,
        crate::prove::Options::default(),
    )
    .map_err(|err| match err {
        ProveError::NoSolver | ProveError::NoSchema => crate::error::Error::Usage(err.to_string()),
        other => crate::error::Error::Store(other.to_string()),
    })?;
    Ok(findings
        .into_iter()
        .map(|finding| {
            let (code, message, help) = match finding.kind {
                PolicyFindingKind::MayError => (
                    "prove-may-error",
                    format!("`{}` can raise an evaluation error ({})", finding.policy, finding.env),
                    "guard the failing access or arithmetic (`has`, bounds), or the policy will silently not apply to such requests",
                ),
                PolicyFindingKind::NeverApplies => (
                    "prove-never-applies",
                    format!("`{}` applies to no request the schema allows (checked in {})", finding.policy, finding.env),
                    "its conditions contradict each other or the schema; fix or delete it",
                ),
                PolicyFindingKind::ConditionsAlwaysHold => (
                    "prove-conditions-always-hold",
                    format!("the conditions of `{}` hold for every request in {}", finding.policy, finding.env),
                    "the when/unless clauses change nothing there; check that they say what was meant",
                ),
            };
            let mut diagnostic = Diagnostic::warning(code, match &finding.witness {
                Some(witness) => format!("{message}: for example {witness}"),
                None => message,
            })
            .with_help(help)
            .for_policy(&finding.policy);
            if let Some(location) = project.locate(&finding.policy) {
                diagnostic = diagnostic.at(crate::project::first_line(&location));
            }
            diagnostic
        })
        .collect())
}
