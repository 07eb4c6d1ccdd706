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

use std::collections::{BTreeSet, HashMap};

use super::side::{Body, Side, SidePolicy, SideTemplate};

/// A statement's meaning as a map key: Cedar's JSON form (without the
/// metadata annotations, as `statement::same_meaning` compares).
fn meaning(statement: &str, template: bool) -> Option<String> {
    crate::statement::canonical(statement, template).map(|json| json.to_string())
}

/// The first store item left with the meaning of `statement`, taken.
fn take_first(
    by_meaning: &mut HashMap<String, Vec<usize>>,
    statement: &str,
    template: bool,
) -> Option<usize> {
    by_meaning.get_mut(&meaning(statement, template)?)?.pop()
}

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
    /// `new` matches (the same meaning) taken over under that item's id.
    /// Each store item is adopted at most once, the first in store order.
    pub fn adopt(mut self, new: &Side) -> Side {
        let mut templates = self.unnamed_by_meaning("template", true);
        for (id, template) in &new.templates {
            if self.templates.contains_key(id) {
                continue;
            }
            let Some(at) = take_first(&mut templates, &template.statement, true) else {
                continue;
            };
            let found = &self.unmanaged[at];
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
                    store_id: Some(found.store_id.clone()),
                },
            );
        }
        let mut policies = self.unnamed_by_meaning("policy", false);
        for (id, policy) in &new.policies {
            let Body::Static { statement: wanted } = &policy.body else {
                continue;
            };
            if self.policies.contains_key(id) {
                continue;
            }
            let Some(at) = take_first(&mut policies, wanted, false) else {
                continue;
            };
            let found = &self.unmanaged[at];
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
                    store_id: Some(found.store_id.clone()),
                },
            );
        }
        let adopted: BTreeSet<String> = self.adopted.iter().map(|a| a.store_id.clone()).collect();
        self.unmanaged
            .retain(|item| !adopted.contains(&item.store_id));
        self.resolve_links_to_adopted_templates();
        self.find_unnamed_copies_of_links(new);
        self
    }

    /// Unnamed links that say what a project link says (its template and
    /// the same slot values), which stay unmanaged: creating the project's
    /// link next to one changes no access. Indexed once, so linear in the
    /// number of links.
    fn find_unnamed_copies_of_links(&mut self, new: &Side) {
        let templates = self.templates_by_store_id();
        let mut by_meaning: HashMap<LinkKey, Vec<UnnamedCopy>> = HashMap::new();
        for item in self.unmanaged.iter().filter(|item| item.name.is_none()) {
            let Some(body) = item
                .linked
                .as_ref()
                .and_then(|b| in_project_terms(b, &templates))
            else {
                continue;
            };
            let Some(key) = link_key(&body) else { continue };
            by_meaning.entry(key).or_default().push(UnnamedCopy {
                store_id: item.store_id.clone(),
                body,
            });
        }
        for copies in by_meaning.values_mut() {
            copies.reverse();
        }
        for (id, policy) in &new.policies {
            if self.policies.contains_key(id) {
                continue;
            }
            let Some(copy) = link_key(&policy.body)
                .and_then(|key| by_meaning.get_mut(&key))
                .and_then(Vec::pop)
            else {
                continue;
            };
            self.unnamed_copies.insert(id.clone(), copy);
        }
    }

    /// Store template id → project template id, for every template this
    /// side manages.
    fn templates_by_store_id(&self) -> HashMap<String, String> {
        self.templates
            .iter()
            .filter_map(|(id, t)| Some((t.store_id.clone()?, id.clone())))
            .collect()
    }

    /// The unnamed, unmanaged items of `kind`, by meaning (Cedar's JSON
    /// form as text): positions in `unmanaged`, in store order. One pass,
    /// so adoption stays linear in the size of the store.
    fn unnamed_by_meaning(&self, kind: &str, template: bool) -> HashMap<String, Vec<usize>> {
        let mut by_meaning: HashMap<String, Vec<usize>> = HashMap::new();
        for (at, item) in self.unmanaged.iter().enumerate() {
            if item.kind != kind || item.name.is_some() {
                continue;
            }
            let Some(key) = item.statement.as_deref().and_then(|s| meaning(s, template)) else {
                continue;
            };
            by_meaning.entry(key).or_default().push(at);
        }
        for positions in by_meaning.values_mut() {
            positions.reverse();
        }
        by_meaning
    }

    /// Named links (`name/<id>`) to a template that was unnamed until
    /// adopted: their template is now the project's, so they are too.
    fn resolve_links_to_adopted_templates(&mut self) {
        let templates = self.templates_by_store_id();
        let mut kept = Vec::new();
        for item in std::mem::take(&mut self.unmanaged) {
            let id = item.name.as_deref().and_then(crate::store::managed_id);
            let body = item
                .linked
                .as_ref()
                .and_then(|b| in_project_terms(b, &templates));
            match (id, body) {
                (Some(id), Some(body)) if !self.policies.contains_key(id) => {
                    self.policies.insert(
                        id.to_string(),
                        SidePolicy {
                            body,
                            description: item.description.clone(),
                            store_id: Some(item.store_id.clone()),
                        },
                    );
                }
                _ => kept.push(item),
            }
        }
        self.unmanaged = kept;
    }
}

