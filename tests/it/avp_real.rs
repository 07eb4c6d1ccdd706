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

use crate::common::{avpctl_env, repo};

#[test]
#[ignore = "needs AVPCTL_REAL_AVP_STORE"]
fn real_avp_round_trip_against_a_scratch_store() {
    let store = std::env::var("AVPCTL_REAL_AVP_STORE").unwrap_or_else(|_| {
        panic!(
            "this test needs AVPCTL_REAL_AVP_STORE=avp:<scratch store id> and AWS credentials to run against real AVP"
        )
    });
    let env: Vec<(&str, String)> = [
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect();
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
    let need = |key: &str| {
        std::env::var(key).unwrap_or_else(|_| panic!("this test needs {key} (see its comment)"))
    };
    let store = need("AVPCTL_REAL_AVP_STORE");
    let token = need("AVPCTL_REAL_ID_TOKEN");
    let action: cedar_policy::EntityUid = need("AVPCTL_REAL_ACTION").parse().unwrap();
    let resource: cedar_policy::EntityUid = need("AVPCTL_REAL_RESOURCE").parse().unwrap();
    let connection = avpctl::store::avp::Connection {
        store_id: store.trim_start_matches("avp:").to_string(),
        region: std::env::var("AWS_REGION").ok(),
        profile: std::env::var("AWS_PROFILE").ok(),
        endpoint_url: None,
        concurrency: 1,
    };
    let mut avp = avpctl::store::avp::AvpStore::connect(connection).unwrap();
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
