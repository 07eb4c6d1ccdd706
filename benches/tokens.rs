//! `cargo bench --bench tokens`: token cases cost no more than principal
//! cases. One project with a Cognito identity source, run twice with
//! the same requests: once as principal cases (users and groups in the
//! entity data), once as ID-token cases (the identity source makes the
//! same users and groups from the claims). The token cases are run twice:
//! with the claims written as YAML mappings, and as compact JWTs, the
//! form a token pasted from a real sign-in has.
//!
//! Options: `--cases N` (10000), `--users N` (500), `--policies N` (200).

mod common;

use std::path::Path;

const POOL: &str = "us-east-1_BENCH";
const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_BENCH";

fn write(root: &Path, path: &str, text: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, text).unwrap();
}

/// Policies by group and by attribute, over users that are all token
/// users (ids `<pool>|u<n>`, groups `<pool>|g<n>`).
fn project(root: &Path, policies: usize) {
    write(
        root,
        "schema.cedarschema",
        "namespace Bench {\n  entity Group;\n  entity User in [Group] { level?: Long, dept?: String };\n  entity Doc { level: Long, dept: String };\n  action read, write appliesTo { principal: User, resource: Doc };\n}\n",
    );
    let mut text = String::new();
    for i in 0..policies {
        let action = if i % 2 == 0 { "read" } else { "write" };
        if i % 3 == 0 {
            text.push_str(&format!(
                "@id(\"p{i}\")\npermit (principal in Bench::Group::\"{POOL}|g{}\", action == Bench::Action::\"{action}\", resource)\nwhen {{ resource.level <= {} }};\n",
                i % 20,
                i % 5
            ));
        } else {
            text.push_str(&format!(
                "@id(\"p{i}\")\npermit (principal, action == Bench::Action::\"{action}\", resource)\nwhen {{ principal has dept && principal.dept == \"d{}\" && principal has level && principal.level >= resource.level }};\n",
                i % 20
            ));
        }
    }
    write(root, "policies/all.cedar", &text);
    write(
        root,
        "identity-source.json",
        &serde_json::json!({
            "principalEntityType": "Bench::User",
            "configuration": {"cognitoUserPoolConfiguration": {
                "userPoolArn": format!("arn:aws:cognito-idp:us-east-1:123456789012:userpool/{POOL}"),
                "clientIds": ["bench-client"],
                "groupConfiguration": {"groupEntityType": "Bench::Group"}
            }}
        })
        .to_string(),
    );
    write(
        root,
        "avpctl.toml",
        "identity_source = \"identity-source.json\"\n",
    );
}

struct Request {
    user: usize,
    doc: usize,
    action: &'static str,
}

fn user_groups(user: usize) -> [usize; 2] {
    [user % 20, (user * 7) % 20]
}

fn docs_json(docs: usize) -> Vec<serde_json::Value> {
    (0..docs)
        .map(|d| serde_json::json!({"uid": {"type": "Bench::Doc", "id": format!("d{d}")}, "attrs": {"level": d % 5, "dept": format!("d{}", d % 20)}, "parents": []}))
        .collect()
}

/// The same requests as principal cases, with the users in the data.
fn principal_suite(root: &Path, requests: &[Request], users: usize, docs: usize) {
    let mut entities = docs_json(docs);
    for u in 0..users {
        let groups: Vec<_> = user_groups(u)
            .iter()
            .map(|g| serde_json::json!({"type": "Bench::Group", "id": format!("{POOL}|g{g}")}))
            .collect();
        entities.push(serde_json::json!({"uid": {"type": "Bench::User", "id": format!("{POOL}|u{u}")}, "attrs": {"level": u % 5, "dept": format!("d{}", u % 20)}, "parents": groups}));
    }
    for g in 0..20 {
        entities.push(serde_json::json!({"uid": {"type": "Bench::Group", "id": format!("{POOL}|g{g}")}, "attrs": {}, "parents": []}));
    }
    write(
        root,
        "entities.json",
        &serde_json::Value::Array(entities).to_string(),
    );
    let mut suite = String::from("entities: [../entities.json]\ncases:\n");
    for (i, r) in requests.iter().enumerate() {
        suite.push_str(&format!(
            "  - {{name: c{i}, principal: 'Bench::User::\"{POOL}|u{}\"', action: 'Bench::Action::\"{}\"', resource: 'Bench::Doc::\"d{}\"', expect: {}}}\n",
            r.user, r.action, r.doc, "EXPECT"
        ));
    }
    write(root, "tests/cases.yaml", &suite);
}