/// An unnamed store link that says what a project link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnnamedCopy {
    pub store_id: String,
    /// The link, its template by project id.
    pub body: Body,
}

/// A link as a store holds it (its template by store id) with its template
/// by project id, when this side manages the template.
fn in_project_terms(linked: &Body, templates: &HashMap<String, String>) -> Option<Body> {
    let Body::Linked {
        template,
        principal,
        resource,
    } = linked
    else {
        return None;
    };
    Some(Body::Linked {
        template: templates.get(template)?.clone(),
        principal: principal.clone(),
        resource: resource.clone(),
    })
}

/// What `Body::same_meaning` compares of a link: the template and the slot
/// values however written.
type LinkKey = (String, Option<String>, Option<String>);

fn link_key(body: &Body) -> Option<LinkKey> {
    let Body::Linked {
        template,
        principal,
        resource,
    } = body
    else {
        return None;
    };
    Some((
        template.clone(),
        crate::uid::normalized(principal),
        crate::uid::normalized(resource),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Definition, StoreState, StoredPolicy};

    fn unnamed(id: &str, statement: &str) -> StoredPolicy {
        StoredPolicy {
            id: id.into(),
            name: None,
            description: None,
            definition: Definition::Static {
                statement: statement.into(),
            },
        }
    }

    #[test]
    fn the_first_unnamed_match_in_store_order_is_adopted_once_and_others_stay_unmanaged() {
        let mut state = StoreState::empty();
        state.policies = vec![
            unnamed("P1", "forbid (principal, action, resource);"),
            unnamed("P2", "permit (principal, action, resource);"),
            unnamed("P3", "permit(principal,action,resource);"),
        ];
        let mut new = Side::default();
        new.policies.insert(
            "everyone".into(),
            SidePolicy {
                body: Body::Static {
                    statement:
                        "@id(\"everyone\")\n// all of it\npermit (principal, action, resource);\n"
                            .into(),
                },
                description: None,
                store_id: None,
            },
        );
        let old = Side::from_store(&state).adopt(&new);
        assert_eq!(old.adopted.len(), 1);
        assert_eq!(old.adopted[0].store_id, "P2");
        assert!(old.adopted[0].rewritten);
        assert_eq!(old.policies["everyone"].store_id.as_deref(), Some("P2"));
        let left: Vec<&str> = old.unmanaged.iter().map(|u| u.store_id.as_str()).collect();
        assert_eq!(left, ["P1", "P3"], "the forbid, and the second copy");
    }
}
