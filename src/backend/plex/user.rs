//! Who is behind a Plex token.
//!
//! A Plex Media Server has no "who am I" call for the token it is given (`/myplex/account`
//! describes the server's own plex.tv link, `/accounts` lists every local account to an
//! admin). plex.tv does: `GET https://plex.tv/api/v2/user` (`getTokenDetails` in the Plex
//! OpenAPI document, schema `UserPlexAccount`) answers with the token's account, whose `id` and
//! `uuid` stay the same across every token the person ever gets (a plex.tv token, a 7-day JWT).
//! A token can be short-lived, so a hash of it identifies nobody; this call is the identity.
//!
//! A token plex.tv does not know (a server-local or transient token) or a plex.tv that cannot be
//! reached leaves the user unknown: the caller then asks the person (`login plex --same-user` /
//! `--new-user`).

use reqwest::Method;
use serde::Deserialize;
use url::Url;

use super::PlexClient;
use crate::backend::jellyfin::dto::parse_json;
use crate::backend::jellyfin::validate_base_url;
use crate::backend::SyncError;

/// plex.tv, where tokens are issued.
pub const PLEX_TV: &str = "https://plex.tv";

/// The plex.tv account behind a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlexUser {
    /// plex.tv's stable account id (`uuid`, else the numeric `id`).
    pub id: String,
    /// The account's name as plex.tv shows it (`title`, else `username`).
    pub name: String,
}

/// The part of `UserPlexAccount` Playmark reads. (The answer also carries an `authToken`: it is
/// never kept, logged or shown.)
#[derive(Debug, Deserialize)]
struct UserPlexAccount {
    #[serde(default)]
    id: Option<serde_json::Value>,
    #[serde(default)]
    uuid: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

impl PlexClient {
    /// `GET {plex_tv}/api/v2/user` with this client's token: the plex.tv account behind it.
    /// Auth when plex.tv does not know the token; Offline when it cannot be reached.
    pub async fn token_owner(&self, plex_tv: &str) -> Result<PlexUser, SyncError> {
        let base = validate_base_url(plex_tv)?;
        let url = Url::parse(&format!("{base}/api/v2/user"))
            .map_err(|e| SyncError::rejected(format!("cannot build request URL: {e}")))?;
        let body = self.execute(Method::GET, url, true).await?;
        let account: UserPlexAccount = parse_json(&body)?;
        let numeric = match account.id {
            Some(serde_json::Value::Number(n)) => Some(n.to_string()),
            Some(serde_json::Value::String(s)) => Some(s),
            _ => None,
        };
        let id = account
            .uuid
            .filter(|u| !u.trim().is_empty())
            .or(numeric.filter(|n| !n.trim().is_empty()))
            .ok_or_else(|| SyncError::unexpected_response("plex.tv named no account id"))?;
        let name = account
            .title
            .filter(|t| !t.trim().is_empty())
            .or(account.username)
            .unwrap_or_else(|| "Plex user".to_string());
        Ok(PlexUser {
            id: format!("plex.tv:{id}"),
            name,
        })
    }
}
