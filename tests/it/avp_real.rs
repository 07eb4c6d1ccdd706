//! Opt-in: the same round trip against a real Amazon Verified Permissions
//! policy store. Ignored (CI never runs it, and scripts/test.sh skips it);
//! run it by name with AVPCTL_REAL_AVP_STORE naming a store to use, e.g.
//!
//!   AVPCTL_REAL_AVP_STORE=avp:PSEXAMPLEabcdefg111111 AWS_PROFILE=sandbox \
//!     cargo test --test it avp_real -- --ignored --nocapture
//!
//! Run without AVPCTL_REAL_AVP_STORE it fails rather than passing.
//!
//! The store must be a scratch store with STRICT validation: the test
//! deploys policies-example to it and prunes everything else.

use std::collections::BTreeSet;

use crate::common::{avpctl_env, repo};

/// An environment variable the test cannot run without.
fn need(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("this test needs {key} (see its comment)"))
}

/// The real store `avp:ID`, with this environment's region and profile.
fn connect(store: &str) -> avpctl::store::avp::AvpStore {
    let connection = avpctl::store::avp::Connection {
        store_id: store.trim_start_matches("avp:").to_string(),
        region: std::env::var("AWS_REGION").ok(),
        profile: std::env::var("AWS_PROFILE").ok(),
        endpoint_url: None,
        concurrency: 1,
    };
    avpctl::store::avp::AvpStore::connect(connection).unwrap()
}

