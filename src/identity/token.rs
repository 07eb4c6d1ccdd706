//! A token's claims turned into what `IsAuthorizedWithToken` evaluates: the
//! principal, its groups as parents, its claims as attributes (ID token) or
//! as `context.token` (access token), after the checks AVP makes first.
//! Each rule and the AWS page it rests on is in docs/identity.md.

use base64::Engine;
use cedar_policy::EntityUid;
use serde_json::{Map, Value};

use super::schema_types::{AttrType, SchemaTypes};
use super::source::{Configuration, IdentitySource, TokenSelection};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    Identity,
    Access,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Identity => "ID token",
            TokenKind::Access => "access token",
        }
    }

    /// The `token_use` a Cognito token of this kind carries.
    fn token_use(self) -> &'static str {
        match self {
            TokenKind::Identity => "id",
            TokenKind::Access => "access",
        }
    }
}

/// What AVP builds from a token it accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Derived {
    pub principal: EntityUid,
    /// The principal and its groups, in Cedar's entity JSON.
    pub entities: Vec<Value>,
    /// `context.token` (access tokens), Cedar JSON.
    pub context_token: Option<Value>,
}

/// Why AVP would answer `ValidationException` instead of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Stable, for `refusal:` in a suite and for JSON reports.
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Every refusal code, for the suite reader to check `refusal:` against.
pub const REFUSAL_CODES: &[&str] = &[
    "token-not-selected",
    "token-reserved-claim",
    "token-issuer",
    "token-use",
    "token-audience",
    "token-expired",
    "token-principal-claim",
    "token-identity-entities",
];

/// A token as a case or a replay gives it.
#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub claims: &'a Map<String, Value>,
}

