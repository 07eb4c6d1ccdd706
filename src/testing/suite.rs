//! The YAML test-suite format (docs/testing.md), read into [`Check`]s: one
//! request with its expectation each. A table case gives one check per
//! row, a replayed AVP batch one per request.

use std::collections::HashMap;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cedar_policy::{Decision, EntityUid};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::diagnostic::Diagnostic;
use crate::identity::schema_types::SchemaTypes;
use crate::identity::{IdentitySource, Refusal, Token, TokenKind};
use crate::source::{Location, SourceFile, display_path};
use crate::uid::UidSpec;

/// The project's identity source, for cases that give a token.
pub struct Identity<'a> {
    pub source: &'a IdentitySource,
    pub types: Option<SchemaTypes>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    #[serde(default)]
    entities: Vec<Spanned<EntitySource>>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
    #[serde(default)]
    validate_request: Option<bool>,
    /// The clock token expiry is checked against (docs/identity.md).
    #[serde(default)]
    now: Option<Spanned<Clock>>,
    #[serde(default)]
    cases: Vec<Spanned<RawCase>>,
}

/// A moment as seconds since the epoch or an RFC 3339 timestamp.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Clock {
    Seconds(i64),
    Timestamp(String),
}

/// A token as a case gives it: its claims, or a compact JWT.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawToken {
    Claims(Map<String, Value>),
    Jwt(String),
}

