//! `avpctl test --store`: the same cases, sent to a deployed store, so a
//! difference between local Cedar and the service shows before users hit
//! it. Each case carries the entities it needs: the principal and resource,
//! their ancestors, and the entities their attributes name.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use cedar_policy::{Entities, EntityUid};
use serde_json::Value;

use super::outcome::{CaseOutcome, Status, StoreOutcome};
use super::runner::Prepared;
use crate::error::Error;
use crate::plan::Side;
use crate::project::Project;
use crate::store::{AuthzRequest, Store};

/// How far attribute references are followed from the principal and resource.
const DEPTH: usize = 3;

/// Sends every evaluated case to `store` and records its answer on the
/// outcome; a store decision that differs from the expectation fails the case.
pub fn replay(
    project: &Project,
    prepared: &[Prepared],
    outcomes: &mut [CaseOutcome],
    store: &mut dyn Store,
) -> Result<(), Error> {
    let label = store.describe();
    let fail = |err: crate::store::StoreError| Error::Store(format!("{label}: {err}"));
    let state = store.read().map_err(fail)?;
    let names: BTreeMap<String, String> = Side::from_store(&state)
        .policies
        .iter()
        .filter_map(|(id, p)| p.store_id.clone().map(|store_id| (store_id, id.clone())))
        .collect();
    let by_index: BTreeMap<usize, &Prepared> = prepared.iter().enumerate().collect();
    let mut requests = Vec::new();
    let mut targets = Vec::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        let Some(entry) = by_index.get(&index) else {
            continue;
        };
        let (Ok(entities), Some(_)) = (entry.case_entities(project.schema()), outcome.decision)
        else {
            continue;
        };
        let check = &outcome.check;
        let Ok(context) = super::runner::context(check, project.schema()) else {
            continue;
        };
        requests.push(AuthzRequest {
            principal: check.principal.clone(),
            action: check.action.clone(),
            resource: check.resource.clone(),
            context: context
                .to_json_value()
                .unwrap_or(Value::Object(Default::default())),
            entities: needed_entities(&entities, [&check.principal, &check.resource]),
        });
        targets.push(index);
    }
    let answers = store.authorize(&requests).map_err(fail)?;
    for (index, answer) in targets.into_iter().zip(answers) {
        let outcome = &mut outcomes[index];
        let mut reasons: Vec<String> = answer
            .determining
            .iter()
            .map(|id| names.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect();
        reasons.sort();
        if Some(answer.decision) != outcome.check.expect.decision() {
            outcome.failures.push(format!(
                "{label} decided {}, the expectation is {} (local Cedar: {})",
                crate::text::decision_name(answer.decision),
                outcome.check.expect.as_str(),
                outcome.decision.map_or("none", crate::text::decision_name)
            ));
            outcome.status = Status::Fail;
        }
        if let Some(expected) = &outcome.check.reasons
            && reasons.iter().cloned().collect::<BTreeSet<_>>() != *expected
        {
            outcome.failures.push(format!(
                "{label} gave the determining policies [{}], the expectation is [{}]",
                reasons.join(", "),
                expected.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            outcome.status = Status::Fail;
        }
        outcome.store = Some(StoreOutcome {
            decision: answer.decision,
            reasons,
            errors: answer.errors,
        });
    }
    Ok(())
}

/// The principal and resource, their ancestors, and what their attributes
/// name (to a bounded depth), without action entities: AVP adds those from
/// its schema and refuses them in requests.
fn needed_entities(entities: &Entities, roots: [&EntityUid; 2]) -> Vec<Value> {
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<(EntityUid, usize)> =
        roots.into_iter().map(|uid| (uid.clone(), 0)).collect();
    let mut found = Vec::new();
    while let Some((uid, depth)) = queue.pop_front() {
        if !seen.insert(uid.to_string()) || crate::uid::is_action(&uid) {
            continue;
        }
        let Some(entity) = entities.get(&uid) else {
            continue;
        };
        let Ok(json) = entity.to_json_value() else {
            continue;
        };
        if let Some(ancestors) = entities.ancestors(&uid) {
            queue.extend(ancestors.map(|a| (a.clone(), depth)));
        }
        if depth < DEPTH {
            let mut named = Vec::new();
            references(&json["attrs"], &mut named);
            queue.extend(named.into_iter().map(|n| (n, depth + 1)));
        }
        found.push(json);
    }
    found
}

fn references(value: &Value, out: &mut Vec<EntityUid>) {
    match value {
        Value::Object(map) => {
            if let Some(entity) = map.get("__entity") {
                if let Ok(uid) = crate::uid::from_parts(
                    entity["type"].as_str().unwrap_or_default(),
                    entity["id"].as_str().unwrap_or_default(),
                ) {
                    out.push(uid);
                }
            } else {
                map.values().for_each(|v| references(v, out));
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}
