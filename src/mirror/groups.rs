//! Making and removing mirror groups: the one path `playmark mirror add/remove` and the app's
//! Mirror page both take (the checks are here, once).

use super::fold::{FirstPass, MirrorPolicy};
use crate::model::{AccountId, Millis};
use crate::store::{Store, StoreError};

/// Why a group was not made (or removed).
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Fewer than two accounts.
    #[error("a mirror group needs two or more accounts")]
    TooFew,
    #[error("account {0} is named twice")]
    Twice(AccountId),
    #[error("no account {0}: see `playmark accounts`")]
    NoAccount(AccountId),
    #[error("--prefer {0}: account {0} is not in the group")]
    PreferNotMember(AccountId),
    #[error("--first-pass from {0}: account {0} is not in the group")]
    FromNotMember(AccountId),
    #[error("no mirror group {0} (see `playmark mirror list`)")]
    NoGroup(i64),
}

/// Make a group of `accounts` (two or more signed-in accounts, any mix of Jellyfin and Plex)
/// with `policy` and `first_pass`; returns its id. Nothing is read from or written to a server.
pub fn add_group(
    store: &mut Store,
    accounts: &[AccountId],
    policy: MirrorPolicy,
    first_pass: FirstPass,
    now: Millis,
) -> Result<i64, GroupError> {
    let mut seen = std::collections::BTreeSet::new();
    for a in accounts {
        if !seen.insert(*a) {
            return Err(GroupError::Twice(*a));
        }
        if store.account_by_id(*a)?.is_none() {
            return Err(GroupError::NoAccount(*a));
        }
    }
    if accounts.len() < 2 {
        return Err(GroupError::TooFew);
    }
    if let MirrorPolicy::Prefer(p) = policy {
        if !accounts.contains(&p) {
            return Err(GroupError::PreferNotMember(p));
        }
    }
    if let FirstPass::From(a) = first_pass {
        if !accounts.contains(&a) {
            return Err(GroupError::FromNotMember(a));
        }
    }
    Ok(store.create_mirror_group(accounts, &policy.as_string(), &first_pass.as_string(), now)?)
}

/// Forget group `id` (its agreed states, bases and health list); nothing is written to any
/// server.
pub fn remove_group(store: &mut Store, id: i64) -> Result<(), GroupError> {
    if store.remove_mirror_group(id)? {
        Ok(())
    } else {
        Err(GroupError::NoGroup(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerKind;
    use crate::store::NewAccount;

    fn store_with(dir: &std::path::Path, n: usize) -> (Store, Vec<AccountId>) {
        let mut store = Store::open(&crate::store::database_path(dir)).unwrap();
        let ids = (0..n)
            .map(|i| {
                let (url, server) = (format!("http://s{i}"), format!("s{i}"));
                store
                    .upsert_account(
                        &NewAccount {
                            kind: ServerKind::Jellyfin,
                            base_url: &url,
                            server_id: &server,
                            server_name: &server,
                            user_id: "u",
                            user_name: "u",
                            device_id: "d",
                        },
                        0,
                    )
                    .unwrap()
            })
            .collect();
        (store, ids)
    }

    #[test]
    fn the_checks_of_a_new_group() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, ids) = store_with(dir.path(), 3);
        let (a, b) = (ids[0], ids[1]);
        let add = |s: &mut Store, m: &[AccountId], p, f| add_group(s, m, p, f, 0);
        let fp = MirrorPolicy::FurthestProgress;
        assert!(matches!(
            add(&mut store, &[a], fp, FirstPass::AgreeOnly),
            Err(GroupError::TooFew)
        ));
        assert!(matches!(
            add(&mut store, &[a, a], fp, FirstPass::AgreeOnly),
            Err(GroupError::Twice(_))
        ));
        assert!(matches!(
            add(&mut store, &[a, 99], fp, FirstPass::AgreeOnly),
            Err(GroupError::NoAccount(99))
        ));
        assert!(matches!(
            add(
                &mut store,
                &[a, b],
                MirrorPolicy::Prefer(ids[2]),
                FirstPass::AgreeOnly
            ),
            Err(GroupError::PreferNotMember(_))
        ));
        assert!(matches!(
            add(&mut store, &[a, b], fp, FirstPass::From(ids[2])),
            Err(GroupError::FromNotMember(_))
        ));
        assert!(store.mirror_groups().unwrap().is_empty());
        let id = add(
            &mut store,
            &[a, b],
            MirrorPolicy::Prefer(b),
            FirstPass::AgreeOnly,
        )
        .unwrap();
        let groups = store.mirror_groups().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].members, vec![a, b]);
        assert_eq!(groups[0].policy, format!("prefer:{b}"));
        remove_group(&mut store, id).unwrap();
        assert!(store.mirror_groups().unwrap().is_empty());
        assert!(matches!(
            remove_group(&mut store, id),
            Err(GroupError::NoGroup(_))
        ));
    }
}