/// How a token case writes its token.
#[derive(Clone, Copy)]
enum Form {
    /// The claims as a YAML mapping.
    Claims,
    /// A compact JWT (`header.payload.signature`, base64url).
    Jwt,
}

/// The same requests as ID-token cases: the claims carry the groups and
/// attributes.
fn token_suite(root: &Path, requests: &[Request], docs: usize, form: Form) {
    use base64::Engine;
    let base64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    write(
        root,
        "entities.json",
        &serde_json::Value::Array(docs_json(docs)).to_string(),
    );
    let header = base64.encode(r#"{"kid":"bench","alg":"RS256"}"#);
    let mut suite = String::from("entities: [../entities.json]\ncases:\n");
    for (i, r) in requests.iter().enumerate() {
        let groups = user_groups(r.user);
        let u = r.user;
        let token = match form {
            Form::Claims => format!(
                "{{sub: u{u}, iss: '{ISSUER}', aud: bench-client, token_use: id, 'cognito:groups': [g{}, g{}], level: {}, dept: d{}, email: u{u}@example.com, exp: 1900000000}}",
                groups[0],
                groups[1],
                u % 5,
                u % 20,
            ),
            Form::Jwt => {
                let claims = serde_json::json!({
                    "sub": format!("u{u}"), "iss": ISSUER, "aud": "bench-client", "token_use": "id",
                    "cognito:groups": [format!("g{}", groups[0]), format!("g{}", groups[1])],
                    "level": u % 5, "dept": format!("d{}", u % 20),
                    "email": format!("u{u}@example.com"), "exp": 1_900_000_000,
                });
                format!(
                    "{header}.{}.c2lnbmF0dXJl",
                    base64.encode(claims.to_string())
                )
            }
        };
        suite.push_str(&format!(
            "  - {{name: c{i}, identity_token: {token}, action: 'Bench::Action::\"{}\"', resource: 'Bench::Doc::\"d{}\"', expect: {}}}\n",
            r.action, r.doc, "EXPECT",
        ));
    }
    write(root, "tests/cases.yaml", &suite);
}

/// Runs the suite once to learn the decisions, writes them in as the
/// expectations, then times passing runs (best of three).
fn timed_run(root: &Path) -> (std::time::Duration, Option<u64>, Vec<String>) {
    let suite_path = root.join("tests/cases.yaml");
    let text = std::fs::read_to_string(&suite_path).unwrap();
    std::fs::write(&suite_path, text.replace("EXPECT", "allow")).unwrap();
    let avpctl = common::avpctl();
    let dir = root.to_str().unwrap();
    let (_, _, first) = common::measure(&avpctl, &["test", dir, "--format", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).expect("JSON report");
    let decisions: Vec<String> = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["decision"].as_str().unwrap_or("none").to_string())
        .collect();
    let mut lines = text.lines().map(str::to_string).collect::<Vec<_>>();
    for (n, line) in lines
        .iter_mut()
        .filter(|l| l.contains("EXPECT"))
        .enumerate()
    {
        *line = line.replace("EXPECT", &decisions[n]);
    }
    std::fs::write(&suite_path, lines.join("\n") + "\n").unwrap();
    let (time, (peak, report)) = common::best_of(3, || {
        let (time, peak, output) = common::measure(&avpctl, &["test", dir, "--format", "json"]);
        (time, (peak, output))
    });
    let report: serde_json::Value = serde_json::from_slice(&report.stdout).expect("JSON report");
    assert_eq!(
        report["summary"]["failed"], 0,
        "every case passes: {}",
        report["summary"]
    );
    (time, peak, decisions)
}

fn main() {
    let cases = common::arg("--cases", 10_000);
    let users = common::arg("--users", 500);
    let policies = common::arg("--policies", 200);
    let docs = 100;
    let mut rng = common::Rng(7);
    let requests: Vec<Request> = (0..cases)
        .map(|_| Request {
            user: rng.below(users),
            doc: rng.below(docs),
            action: if rng.below(2) == 0 { "read" } else { "write" },
        })
        .collect();

    let principal_dir = tempfile::tempdir().unwrap();
    project(principal_dir.path(), policies);
    principal_suite(principal_dir.path(), &requests, users, docs);
    let (principal_time, principal_peak, principal_decisions) = timed_run(principal_dir.path());

    let token_dir = tempfile::tempdir().unwrap();
    project(token_dir.path(), policies);
    token_suite(token_dir.path(), &requests, docs, Form::Claims);
    let (token_time, token_peak, token_decisions) = timed_run(token_dir.path());

    let jwt_dir = tempfile::tempdir().unwrap();
    project(jwt_dir.path(), policies);
    token_suite(jwt_dir.path(), &requests, docs, Form::Jwt);
    let (jwt_time, jwt_peak, jwt_decisions) = timed_run(jwt_dir.path());

    assert_eq!(
        principal_decisions, token_decisions,
        "a token case decides as its principal case does"
    );
    assert_eq!(
        token_decisions, jwt_decisions,
        "a JWT decides as its claims do"
    );
    // Reading the suites alone (a filter that selects no case): the YAML
    // of token cases is longer, and each distinct token is derived here.
    let load_only = |dir: &Path| {
        common::best_of(3, || {
            let (time, _, _) = common::measure(
                &common::avpctl(),
                &["test", dir.to_str().unwrap(), "--filter", "no-such-case"],
            );
            (time, ())
        })
        .0
    };
    let (principal_load, token_load, jwt_load) = (
        load_only(principal_dir.path()),
        load_only(token_dir.path()),
        load_only(jwt_dir.path()),
    );
    let allowed = token_decisions.iter().filter(|d| *d == "allow").count();
    let mib = |kb: Option<u64>| {
        kb.map_or("n/a".to_string(), |kb| {
            format!("{:.1} MiB", kb as f64 / 1024.0)
        })
    };
    println!(
        "token-case benchmark ({cases} cases, {users} users, {policies} policies; {allowed} allowed; best of 3)"
    );
    println!(
        "  principal cases, avpctl test whole process:  {:>8.1} ms, peak {}",
        principal_time.as_secs_f64() * 1000.0,
        mib(principal_peak)
    );
    println!(
        "  token cases, avpctl test whole process:      {:>8.1} ms, peak {}",
        token_time.as_secs_f64() * 1000.0,
        mib(token_peak)
    );
    println!(
        "  ratio token / principal:                     {:>8.2}x",
        token_time.as_secs_f64() / principal_time.as_secs_f64()
    );
    println!(
        "  JWT token cases, avpctl test whole process:  {:>8.1} ms, peak {}",
        jwt_time.as_secs_f64() * 1000.0,
        mib(jwt_peak)
    );
    println!(
        "  ratio JWT token / principal:                 {:>8.2}x",
        jwt_time.as_secs_f64() / principal_time.as_secs_f64()
    );
    println!(
        "  reading the suites only (no case selected):  {:>8.1} ms principal, {:.1} ms token, {:.1} ms JWT",
        principal_load.as_secs_f64() * 1000.0,
        token_load.as_secs_f64() * 1000.0,
        jwt_load.as_secs_f64() * 1000.0
    );
    let suite_size =
        |dir: &Path| std::fs::metadata(dir.join("tests/cases.yaml")).map_or(0, |m| m.len());
    println!(
        "  suite file size:                             {:>8} bytes principal, {} bytes token, {} bytes JWT",
        suite_size(principal_dir.path()),
        suite_size(token_dir.path()),
        suite_size(jwt_dir.path())
    );
}