/// The AWS settings of this environment, passed on to avpctl.
fn aws_env() -> Vec<(&'static str, String)> {
    [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect()
}

#[test]
#[ignore = "needs AVPCTL_REAL_AVP_STORE"]
fn real_avp_round_trip_against_a_scratch_store() {
    let store = std::env::var("AVPCTL_REAL_AVP_STORE").unwrap_or_else(|_| {
        panic!(
            "this test needs AVPCTL_REAL_AVP_STORE=avp:<scratch store id> and AWS credentials to run against real AVP"
        )
    });
    let env = aws_env();
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(repo().join("policies-example/."))
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    let run = |args: &[&str]| avpctl_env(dir.path(), args, &env);

    let deploy = run(&["deploy", "--store", &store, "--yes", "--prune"]);
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    // AVP is eventually consistent: give the writes a moment to show.
    std::thread::sleep(std::time::Duration::from_secs(5));
    let diff = run(&["diff", "--store", &store, "--exit-code"]);
    assert_eq!(diff.code, 0, "{}", diff.stdout);
    let again = run(&["deploy", "--store", &store, "--yes"]);
    assert!(again.stdout.contains("up to date"), "{}", again.stdout);
    let test = run(&["test", "--store", &store]);
    assert_eq!(test.code, 0, "{}", test.stdout);
    assert!(
        test.stdout
            .contains("local Cedar and the store agree on every case"),
        "{}",
        test.stdout
    );
}

/// Opt-in, like the test above, and also needing
/// `AVPCTL_REAL_ID_TOKEN`: a current ID token of the user pool or OIDC
/// provider that is the store's identity source, and
/// `AVPCTL_REAL_ACTION` / `AVPCTL_REAL_RESOURCE` (`NS::Action::"read"`,
/// `NS::Doc::"1"`) naming a request the store's schema accepts. It asks
/// the service, with the real token, which principal it made
/// (`IsAuthorizedWithToken` answers it) and checks that avpctl derives the
/// same one from the token's claims: the `<pool id>|<sub>` /
/// `<entityIdPrefix>|<claim>` rule of docs/identity.md.
#[test]
#[ignore = "needs AVPCTL_REAL_AVP_STORE and AVPCTL_REAL_ID_TOKEN"]
fn real_avp_derives_the_principal_avpctl_derives() {
    let store = need("AVPCTL_REAL_AVP_STORE");
    let token = need("AVPCTL_REAL_ID_TOKEN");
    let action: cedar_policy::EntityUid = need("AVPCTL_REAL_ACTION").parse().unwrap();
    let resource: cedar_policy::EntityUid = need("AVPCTL_REAL_RESOURCE").parse().unwrap();
    let mut avp = connect(&store);
    use avpctl::store::Store;
    let state = avp.read().unwrap();
    let source = state
        .identity_source
        .expect("the store has an identity source")
        .source;
    let claims = avpctl::identity::token::decode_jwt(&token).unwrap();
    let derived = avpctl::identity::token::derive(
        &source,
        None,
        avpctl::identity::Token {
            kind: avpctl::identity::TokenKind::Identity,
            claims: &claims,
        },
        &action,
        None,
    )
    .unwrap();
    use aws_sdk_verifiedpermissions::types;
    let uid = |type_name: String, id: String| {
        types::EntityIdentifier::builder()
            .entity_type(type_name)
            .entity_id(id)
            .build()
            .unwrap()
    };
    let answer = avp
        .runtime()
        .block_on(
            avp.client()
                .is_authorized_with_token()
                .policy_store_id(avp.store_id())
                .identity_token(&token)
                .action(
                    types::ActionIdentifier::builder()
                        .action_type(action.type_name().to_string())
                        .action_id(action.id().unescaped())
                        .build()
                        .unwrap(),
                )
                .resource(uid(
                    resource.type_name().to_string(),
                    resource.id().unescaped().to_string(),
                ))
                .send(),
        )
        .unwrap();
    let principal = answer.principal().expect("AVP names the principal");
    assert_eq!(
        (principal.entity_type(), principal.entity_id()),
        (
            derived.principal.type_name().to_string().as_str(),
            derived.principal.id().unescaped()
        )
    );
}

/// One probe policy: its id, and the choice of docs/identity.md it tests.
struct Probe {
    id: String,
    choice: String,
    text: String,
}

/// The Cedar string literal of `text`.
fn cedar_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A claim's schema type and Cedar literal as avpctl reads the claim
/// (docs/identity.md, "Types of claims"); `None` for a claim it leaves
/// out. `as_set`: a string declared as a set of its space-separated words.
fn claim_probe(value: &serde_json::Value, as_set: bool) -> Option<(serde_json::Value, String)> {
    use serde_json::{Value, json};
    let set_of = |words: Vec<&str>| {
        let items: Vec<String> = words.into_iter().map(cedar_string).collect();
        (
            json!({"type": "Set", "element": {"type": "String"}}),
            format!("[{}]", items.join(", ")),
        )
    };
    match value {
        Value::String(text) if as_set => Some(set_of(text.split_whitespace().collect())),
        Value::String(text) => Some((json!({"type": "String"}), cedar_string(text))),
        Value::Bool(flag) => Some((json!({"type": "Boolean"}), flag.to_string())),
        Value::Number(number) => number
            .as_i64()
            .map(|n| (json!({"type": "Long"}), n.to_string())),
        Value::Array(items) => items
            .iter()
            .map(Value::as_str)
            .collect::<Option<Vec<&str>>>()
            .map(set_of),
        _ => None,
    }
}

fn split_type(name: &str) -> (&str, &str) {
    name.rsplit_once("::").unwrap_or(("", name))
}

/// Opt-in, like the tests above: every choice docs/identity.md makes where
/// AWS's documentation is silent, checked against the service. It needs
/// `AVPCTL_REAL_AVP_STORE` (a scratch store with STRICT validation whose
/// identity source accepts the tokens; the test replaces its schema and
/// policies) and `AVPCTL_REAL_ID_TOKEN`, and takes
/// `AVPCTL_REAL_ACCESS_TOKEN` too when set.
///
/// From the tokens' claims it writes a schema that declares every claim
/// avpctl keeps (except `iss`, to check that an undeclared claim is left
/// out rather than refused), the group claim too (to check that it is not
/// an attribute), the `scope` claim of an access token as a set, and one
/// probe policy per choice: the principal's id, each group as a parent,
/// each claim with its value and Cedar type, each access-token claim in
/// `context.token`. It deploys them, sends the real tokens to
/// `IsAuthorizedWithToken`, and compares the policies AVP finds satisfied
/// with those avpctl's local evaluation finds, naming the choice of each
/// probe on which they differ.
#[test]
#[ignore = "needs AVPCTL_REAL_AVP_STORE and AVPCTL_REAL_ID_TOKEN"]
fn real_avp_agrees_with_every_derivation_choice() {
    use serde_json::{Map, Value, json};
    let store = need("AVPCTL_REAL_AVP_STORE");
    let id_token = need("AVPCTL_REAL_ID_TOKEN");
    let access_token = std::env::var("AVPCTL_REAL_ACCESS_TOKEN").ok();
    let mut avp = connect(&store);
    use avpctl::store::Store;
    let source = avp
        .read()
        .unwrap()
        .identity_source
        .expect("the store has an identity source")
        .source;
    let id_claims = avpctl::identity::token::decode_jwt(&id_token).unwrap();
    let access_claims = access_token
        .as_deref()
        .map(|t| avpctl::identity::token::decode_jwt(t).unwrap());

    let principal_type = source.principal_type().to_string();
    let group_type = source.group_type().map(str::to_string);
    let (namespace, _) = split_type(&principal_type);
    let qualified = |name: &str| {
        if namespace.is_empty() {
            name.to_string()
        } else {
            format!("{namespace}::{name}")
        }
    };
    let resource_type = qualified("ProbeResource");
    let group_claim = match &source.configuration {
        avpctl::identity::source::Configuration::CognitoUserPoolConfiguration(_) => {
            Some("cognito:groups".to_string())
        }
        avpctl::identity::source::Configuration::OpenIdConnectConfiguration(oidc) => oidc
            .group_configuration
            .as_ref()
            .map(|g| g.group_claim.clone()),
    };
    let user_claim = match &source.configuration {
        avpctl::identity::source::Configuration::OpenIdConnectConfiguration(oidc) => {
            match &oidc.token_selection {
                avpctl::identity::source::TokenSelection::IdentityTokenOnly(only) => {
                    only.principal_id_claim.clone()
                }
                avpctl::identity::source::TokenSelection::AccessTokenOnly(only) => {
                    only.principal_id_claim.clone()
                }
            }
        }
        _ => None,
    }
    .unwrap_or_else(|| "sub".to_string());

    let mut probes: Vec<Probe> = Vec::new();
    let mut probe = |choice: String, text: String| {
        let id = format!("probe-{}", probes.len());
        probes.push(Probe {
            text: format!("@id(\"{id}\")\n{text};\n"),
            id,
            choice,
        });
    };
    let user = id_claims[user_claim.as_str()]
        .as_str()
        .expect("the user claim");
    probe(
        format!(
            "the principal {principal_type}::\"{}\"",
            source.entity_id(user)
        ),
        format!(
            "permit(principal == {principal_type}::{}, action, resource)",
            cedar_string(&source.entity_id(user))
        ),
    );
    let groups: Vec<String> = match group_claim.as_ref().map(|c| &id_claims[c.as_str()]) {
        Some(Value::String(names)) => names.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    if let Some(group_type) = &group_type {
        for group in &groups {
            probe(
                format!(
                    "group `{group}` as the parent {group_type}::\"{}\"",
                    source.entity_id(group)
                ),
                format!(
                    "permit(principal in {group_type}::{}, action, resource)",
                    cedar_string(&source.entity_id(group))
                ),
            );
        }
    }
    let mut attributes = Map::new();
    for (claim, value) in &id_claims {
        if claim == "iss" {
            continue;
        }
        let Some((schema_type, literal)) = claim_probe(value, false) else {
            continue;
        };
        let mut declared = schema_type.clone();
        declared["required"] = json!(false);
        attributes.insert(claim.clone(), declared);
        let choice = if Some(claim) == group_claim.as_ref() {
            format!("the group claim `{claim}` is not an attribute")
        } else {
            format!(
                "ID-token claim `{claim}` as the attribute principal[\"{claim}\"]: {schema_type}"
            )
        };
        let name = cedar_string(claim);
        probe(
            choice,
            format!(
                "permit(principal, action, resource) when {{ principal has {name} && principal[{name}] == {literal} }}"
            ),
        );
    }
    let mut token_attributes = Map::new();
    for (claim, value) in access_claims.iter().flatten() {
        if claim == "iss" || Some(claim) == group_claim.as_ref() {
            continue;
        }
        let Some((schema_type, literal)) = claim_probe(value, claim == "scope") else {
            continue;
        };
        let mut declared = schema_type.clone();
        declared["required"] = json!(false);
        token_attributes.insert(claim.clone(), declared);
        let name = cedar_string(claim);
        probe(
            format!("access-token claim `{claim}` as context.token[\"{claim}\"]: {schema_type}"),
            format!(
                "permit(principal, action, resource) when {{ context has token && context.token has {name} && context.token[{name}] == {literal} }}"
            ),
        );
    }

    // The schema, in Cedar's JSON form (types may sit in several namespaces).
    let mut schema: Map<String, Value> = Map::new();
    let mut entity_type = |name: &str, definition: Value| {
        let (ns, short) = split_type(name);
        let space = schema
            .entry(ns.to_string())
            .or_insert_with(|| json!({"entityTypes": {}, "actions": {}}));
        space["entityTypes"][short] = definition;
    };
    let member_of: Vec<&str> = group_type.iter().map(String::as_str).collect();
    entity_type(
        &principal_type,
        json!({"memberOfTypes": member_of, "shape": {"type": "Record", "attributes": attributes}}),
    );
    if let Some(group_type) = &group_type {
        entity_type(group_type, json!({}));
    }
    entity_type(&resource_type, json!({}));
    let mut context = json!({"type": "Record", "attributes": {}});
    if access_claims.is_some() {
        context["attributes"]["token"] =
            json!({"type": "Record", "attributes": token_attributes, "required": false});
    }
    schema[namespace]["actions"]["probe"] = json!({"appliesTo": {
        "principalTypes": [principal_type],
        "resourceTypes": [resource_type],
        "context": context,
    }});

    let dir = tempfile::tempdir().unwrap();
    let write = |path: &str, text: String| {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "avpctl.toml",
        "schema = \"schema.json\"\nidentity_source = \"identity-source.json\"\n".into(),
    );
    write(
        "schema.json",
        serde_json::to_string_pretty(&schema).unwrap(),
    );
    write(
        "identity-source.json",
        serde_json::to_string_pretty(&source.to_json()).unwrap(),
    );
    write(
        "policies/probes.cedar",
        probes.iter().map(|p| p.text.as_str()).collect(),
    );
    let action = format!("{}::Action::\"probe\"", namespace)
        .trim_start_matches("::")
        .to_string();
    let resource = format!("{resource_type}::\"r\"");
    let mut cases = vec![("identity_token", id_token.clone())];
    cases.extend(access_token.clone().map(|t| ("access_token", t)));
    let suite: String = cases
        .iter()
        .map(|(key, token)| {
            format!("  - name: {key}\n    {key}: {token}\n    action: '{action}'\n    resource: '{resource}'\n    expect: allow\n")
        })
        .collect();
    write("tests/probes.yaml", format!("cases:\n{suite}"));

    let env = aws_env();
    let run = |args: &[&str]| avpctl_env(dir.path(), args, &env);
    let validate = run(&["validate"]);
    assert_eq!(validate.code, 0, "{}{}", validate.stdout, validate.stderr);
    let local = run(&["test", "--format", "json"]);
    let report: Value = serde_json::from_str(&local.stdout)
        .unwrap_or_else(|_| panic!("{}{}", local.stdout, local.stderr));
    let deploy = run(&["deploy", "--store", &store, "--yes", "--prune"]);
    assert_eq!(deploy.code, 0, "{}\n{}", deploy.stdout, deploy.stderr);
    std::thread::sleep(std::time::Duration::from_secs(5));

    // AVP answers with its own policy ids; avpctl's names map them back.
    let names: std::collections::HashMap<String, String> = avp
        .read()
        .unwrap()
        .policies
        .into_iter()
        .filter_map(|p| {
            let name = p
                .name?
                .strip_prefix(avpctl::store::NAME_PREFIX)?
                .to_string();
            Some((p.id, name))
        })
        .collect();
    use aws_sdk_verifiedpermissions::types;
    let (action_uid, resource_uid): (cedar_policy::EntityUid, cedar_policy::EntityUid) =
        (action.parse().unwrap(), resource.parse().unwrap());
    let mut disagreements = Vec::new();
    for (key, token) in &cases {
        let case = report["cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["name"] == *key))
            .unwrap_or_else(|| panic!("no local case {key}: {}", local.stdout));
        let ours: BTreeSet<String> = case["reasons"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
        let request = avp
            .client()
            .is_authorized_with_token()
            .policy_store_id(avp.store_id())
            .action(
                types::ActionIdentifier::builder()
                    .action_type(action_uid.type_name().to_string())
                    .action_id(action_uid.id().unescaped())
                    .build()
                    .unwrap(),
            )
            .resource(
                types::EntityIdentifier::builder()
                    .entity_type(resource_uid.type_name().to_string())
                    .entity_id(resource_uid.id().unescaped())
                    .build()
                    .unwrap(),
            );
        let request = if *key == "identity_token" {
            request.identity_token(token)
        } else {
            request.access_token(token)
        };
        let answer = avp
            .runtime()
            .block_on(request.send())
            .unwrap_or_else(|err| {
                panic!("AVP refused the {key} (an undeclared claim may be refused, not left out): {err:?}")
            });
        assert!(answer.errors().is_empty(), "AVP: {:?}", answer.errors());
        let theirs: BTreeSet<String> = answer
            .determining_policies()
            .iter()
            .map(|p| {
                names
                    .get(p.policy_id())
                    .cloned()
                    .unwrap_or_else(|| p.policy_id().to_string())
            })
            .collect();
        for probe in &probes {
            let (local, remote) = (ours.contains(&probe.id), theirs.contains(&probe.id));
            if local != remote {
                disagreements.push(format!(
                    "{key}: {} — avpctl {}, AVP {}",
                    probe.choice,
                    if local { "satisfies it" } else { "does not" },
                    if remote { "satisfies it" } else { "does not" },
                ));
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "avpctl and AVP disagree:\n{}",
        disagreements.join("\n")
    );
}
