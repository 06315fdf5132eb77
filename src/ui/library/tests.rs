use super::*;

#[test]
fn offline_turns_queued_and_retrying_into_waiting_and_back() {
    let retrying = ItemSyncState::Retrying {
        attempt: 1,
        next_attempt_at: 0,
    };
    assert_eq!(
        account_badge(&retrying, AccountState::Offline),
        Some(ItemSyncState::WaitingForConnection)
    );
    assert_eq!(
        account_badge(&ItemSyncState::Queued, AccountState::Offline),
        Some(ItemSyncState::WaitingForConnection)
    );
    assert_eq!(
        account_badge(&ItemSyncState::WaitingForConnection, AccountState::Online),
        Some(ItemSyncState::Queued)
    );
    assert_eq!(
        account_badge(&ItemSyncState::Synced, AccountState::Offline),
        None
    );
    let attention = ItemSyncState::NeedsAttention {
        kind: crate::backend::ErrorKind::Rejected,
        detail: "x".into(),
    };
    assert_eq!(account_badge(&attention, AccountState::Offline), None);
}
