//! One side of a comparison — a project, or what a store holds — in one
//! shape: policies, templates and links by project id, the schema in
//! Cedar's JSON form, and (for a store) what avpctl does not manage.

use cedar_policy::{Effect, PolicyId, PolicySet, SchemaFragment};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::project::{PolicyKind, Project, SchemaFormat};
use crate::store::{Definition, StoreState, managed_id};

/// Names under this prefix are avpctl's own, for a forbid being replaced:
/// `name/avpctl-replacing/<hash of the id>` (short enough for any id).
pub const TEMPORARY_PREFIX: &str = crate::project::RESERVED_ID_PREFIX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Static {
        statement: String,
    },
    Linked {
        template: String,
        principal: Option<String>,
        resource: Option<String>,
    },
}

impl Body {
    /// The same policy by meaning: statements as Cedar parses them (layout
    /// and comments aside), links by template and UIDs however written.
    pub fn same_meaning(&self, other: &Body) -> bool {
        match (self, other) {
            (Body::Static { statement: a }, Body::Static { statement: b }) => {
                crate::statement::same_meaning(a, b, false)
            }
            (
                Body::Linked {
                    template: t1,
                    principal: p1,
                    resource: r1,
                },
                Body::Linked {
                    template: t2,
                    principal: p2,
                    resource: r2,
                },
            ) => {
                t1 == t2
                    && crate::uid::normalized(p1) == crate::uid::normalized(p2)
                    && crate::uid::normalized(r1) == crate::uid::normalized(r2)
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SidePolicy {
    pub body: Body,
    pub description: Option<String>,
    /// The store's id, for a store side.
    pub store_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SideTemplate {
    pub statement: String,
    pub description: Option<String>,
    pub store_id: Option<String>,
}

/// Something in a store that no project id names.
#[derive(Debug, Clone)]
pub struct Unmanaged {
    pub kind: &'static str,
    pub store_id: String,
    pub name: Option<String>,
    /// The effect, when it could be read (decides where `--prune` deletes it).
    pub effect: Option<Effect>,
    /// For a template: the store ids of the links to it.
    pub links: Vec<String>,
    pub summary: String,
    /// The statement of a static policy or a template (not of a link):
    /// what adoption compares with the project's.
    pub statement: Option<String>,
    /// The description, which an adoption replaces with the project's.
    pub description: Option<String>,
    /// For a link: its template's store id and slot values, so that a
    /// named link to a template adopted later becomes the project's.
    pub linked: Option<Body>,
}

/// A forbid left under a temporary name by an interrupted deploy.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub store_id: String,
    pub name: String,
    pub statement: String,
    pub description: Option<String>,
}

/// A managed name that more than one item of a store carries — two
/// deploys that raced (an emulator lets them), or a copy made by hand. It is
/// drift only a person can settle: `diff` reports it, `deploy` refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub kind: &'static str,
    pub name: String,
    /// Every store id with the name, in store order (the first is the one
    /// compared with the project).
    pub store_ids: Vec<String>,
}

/// "2 duplicate names in the store (policy name/a: P1, P2; …)".
pub fn duplicates_sentence(duplicates: &[Duplicate]) -> String {
    let listed: Vec<String> = duplicates
        .iter()
        .map(|d| {
            format!(
                "{} {}: {}",
                d.kind,
                crate::text::one_line(&d.name),
                crate::text::one_line(&d.store_ids.join(", "))
            )
        })
        .collect();
    format!(
        "{} duplicate name{} in the store ({})",
        duplicates.len(),
        if duplicates.len() == 1 { "" } else { "s" },
        listed.join("; ")
    )
}

#[derive(Debug, Clone, Default)]
pub struct Side {
    pub schema: Option<Value>,
    pub policies: BTreeMap<String, SidePolicy>,
    pub templates: BTreeMap<String, SideTemplate>,
    pub unmanaged: Vec<Unmanaged>,
    pub in_flight: Vec<InFlight>,
    /// Managed names carried by more than one store item (a store side only).
    pub duplicates: Vec<Duplicate>,
    /// The identity source, with the store's id on a store side.
    pub identity: Option<SideIdentity>,
    /// A project manages the store's identity source only when avpctl.toml
    /// sets `identity_source`; a store side always says what it holds.
    pub manages_identity: bool,
    /// Unnamed store items taken over as project items ([`Side::adopt`]).
    pub adopted: Vec<super::adopt::Adoption>,
    /// Project link id → the unnamed store link that says the same, which
    /// AVP cannot name in place ([`Side::adopt`]).
    pub unnamed_copies: BTreeMap<String, super::adopt::UnnamedCopy>,
    /// The store's settings; on a project side, those `[store]` manages
    /// (`None` when it manages none).
    pub settings: Option<SideSettings>,
}

/// A policy store's settings; a `None` field is not known (a store) or not
/// managed (a project).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideSettings {
    pub validation_mode: Option<crate::store::ValidationMode>,
    pub deletion_protection: Option<bool>,
    pub description: Option<String>,
}

impl SideSettings {
    /// `self` where it says something, else `current`: what a store ends
    /// up with when `self` is applied to it.
    pub fn over(&self, current: &SideSettings) -> SideSettings {
        SideSettings {
            validation_mode: self.validation_mode.or(current.validation_mode),
            deletion_protection: self.deletion_protection.or(current.deletion_protection),
            description: self
                .description
                .clone()
                .or_else(|| current.description.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SideIdentity {
    pub source: crate::identity::IdentitySource,
    pub store_id: Option<String>,
}

impl Side {
    pub fn from_project(project: &Project) -> Side {
        let mut side = Side {
            schema: project.schema.as_ref().and_then(|s| match s.format {
                SchemaFormat::Json => serde_json::from_str(s.file.text()).ok(),
                SchemaFormat::Cedar => SchemaFragment::from_cedarschema_str(s.file.text())
                    .ok()
                    .and_then(|(fragment, _)| fragment.to_json_value().ok()),
            }),
            identity: project.identity.as_ref().map(|identity| SideIdentity {
                source: identity.source.normalized(),
                store_id: None,
            }),
            manages_identity: project.config.identity_source.is_some(),
            settings: {
                let wanted = &project.config.store;
                let settings = SideSettings {
                    validation_mode: wanted.validation_mode.map(|mode| match mode {
                        crate::config::ValidationSetting::Strict => {
                            crate::store::ValidationMode::Strict
                        }
                        crate::config::ValidationSetting::Off => crate::store::ValidationMode::Off,
                    }),
                    deletion_protection: wanted.deletion_protection,
                    description: wanted.description.clone(),
                };
                (settings != SideSettings::default()).then_some(settings)
            },
            ..Side::default()
        };
        for entry in &project.policies {
            let id = PolicyId::new(&entry.id);
            match entry.kind {
                PolicyKind::Static => {
                    side.policies.insert(
                        entry.id.clone(),
                        SidePolicy {
                            body: Body::Static {
                                statement: entry.text().to_string(),
                            },
                            description: project
                                .policy_set
                                .annotation(&id, "description")
                                .map(str::to_string),
                            store_id: None,
                        },
                    );
                }
                PolicyKind::Template => {
                    side.templates.insert(
                        entry.id.clone(),
                        SideTemplate {
                            statement: entry.text().to_string(),
                            description: project
                                .policy_set
                                .template_annotation(&id, "description")
                                .map(str::to_string),
                            store_id: None,
                        },
                    );
                }
            }
        }
        for link in &project.links {
            side.policies.insert(
                link.id.clone(),
                SidePolicy {
                    body: Body::Linked {
                        template: link.template.clone(),
                        principal: link.principal.as_ref().map(ToString::to_string),
                        resource: link.resource.as_ref().map(ToString::to_string),
                    },
                    description: None,
                    store_id: None,
                },
            );
        }
        side
    }

    pub fn from_store(state: &StoreState) -> Side {
        let mut side = Side {
            schema: state.schema.clone(),
            identity: state.identity_source.as_ref().map(|stored| SideIdentity {
                source: stored.source.normalized(),
                store_id: Some(stored.id.clone()),
            }),
            manages_identity: true,
            settings: Some(SideSettings {
                validation_mode: Some(state.validation_mode),
                deletion_protection: state.deletion_protection,
                description: state.description.clone(),
            }),
            ..Side::default()
        };
        side.duplicates = duplicates(state);
        let extra_copies: std::collections::BTreeSet<&str> = side
            .duplicates
            .iter()
            .flat_map(|d| d.store_ids.iter().skip(1).map(String::as_str))
            .collect();
        let mut template_ids: BTreeMap<&str, String> = BTreeMap::new();
        for template in &state.templates {
            if extra_copies.contains(template.id.as_str()) {
                // Reported as a duplicate, not as unmanaged: `--prune` must
                // not pick which copy survives.
                continue;
            }
            match template.name.as_deref().and_then(managed_id) {
                Some(id) if !side.templates.contains_key(id) => {
                    template_ids.insert(&template.id, id.to_string());
                    side.templates.insert(
                        id.to_string(),
                        SideTemplate { statement: template.statement.clone(), description: template.description.clone(), store_id: Some(template.id.clone()) },
                    );
                }
                _ => side.unmanaged.push(Unmanaged {
                    kind: "template",
                    store_id: template.id.clone(),
                    name: template.name.clone(),
                    effect: crate::statement::template_effect(&template.statement),
                    links: state
                        .policies
                        .iter()
                        .filter(|p| matches!(&p.definition, Definition::TemplateLinked { policy_template_id, .. } if policy_template_id == &template.id))
                        .map(|p| p.id.clone())
                        .collect(),
                    summary: first_line(&template.statement),
                    statement: Some(template.statement.clone()),
                    description: template.description.clone(),
                    linked: None,
                }),
            }
        }
        for policy in &state.policies {
            if extra_copies.contains(policy.id.as_str()) {
                continue;
            }
            let managed = policy
                .name
                .as_deref()
                .and_then(managed_id)
                .filter(|id| !side.policies.contains_key(*id));
            if let (Some(id), Definition::Static { statement }) = (managed, &policy.definition)
                && id.starts_with(TEMPORARY_PREFIX)
            {
                side.in_flight.push(InFlight {
                    store_id: policy.id.clone(),
                    name: policy.name.clone().unwrap_or_default(),
                    statement: statement.clone(),
                    description: policy.description.clone(),
                });
                continue;
            }
            let body = match &policy.definition {
                Definition::Static { statement } => Some(Body::Static {
                    statement: statement.clone(),
                }),
                Definition::TemplateLinked {
                    policy_template_id,
                    principal,
                    resource,
                } => template_ids
                    .get(policy_template_id.as_str())
                    .map(|template| Body::Linked {
                        template: template.clone(),
                        principal: principal.clone(),
                        resource: resource.clone(),
                    }),
            };
            match (managed, body) {
                (Some(id), Some(body)) => {
                    side.policies.insert(
                        id.to_string(),
                        SidePolicy {
                            body,
                            description: policy.description.clone(),
                            store_id: Some(policy.id.clone()),
                        },
                    );
                }
                _ => side.unmanaged.push(Unmanaged {
                    kind: "policy",
                    store_id: policy.id.clone(),
                    name: policy.name.clone(),
                    effect: effect_of_stored(state, &policy.definition),
                    links: Vec::new(),
                    summary: match &policy.definition {
                        Definition::Static { statement } => first_line(statement),
                        Definition::TemplateLinked {
                            policy_template_id,
                            principal,
                            resource,
                        } => format!(
                            "linked to template {policy_template_id} (principal {}, resource {})",
                            principal.as_deref().unwrap_or("-"),
                            resource.as_deref().unwrap_or("-")
                        ),
                    },
                    statement: match &policy.definition {
                        Definition::Static { statement } => Some(statement.clone()),
                        Definition::TemplateLinked { .. } => None,
                    },
                    description: policy.description.clone(),
                    linked: match &policy.definition {
                        Definition::Static { .. } => None,
                        Definition::TemplateLinked {
                            policy_template_id,
                            principal,
                            resource,
                        } => Some(Body::Linked {
                            template: policy_template_id.clone(),
                            principal: principal.clone(),
                            resource: resource.clone(),
                        }),
                    },
                }),
            }
        }
        side
    }

    /// The effect of a policy of this side (a link's is its template's).
    pub fn effect(&self, id: &str) -> Option<Effect> {
        match &self.policies.get(id)?.body {
            Body::Static { statement } => crate::statement::policy_effect(statement),
            Body::Linked { template, .. } => self.template_effect(template),
        }
    }

    pub fn template_effect(&self, id: &str) -> Option<Effect> {
        crate::statement::template_effect(&self.templates.get(id)?.statement)
    }

    /// The side as a Cedar policy set under project ids (what does not
    /// parse or link is left out). Forbids left under a temporary name by an
    /// interrupted deploy are in force, so they are in the set too.
    pub fn policy_set(&self) -> PolicySet {
        let mut set = PolicySet::new();
        for leftover in &self.in_flight {
            if let Some(parsed) = crate::statement::policy(&leftover.statement) {
                let _ = set.add(parsed.policy.new_id(PolicyId::new(&leftover.name)));
            }
        }
        for (id, template) in &self.templates {
            if let Some(parsed) = crate::statement::template(&template.statement) {
                let _ = set.add_template(parsed.template.new_id(PolicyId::new(id)));
            }
        }
        for (id, policy) in &self.policies {
            match &policy.body {
                Body::Static { statement } => {
                    if let Some(parsed) = crate::statement::policy(statement) {
                        let _ = set.add(parsed.policy.new_id(PolicyId::new(id)));
                    }
                }
                Body::Linked {
                    template,
                    principal,
                    resource,
                } => {
                    let values = crate::uid::slot_values(principal, resource);
                    let _ = set.link(PolicyId::new(template), PolicyId::new(id), values);
                }
            }
        }
        // Unnamed links a project link copies are in force in the store
        // too, under their store ids.
        for copy in self.unnamed_copies.values() {
            if let Body::Linked {
                template,
                principal,
                resource,
            } = &copy.body
            {
                let values = crate::uid::slot_values(principal, resource);
                let _ = set.link(
                    PolicyId::new(template),
                    PolicyId::new(&copy.store_id),
                    values,
                );
            }
        }
        set
    }
}

/// Managed names (`name/…`) that more than one policy, or more than one
/// template, of the store carries.
fn duplicates(state: &StoreState) -> Vec<Duplicate> {
    let mut found = Vec::new();
    let mut group = |kind: &'static str, items: Vec<(&str, &str)>| {
        let mut by_name: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (name, id) in items {
            by_name.entry(name).or_default().push(id.to_string());
        }
        found.extend(by_name.into_iter().filter(|(_, ids)| ids.len() > 1).map(
            |(name, store_ids)| Duplicate {
                kind,
                name: name.to_string(),
                store_ids,
            },
        ));
    };
    group(
        "template",
        state
            .templates
            .iter()
            .filter_map(|t| {
                Some((
                    t.name.as_deref().filter(|n| managed_id(n).is_some())?,
                    t.id.as_str(),
                ))
            })
            .collect(),
    );
    group(
        "policy",
        state
            .policies
            .iter()
            .filter_map(|p| {
                Some((
                    p.name.as_deref().filter(|n| managed_id(n).is_some())?,
                    p.id.as_str(),
                ))
            })
            .collect(),
    );
    found
}

fn effect_of_stored(state: &StoreState, definition: &Definition) -> Option<Effect> {
    match definition {
        Definition::Static { statement } => crate::statement::policy_effect(statement),
        Definition::TemplateLinked {
            policy_template_id, ..
        } => state
            .templates
            .iter()
            .find(|t| &t.id == policy_template_id)
            .and_then(|t| crate::statement::template_effect(&t.statement)),
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("//") && !l.starts_with('@'))
        .unwrap_or("")
        .chars()
        .take(100)
        .collect()
}

/// The temporary name of a forbid being replaced (see [`TEMPORARY_PREFIX`]).
pub fn temporary_name(id: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    crate::store::managed_name(&format!("{TEMPORARY_PREFIX}{hash:016x}"))
}
