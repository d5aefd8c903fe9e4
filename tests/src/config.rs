//! Configuration of the local Prisma platform: the partner's integration token, the OAuth
//! client, the seeded users and workspaces, the Postgres regions and the lifetimes of
//! authorization codes and access tokens. `Debug` never prints a token or secret.

use std::fmt;
use std::time::Duration;

/// A workspace: the owner of projects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Workspace {
    pub id: String,
    pub name: String,
}

/// A seeded user who can sign in on the authorization page and owns one or more workspaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: String,
    /// Login name shown in the user list, such as `alice`.
    pub name: String,
    pub workspaces: Vec<Workspace>,
}

/// A Prisma Postgres region as listed by `GET /v1/regions/postgres`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub id: String,
    pub name: String,
    /// Whether new projects may be created here; `false` lists it as `"unavailable"`.
    pub available: bool,
}

impl Region {
    pub fn new(id: &str, name: &str) -> Self {
        Region {
            id: id.to_owned(),
            name: name.to_owned(),
            available: true,
        }
    }

    pub(crate) fn status(&self) -> &'static str {
        if self.available {
            "available"
        } else {
            "unavailable"
        }
    }
}

/// Everything the platform is started with.
#[derive(Clone)]
pub struct PlatformConfig {
    /// Bearer token that acts for `partner_workspace` on the Management API.
    pub integration_token: String,
    /// The one registered OAuth client.
    pub client_id: String,
    pub client_secret: String,
    /// Redirect URIs registered for `client_id`; `/authorize` accepts exact matches only.
    pub redirect_uris: Vec<String>,
    pub partner_workspace: Workspace,
    pub users: Vec<User>,
    pub regions: Vec<Region>,
    /// How long an authorization code can be exchanged at `/token`.
    pub code_lifetime: Duration,
    /// How long an access token from `/token` is accepted; also sent as `expires_in`.
    pub access_token_lifetime: Duration,
    /// Write one JSON line per request to stderr. Tokens, codes and passwords are never written.
    pub log_requests: bool,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            integration_token: "local-integration-token".to_owned(),
            client_id: "local-client-id".to_owned(),
            client_secret: "local-client-secret".to_owned(),
            redirect_uris: vec![
                "http://127.0.0.1:8788/auth/callback".to_owned(),
                "http://localhost:8788/auth/callback".to_owned(),
            ],
            partner_workspace: seeded_workspace("partner", "Partner workspace"),
            users: vec![
                User {
                    id: seeded_id("usr_", "alice"),
                    name: "alice".to_owned(),
                    workspaces: vec![
                        seeded_workspace("alicehome", "Alice's workspace"),
                        seeded_workspace("aliceteam", "Alice's team"),
                    ],
                },
                User {
                    id: seeded_id("usr_", "bob"),
                    name: "bob".to_owned(),
                    workspaces: vec![seeded_workspace("bobhome", "Bob's workspace")],
                },
            ],
            regions: default_regions(),
            code_lifetime: Duration::from_secs(60),
            access_token_lifetime: Duration::from_secs(3600),
            log_requests: false,
        }
    }
}

impl fmt::Debug for PlatformConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformConfig")
            .field("integration_token", &"[redacted]")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_uris", &self.redirect_uris)
            .field("partner_workspace", &self.partner_workspace)
            .field("users", &self.users)
            .field("regions", &self.regions)
            .field("code_lifetime", &self.code_lifetime)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("log_requests", &self.log_requests)
            .finish()
    }
}

impl PlatformConfig {
    /// Finds the workspace with this id among the partner's and the users' workspaces.
    pub fn workspace(&self, workspace_id: &str) -> Option<&Workspace> {
        std::iter::once(&self.partner_workspace)
            .chain(self.users.iter().flat_map(|user| user.workspaces.iter()))
            .find(|workspace| workspace.id == workspace_id)
    }

    /// Finds a seeded user by id or by login name.
    pub fn user(&self, id_or_name: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|user| user.id == id_or_name || user.name == id_or_name)
    }

    pub fn region(&self, region_id: &str) -> Option<&Region> {
        self.regions.iter().find(|region| region.id == region_id)
    }
}

/// Lists the six regions of Prisma Postgres, all available.
pub fn default_regions() -> Vec<Region> {
    vec![
        Region::new("us-east-1", "US East (N. Virginia)"),
        Region::new("us-west-1", "US West (N. California)"),
        Region::new("eu-central-1", "EU Central (Frankfurt)"),
        Region::new("eu-west-3", "EU West (Paris)"),
        Region::new("ap-southeast-1", "Asia Pacific (Singapore)"),
        Region::new("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ]
}

/// Builds a fixed id for seeded data: the prefix, a readable stem and zero padding to the
/// 25 characters that random ids have, such as `usr_alice00000000000000000000`.
fn seeded_id(prefix: &str, stem: &str) -> String {
    format!("{prefix}{stem:0<25}")
}

fn seeded_workspace(stem: &str, name: &str) -> Workspace {
    Workspace {
        id: seeded_id("wksp_", stem),
        name: name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_have_prefix_and_length() {
        let config = PlatformConfig::default();

        assert_eq!(
            config.partner_workspace.id,
            "wksp_partner000000000000000000"
        );
        assert_eq!(config.users[0].id, "usr_alice00000000000000000000");
        assert_eq!(config.users[0].workspaces[1].name, "Alice's team");
    }

    #[test]
    fn debug_redacts_secrets() {
        let printed = format!("{:?}", PlatformConfig::default());

        assert!(!printed.contains("local-integration-token"));
        assert!(!printed.contains("local-client-secret"));
        assert!(printed.contains("local-client-id"));
    }

    #[test]
    fn workspace_lookup_covers_users() {
        let config = PlatformConfig::default();
        let team_id = config.users[0].workspaces[1].id.clone();

        assert_eq!(
            config.workspace(&team_id).map(|w| w.name.as_str()),
            Some("Alice's team")
        );
        assert!(config.workspace("wksp_unknown").is_none());
        assert_eq!(config.user("bob").map(|u| u.workspaces.len()), Some(1));
    }
}
