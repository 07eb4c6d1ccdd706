//! Ordering a deploy so that no state along the way allows a request that
//! neither the old nor the new policies allow (docs/deploy-order.md has the
//! argument). Steps are grouped in waves; steps of one wave may run in any
//! order, or at once.

use std::collections::BTreeMap;

use cedar_policy::{Effect, PolicySet, Schema, ValidationMode as CedarMode, Validator};
use serde_json::Value;

use super::changes::normalize;
use super::side::{Body, Side, SidePolicy, temporary_name};
use crate::store::{NewDefinition, Operation, TemplateRef, ValidationMode, managed_name};

/// The waves, in order. The names say what happens in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Wave {
    SchemaFirst,
    /// A source of the other kind goes before its replacement is made:
    /// between the two, tokens are refused (access only narrows).
    DeleteIdentitySource,
    /// After the schema, which declares the types it fills in.
    IdentitySource,
    CreateTemplates,
    CreateForbids,
    DeletePermits,
    CreateForbidsInFreedNames,
    DeletePermitTemplates,
    CreatePermitTemplates,
    Permits,
    DeleteForbids,
    UpdateForbids,
    CreateInFreedNames,
    Rename,
    DeleteTemplates,
    CreateForbidTemplates,
    CreateForbidLinks,
    DeleteStandIns,
    SchemaLast,
}

/// One store call and why it is made.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub operation: Operation,
    /// "create forbid `x`", as the plan shows it.
    pub label: String,
    /// For a rename of a policy created earlier in the same deploy: its
    /// (temporary) name, resolved to the store id when the step runs.
    pub created_target: Option<String>,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Steps {
    pub waves: Vec<(Wave, Vec<Step>)>,
    /// Things the order cannot make perfectly safe, said in the plan.
    pub warnings: Vec<String>,
}

