//! Identity sources (docs/identity.md): the project's `identity-source.json`
//! in AVP's shape, the rules AVP holds it to, and what it makes of a token.
//!
//! Data flows one way: [`source`] reads and places the document, [`rules`]
//! checks it against AVP's constraints and the project, [`token`] turns a
//! token's claims into the principal, its groups and `context.token` the
//! way `IsAuthorizedWithToken` does, reading declared types through
//! [`schema_types`].

pub mod rules;
pub mod schema_types;
pub mod source;
pub mod token;

pub use source::{IdentitySource, ProjectIdentity};
pub use token::{Derived, Refusal, Token, TokenKind};
