//! Who may do what: tokens, roles and capabilities.
//!
//! A token is `cas_<id>_<secret>`: the id (48 random bits, public) finds the
//! row, the secret (256 random bits) proves possession. The store keeps only
//! the SHA-256 of the whole token, and the comparison is constant-time, so
//! neither a database leak nor response timing reveals a usable token.
//! Capabilities are named as in the Custom Assembly API (`repo.update`, …);
//! a role is a fixed set of them.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// One permission checked by the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Capability {
    /// List an organization's repos.
    #[serde(rename = "repo.list")]
    RepoList,
    /// Read one repo.
    #[serde(rename = "repo.get")]
    RepoGet,
    /// Create a repo.
    #[serde(rename = "repo.create")]
    RepoCreate,
    /// Change a repo's declaration.
    #[serde(rename = "repo.update")]
    RepoUpdate,
    /// Delete a repo.
    #[serde(rename = "repo.delete")]
    RepoDelete,
    /// Queue a build by hand.
    #[serde(rename = "build.trigger")]
    BuildTrigger,
    /// List build reports.
    #[serde(rename = "build_report.list")]
    BuildReportList,
    /// Read a build report and its log.
    #[serde(rename = "build_report.get")]
    BuildReportGet,
    /// Create, list and revoke tokens.
    #[serde(rename = "token.manage")]
    TokenManage,
}

impl Capability {
    /// Every capability, in the order the API documents them.
    pub const ALL: [Capability; 9] = [
        Capability::RepoList,
        Capability::RepoGet,
        Capability::RepoCreate,
        Capability::RepoUpdate,
        Capability::RepoDelete,
        Capability::BuildTrigger,
        Capability::BuildReportList,
        Capability::BuildReportGet,
        Capability::TokenManage,
    ];

    /// The wire name, e.g. `repo.update`.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::RepoList => "repo.list",
            Capability::RepoGet => "repo.get",
            Capability::RepoCreate => "repo.create",
            Capability::RepoUpdate => "repo.update",
            Capability::RepoDelete => "repo.delete",
            Capability::BuildTrigger => "build.trigger",
            Capability::BuildReportList => "build_report.list",
            Capability::BuildReportGet => "build_report.get",
            Capability::TokenManage => "token.manage",
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A named set of capabilities given to a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads repos and build reports.
    Viewer,
    /// A viewer who also creates and changes repos and triggers builds.
    Editor,
    /// Everything, including deleting repos and managing tokens.
    Owner,
}

impl Role {
    /// Every role, least powerful first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Editor, Role::Owner];

    /// True when this role grants `cap`.
    pub fn grants(self, cap: Capability) -> bool {
        use Capability::*;
        match self {
            Role::Owner => true,
            Role::Editor => !matches!(cap, RepoDelete | TokenManage),
            Role::Viewer => matches!(cap, RepoList | RepoGet | BuildReportList | BuildReportGet),
        }
    }

    /// The capabilities this role grants.
    pub fn capabilities(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.grants(*c))
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}': expected viewer, editor or owner"))
    }
}

const PREFIX: &str = "cas_";

/// A freshly made token: the secret text (shown once) and what the store keeps.
pub struct NewToken {
    /// The whole token, to hand to its user once; never stored.
    pub secret: String,
    /// The public id that finds the token's row.
    pub id: String,
    /// Hex SHA-256 of `secret`: the only form stored.
    pub hash: String,
}

/// Makes a token from the operating system's random generator.
pub fn generate() -> NewToken {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    let mut rng = rand::rngs::OsRng;
    rng.fill_bytes(&mut id);
    rng.fill_bytes(&mut secret);
    let id = hex::encode(id);
    let text = format!("{PREFIX}{id}_{}", hex::encode(secret));
    NewToken {
        hash: hash(&text),
        secret: text,
        id,
    }
}

/// The id part of a presented token, when it has the token's shape.
pub fn token_id(presented: &str) -> Option<&str> {
    let rest = presented.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 12 && secret.len() == 64).then_some(id)
}

/// Hex SHA-256 of a token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// True when `presented` hashes to `stored_hash`, compared in constant time.
pub fn verify(presented: &str, stored_hash: &str) -> bool {
    hash(presented)
        .as_bytes()
        .ct_eq(stored_hash.as_bytes())
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_api_documents() {
        let names = |r: Role| r.capabilities().map(Capability::as_str).collect::<Vec<_>>();
        assert_eq!(
            names(Role::Viewer),
            [
                "repo.list",
                "repo.get",
                "build_report.list",
                "build_report.get"
            ]
        );
        assert_eq!(
            names(Role::Editor),
            [
                "repo.list",
                "repo.get",
                "repo.create",
                "repo.update",
                "build.trigger",
                "build_report.list",
                "build_report.get"
            ]
        );
        assert_eq!(names(Role::Owner).len(), 9);
    }

    #[test]
    fn tokens_are_random_and_verified_by_hash() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert_eq!(token_id(&a.secret), Some(a.id.as_str()));
        assert!(verify(&a.secret, &a.hash));
        assert!(!verify(&b.secret, &a.hash));
        assert!(!a.hash.contains(&a.secret[16..]));
        assert_eq!(token_id("cas_short_x"), None);
    }

    #[test]
    fn capability_wire_names_round_trip() {
        for c in Capability::ALL {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Capability>(&json).unwrap(), c);
        }
    }
}
