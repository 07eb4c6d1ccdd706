//! Identity sources (docs/identity.md): the document and its checks in
//! `validate`, token cases in `test`, with-token replays.

use std::path::Path;

use crate::common::{self, avpctl, case, copy_dir, diagnostic, fixture};
use serde_json::Value;

const POOL_ISSUER: &str = "https://cognito-idp.us-east-2.amazonaws.com/us-east-2_EXAMPLE";

/// A copy of a fixture under fixtures/identity/, to change.
fn copy_of(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("identity").join(name), dir.path());
    dir
}

fn write(dir: &Path, path: &str, text: &str) {
    let full = dir.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

fn test_json(dir: &Path) -> (i32, Value) {
    let run = avpctl(&["test", dir.to_str().unwrap(), "--format", "json"]);
    (run.code, run.json())
}

fn validate_json(dir: &Path) -> (i32, Value) {
    let run = avpctl(&["validate", dir.to_str().unwrap(), "--format", "json"]);
    (run.code, run.json())
}

fn codes(report: &Value) -> Vec<String> {
    report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_cognito_and_oidc_fixtures_validate_and_pass() {
    for (name, cases) in [("cognito", 12), ("oidc", 7)] {
        let dir = fixture("identity").join(name);
        let run = avpctl(&["validate", dir.to_str().unwrap(), "--deny-warnings"]);
        assert_eq!(run.code, 0, "{name}: {}{}", run.stdout, run.stderr);
        let (code, report) = test_json(&dir);
        assert_eq!(code, 0, "{name}: {report:#}");
        assert_eq!(report["summary"]["passed"], cases, "{name}");
    }
}

#[test]
fn reports_show_the_principal_the_token_derives() {
    let (_, report) = test_json(&fixture("identity/cognito"));
    let alice = case(
        &report,
        "alice's ID token lets her view the inventory through her claims",
    );
    assert_eq!(
        alice["principal"],
        r#"MyCorp::User::"us-east-2_EXAMPLE|91eb4550-XXX""#
    );
}

/// The silent mismatch of the issue: a policy that names a group by its
/// bare name never matches a token's group, and `validate` says why.
#[test]
fn a_group_named_without_the_pool_prefix_never_matches_and_is_flagged() {
    let dir = copy_of("cognito");
    let policy = dir.path().join("policies/owners-update.cedar");
    let text = std::fs::read_to_string(&policy).unwrap();
    std::fs::write(
        &policy,
        text.replace("us-east-2_EXAMPLE|Store-Owner-Role", "Store-Owner-Role"),
    )
    .unwrap();
    let (code, report) = test_json(dir.path());
    assert_eq!(code, 1, "{report:#}");
    let owner = case(
        &report,
        "a store owner by Cognito group updates her own store, not another › MyCorp::Store::\"dallas\"",
    );
    assert_eq!(owner["decision"], "deny");
    let (_, validated) = validate_json(dir.path());
    let warning = diagnostic(&validated, "identity-unreachable-id");
    assert_eq!(warning["severity"], "warning");
    assert_eq!(warning["file"], "policies/owners-update.cedar");
    assert_eq!(warning["policy"], "owners-update");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains(r#"MyCorp::UserGroup::"Store-Owner-Role""#),
        "{warning:#}"
    );
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("us-east-2_EXAMPLE|")
    );
}

#[test]
fn constraints_of_avps_api_model_are_located_errors() {
    let cases = [
        (
            r#"{"principalEntityType": "A::User", "configuration": {"cognitoUserPoolConfiguration": {"userPoolArn": "arn:aws:s3:::bucket"}}}"#,
            "not a Cognito user pool ARN",
            (1, 102),
        ),
        (
            r#"{"principalEntityType": "A::User", "configuration": {"openIdConnectConfiguration": {"issuer": "http://id.example.com", "tokenSelection": {"accessTokenOnly": {}}}}}"#,
            "does not start with https://",
            (1, 95),
        ),
        (
            r#"{"principalEntityType": "A::User", "configuration": {"openIdConnectConfiguration": {"issuer": "https://id.example.com", "tokenSelection": {"accessTokenOnly": {"audiences": []}}}}}"#,
            "`audiences` lists 0 values; AVP takes 1 to 255",
            (1, 173),
        ),
        (
            r#"{"principalEntityType": "A::User", "policyStoreId": "PS1", "configuration": {"cognitoUserPoolConfiguration": {"userPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X"}}}"#,
            "names a policy store",
            (1, 53),
        ),
        (
            r#"{"principalEntityType": "A::User", "configuration": {"cognitoUserPoolConfiguration": {"userPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_X", "groupConfiguration": {"groupEntityType": "not a type"}}}}"#,
            "`not a type` is not an entity type name",
            (1, 211),
        ),
    ];
    for (document, message, (line, column)) in cases {
        let dir = common::project(&[
            (
                "avpctl.toml",
                "identity_source = \"identity-source.json\"\n",
            ),
            ("identity-source.json", document),
            ("policies/p.cedar", "permit(principal, action, resource);\n"),
        ]);
        let (code, report) = validate_json(dir.path());
        assert_eq!(code, 1, "{report:#}");
        let found = diagnostic(&report, "identity-source");
        assert!(
            found["message"].as_str().unwrap().contains(message),
            "{found:#}"
        );
        assert_eq!(found["file"], "identity-source.json");
        assert_eq!(
            (
                found["line"].as_u64().unwrap(),
                found["column"].as_u64().unwrap()
            ),
            (line, column),
            "{found:#}"
        );
    }
}

#[test]
fn a_document_not_in_avps_shape_is_refused_with_its_line_and_column() {
    let dir = common::project(&[
        (
            "avpctl.toml",
            "identity_source = \"identity-source.json\"\n",
        ),
        (
            "identity-source.json",
            "{\n  \"principalEntityType\": \"A::User\",\n  \"configuration\": {\n    \"cognitoUserPoolConfiguration\": {\"userPoolArn\": \"x\", \"clientId\": []}\n  }\n}\n",
        ),
        ("policies/p.cedar", "permit(principal, action, resource);\n"),
    ]);
    let (code, report) = validate_json(dir.path());
    assert_eq!(code, 1, "{report:#}");
    let found = &report["diagnostics"][0];
    assert_eq!(found["code"], "identity-source");
    assert!(
        found["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `clientId`"),
        "{found:#}"
    );
    assert_eq!(found["line"], 4);
    // A test run cannot go on without the identity source.
    let run = avpctl(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
}

#[test]
fn the_schema_must_declare_the_types_the_identity_source_fills() {
    let dir = copy_of("cognito");
    write(
        dir.path(),
        "schema.cedarschema",
        "namespace MyCorp { entity UserGroup; entity User; entity Store { code: String };\n action ViewInventory, GetStoreInventory, UpdateInventory appliesTo { principal: User, resource: Store }; }\n",
    );
    std::fs::remove_dir_all(dir.path().join("policies")).unwrap();
    write(
        dir.path(),
        "policies/p.cedar",
        "permit(principal, action, resource);\n",
    );
    let (_, report) = validate_json(dir.path());
    assert!(
        codes(&report).contains(&"identity-group-not-parent".to_string()),
        "{report:#}"
    );
    let json = std::fs::read_to_string(dir.path().join("identity-source.json")).unwrap();
    std::fs::write(
        dir.path().join("identity-source.json"),
        json.replace("\"MyCorp::User\"", "\"MyCorp::Person\""),
    )
    .unwrap();
    let (_, report) = validate_json(dir.path());
    let undeclared = diagnostic(&report, "identity-type-undeclared");
    assert_eq!(
        undeclared["line"], 2,
        "at principalEntityType: {undeclared:#}"
    );
}

#[test]
fn a_missing_principal_type_is_a_warning_naming_avps_default() {
    let dir = copy_of("cognito");
    let json = std::fs::read_to_string(dir.path().join("identity-source.json")).unwrap();
    std::fs::write(
        dir.path().join("identity-source.json"),
        json.replace("\"principalEntityType\": \"MyCorp::User\",", ""),
    )
    .unwrap();
    let (code, report) = validate_json(dir.path());
    assert_eq!(code, 0, "a warning: AVP accepts it");
    let warning = diagnostic(&report, "identity-principal-type");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .contains("AWS::Cognito")
    );
}

fn suite_problem(suite: &str) -> Value {
    let dir = copy_of("cognito");
    write(dir.path(), "tests/tokens.yaml", suite);
    let run = avpctl(&["test", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    run.json()["diagnostics"][0].clone()
}

#[test]
fn token_cases_given_wrongly_are_located_errors() {
    let token =
        format!("{{sub: \"1\", iss: \"{POOL_ISSUER}\", aud: 1example23456789, token_use: id}}");
    let cases = [
        (
            format!("cases:\n  - name: both\n    identity_token: {token}\n    access_token: {token}\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: deny\n"),
            "bad-token",
            "gives both an `identity_token` and an `access_token`",
        ),
        (
            format!("cases:\n  - name: principal too\n    identity_token: {token}\n    principal: MyCorp::User::\"x\"\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: deny\n"),
            "bad-token",
            "gives both `identity_token` and a principal",
        ),
        (
            "cases:\n  - name: not a jwt\n    identity_token: abc.def\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: deny\n".to_string(),
            "bad-token",
            "three parts",
        ),
        (
            "cases:\n  - name: refused without token\n    principal: MyCorp::User::\"x\"\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: refused\n".to_string(),
            "bad-expect",
            "only a case with a token can be",
        ),
        (
            format!("cases:\n  - name: unknown code\n    identity_token: {token}\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: refused\n    refusal: token-bogus\n"),
            "bad-expect",
            "`token-bogus` is not a refusal avpctl knows",
        ),
        (
            format!("now: yesterday\ncases:\n  - name: bad clock\n    identity_token: {token}\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: deny\n"),
            "bad-now",
            "`now: yesterday` is not a time",
        ),
    ];
    for (suite, code, message) in cases {
        let problem = suite_problem(&suite);
        assert_eq!(problem["code"], code, "{problem:#}");
        assert!(
            problem["message"].as_str().unwrap().contains(message),
            "{problem:#}"
        );
        assert_eq!(problem["file"], "tests/tokens.yaml");
        assert!(problem["line"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn a_token_case_needs_an_identity_source() {
    let dir = common::example();
    write(
        dir.path(),
        "tests/token.yaml",
        "cases:\n  - name: t\n    identity_token: {sub: \"1\"}\n    action: DocApp::Action::\"viewDocument\"\n    resource: DocApp::Document::\"42\"\n    expect: deny\n",
    );
    let run = avpctl(&["test", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(run.code, 2);
    let problem = &run.json()["diagnostics"][0];
    assert_eq!(problem["code"], "no-identity-source");
    assert_eq!(problem["line"], 2);
}

#[test]
fn a_refusal_where_a_decision_was_expected_fails_with_the_reason() {
    let dir = copy_of("cognito");
    write(
        dir.path(),
        "tests/tokens.yaml",
        "cases:\n  - name: wrong pool\n    identity_token: {sub: \"1\", iss: \"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER\", aud: 1example23456789, token_use: id}\n    action: MyCorp::Action::\"ViewInventory\"\n    resource: MyCorp::Store::\"dallas\"\n    expect: deny\n",
    );
    let run = avpctl(&["test", dir.path().to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("expected deny, but AVP refuses the token: the token's issuer `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER` is not the identity source's `https://cognito-idp.us-east-2.amazonaws.com/us-east-2_EXAMPLE` (token-issuer)"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("token:     ID token"), "{}", run.stdout);
}

#[test]
fn with_token_replays_derive_the_principal_and_refuse_identity_entities() {
    let dir = copy_of("cognito");
    let jwt = |claims: Value| {
        use base64::Engine;
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.sig",
            encode(&serde_json::json!({"alg": "none"})),
            encode(&claims)
        )
    };
    let token = jwt(serde_json::json!({
        "sub": "1", "iss": POOL_ISSUER, "client_id": "1example23456789", "token_use": "access",
        "scope": "MyAPI/mydata.write"
    }));
    let store = serde_json::json!({"entityList": [{"identifier": {"entityType": "MyCorp::Store", "entityId": "dallas"}, "attributes": {"code": {"string": "petstore-dallas"}}}]});
    write(
        dir.path(),
        "tests/replays/batch.json",
        &serde_json::json!({
            "policyStoreId": "PS1",
            "accessToken": token,
            "entities": store,
            "requests": [
                {"action": {"actionType": "MyCorp::Action", "actionId": "GetStoreInventory"}, "resource": {"entityType": "MyCorp::Store", "entityId": "dallas"}},
                {"action": {"actionType": "MyCorp::Action", "actionId": "ViewInventory"}, "resource": {"entityType": "MyCorp::Store", "entityId": "dallas"}}
            ]
        })
        .to_string(),
    );
    let mut with_user = store.clone();
    with_user["entityList"].as_array_mut().unwrap().push(serde_json::json!({"identifier": {"entityType": "MyCorp::User", "entityId": "us-east-2_EXAMPLE|1"}}));
    write(
        dir.path(),
        "tests/replays/with-user.json",
        &serde_json::json!({
            "accessToken": token,
            "entities": with_user,
            "action": {"actionType": "MyCorp::Action", "actionId": "GetStoreInventory"},
            "resource": {"entityType": "MyCorp::Store", "entityId": "dallas"}
        })
        .to_string(),
    );
    write(
        dir.path(),
        "tests/tokens.yaml",
        "cases:\n  - name: batch\n    replay: replays/batch.json\n    expect: [allow, deny]\n  - name: principal data in entities\n    replay: replays/with-user.json\n    expect: refused\n    refusal: token-identity-entities\n",
    );
    let (code, report) = test_json(dir.path());
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["summary"]["passed"], 3);
    assert_eq!(
        case(&report, "batch › request 0")["principal"],
        r#"MyCorp::User::"us-east-2_EXAMPLE|1""#
    );
}

/// The OIDC form of the cognito fixture's source: same types, other kind.
const OIDC_SOURCE: &str = r#"{
  "principalEntityType": "MyCorp::User",
  "configuration": {"openIdConnectConfiguration": {
    "issuer": "https://auth.example.com",
    "entityIdPrefix": "MyOIDCProvider",
    "groupConfiguration": {"groupClaim": "groups", "groupEntityType": "MyCorp::UserGroup"},
    "tokenSelection": {"identityTokenOnly": {"clientIds": ["1example23456789"]}}
  }}
}"#;

fn with_client_ids(dir: &Path, ids: &[&str]) {
    let path = dir.join("identity-source.json");
    let mut source: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    source["configuration"]["cognitoUserPoolConfiguration"]["clientIds"] = serde_json::json!(ids);
    std::fs::write(&path, source.to_string()).unwrap();
}

fn deploy(dir: &Path, store: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "deploy",
        dir.to_str().unwrap(),
        "--store",
        store,
        "--yes",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let run = avpctl(&args);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    run.json()["stores"][0].clone()
}

fn identity_change(entry: &Value) -> Value {
    entry["result"]["planned"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "identity-source")
        .cloned()
        .unwrap_or_else(|| panic!("no identity-source change: {entry:#}"))
}

fn labels(entry: &Value) -> Vec<String> {
    entry["result"]["planned"]["plan"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["wave"], s["operation"].as_str().unwrap()))
        .collect()
}

#[test]
fn deploy_creates_updates_and_replaces_the_identity_source_in_the_local_store() {
    let dir = copy_of("cognito");
    let store_file = dir.path().join(".avpctl/store.json");
    let store = format!("local:{}", store_file.display());

    let created = deploy(dir.path(), &store, &[]);
    let change = identity_change(&created);
    assert_eq!(
        (change["status"].as_str(), change["access"].as_str()),
        (Some("added"), Some("widens"))
    );
    assert!(
        labels(&created)
            .iter()
            .position(|l| l.ends_with("PutSchema"))
            < labels(&created)
                .iter()
                .position(|l| l.ends_with("CreateIdentitySource")),
        "the schema goes first: {:?}",
        labels(&created)
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&store_file).unwrap()).unwrap();
    let stored = &file["identity_source"];
    assert_eq!(stored["source"]["principalEntityType"], "MyCorp::User");
    let first_id = stored["id"].as_str().unwrap().to_string();

    let again = deploy(dir.path(), &store, &[]);
    assert_eq!(again["result"]["status"], "up-to-date", "{again:#}");

    with_client_ids(dir.path(), &["1example23456789", "mobile-app"]);
    let widened = deploy(dir.path(), &store, &[]);
    let change = identity_change(&widened);
    assert_eq!(
        (change["access"].as_str(), change["replace"].as_bool()),
        (Some("widens"), Some(false))
    );
    assert_eq!(labels(&widened), vec!["1 UpdateIdentitySource".to_string()]);

    // Tokens of the fixture's client are refused now: the cases say so.
    with_client_ids(dir.path(), &["mobile-app"]);
    let narrowed = identity_change(&deploy(dir.path(), &store, &["--dry-run", "--no-tests"]));
    assert_eq!(narrowed["access"], "narrows");

    // The Cognito token cases no longer hold under an OIDC source.
    std::fs::write(dir.path().join("identity-source.json"), OIDC_SOURCE).unwrap();
    let replaced = deploy(dir.path(), &store, &["--no-tests"]);
    let change = identity_change(&replaced);
    assert_eq!(
        (change["access"].as_str(), change["replace"].as_bool()),
        (Some("changes"), Some(true))
    );
    assert_eq!(
        labels(&replaced),
        vec![
            "1 DeleteIdentitySource".to_string(),
            "2 CreateIdentitySource".to_string()
        ],
        "deleted first, in its own wave"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&store_file).unwrap()).unwrap();
    assert!(
        file["identity_source"]["source"]["configuration"]["openIdConnectConfiguration"]
            .is_object()
    );
    assert_ne!(file["identity_source"]["id"], first_id.as_str());
}

#[test]
fn a_project_without_the_key_leaves_the_stores_identity_source_alone() {
    let dir = copy_of("cognito");
    let store_file = dir.path().join(".avpctl/store.json");
    let store = format!("local:{}", store_file.display());
    deploy(dir.path(), &store, &[]);
    std::fs::write(dir.path().join("avpctl.toml"), "").unwrap();
    let run = avpctl(&[
        "diff",
        dir.path().to_str().unwrap(),
        "--store",
        &store,
        "--format",
        "json",
        "--exit-code",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&store_file).unwrap()).unwrap();
    assert!(file["identity_source"].is_object());
}

#[test]
#[ignore = "needs the fakecloud emulator (scripts/test.sh installs it)"]
fn the_identity_source_round_trips_through_the_sdk_and_the_emulator() {
    use crate::common::avp;
    let fc = avp::fakecloud();
    let store = format!("avp:{}", avp::new_store(fc.port));
    let dir = copy_of("cognito");
    let run_avp = |args: &[&str]| {
        let run = common::avpctl_env(dir.path(), args, &avp::env(fc.port));
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
        run.json()
    };
    let created = run_avp(&["deploy", "--store", &store, "--yes", "--format", "json"]);
    assert_eq!(
        created["stores"][0]["result"]["calls"]["CreateIdentitySource"], 1,
        "{created:#}"
    );
    // What the SDK reads back is the same source: nothing to do.
    let diff = run_avp(&["diff", "--store", &store, "--format", "json"]);
    assert_eq!(diff["changes"].as_array().unwrap().len(), 0, "{diff:#}");

    with_client_ids(dir.path(), &["1example23456789", "mobile-app"]);
    let updated = run_avp(&["deploy", "--store", &store, "--yes", "--format", "json"]);
    assert_eq!(
        updated["stores"][0]["result"]["calls"]["UpdateIdentitySource"], 1,
        "{updated:#}"
    );

    std::fs::write(dir.path().join("identity-source.json"), OIDC_SOURCE).unwrap();
    let replaced = run_avp(&[
        "deploy",
        "--store",
        &store,
        "--yes",
        "--no-tests",
        "--format",
        "json",
    ]);
    let calls = &replaced["stores"][0]["result"]["calls"];
    assert_eq!(
        (
            calls["DeleteIdentitySource"].as_u64(),
            calls["CreateIdentitySource"].as_u64()
        ),
        (Some(1), Some(1)),
        "{replaced:#}"
    );
    let diff = run_avp(&["diff", "--store", &store, "--format", "json"]);
    assert_eq!(
        diff["changes"].as_array().unwrap().len(),
        0,
        "the OIDC source reads back the same: {diff:#}"
    );
    let listed = avp::call(
        fc.port,
        "ListIdentitySources",
        &serde_json::json!({"policyStoreId": store.trim_start_matches("avp:")}),
    );
    assert_eq!(
        listed["identitySources"].as_array().unwrap().len(),
        1,
        "{listed:#}"
    );
}

#[test]
fn token_cases_replay_against_a_store_with_the_derived_principal() {
    let dir = copy_of("cognito");
    let store = format!("local:{}", dir.path().join(".avpctl/store.json").display());
    deploy(dir.path(), &store, &[]);
    let run = avpctl(&[
        "test",
        dir.path().to_str().unwrap(),
        "--store",
        &store,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let report = run.json();
    let alice = case(
        &report,
        "an access token with the write scope reads the inventory",
    );
    assert_eq!(alice["store_decision"], "allow", "{alice:#}");
    assert_eq!(alice["store_reasons"], serde_json::json!(["api-scope"]));
    let refused = case(&report, "a token from another user pool is refused");
    assert_eq!(
        refused["store_decision"],
        Value::Null,
        "a refused token is not sent"
    );
    assert_eq!(refused["refusal"]["code"], "token-issuer");
}

#[test]
fn an_identity_source_outside_the_project_is_refused_at_its_key() {
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.json", "{\"not\": \"read\"}");
    let dir = common::project(&[
        (
            "avpctl.toml",
            &format!(
                "identity_source = \"{}\"\n",
                outside.path().join("secret.json").display()
            ),
        ),
        ("policies/p.cedar", "permit(principal, action, resource);\n"),
    ]);
    let (code, report) = validate_json(dir.path());
    assert_eq!(code, 2, "{report:#}");
    let refused = diagnostic(&report, "outside-project");
    assert_eq!(
        (refused["file"].as_str(), refused["line"].as_u64()),
        (Some("avpctl.toml"), Some(1))
    );
    assert!(
        !report.to_string().contains("not\\\": \\\"read"),
        "the target is never read"
    );
}