impl Steps {
    pub fn count(&self) -> usize {
        self.waves.iter().map(|(_, steps)| steps.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

#[derive(Debug, Clone, Copy)]
pub struct StepOptions {
    pub prune: bool,
    pub validation_mode: ValidationMode,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

struct Builder {
    waves: BTreeMap<Wave, Vec<Step>>,
    warnings: Vec<String>,
    /// Stand-ins an interrupted deploy left that this plan uses again.
    reused_stand_ins: Vec<String>,
    /// Names of the stand-ins this plan has, so each is made once.
    stand_ins: std::collections::BTreeSet<String>,
}

impl Builder {
    fn push(&mut self, wave: Wave, operation: Operation, label: String) {
        self.waves.entry(wave).or_default().push(Step {
            operation,
            label,
            created_target: None,
        });
    }
}

fn effect_word(effect: Option<Effect>) -> &'static str {
    match effect {
        Some(Effect::Permit) => "permit",
        Some(Effect::Forbid) => "forbid",
        None => "policy",
    }
}

pub fn plan_steps(old: &Side, new: &Side, options: StepOptions) -> Result<Steps, PlanError> {
    let mut b = Builder {
        waves: BTreeMap::new(),
        warnings: Vec::new(),
        reused_stand_ins: Vec::new(),
        stand_ins: std::collections::BTreeSet::new(),
    };
    let replaced_templates = templates(old, new, &mut b);
    policies(old, new, &replaced_templates, &mut b);
    unmanaged(old, options, &mut b);
    schema(old, new, options, &mut b)?;
    identity(old, new, &mut b);
    adoptions(old, new, &mut b);
    settings(old, new, &mut b);
    Ok(Steps {
        waves: b.waves.into_iter().filter(|(_, s)| !s.is_empty()).collect(),
        warnings: b.warnings,
    })
}

/// `[store]`: one UpdatePolicyStore with every setting as it should end up.
/// Turning validation off goes first, so that nothing after it is refused;
/// turning it on goes last, once the policies and the schema it will check
/// them against are in place.
fn settings(old: &Side, new: &Side, b: &mut Builder) {
    let (Some(wanted), Some(current)) = (&new.settings, &old.settings) else {
        return;
    };
    let target = wanted.over(current);
    if &target == current {
        return;
    }
    let mode = target.validation_mode.unwrap_or(ValidationMode::Strict);
    let wave =
        if mode == ValidationMode::Off && current.validation_mode != Some(ValidationMode::Off) {
            Wave::SchemaFirst
        } else {
            Wave::SchemaLast
        };
    let protection = match target.deletion_protection {
        Some(true) => ", deletion protection on",
        Some(false) => ", deletion protection off",
        None => "",
    };
    b.push(
        wave,
        Operation::UpdateStoreSettings {
            validation_mode: mode,
            deletion_protection: target.deletion_protection,
            description: target.description.clone(),
        },
        format!(
            "update the store settings (validation mode {}{protection})",
            mode.as_str()
        ),
    );
}

/// Each adoption is one update that names the store item and gives it the
/// project's text and description (the same rule: no access changes).
fn adoptions(old: &Side, new: &Side, b: &mut Builder) {
    use super::adopt::AdoptedKind;
    for adoption in &old.adopted {
        let name = Some(managed_name(&adoption.id));
        let operation = match adoption.kind {
            AdoptedKind::Policy => {
                let Some(policy) = new.policies.get(&adoption.id) else {
                    continue;
                };
                let Body::Static { statement } = &policy.body else {
                    continue;
                };
                Operation::UpdatePolicy {
                    id: adoption.store_id.clone(),
                    name,
                    description: policy.description.clone(),
                    statement: statement.clone(),
                }
            }
            AdoptedKind::Template => {
                let Some(template) = new.templates.get(&adoption.id) else {
                    continue;
                };
                Operation::UpdateTemplate {
                    id: adoption.store_id.clone(),
                    name,
                    description: template.description.clone(),
                    statement: template.statement.clone(),
                }
            }
        };
        b.push(
            Wave::Permits,
            operation,
            format!(
                "adopt {} {} as `{}`",
                adoption.kind.as_str(),
                adoption.store_id,
                adoption.id
            ),
        );
    }
}

fn template_shape_changed(old: &str, new: &str) -> bool {
    !crate::statement::same_shape(old, new, true)
}

/// Templates created, updated and deleted; returns the ids of templates
/// that must be replaced (their links are recreated with them).
fn templates(old: &Side, new: &Side, b: &mut Builder) -> Vec<String> {
    let mut replaced = Vec::new();
    for (id, template) in &new.templates {
        let name = managed_name(id);
        let effect = new.template_effect(id);
        match old.templates.get(id) {
            None => b.push(
                Wave::CreateTemplates,
                Operation::CreateTemplate {
                    name,
                    description: template.description.clone(),
                    statement: template.statement.clone(),
                },
                format!("create template `{id}`"),
            ),
            Some(current) => {
                let store_id = current.store_id.clone().unwrap_or_default();
                let same =
                    crate::statement::same_meaning(&current.statement, &template.statement, true);
                if same && current.description == template.description {
                    continue;
                }
                if !same && template_shape_changed(&current.statement, &template.statement) {
                    replaced.push(id.clone());
                    let old_effect = old.template_effect(id);
                    let (delete, create) =
                        if old_effect == Some(Effect::Permit) && effect == Some(Effect::Permit) {
                            (Wave::DeletePermitTemplates, Wave::CreatePermitTemplates)
                        } else {
                            // Its forbid links come back late; stand-ins cover them.
                            (Wave::DeleteTemplates, Wave::CreateForbidTemplates)
                        };
                    b.push(
                        delete,
                        Operation::DeleteTemplate { id: store_id },
                        format!("delete template `{id}` (replaced)"),
                    );
                    b.push(
                        create,
                        Operation::CreateTemplate {
                            name,
                            description: template.description.clone(),
                            statement: template.statement.clone(),
                        },
                        format!("create template `{id}` (replacement)"),
                    );
                    continue;
                }
                let wave = if effect == Some(Effect::Forbid) && !same {
                    // Its links switch meaning at once: stand-ins hold the
                    // new meaning from the start, the old goes with the
                    // other old forbids.
                    for (link_id, link) in new.policies.iter().filter(
                        |(_, p)| matches!(&p.body, Body::Linked { template: t, .. } if t == id),
                    ) {
                        match linked_statement(link, new) {
                            Some(statement) => stand_in(&format!("link `{link_id}`"), link_id, statement, old, b),
                            None => b.warnings.push(format!("link `{link_id}` changes meaning with its template without a stand-in")),
                        }
                    }
                    Wave::UpdateForbids
                } else {
                    Wave::Permits
                };
                b.push(
                    wave,
                    Operation::UpdateTemplate {
                        id: store_id,
                        name: None,
                        description: template.description.clone(),
                        statement: template.statement.clone(),
                    },
                    format!("update template `{id}`"),
                );
            }
        }
    }
    for (id, template) in &old.templates {
        if !new.templates.contains_key(id) {
            b.push(
                Wave::DeleteTemplates,
                Operation::DeleteTemplate {
                    id: template.store_id.clone().unwrap_or_default(),
                },
                format!("delete template `{id}`"),
            );
        }
    }
    replaced
}

fn definition(policy: &SidePolicy, old: &Side, replaced_templates: &[String]) -> NewDefinition {
    match &policy.body {
        Body::Static { statement } => NewDefinition::Static {
            statement: statement.clone(),
        },
        Body::Linked {
            template,
            principal,
            resource,
        } => NewDefinition::Linked {
            // A template that is in the store and stays is referred to by
            // id; one this deploy creates, by name.
            template: match old.templates.get(template).and_then(|t| t.store_id.clone()) {
                Some(store_id) if !replaced_templates.contains(template) => {
                    TemplateRef::StoreId(store_id)
                }
                _ => TemplateRef::Name(managed_name(template)),
            },
            principal: principal.clone(),
            resource: resource.clone(),
        },
    }
}

fn policies(old: &Side, new: &Side, replaced_templates: &[String], b: &mut Builder) {
    let mut reused_in_flight = Vec::new();
    for (id, policy) in &new.policies {
        let effect = new.effect(id);
        let kind = match &policy.body {
            Body::Static { .. } => effect_word(effect),
            Body::Linked { .. } => "link",
        };
        let links_replaced_template = matches!(&policy.body, Body::Linked { template, .. } if replaced_templates.contains(template));
        let current = old.policies.get(id);
        let unchanged = current.is_some_and(|c| same_policy(c, policy)) && !links_replaced_template;
        if unchanged {
            continue;
        }
        // Description only, or a condition change AVP can update in place.
        if let (Some(current), Body::Static { statement }) = (current, &policy.body)
            && let Body::Static {
                statement: current_statement,
            } = &current.body
            && !shape_changed(current_statement, statement)
        {
            let wave = if effect == Some(Effect::Forbid)
                && !crate::statement::same_meaning(current_statement, statement, false)
            {
                // Updated with the old forbids' removal; a stand-in with the
                // new statement is in force from the start.
                stand_in(&format!("forbid `{id}`"), id, statement.clone(), old, b);
                Wave::UpdateForbids
            } else {
                Wave::Permits
            };
            b.push(
                wave,
                Operation::UpdatePolicy {
                    id: current.store_id.clone().unwrap_or_default(),
                    name: None,
                    description: policy.description.clone(),
                    statement: statement.clone(),
                },
                format!("update {kind} `{id}`"),
            );
            continue;
        }
        // Created (and, for a replacement, the old one deleted).
        let delete_wave = current.map(|_| deletion_wave(old.effect(id)));
        if let (Some(current), Some(wave)) = (current, delete_wave) {
            b.push(
                wave,
                Operation::DeletePolicy {
                    id: current.store_id.clone().unwrap_or_default(),
                },
                format!("delete {} `{id}` (replaced)", effect_word(old.effect(id))),
            );
        }
        let ideal = match (&policy.body, effect) {
            // A replaced template that involves a forbid is created late
            // (templates()); its links can only follow it.
            (Body::Linked { template, .. }, _)
                if replaced_templates.contains(template)
                    && !(old.template_effect(template) == Some(Effect::Permit)
                        && new.template_effect(template) == Some(Effect::Permit)) =>
            {
                Wave::CreateForbidLinks
            }
            (_, Some(Effect::Forbid)) => Wave::CreateForbids,
            _ => Wave::Permits,
        };
        let name = managed_name(id);
        let operation = |name: String| Operation::CreatePolicy {
            name,
            description: policy.description.clone(),
            definition: definition(policy, old, replaced_templates),
        };
        let in_flight = old.in_flight.iter().find(|f| f.name == temporary_name(id) && matches!(&policy.body, Body::Static { statement } if crate::statement::same_meaning(statement, &f.statement, false)));
        match (delete_wave, &policy.body) {
            // The name is still taken when the new policy should appear:
            // create it under a temporary name and rename it afterwards.
            (Some(deleted), Body::Static { statement }) if deleted > ideal => {
                let temporary = temporary_name(id);
                let store_id = match in_flight {
                    Some(found) => {
                        reused_in_flight.push(found.store_id.clone());
                        Some(found.store_id.clone())
                    }
                    None => {
                        b.push(
                            ideal,
                            operation(temporary.clone()),
                            format!("create {kind} `{id}` as {temporary} (replacement)"),
                        );
                        None
                    }
                };
                b.waves.entry(Wave::Rename).or_default().push(Step {
                    operation: Operation::UpdatePolicy {
                        id: store_id.clone().unwrap_or_default(),
                        name: Some(name),
                        description: policy.description.clone(),
                        statement: statement.clone(),
                    },
                    label: format!("rename {temporary} to `{id}`"),
                    created_target: store_id.is_none().then_some(temporary),
                });
            }
            (Some(deleted), Body::Linked { .. }) if deleted > ideal => {
                let wave = if deleted == Wave::DeletePermits {
                    Wave::CreateForbidsInFreedNames
                } else {
                    Wave::CreateInFreedNames
                };
                if effect == Some(Effect::Forbid) && wave == Wave::CreateInFreedNames {
                    link_stand_in(id, policy, new, old, b);
                }
                b.push(
                    wave,
                    operation(name),
                    format!("create {kind} `{id}` (replacement)"),
                );
            }
            _ if in_flight.is_some() => {
                // An interrupted deploy already created it: just rename.
                let found = in_flight.expect("checked");
                reused_in_flight.push(found.store_id.clone());
                if let Body::Static { statement } = &policy.body {
                    b.push(
                        Wave::Rename,
                        Operation::UpdatePolicy {
                            id: found.store_id.clone(),
                            name: Some(name),
                            description: policy.description.clone(),
                            statement: statement.clone(),
                        },
                        format!(
                            "rename {} to `{id}` (left by an interrupted deploy)",
                            found.name
                        ),
                    );
                }
            }
            _ => {
                if ideal == Wave::CreateForbidLinks && effect == Some(Effect::Forbid) {
                    link_stand_in(id, policy, new, old, b);
                }
                let label = if current.is_some() {
                    format!("create {kind} `{id}` (replacement)")
                } else {
                    format!("create {kind} `{id}`")
                };
                b.push(ideal, operation(name), label);
            }
        }
    }
    for (id, policy) in &old.policies {
        if !new.policies.contains_key(id) {
            let effect = old.effect(id);
            b.push(
                deletion_wave(effect),
                Operation::DeletePolicy {
                    id: policy.store_id.clone().unwrap_or_default(),
                },
                format!("delete {} `{id}`", effect_word(effect)),
            );
        }
    }
    reused_in_flight.extend(b.reused_stand_ins.iter().cloned());
    for leftover in old
        .in_flight
        .iter()
        .filter(|f| !reused_in_flight.contains(&f.store_id))
    {
        b.push(
            Wave::DeleteForbids,
            Operation::DeletePolicy {
                id: leftover.store_id.clone(),
            },
            format!("delete {} (left by an interrupted deploy)", leftover.name),
        );
    }
}

/// A forbid link that can only be created late (AVP cannot rename a linked
/// policy, so it must wait for its name) is covered meanwhile by a static
/// forbid with the same meaning under a temporary name, created with the
/// other forbids and deleted once the link is in place.
fn stand_in(what: &str, id: &str, statement: String, old: &Side, b: &mut Builder) {
    // The name carries the content, so a leftover from an interrupted
    // deploy is reused only when it still says the same.
    let name = temporary_name(&format!("{id}#{statement}"));
    if !b.stand_ins.insert(name.clone()) {
        return;
    }
    let store_id = match old.in_flight.iter().find(|f| f.name == name) {
        Some(existing) => {
            b.reused_stand_ins.push(existing.store_id.clone());
            existing.store_id.clone()
        }
        None => {
            b.push(
                Wave::CreateForbids,
                Operation::CreatePolicy {
                    name: name.clone(),
                    description: None,
                    definition: NewDefinition::Static { statement },
                },
                format!("create stand-in {name} for {what}"),
            );
            String::new()
        }
    };
    b.waves.entry(Wave::DeleteStandIns).or_default().push(Step {
        operation: Operation::DeletePolicy {
            id: store_id.clone(),
        },
        label: format!("delete stand-in {name} ({what} is in place)"),
        created_target: store_id.is_empty().then_some(name),
    });
}

/// A stand-in for a forbid link created late.
fn link_stand_in(id: &str, policy: &SidePolicy, new: &Side, old: &Side, b: &mut Builder) {
    match linked_statement(policy, new) {
        Some(statement) => stand_in(&format!("forbid link `{id}`"), id, statement, old, b),
        None => b.warnings.push(format!("link `{id}` is created after its old version is deleted (its template could not be expanded into a stand-in)")),
    }
}

/// The text of a link as a static policy: its template with the slots
/// filled in.
fn linked_statement(policy: &SidePolicy, side: &Side) -> Option<String> {
    use std::str::FromStr;
    let Body::Linked {
        template,
        principal,
        resource,
    } = &policy.body
    else {
        return None;
    };
    let parsed = cedar_policy::Template::from_str(&side.templates.get(template)?.statement).ok()?;
    let mut set = PolicySet::new();
    set.add_template(parsed.new_id(cedar_policy::PolicyId::new("t")))
        .ok()?;
    let values = crate::uid::slot_values(principal, resource);
    set.link(
        cedar_policy::PolicyId::new("t"),
        cedar_policy::PolicyId::new("l"),
        values,
    )
    .ok()?;
    let json = set
        .policy(&cedar_policy::PolicyId::new("l"))?
        .to_json()
        .ok()?;
    cedar_policy::Policy::from_json(None, json).ok()?.to_cedar()
}

/// Permits go early (removing one only narrows), forbids late.
fn deletion_wave(effect: Option<Effect>) -> Wave {
    if effect == Some(Effect::Permit) {
        Wave::DeletePermits
    } else {
        Wave::DeleteForbids
    }
}

fn same_policy(a: &SidePolicy, b: &SidePolicy) -> bool {
    a.description == b.description && a.body.same_meaning(&b.body)
}

/// Whether AVP refuses to update `old` into `new` in place.
fn shape_changed(old: &str, new: &str) -> bool {
    !crate::statement::same_shape(old, new, false)
}

fn unmanaged(old: &Side, options: StepOptions, b: &mut Builder) {
    if !options.prune {
        return;
    }
    for item in &old.unmanaged {
        let label = format!(
            "delete unmanaged {} {} (--prune)",
            item.kind,
            item.name.as_deref().unwrap_or(&item.store_id)
        );
        match item.kind {
            "template" => b.push(
                Wave::DeleteTemplates,
                Operation::DeleteTemplate {
                    id: item.store_id.clone(),
                },
                label,
            ),
            _ => b.push(
                deletion_wave(item.effect),
                Operation::DeletePolicy {
                    id: item.store_id.clone(),
                },
                label,
            ),
        }
    }
}

/// Where the schema goes: first when the store's current policies
/// validate against it, last when the new policies validate against the
/// old one, else a union of both first and the new one last.
fn schema(old: &Side, new: &Side, options: StepOptions, b: &mut Builder) -> Result<(), PlanError> {
    let Some(new_schema) = &new.schema else {
        return Ok(());
    };
    if old
        .schema
        .as_ref()
        .is_some_and(|s| normalize(s) == normalize(new_schema))
    {
        return Ok(());
    }
    let put = |schema: &Value| Operation::PutSchema {
        schema: schema.clone(),
    };
    let old_schema = match (&old.schema, options.validation_mode) {
        (Some(old_schema), ValidationMode::Strict) => old_schema,
        _ => {
            b.push(Wave::SchemaFirst, put(new_schema), "put the schema".into());
            return Ok(());
        }
    };
    let (old_set, new_set) = (old.policy_set(), new.policy_set());
    if validates(new_schema, &old_set) {
        b.push(
            Wave::SchemaFirst,
            put(new_schema),
            "put the schema (before the policies that need it)".into(),
        );
        return Ok(());
    }
    if validates(old_schema, &new_set) {
        b.push(
            Wave::SchemaLast,
            put(new_schema),
            "put the schema (after the policies that used what it removes)".into(),
        );
        return Ok(());
    }
    let union = merge(old_schema, new_schema).filter(|u| validates(u, &old_set) && validates(u, &new_set)).ok_or_else(|| {
        PlanError(
            "the schema change both removes what the deployed policies use and adds what the new policies need, and the two schemas cannot be merged; deploy it in two steps (first add, then remove)"
                .into(),
        )
    })?;
    b.push(
        Wave::SchemaFirst,
        put(&union),
        "put the old and new schema merged (both policy sets validate against it)".into(),
    );
    b.push(
        Wave::SchemaLast,
        put(new_schema),
        "put the new schema".into(),
    );
    Ok(())
}

/// The identity source: created, updated in place within its kind, or
/// deleted and created again when the kind changes (userguide
/// `cognito-edit.html`: "You can't change the type of identity source").
fn identity(old: &Side, new: &Side, b: &mut Builder) {
    if !new.manages_identity {
        return;
    }
    let create = |b: &mut Builder, source: &crate::identity::IdentitySource| {
        b.push(
            Wave::IdentitySource,
            Operation::CreateIdentitySource {
                source: source.clone(),
            },
            format!("create the identity source ({})", source.kind()),
        );
    };
    let delete = |b: &mut Builder, id: &str, why: &str| {
        b.push(
            Wave::DeleteIdentitySource,
            Operation::DeleteIdentitySource { id: id.to_string() },
            format!("delete the identity source {id}{why}"),
        );
    };
    match (&old.identity, &new.identity) {
        (None, None) => {}
        (None, Some(new)) => create(b, &new.source),
        (Some(old), None) => delete(b, old.store_id.as_deref().unwrap_or_default(), ""),
        (Some(old), Some(new)) if old.source == new.source => {}
        (Some(old), Some(new)) => {
            let id = old.store_id.clone().unwrap_or_default();
            if old.source.same_kind(&new.source) {
                b.push(
                    Wave::IdentitySource,
                    Operation::UpdateIdentitySource {
                        id: id.clone(),
                        source: new.source.clone(),
                    },
                    format!("update the identity source {id} in place"),
                );
            } else {
                let why = format!(
                    " (a {}; AVP cannot change the kind of an identity source)",
                    old.source.kind()
                );
                delete(b, &id, &why);
                create(b, &new.source);
            }
        }
    }
}

fn validates(schema: &Value, set: &PolicySet) -> bool {
    Schema::from_json_value(schema.clone()).is_ok_and(|schema| {
        Validator::new(schema)
            .validate(set, CedarMode::Strict)
            .validation_passed()
    })
}

/// Merges two JSON schemas: objects key by key, lists as sets; equal
/// scalars only. `None` when they disagree on a value.
pub fn merge(a: &Value, b: &Value) -> Option<Value> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut merged = x.clone();
            for (key, value) in y {
                let combined = match x.get(key) {
                    Some(existing) => merge(existing, value)?,
                    None => value.clone(),
                };
                merged.insert(key.clone(), combined);
            }
            Some(Value::Object(merged))
        }
        (Value::Array(x), Value::Array(y)) => {
            let mut merged = x.clone();
            merged.extend(y.iter().filter(|v| !x.contains(v)).cloned());
            Some(Value::Array(merged))
        }
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}