/// An entry of an `entities:` list: a file path, or an entity written inline.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum EntitySource {
    File(String),
    Inline(Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    principal: Option<UidSpec>,
    action: Option<UidSpec>,
    resource: Option<UidSpec>,
    context: Option<Map<String, Value>>,
    entities: Option<Vec<Spanned<EntitySource>>>,
    expect: Option<Expectation>,
    reasons: Option<Vec<String>>,
    errors: Option<Vec<String>>,
    validate_request: Option<bool>,
    /// Table form: one principal and action against many resources.
    resources: Option<Vec<Spanned<RawRow>>>,
    /// Table form: many principals against one action and resource.
    principals: Option<Vec<Spanned<RawRow>>>,
    /// An AVP IsAuthorized or BatchIsAuthorized input to replay.
    replay: Option<String>,
    /// Instead of `principal`: a token the identity source turns into one.
    identity_token: Option<RawToken>,
    access_token: Option<RawToken>,
    /// With `expect: refused`, which check refuses the token.
    refusal: Option<String>,
    now: Option<Spanned<Clock>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expected {
    Allow,
    Deny,
    /// AVP answers a `ValidationException`: the token is refused.
    Refused,
}

impl Expected {
    /// The decision expected, `None` for a refused token.
    pub fn decision(self) -> Option<Decision> {
        match self {
            Expected::Allow => Some(Decision::Allow),
            Expected::Deny => Some(Decision::Deny),
            Expected::Refused => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Expected::Allow => "allow",
            Expected::Deny => "deny",
            Expected::Refused => "refused",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Expectation {
    One(Expected),
    /// One per request of a replayed batch, in order.
    Many(Vec<Expected>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    /// Names the row in reports (default: the row's principal or resource).
    name: Option<String>,
    principal: Option<UidSpec>,
    resource: Option<UidSpec>,
    expect: Option<Expected>,
    reasons: Option<Vec<String>>,
    errors: Option<Vec<String>>,
    context: Option<Map<String, Value>>,
}

/// One suite file, its entity sources and its checks.
#[derive(Debug)]
pub struct Suite {
    pub file: SourceFile,
    /// Entity sources of the suite, file paths resolved relative to the
    /// project root.
    pub entities: Vec<ResolvedSource>,
    pub checks: Vec<Arc<Check>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolvedSource {
    /// Relative to the project root.
    File(PathBuf),
    /// Entity JSON written in the suite, and where (a byte offset in the
    /// suite's file).
    Inline(String, usize),
}

/// Which entities a check is evaluated with.
#[derive(Debug, Clone)]
pub enum CheckEntities {
    /// The suite's entities.
    Suite,
    /// The suite's entities and these, for this case only.
    SuitePlus(Vec<ResolvedSource>),
    /// Only these (a replayed AVP request carries its own).
    Own(Vec<ResolvedSource>),
}

/// One request and what it must give.
#[derive(Debug, Clone)]
pub struct Check {
    /// The case name, with the row for table and replay cases.
    pub name: String,
    pub location: Location,
    pub principal: EntityUid,
    pub action: EntityUid,
    pub resource: EntityUid,
    /// Cedar JSON context (suite defaults merged under the case's own).
    pub context: Value,
    pub entities: CheckEntities,
    pub expect: Expected,
    /// With `expect: refused`: the refusal code the case names.
    pub refusal: Option<String>,
    pub reasons: Option<BTreeSet<String>>,
    pub errors: Option<BTreeSet<String>>,
    pub validate_request: bool,
    /// A case that gives a token: what the identity source made of it.
    pub token: Option<TokenCase>,
}

/// A token as a case or replay gives it: its kind and its claims.
type GivenToken = (TokenKind, Map<String, Value>);

/// A token derived once for every case that gives it with one action and
/// clock: claims text, kind, action, clock.
type TokenKey = (String, TokenKind, String, Option<i64>);

#[derive(Clone)]
struct DerivedToken {
    principal: EntityUid,
    entities: Result<Arc<Value>, Refusal>,
    context_token: Option<Value>,
}

/// What the identity source made of a case's token.
#[derive(Debug, Clone)]
pub struct TokenCase {
    pub kind: TokenKind,
    /// The principal and groups it derives (Cedar entity JSON, added to
    /// the case's entities when it runs), or why AVP refuses the token.
    pub derived: Result<Arc<Value>, Refusal>,
}

/// Reads one suite; `relative` is its path below the project root.
pub fn load_suite(
    root: &Path,
    relative: &Path,
    identity: Option<&Identity<'_>>,
) -> Result<Suite, Vec<Diagnostic>> {
    let file = crate::files::read(root, relative).map_err(|err| vec![Diagnostic::from(&err)])?;
    let raw: Option<RawSuite> =
        crate::yaml::parse(&file).map_err(|err| vec![Diagnostic::from(&err)])?;
    let raw = raw.unwrap_or(RawSuite {
        entities: Vec::new(),
        context: None,
        validate_request: None,
        now: None,
        cases: Vec::new(),
    });
    let base = relative.parent().unwrap_or(Path::new(""));
    let mut reader = SuiteReader {
        root,
        base,
        file: &file,
        defaults: raw.context.unwrap_or_default(),
        validate_request: raw.validate_request.unwrap_or(true),
        problems: Vec::new(),
        uids: HashMap::new(),
        identity,
        now: None,
        tokens: HashMap::new(),
    };
    reader.now = raw.now.as_ref().and_then(|clock| reader.clock(clock));
    let entities = raw
        .entities
        .iter()
        .map(|source| reader.resolve_source(source))
        .collect();
    let mut names = HashSet::new();
    let mut checks = Vec::new();
    for spanned in raw.cases {
        let location = crate::yaml::location(&file, &spanned.referenced);
        let case = spanned.value;
        if !names.insert(case.name.clone()) {
            reader.problem(
                &location,
                "duplicate-case",
                format!("two cases are named `{}`", case.name),
                "case names must be unique in their file",
            );
            continue;
        }
        checks.extend(reader.case_checks(case, location).into_iter().map(Arc::new));
    }
    if reader.problems.is_empty() {
        Ok(Suite {
            file: file.clone(),
            entities,
            checks,
        })
    } else {
        Err(reader.problems)
    }
}

struct SuiteReader<'a> {
    root: &'a Path,
    /// The suite's directory, relative to the root.
    base: &'a Path,
    file: &'a SourceFile,
    defaults: Map<String, Value>,
    validate_request: bool,
    problems: Vec<Diagnostic>,
    /// UIDs already parsed: suites repeat the same few principals and
    /// resources thousands of times, and a clone shares the parsed one.
    uids: HashMap<UidSpec, EntityUid>,
    identity: Option<&'a Identity<'a>>,
    /// The suite's clock, seconds since the epoch.
    now: Option<i64>,
    tokens: HashMap<TokenKey, DerivedToken>,
}

impl SuiteReader<'_> {
    fn problem(&mut self, location: &Location, code: &str, message: String, help: &str) {
        let mut diagnostic = Diagnostic::error(code, message)
            .at(location.clone())
            .with_help(help);
        diagnostic.unreadable = true;
        self.problems.push(diagnostic);
    }

    fn resolve_source(&mut self, source: &Spanned<EntitySource>) -> ResolvedSource {
        match &source.value {
            EntitySource::File(path) => {
                let relative = normalize(&self.base.join(path));
                self.check_inside(&relative, &source.referenced);
                ResolvedSource::File(relative)
            }
            EntitySource::Inline(value) => {
                let at = crate::yaml::location(self.file, &source.referenced);
                ResolvedSource::Inline(value.to_string(), at.span.start)
            }
        }
    }

    /// A file the suite names must be inside the project (docs/security.md);
    /// the refusal points at the name in the suite, never at the file.
    fn check_inside(&mut self, relative: &Path, at: &serde_saphyr::Location) {
        if let Err(err @ crate::error::Error::OutsideProject { .. }) =
            crate::files::resolve_inside(self.root, relative)
        {
            let location = crate::yaml::location(self.file, at);
            let help = err.help().unwrap_or_default();
            self.problem(&location, err.code(), err.to_string(), &help);
        }
    }

    fn uid(
        &mut self,
        spec: Option<&UidSpec>,
        what: &str,
        case: &str,
        location: &Location,
    ) -> Option<EntityUid> {
        let Some(spec) = spec else {
            self.problem(
                location,
                "missing-field",
                format!("case `{case}` has no `{what}`"),
                "every case names a principal, an action and a resource",
            );
            return None;
        };
        if let Some(uid) = self.uids.get(spec) {
            return Some(uid.clone());
        }
        match spec.resolve() {
            Ok(uid) => {
                self.uids.insert(spec.clone(), uid.clone());
                Some(uid)
            }
            Err(message) => {
                self.problem(
                    location,
                    "bad-uid",
                    format!("case `{case}`: {what}: {message}"),
                    "write an entity as 'Namespace::Type::\"id\"' or {type: ..., id: ...}",
                );
                None
            }
        }
    }

    fn context(&self, own: Option<&Map<String, Value>>) -> Value {
        let mut merged = self.defaults.clone();
        if let Some(own) = own {
            merged.extend(own.clone());
        }
        Value::Object(merged)
    }

    fn clock(&mut self, clock: &Spanned<Clock>) -> Option<i64> {
        use aws_sdk_verifiedpermissions::primitives::{DateTime, DateTimeFormat};
        match &clock.value {
            Clock::Seconds(seconds) => Some(*seconds),
            Clock::Timestamp(text) => match DateTime::from_str(text, DateTimeFormat::DateTime) {
                Ok(time) => Some(time.secs()),
                Err(err) => {
                    let location = crate::yaml::location(self.file, &clock.referenced);
                    self.problem(
                        &location,
                        "bad-now",
                        format!("`now: {text}` is not a time: {err}"),
                        "write `now: 2026-12-01T00:00:00Z` or seconds since the epoch",
                    );
                    None
                }
            },
        }
    }

    /// The token a case gives instead of a principal, decoded; `Err` when
    /// it is given wrongly (reported).
    fn case_token(
        &mut self,
        case: &RawCase,
        location: &Location,
    ) -> Result<Option<GivenToken>, ()> {
        let (kind, raw) = match (&case.identity_token, &case.access_token) {
            (None, None) => return Ok(None),
            (Some(_), Some(_)) => {
                self.problem(
                    location,
                    "bad-token",
                    format!(
                        "case `{}` gives both an `identity_token` and an `access_token`",
                        case.name
                    ),
                    "give one token per case: avpctl evaluates what AVP makes of one token",
                );
                return Err(());
            }
            (Some(raw), None) => (TokenKind::Identity, raw),
            (None, Some(raw)) => (TokenKind::Access, raw),
        };
        let key = match kind {
            TokenKind::Identity => "identity_token",
            TokenKind::Access => "access_token",
        };
        if case.principal.is_some() || case.principals.is_some() {
            self.problem(
                location,
                "bad-token",
                format!("case `{}` gives both `{key}` and a principal", case.name),
                "the token names the principal: remove `principal`/`principals`",
            );
            return Err(());
        }
        if self.identity.is_none() {
            self.problem(
                location,
                "no-identity-source",
                format!("case `{}` gives `{key}`, but the project has no identity source", case.name),
                "set `identity_source = \"identity-source.json\"` in avpctl.toml (docs/identity.md)",
            );
            return Err(());
        }
        let claims = match raw {
            RawToken::Claims(claims) => Ok(claims.clone()),
            RawToken::Jwt(jwt) => crate::identity::token::decode_jwt(jwt),
        };
        match claims {
            Ok(claims) => Ok(Some((kind, claims))),
            Err(message) => {
                self.problem(
                    location,
                    "bad-token",
                    format!("case `{}`: `{key}`: {message}", case.name),
                    "give the token's claims as a mapping, or a compact JWT (header.payload.signature)",
                );
                Err(())
            }
        }
    }

    /// The principal of a request made with `token`, with the token's part
    /// of the context filled in; the principal is the token's even when
    /// AVP refuses the token, so reports show whose it was.
    fn token_request(
        &mut self,
        token: &GivenToken,
        action: &EntityUid,
        context: &mut Value,
        now: Option<i64>,
        location: &Location,
    ) -> Option<(EntityUid, TokenCase)> {
        let (kind, claims) = token;
        // Suites give the same few tokens to many cases: each is derived
        // once, and its cases share the derived entities.
        let key = (
            serde_json::to_string(claims).unwrap_or_default(),
            *kind,
            action.to_string(),
            now,
        );
        let derived = match self.tokens.get(&key) {
            Some(done) => done.clone(),
            None => {
                let done = self.derive_token(*kind, claims, action, now)?;
                self.tokens.insert(key, done.clone());
                done
            }
        };
        let DerivedToken {
            principal,
            entities,
            context_token,
        } = derived;
        if let (Some(token_context), Value::Object(context)) = (context_token, &mut *context) {
            if context.contains_key("token") {
                self.problem(
                    location,
                    "bad-token",
                    "the case gives `context.token` and an access token, which fills it".into(),
                    "remove `token` from the context: AVP puts the access token's claims there",
                );
                return None;
            }
            context.insert("token".into(), token_context);
        }
        Some((
            principal,
            TokenCase {
                kind: *kind,
                derived: entities,
            },
        ))
    }

    fn derive_token(
        &self,
        kind: TokenKind,
        claims: &Map<String, Value>,
        action: &EntityUid,
        now: Option<i64>,
    ) -> Option<DerivedToken> {
        let identity = self.identity?;
        let token = Token { kind, claims };
        match crate::identity::token::derive(
            identity.source,
            identity.types.as_ref(),
            token,
            action,
            now,
        ) {
            Ok(derived) => Some(DerivedToken {
                principal: derived.principal,
                entities: Ok(Arc::new(Value::Array(derived.entities))),
                context_token: derived.context_token,
            }),
            Err(refusal) => Some(DerivedToken {
                principal: crate::identity::token::principal(identity.source, token)
                    .or_else(|_| crate::uid::from_parts(identity.source.principal_type(), ""))
                    .ok()?,
                entities: Err(refusal),
                context_token: None,
            }),
        }
    }

    /// `expect: refused` and `refusal:` belong to token cases, and
    /// `refusal:` names a check avpctl makes.
    fn check_refusal(
        &mut self,
        case: &RawCase,
        expect: Expected,
        token: bool,
        location: &Location,
    ) -> bool {
        if expect == Expected::Refused && !token {
            self.problem(
                location,
                "bad-expect",
                format!(
                    "case `{}` expects `refused`, which only a case with a token can be",
                    case.name
                ),
                "give `identity_token` or `access_token`, or expect allow or deny",
            );
            return false;
        }
        match &case.refusal {
            Some(_) if expect != Expected::Refused => {
                self.problem(
                    location,
                    "bad-expect",
                    format!(
                        "case `{}` names a `refusal` but does not expect `refused`",
                        case.name
                    ),
                    "write `expect: refused` beside `refusal:`",
                );
                false
            }
            Some(code) if !crate::identity::token::REFUSAL_CODES.contains(&code.as_str()) => {
                self.problem(
                    location,
                    "bad-expect",
                    format!(
                        "case `{}`: `{code}` is not a refusal avpctl knows",
                        case.name
                    ),
                    &format!(
                        "one of: {}",
                        crate::identity::token::REFUSAL_CODES.join(", ")
                    ),
                );
                false
            }
            _ => true,
        }
    }

    fn case_checks(&mut self, case: RawCase, location: Location) -> Vec<Check> {
        if let Some(replay) = case.replay.clone() {
            return self.replay_checks(case, &replay, location);
        }
        let table = match (&case.resources, &case.principals) {
            (Some(_), Some(_)) => {
                self.problem(
                    &location,
                    "bad-table",
                    format!("case `{}` has both `resources` and `principals`", case.name),
                    "a table varies one side: give one of them",
                );
                return Vec::new();
            }
            (Some(rows), None) => Some((rows, true)),
            (None, Some(rows)) => Some((rows, false)),
            (None, None) => None,
        };
        let entities = match &case.entities {
            Some(sources) => {
                CheckEntities::SuitePlus(sources.iter().map(|s| self.resolve_source(s)).collect())
            }
            None => CheckEntities::Suite,
        };
        let validate_request = case.validate_request.unwrap_or(self.validate_request);
        let action = self.uid(case.action.as_ref(), "action", &case.name, &location);
        let Ok(token) = self.case_token(&case, &location) else {
            return Vec::new();
        };
        let now = match &case.now {
            Some(clock) => self.clock(clock),
            None => self.now,
        };
        let Some((rows, by_resource)) = table else {
            let mut context = self.context(case.context.as_ref());
            let (principal, token) = match (&token, &action) {
                (Some(token), Some(action)) => {
                    match self.token_request(token, action, &mut context, now, &location) {
                        Some((principal, token)) => (Some(principal), Some(token)),
                        None => return Vec::new(),
                    }
                }
                (Some(_), None) => (None, None),
                (None, _) => (
                    self.uid(case.principal.as_ref(), "principal", &case.name, &location),
                    None,
                ),
            };
            let resource = self.uid(case.resource.as_ref(), "resource", &case.name, &location);
            let expect = match case.expect {
                Some(Expectation::One(expected)) => Some(expected),
                Some(Expectation::Many(_)) => {
                    self.problem(
                        &location,
                        "bad-expect",
                        format!(
                            "case `{}`: `expect` is a list, which only a replayed batch takes",
                            case.name
                        ),
                        "write `expect: allow` or `expect: deny`",
                    );
                    None
                }
                None => {
                    self.problem(
                        &location,
                        "missing-expect",
                        format!("case `{}` has no `expect`", case.name),
                        "add `expect: allow` or `expect: deny`",
                    );
                    None
                }
            };
            let (Some(principal), Some(action), Some(resource), Some(expect)) =
                (principal, action, resource, expect)
            else {
                return Vec::new();
            };
            if !self.check_refusal(&case, expect, token.is_some(), &location) {
                return Vec::new();
            }
            return vec![Check {
                name: case.name,
                location,
                principal,
                action,
                resource,
                context,
                entities,
                expect,
                refusal: case.refusal,
                reasons: case.reasons.map(|r| r.into_iter().collect()),
                errors: case.errors.map(|e| e.into_iter().collect()),
                validate_request,
                token,
            }];
        };
        // Table form: the fixed side comes from the case, the varying side
        // and the expectation from each row.
        let mut table_context = self.context(case.context.as_ref());
        let mut table_token = None;
        let fixed = match (&token, &action) {
            (Some(token), Some(action)) => {
                let Some((principal, token)) =
                    self.token_request(token, action, &mut table_context, now, &location)
                else {
                    return Vec::new();
                };
                table_token = Some(token);
                Some(principal)
            }
            (Some(_), None) => None,
            (None, _) if by_resource => {
                self.uid(case.principal.as_ref(), "principal", &case.name, &location)
            }
            (None, _) => self.uid(case.resource.as_ref(), "resource", &case.name, &location),
        };
        if case.expect.is_some() {
            self.problem(
                &location,
                "bad-table",
                format!("case `{}` is a table: `expect` goes on each row", case.name),
                "move `expect` into the rows",
            );
        }
        let (Some(fixed), Some(action)) = (fixed, action) else {
            return Vec::new();
        };
        let mut checks = Vec::new();
        let mut names = HashSet::new();
        for (number, row) in rows.iter().enumerate().map(|(i, r)| (i + 1, r)) {
            let row_location = crate::yaml::location(self.file, &row.referenced);
            let row = &row.value;
            let (spec, what) = if by_resource {
                (row.resource.as_ref(), "resource")
            } else {
                (row.principal.as_ref(), "principal")
            };
            let Some(varying) = self.uid(spec, what, &case.name, &row_location) else {
                continue;
            };
            let Some(expected) = row.expect else {
                self.problem(
                    &row_location,
                    "missing-expect",
                    format!("a row of case `{}` has no `expect`", case.name),
                    "add `expect: allow` or `expect: deny` to the row",
                );
                continue;
            };
            let (principal, resource) = if by_resource {
                (fixed.clone(), varying.clone())
            } else {
                (varying.clone(), fixed.clone())
            };
            if expected == Expected::Refused && table_token.is_none() {
                self.problem(
                    &row_location,
                    "bad-expect",
                    format!("a row of case `{}` expects `refused`, which only a case with a token can be", case.name),
                    "give the case `identity_token` or `access_token`, or expect allow or deny",
                );
                continue;
            }
            let mut context = table_context.clone();
            if let (Some(own), Value::Object(merged)) = (&row.context, &mut context) {
                merged.extend(own.clone());
            }
            let name = match &row.name {
                Some(own) => format!("{} › {own}", case.name),
                None => format!("{} › {varying}", case.name),
            };
            // Rows for the same principal or resource would otherwise get
            // the same name; reports and filters need each to be unique.
            let name = if names.contains(&name) {
                if row.name.is_some() {
                    self.problem(
                        &row_location,
                        "duplicate-case",
                        format!("two rows of case `{}` are named `{name}`", case.name),
                        "row names must be unique in their case",
                    );
                    continue;
                }
                format!("{name} [row {number}]")
            } else {
                name
            };
            names.insert(name.clone());
            checks.push(Check {
                name,
                location: row_location,
                principal,
                action: action.clone(),
                resource,
                context,
                entities: entities.clone(),
                expect: expected,
                refusal: None,
                reasons: row.reasons.clone().map(|r| r.into_iter().collect()),
                errors: row.errors.clone().map(|e| e.into_iter().collect()),
                validate_request,
                token: table_token.clone(),
            });
        }
        checks
    }

    fn replay_checks(&mut self, case: RawCase, replay: &str, location: Location) -> Vec<Check> {
        let relative = normalize(&self.base.join(replay));
        let input = match read_json(self.root, &relative) {
            Ok((_, input)) => input,
            Err(diagnostic) if diagnostic.location.is_none() => {
                self.problems.push(diagnostic.at(location));
                return Vec::new();
            }
            Err(diagnostic) => {
                self.problems.push(diagnostic);
                return Vec::new();
            }
        };
        let requests =
            match replay_token(&input).and_then(|token| Ok((token, replay_requests(&input)?))) {
                Ok(requests) => requests,
                Err(message) => {
                    self.problem(
                        &location,
                        "bad-replay",
                        format!(
                            "case `{}`: {}: {message}",
                            case.name,
                            display_path(&relative)
                        ),
                        "give an AVP IsAuthorized or BatchIsAuthorized input as JSON",
                    );
                    return Vec::new();
                }
            };
        let (token, requests) = requests;
        if token.is_some() && self.identity.is_none() {
            self.problem(
                &location,
                "no-identity-source",
                format!("case `{}` replays a with-token input, but the project has no identity source", case.name),
                "set `identity_source = \"identity-source.json\"` in avpctl.toml (docs/identity.md)",
            );
            return Vec::new();
        }
        let expected: Vec<Expected> = match &case.expect {
            Some(Expectation::One(one)) => vec![*one; requests.len()],
            Some(Expectation::Many(many)) => many.clone(),
            None => {
                self.problem(
                    &location,
                    "missing-expect",
                    format!("case `{}` has no `expect`", case.name),
                    "add `expect: allow`, or a list with one decision per request of the batch",
                );
                return Vec::new();
            }
        };
        if expected.len() != requests.len() {
            self.problem(
                &location,
                "bad-expect",
                format!(
                    "case `{}`: `expect` lists {} decisions for {} requests",
                    case.name,
                    expected.len(),
                    requests.len()
                ),
                "give one decision per request of the batch, in order",
            );
            return Vec::new();
        }
        let single = requests.len() == 1;
        let validate_request = case.validate_request.unwrap_or(self.validate_request);
        let now = match &case.now {
            Some(clock) => self.clock(clock),
            None => self.now,
        };
        let own = vec![ResolvedSource::File(relative.clone())];
        let mut checks = Vec::new();
        for (i, (request, expected)) in requests.into_iter().zip(expected).enumerate() {
            let mut context = request.context;
            let (principal, token_case) = match (&token, request.principal) {
                (Some(token), _) => {
                    let Some((principal, token_case)) =
                        self.token_request(token, &request.action, &mut context, now, &location)
                    else {
                        return Vec::new();
                    };
                    (principal, Some(token_case))
                }
                (None, Some(principal)) => (principal, None),
                (None, None) => return Vec::new(),
            };
            if !self.check_refusal(&case, expected, token_case.is_some(), &location) {
                return Vec::new();
            }
            checks.push(Check {
                name: if single {
                    case.name.clone()
                } else {
                    format!("{} › request {i}", case.name)
                },
                location: location.clone(),
                principal,
                action: request.action,
                resource: request.resource,
                context,
                entities: CheckEntities::Own(own.clone()),
                expect: expected,
                refusal: if single { case.refusal.clone() } else { None },
                token: token_case,
                reasons: if single {
                    case.reasons.clone().map(|r| r.into_iter().collect())
                } else {
                    None
                },
                errors: if single {
                    case.errors.clone().map(|e| e.into_iter().collect())
                } else {
                    None
                },
                validate_request,
            });
        }
        checks
    }
}

struct ReplayRequest {
    /// `None` in a with-token input: the token names the principal.
    principal: Option<EntityUid>,
    action: EntityUid,
    resource: EntityUid,
    context: Value,
}

/// The token of an AVP IsAuthorizedWithToken or BatchIsAuthorizedWithToken
/// input, decoded.
fn replay_token(input: &Value) -> Result<Option<GivenToken>, String> {
    let token = |key: &str| {
        input
            .get(key)
            .map(|t| t.as_str().ok_or(format!("`{key}` must be a JWT string")))
    };
    let (kind, jwt) = match (token("identityToken"), token("accessToken")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err("the input gives both `identityToken` and `accessToken`; avpctl replays one token per request".into());
        }
        (Some(jwt), None) => (TokenKind::Identity, jwt?),
        (None, Some(jwt)) => (TokenKind::Access, jwt?),
    };
    let claims = crate::identity::token::decode_jwt(jwt)?;
    Ok(Some((kind, claims)))
}

/// The requests of an AVP IsAuthorized input (one) or BatchIsAuthorized
/// input (its `requests`, in order), and their *WithToken forms.
fn replay_requests(input: &Value) -> Result<Vec<ReplayRequest>, String> {
    use crate::avp_json::{context_to_cedar, identifier};
    let with_token = input.get("identityToken").is_some() || input.get("accessToken").is_some();
    let one = |request: &Value| -> Result<ReplayRequest, String> {
        let uid = |key: &str, type_key: &str, id_key: &str| -> Result<EntityUid, String> {
            let value = request
                .get(key)
                .ok_or_else(|| format!("a request needs `{key}`"))?;
            let (t, i) = identifier(value, type_key, id_key)?;
            crate::uid::from_parts(t, i)
        };
        if with_token && request.get("principal").is_some() {
            return Err(
                "a with-token request takes its principal from the token: remove `principal`"
                    .into(),
            );
        }
        Ok(ReplayRequest {
            principal: if with_token {
                None
            } else {
                Some(uid("principal", "entityType", "entityId")?)
            },
            action: uid("action", "actionType", "actionId")?,
            resource: uid("resource", "entityType", "entityId")?,
            context: match request.get("context") {
                Some(context) => context_to_cedar(context)?,
                None => Value::Object(Map::new()),
            },
        })
    };
    match input.get("requests") {
        Some(Value::Array(requests)) => requests
            .iter()
            .enumerate()
            .map(|(i, r)| one(r).map_err(|err| format!("requests[{i}]: {err}")))
            .collect(),
        Some(_) => Err("`requests` must be a list".into()),
        None => one(input).map(|r| vec![r]),
    }
}

/// Reads a JSON file below the root, with line and column on a syntax error.
pub fn read_json(root: &Path, relative: &Path) -> Result<(SourceFile, Value), Diagnostic> {
    let file = crate::files::read(root, relative).map_err(|err| Diagnostic::from(&err))?;
    let value = crate::strict_json::from_str(file.text()).map_err(|err| {
        let offset = file.offset_of(err.line(), err.column());
        let mut diagnostic = Diagnostic::error(
            "json",
            format!("{} is not valid JSON: {err}", file.display()),
        )
        .at(file.location(offset..offset));
        diagnostic.unreadable = true;
        diagnostic
    })?;
    Ok((file, value))
}

/// `tests/../entities/a.json` → `entities/a.json`, without touching the disk.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::ParentDir => {
                // `..` beyond the start stays `..` (and is refused as
                // outside the project when the file is read).
                let climbed_out = matches!(
                    out.components().next_back(),
                    None | Some(std::path::Component::ParentDir)
                );
                if climbed_out || !out.pop() {
                    out.push("..");
                }
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Every suite file below the tests directory, sorted.
pub fn suite_files(root: &Path, tests_dir: &str) -> (Vec<PathBuf>, Vec<Diagnostic>) {
    let (mut yaml, mut diagnostics) =
        crate::project::discover_files(root, Path::new(tests_dir), "yaml");
    let (yml, more) = crate::project::discover_files(root, Path::new(tests_dir), "yml");
    yaml.extend(yml);
    yaml.sort();
    diagnostics.extend(more);
    (yaml, diagnostics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_parent_components() {
        assert_eq!(
            normalize(Path::new("tests/../entities/a.json")),
            PathBuf::from("entities/a.json")
        );
        assert_eq!(
            normalize(Path::new("tests/./sub/../b.json")),
            PathBuf::from("tests/b.json")
        );
    }
}
