//! Adoption: an unnamed item of the store (a policy or template made in
//! the console, by CloudFormation, CDK or Terraform) that says what a
//! project item says, and that the store does not hold under the project
//! item's name yet, is taken over in place — named `name/<id>`, its store
//! id kept, so nothing that refers to it breaks — instead of a copy being
//! created next to it (and `--prune` deleting the original).
//!
//! Template-linked policies are not adopted: AVP's `UpdatePolicy` updates
//! static policies only ("To change a template-linked policy, you must
//! update the template instead", API reference, UpdatePolicy), so a link
//! cannot be named in place. The project's link is created, and the
//! unnamed one is kept as unmanaged until `--prune`.

use super::side::{Body, Side, SidePolicy, SideTemplate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdoptedKind {
    Policy,
    Template,
}

impl AdoptedKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AdoptedKind::Policy => "policy",
            AdoptedKind::Template => "template",
        }
    }
}

/// An unnamed store item taken over as the project's item `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adoption {
    pub kind: AdoptedKind,
    /// The project's id; the item is named `name/<id>`.
    pub id: String,
    pub store_id: String,
    /// Whether the statement's text or the description differs from the
    /// project's (the meaning does not): the adoption writes the project's.
    pub rewritten: bool,
}

impl Side {
    /// This store side with every unnamed item that a project item of
    /// `new` matches (the same meaning) taken over under that
    /// item's id. Each store item is adopted at most once, in store order.
    pub fn adopt(mut self, new: &Side) -> Side {
        for (id, template) in &new.templates {
            if self.templates.contains_key(id) {
                continue;
            }
            let Some(at) = self.unnamed("template", |statement| {
                crate::statement::same_meaning(statement, &template.statement, true)
            }) else {
                continue;
            };
            let found = self.unmanaged.remove(at);
            self.adopted.push(Adoption {
                kind: AdoptedKind::Template,
                id: id.clone(),
                store_id: found.store_id.clone(),
                rewritten: found.statement.as_deref() != Some(template.statement.as_str())
                    || found.description != template.description,
            });
            self.templates.insert(
                id.clone(),
                SideTemplate {
                    statement: template.statement.clone(),
                    description: template.description.clone(),
                    store_id: Some(found.store_id),
                },
            );
        }
        self.resolve_links_to_adopted_templates();
        for (id, policy) in &new.policies {
            let Body::Static { statement: wanted } = &policy.body else {
                continue;
            };
            if self.policies.contains_key(id) {
                continue;
            }
            let Some(at) = self.unnamed("policy", |statement| {
                crate::statement::same_meaning(statement, wanted, false)
            }) else {
                continue;
            };
            let found = self.unmanaged.remove(at);
            self.adopted.push(Adoption {
                kind: AdoptedKind::Policy,
                id: id.clone(),
                store_id: found.store_id.clone(),
                rewritten: found.statement.as_deref() != Some(wanted.as_str())
                    || found.description != policy.description,
            });
            self.policies.insert(
                id.clone(),
                SidePolicy {
                    body: policy.body.clone(),
                    description: policy.description.clone(),
                    store_id: Some(found.store_id),
                },
            );
        }
        self
    }

    /// Named links (`name/<id>`) to a template that was unnamed until
    /// adopted: their template is now the project's, so they are too.
    fn resolve_links_to_adopted_templates(&mut self) {
        let adopted: std::collections::BTreeMap<&str, &str> = self
            .adopted
            .iter()
            .filter(|a| a.kind == AdoptedKind::Template)
            .map(|a| (a.store_id.as_str(), a.id.as_str()))
            .collect();
        let mut kept = Vec::new();
        for item in std::mem::take(&mut self.unmanaged) {
            let resolved = match (
                &item.linked,
                item.name.as_deref().and_then(crate::store::managed_id),
            ) {
                (
                    Some(Body::Linked {
                        template,
                        principal,
                        resource,
                    }),
                    Some(id),
                ) if !self.policies.contains_key(id) => {
                    adopted.get(template.as_str()).map(|project_template| {
                        (
                            id.to_string(),
                            Body::Linked {
                                template: project_template.to_string(),
                                principal: principal.clone(),
                                resource: resource.clone(),
                            },
                        )
                    })
                }
                _ => None,
            };
            match resolved {
                Some((id, body)) => {
                    self.policies.insert(
                        id,
                        SidePolicy {
                            body,
                            description: item.description.clone(),
                            store_id: Some(item.store_id.clone()),
                        },
                    );
                }
                None => kept.push(item),
            }
        }
        self.unmanaged = kept;
    }

    /// The first unmanaged, unnamed item of `kind` whose statement `fits`.
    fn unnamed(&self, kind: &str, fits: impl Fn(&str) -> bool) -> Option<usize> {
        self.unmanaged.iter().position(|item| {
            item.kind == kind && item.name.is_none() && item.statement.as_deref().is_some_and(&fits)
        })
    }
}