/// The claims of a compact JWT (`header.payload.signature`). The signature
/// is not verified: offline there is no key to verify it with.
pub fn decode_jwt(jwt: &str) -> Result<Map<String, Value>, String> {
    let parts: Vec<&str> = jwt.trim().split('.').collect();
    let [_, payload, _] = parts.as_slice() else {
        return Err(format!(
            "a JWT has three parts separated by `.`; this one has {}",
            parts.len()
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|err| format!("the JWT payload is not base64url: {err}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "the JWT payload is not UTF-8".to_string())?;
    match crate::strict_json::from_str(&text) {
        Ok(Value::Object(claims)) => Ok(claims),
        Ok(_) => Err("the JWT payload is not a JSON object".into()),
        Err(err) => Err(format!("the JWT payload is not valid JSON: {err}")),
    }
}

/// What the identity source makes of `token` for a request on `action`,
/// with the schema's types when there is one and the clock when the suite
/// sets one (seconds since the epoch).
pub fn derive(
    source: &IdentitySource,
    types: Option<&SchemaTypes>,
    token: Token<'_>,
    action: &EntityUid,
    now: Option<i64>,
) -> Result<Derived, Refusal> {
    let claims = token.claims;
    accept(source, token, now)?;
    let principal = principal(source, token)?;
    let principal_type = source.principal_type();
    let group_claim = group_claim(source);
    let groups: Vec<Value> = match (source.group_type(), group_claim.and_then(|c| claims.get(c))) {
        (Some(group_type), Some(value)) => group_names(value)
            .into_iter()
            .map(|name| serde_json::json!({"type": group_type, "id": source.entity_id(&name)}))
            .collect(),
        _ => Vec::new(),
    };
    let kept = |declared: Option<&AttrType>| {
        let claims = claims
            .iter()
            .filter(|(name, _)| Some(name.as_str()) != group_claim);
        attributes(claims, declared)
    };
    let (attrs, context_token) = match token.kind {
        TokenKind::Identity => {
            let declared = types.map(|t| {
                t.entity(principal_type)
                    .and_then(|decl| decl.shape.as_ref())
                    .unwrap_or(&AttrType::Other)
            });
            (kept(declared.map(no_other)), None)
        }
        TokenKind::Access => {
            let declared = types.map(|t| token_context(t, action));
            match declared {
                Some(None) => (Map::new(), None),
                Some(Some(declared)) => (Map::new(), Some(Value::Object(kept(Some(declared))))),
                None => (Map::new(), Some(Value::Object(kept(None)))),
            }
        }
    };
    let mut entities = vec![serde_json::json!({
        "uid": {"type": principal_type, "id": principal.id().unescaped()},
        "attrs": attrs,
        "parents": groups,
    })];
    entities.extend(
        groups
            .iter()
            .map(|uid| serde_json::json!({"uid": uid, "attrs": {}, "parents": []})),
    );
    Ok(Derived {
        principal,
        entities,
        context_token,
    })
}

/// The principal a token names: `<type>::"<prefix>|<id claim>"`, also
/// for a token AVP refuses (a report still shows whose it was).
pub fn principal(source: &IdentitySource, token: Token<'_>) -> Result<EntityUid, Refusal> {
    let id_claim = principal_id_claim(source);
    let Some(Value::String(id)) = token.claims.get(id_claim) else {
        return Err(refuse(
            "token-principal-claim",
            format!(
                "the {} has no string claim `{id_claim}` to name the principal by",
                token.kind.as_str()
            ),
        ));
    };
    crate::uid::from_parts(source.principal_type(), &source.entity_id(id))
        .map_err(|message| refuse("token-principal-claim", message))
}

/// An undeclared shape keeps no claim: AVP passes only what the schema
/// declares, or the request would not match it.
fn no_other(declared: &AttrType) -> &AttrType {
    static EMPTY: std::sync::LazyLock<AttrType> =
        std::sync::LazyLock::new(|| AttrType::Record(Default::default()));
    match declared {
        AttrType::Other => &EMPTY,
        declared => declared,
    }
}

/// The declared type of `context.token` for `action`: `None` when the
/// context declares no `token`, so none is sent.
fn token_context<'t>(types: &'t SchemaTypes, action: &EntityUid) -> Option<&'t AttrType> {
    match types.context(&action.to_string())? {
        AttrType::Record(attrs) => attrs.get("token"),
        _ => None,
    }
}

/// The checks AVP makes before it evaluates: the token kind the source
/// takes, reserved claim names, issuer, `token_use`, audience, expiry.
fn accept(source: &IdentitySource, token: Token<'_>, now: Option<i64>) -> Result<(), Refusal> {
    let claims = token.claims;
    let kind = token.kind;
    if let Configuration::OpenIdConnectConfiguration(oidc) = &source.configuration {
        let selected = match oidc.token_selection {
            TokenSelection::AccessTokenOnly(_) => TokenKind::Access,
            TokenSelection::IdentityTokenOnly(_) => TokenKind::Identity,
        };
        if selected != kind {
            return Err(refuse(
                "token-not-selected",
                format!(
                    "this OIDC identity source takes {}s only (tokenSelection)",
                    selected.as_str()
                ),
            ));
        }
    }
    if let Configuration::CognitoUserPoolConfiguration(_) = &source.configuration {
        reserved_claims(claims)?;
    }
    let issuer = source.issuer();
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss.trim_end_matches('/') == issuer.trim_end_matches('/') => {}
        Some(iss) => {
            return Err(refuse(
                "token-issuer",
                format!("the token's issuer `{iss}` is not the identity source's `{issuer}`"),
            ));
        }
        None => {
            return Err(refuse(
                "token-issuer",
                "the token has no `iss` claim".into(),
            ));
        }
    }
    if let Configuration::CognitoUserPoolConfiguration(_) = &source.configuration {
        let token_use = claims.get("token_use").and_then(Value::as_str);
        if token_use != Some(kind.token_use()) {
            return Err(refuse(
                "token-use",
                format!(
                    "an {} must have `token_use: {}`; this one has {}",
                    kind.as_str(),
                    kind.token_use(),
                    token_use.map_or("none".to_string(), |u| format!("`{u}`"))
                ),
            ));
        }
    }
    audience(source, token)?;
    if let (Some(now), Some(exp)) = (now, claims.get("exp").and_then(Value::as_f64))
        && exp <= now as f64
    {
        return Err(refuse(
            "token-expired",
            format!("the token expired at {exp} (`exp`), before the suite's clock ({now})"),
        ));
    }
    Ok(())
}

/// userguide `identity-sources-cognito.html`: a token with `cognito:` or
/// `custom:` claims and a claim named `cognito` or `custom` fails with a
/// `ValidationException`; the Cognito developer guide adds `dev`.
fn reserved_claims(claims: &Map<String, Value>) -> Result<(), Refusal> {
    let prefixed = claims
        .keys()
        .any(|k| k.starts_with("cognito:") || k.starts_with("custom:"));
    let literal = ["cognito", "custom", "dev"]
        .into_iter()
        .find(|name| claims.contains_key(*name));
    match (prefixed, literal) {
        (true, Some(name)) => Err(refuse(
            "token-reserved-claim",
            format!(
                "the token has a claim named `{name}` beside `cognito:`/`custom:` claims, which AVP refuses"
            ),
        )),
        _ => Ok(()),
    }
}

/// The client or audience check (userguide `cognito-validation.html`,
/// `oidc-validation.html`); an empty list means no check.
fn audience(source: &IdentitySource, token: Token<'_>) -> Result<(), Refusal> {
    let claims = token.claims;
    let (claim, allowed): (&str, &[String]) = match (&source.configuration, token.kind) {
        (Configuration::CognitoUserPoolConfiguration(c), TokenKind::Identity) => {
            ("aud", &c.client_ids)
        }
        (Configuration::CognitoUserPoolConfiguration(c), TokenKind::Access) => {
            ("client_id", &c.client_ids)
        }
        (Configuration::OpenIdConnectConfiguration(o), _) => match &o.token_selection {
            TokenSelection::IdentityTokenOnly(i) => ("aud", &i.client_ids),
            TokenSelection::AccessTokenOnly(a) => {
                // "If no aud claim exists, the audience can be validated
                // using the cid or client_id claims."
                let claim = ["aud", "cid", "client_id"]
                    .into_iter()
                    .find(|c| claims.contains_key(*c))
                    .unwrap_or("aud");
                (claim, a.audiences.as_deref().unwrap_or_default())
            }
        },
    };
    if allowed.is_empty() {
        return Ok(());
    }
    let values = group_names_strict(claims.get(claim));
    if values.iter().any(|v| allowed.contains(v)) {
        return Ok(());
    }
    Err(refuse(
        "token-audience",
        format!(
            "the token's `{claim}` ({}) is none of the identity source's {}",
            if values.is_empty() {
                "missing".to_string()
            } else {
                values.join(", ")
            },
            allowed.join(", ")
        ),
    ))
}

fn refuse(code: &'static str, message: String) -> Refusal {
    Refusal { code, message }
}

fn principal_id_claim(source: &IdentitySource) -> &str {
    match &source.configuration {
        Configuration::CognitoUserPoolConfiguration(_) => "sub",
        Configuration::OpenIdConnectConfiguration(oidc) => {
            let claim = match &oidc.token_selection {
                TokenSelection::AccessTokenOnly(a) => a.principal_id_claim.as_deref(),
                TokenSelection::IdentityTokenOnly(i) => i.principal_id_claim.as_deref(),
            };
            claim.unwrap_or(super::source::DEFAULT_PRINCIPAL_ID_CLAIM)
        }
    }
}

fn group_claim(source: &IdentitySource) -> Option<&str> {
    match &source.configuration {
        Configuration::CognitoUserPoolConfiguration(_) => Some("cognito:groups"),
        Configuration::OpenIdConnectConfiguration(oidc) => oidc
            .group_configuration
            .as_ref()
            .map(|g| g.group_claim.as_str()),
    }
}

/// A groups claim: one name, names separated by spaces, or a list of names
/// (userguide `oidc-map-token-to-schema.html`).
fn group_names(value: &Value) -> Vec<String> {
    match value {
        Value::String(text) => text.split_whitespace().map(str::to_string).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A claim that is one string or a list of strings, taken as it is.
fn group_names_strict(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(text)) => vec![text.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Claims as Cedar JSON attributes. With a declared record only its
/// attributes are kept, each read by its declared type; without a schema
/// every claim is kept. Cedar has no fractions and no null: such claims
/// are left out.
fn attributes<'c>(
    claims: impl Iterator<Item = (&'c String, &'c Value)>,
    declared: Option<&AttrType>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in claims {
        let ty = match declared {
            Some(AttrType::Record(attrs)) => match attrs.get(name) {
                Some(ty) => Some(ty),
                None => continue,
            },
            Some(_) | None => None,
        };
        if let Some(value) = cedar_value(value, ty) {
            out.insert(name.clone(), value);
        }
    }
    out
}

fn cedar_value(value: &Value, declared: Option<&AttrType>) -> Option<Value> {
    match (value, declared) {
        (Value::Null, _) => None,
        (Value::Number(n), _) if n.as_i64().is_none() => None,
        // userguide `cognito-map-token-to-schema.html` declares the
        // space-separated `scope` claim as a Set<String>.
        (Value::String(text), Some(AttrType::Set(_))) => Some(Value::Array(
            text.split_whitespace()
                .map(|s| Value::String(s.into()))
                .collect(),
        )),
        (Value::Array(items), declared) => {
            let element = match declared {
                Some(AttrType::Set(element)) => Some(element.as_ref()),
                _ => None,
            };
            Some(Value::Array(
                items
                    .iter()
                    .filter_map(|i| cedar_value(i, element))
                    .collect(),
            ))
        }
        (Value::Object(fields), declared) => {
            let record = declared.filter(|d| matches!(d, AttrType::Record(_)));
            Some(Value::Object(attributes(fields.iter(), record)))
        }
        (value, _) => Some(value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn source(json: Value) -> IdentitySource {
        serde_json::from_value(json).unwrap()
    }

    fn cognito() -> IdentitySource {
        source(json!({
            "principalEntityType": "App::User",
            "configuration": {"cognitoUserPoolConfiguration": {
                "userPoolArn": "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_EXAMPLE",
                "clientIds": ["app-client-1"],
                "groupConfiguration": {"groupEntityType": "App::Group"}
            }}
        }))
    }

    fn oidc(selection: Value) -> IdentitySource {
        source(json!({
            "principalEntityType": "App::User",
            "configuration": {"openIdConnectConfiguration": {
                "issuer": "https://auth.example.com",
                "entityIdPrefix": "Corp",
                "groupConfiguration": {"groupClaim": "roles", "groupEntityType": "App::Group"},
                "tokenSelection": selection
            }}
        }))
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn id_claims() -> Map<String, Value> {
        claims(json!({
            "sub": "1111", "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
            "aud": "app-client-1", "token_use": "id", "cognito:groups": ["admins", "staff"],
            "cognito:username": "alice", "level": 3, "ratio": 0.5, "nothing": null
        }))
    }

    fn action() -> EntityUid {
        r#"App::Action::"view""#.parse().unwrap()
    }

    fn run(
        source: &IdentitySource,
        kind: TokenKind,
        claims: &Map<String, Value>,
    ) -> Result<Derived, Refusal> {
        derive(source, None, Token { kind, claims }, &action(), None)
    }

    fn refusal(
        source: &IdentitySource,
        kind: TokenKind,
        claims: &Map<String, Value>,
    ) -> &'static str {
        run(source, kind, claims).expect_err("refused").code
    }

    #[test]
    fn a_cognito_id_token_names_the_principal_and_groups_by_pool_id() {
        let derived = run(&cognito(), TokenKind::Identity, &id_claims()).unwrap();
        assert_eq!(
            derived.principal.to_string(),
            r#"App::User::"us-east-1_EXAMPLE|1111""#
        );
        let principal = &derived.entities[0];
        assert_eq!(
            principal["parents"],
            json!([{"type": "App::Group", "id": "us-east-1_EXAMPLE|admins"}, {"type": "App::Group", "id": "us-east-1_EXAMPLE|staff"}])
        );
        // Claims keep their names; the groups claim is not an attribute;
        // fractions and nulls have no Cedar value.
        let attrs = principal["attrs"].as_object().unwrap();
        assert_eq!(attrs["cognito:username"], "alice");
        assert_eq!(attrs["level"], 3);
        assert!(!attrs.contains_key("cognito:groups"));
        assert!(!attrs.contains_key("ratio") && !attrs.contains_key("nothing"));
        assert_eq!(
            derived.entities.len(),
            3,
            "the principal and its two groups"
        );
        assert_eq!(derived.context_token, None);
    }

    #[test]
    fn a_cognito_access_token_fills_context_token_not_attributes() {
        let mut claims = id_claims();
        claims.insert("token_use".into(), json!("access"));
        claims.remove("aud");
        claims.insert("client_id".into(), json!("app-client-1"));
        claims.insert("scope".into(), json!("docs/read docs/write"));
        let derived = run(&cognito(), TokenKind::Access, &claims).unwrap();
        assert_eq!(derived.entities[0]["attrs"], json!({}));
        assert_eq!(derived.entities[0]["parents"].as_array().unwrap().len(), 2);
        let token = derived.context_token.unwrap();
        assert_eq!(token["client_id"], "app-client-1");
        // Without a schema the scope stays the string it is.
        assert_eq!(token["scope"], "docs/read docs/write");
        assert!(token.get("cognito:groups").is_none());
    }

    #[test]
    fn a_declared_set_splits_the_scope_and_undeclared_claims_are_left_out() {
        let (fragment, _) = cedar_policy::SchemaFragment::from_cedarschema_str(
            r#"namespace App { entity Group; entity User in [Group] { "cognito:username"?: String };
               entity Doc; action view appliesTo { principal: User, resource: Doc,
               context: { token?: { scope: Set<String> } } }; }"#,
        )
        .unwrap();
        let types = SchemaTypes::from_json(&fragment.to_json_value().unwrap());
        let id = derive(
            &cognito(),
            Some(&types),
            Token {
                kind: TokenKind::Identity,
                claims: &id_claims(),
            },
            &action(),
            None,
        )
        .unwrap();
        assert_eq!(
            id.entities[0]["attrs"],
            json!({"cognito:username": "alice"})
        );
        let mut access = id_claims();
        access.insert("token_use".into(), json!("access"));
        access.insert("client_id".into(), json!("app-client-1"));
        access.insert("scope".into(), json!("docs/read docs/write"));
        let access = derive(
            &cognito(),
            Some(&types),
            Token {
                kind: TokenKind::Access,
                claims: &access,
            },
            &action(),
            None,
        )
        .unwrap();
        assert_eq!(
            access.context_token,
            Some(json!({"scope": ["docs/read", "docs/write"]}))
        );
    }

    #[test]
    fn cognito_checks_refuse_what_avp_refuses() {
        let source = cognito();
        let with = |key: &str, value: Value| {
            let mut claims = id_claims();
            claims.insert(key.into(), value);
            claims
        };
        let without = |key: &str| {
            let mut claims = id_claims();
            claims.remove(key);
            claims
        };
        assert_eq!(
            refusal(
                &source,
                TokenKind::Identity,
                &with(
                    "iss",
                    json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OTHER")
                )
            ),
            "token-issuer"
        );
        assert_eq!(
            refusal(&source, TokenKind::Identity, &without("iss")),
            "token-issuer"
        );
        assert_eq!(
            refusal(&source, TokenKind::Identity, &with("aud", json!("other"))),
            "token-audience"
        );
        assert_eq!(
            refusal(
                &source,
                TokenKind::Identity,
                &with("token_use", json!("access"))
            ),
            "token-use"
        );
        assert_eq!(
            refusal(&source, TokenKind::Access, &id_claims()),
            "token-use"
        );
        assert_eq!(
            refusal(&source, TokenKind::Identity, &without("sub")),
            "token-principal-claim"
        );
        for reserved in ["cognito", "custom", "dev"] {
            assert_eq!(
                refusal(&source, TokenKind::Identity, &with(reserved, json!("x"))),
                "token-reserved-claim",
                "{reserved}"
            );
        }
        // Without prefixed claims a claim named `dev` is an ordinary claim.
        let plain = claims(
            json!({"sub": "1", "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE", "aud": "app-client-1", "token_use": "id", "dev": true}),
        );
        assert!(run(&source, TokenKind::Identity, &plain).is_ok());
        // An empty client list checks no client.
        let mut open = source.clone();
        if let Configuration::CognitoUserPoolConfiguration(c) = &mut open.configuration {
            c.client_ids.clear();
        }
        assert!(run(&open, TokenKind::Identity, &with("aud", json!("other"))).is_ok());
    }

    #[test]
    fn expiry_is_checked_only_against_a_clock() {
        let claims = {
            let mut c = id_claims();
            c.insert("exp".into(), json!(1_000));
            c
        };
        let token = Token {
            kind: TokenKind::Identity,
            claims: &claims,
        };
        assert!(derive(&cognito(), None, token, &action(), None).is_ok());
        assert!(derive(&cognito(), None, token, &action(), Some(999)).is_ok());
        assert_eq!(
            derive(&cognito(), None, token, &action(), Some(1_000))
                .unwrap_err()
                .code,
            "token-expired"
        );
    }

    #[test]
    fn oidc_prefixes_ids_reads_every_group_form_and_takes_one_token_kind() {
        let source =
            oidc(json!({"identityTokenOnly": {"principalIdClaim": "email", "clientIds": ["web"]}}));
        let base = json!({"email": "a@example.com", "iss": "https://auth.example.com", "aud": ["x", "web"]});
        let groups_of = |roles: Value| {
            let mut claims = claims(base.clone());
            claims.insert("roles".into(), roles);
            let derived = run(&source, TokenKind::Identity, &claims).unwrap();
            assert_eq!(
                derived.principal.to_string(),
                r#"App::User::"Corp|a@example.com""#
            );
            derived.entities[0]["parents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(groups_of(json!("one")), ["Corp|one"]);
        assert_eq!(groups_of(json!("one two")), ["Corp|one", "Corp|two"]);
        assert_eq!(
            groups_of(json!(["one two", "three"])),
            ["Corp|one two", "Corp|three"]
        );
        assert_eq!(
            refusal(&source, TokenKind::Access, &claims(base.clone())),
            "token-not-selected"
        );
        let mut wrong = claims(base);
        wrong.insert("aud".into(), json!("mobile"));
        assert_eq!(
            refusal(&source, TokenKind::Identity, &wrong),
            "token-audience"
        );
    }

    #[test]
    fn an_oidc_access_token_falls_back_to_client_id_for_its_audience() {
        let source = oidc(json!({"accessTokenOnly": {"audiences": ["https://api.example.com"]}}));
        let token = |extra: Value| {
            let mut claims = claims(json!({"sub": "u1", "iss": "https://auth.example.com/"}));
            claims.extend(extra.as_object().unwrap().clone());
            claims
        };
        assert!(
            run(
                &source,
                TokenKind::Access,
                &token(json!({"aud": "https://api.example.com"}))
            )
            .is_ok()
        );
        assert!(
            run(
                &source,
                TokenKind::Access,
                &token(json!({"client_id": "https://api.example.com"}))
            )
            .is_ok()
        );
        assert_eq!(
            refusal(
                &source,
                TokenKind::Access,
                &token(
                    json!({"aud": "https://other.example.com", "client_id": "https://api.example.com"})
                )
            ),
            "token-audience"
        );
    }

    #[test]
    fn a_jwt_payload_is_read_and_a_malformed_one_explained() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"1"}"#);
        assert_eq!(
            decode_jwt(&format!("e30.{payload}.sig")).unwrap()["sub"],
            "1"
        );
        assert!(decode_jwt("only.two").unwrap_err().contains("three parts"));
        assert!(decode_jwt("a.!!!.c").unwrap_err().contains("base64url"));
        let list = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b"[1]");
        assert!(
            decode_jwt(&format!("a.{list}.c"))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }
}
