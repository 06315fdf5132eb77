//! How the children's outputs reach the worker: one `From` conversion per child, used by
//! `forward(queue.sender(), Into::into)` in the app's `init` and by the app's own messages
//! (tests drive the app with them). No output is relabelled by hand anywhere else.

use crate::ui::library::LibraryOutput;
use crate::ui::preferences::PreferencesOutput;
use crate::ui::sign_in::SignInOutput;
use crate::ui::sync_status::SyncStatusOutput;
use crate::ui::worker::SyncQueueInput;

impl From<LibraryOutput> for SyncQueueInput {
    fn from(out: LibraryOutput) -> SyncQueueInput {
        match out {
            LibraryOutput::Enqueue { item, change } => SyncQueueInput::Enqueue { item, change },
            LibraryOutput::EnqueueBulk { parent, played } => {
                SyncQueueInput::EnqueueBulk { parent, played }
            }
            LibraryOutput::RefreshHome => SyncQueueInput::Home,
            LibraryOutput::Search { query } => SyncQueueInput::Search { query },
            LibraryOutput::Play { item } => SyncQueueInput::Play { item },
            LibraryOutput::Download { item } => SyncQueueInput::Download { item },
            LibraryOutput::DownloadControl { item, action } => {
                SyncQueueInput::DownloadControl { item, action }
            }
            LibraryOutput::Poster { item } => SyncQueueInput::Poster { item },
            LibraryOutput::UseMine { item } => SyncQueueInput::UseMine { items: vec![item] },
        }
    }
}

impl From<SignInOutput> for SyncQueueInput {
    fn from(out: SignInOutput) -> SyncQueueInput {
        match out {
            SignInOutput::SignIn {
                url,
                user,
                password,
            } => SyncQueueInput::SignIn {
                url,
                user,
                password,
            },
            SignInOutput::SignInPlex { url, token } => SyncQueueInput::SignInPlex { url, token },
        }
    }
}

impl From<PreferencesOutput> for SyncQueueInput {
    fn from(out: PreferencesOutput) -> SyncQueueInput {
        match out {
            PreferencesOutput::Set { key, value } => SyncQueueInput::SetSetting { key, value },
            PreferencesOutput::SetPolicy { policy } => SyncQueueInput::SetPolicy { policy },
            PreferencesOutput::Mirror(request) => SyncQueueInput::Mirror(request),
        }
    }
}

/// The status popover's requests for the worker; [`SyncStatusOutput::SignIn`] is the app's
/// own (it opens the sign-in dialog) and comes back as the error.
impl TryFrom<SyncStatusOutput> for SyncQueueInput {
    type Error = SyncStatusOutput;

    fn try_from(out: SyncStatusOutput) -> Result<SyncQueueInput, SyncStatusOutput> {
        Ok(match out {
            SyncStatusOutput::Retry { item } => SyncQueueInput::Retry { item },
            SyncStatusOutput::Discard { item } => SyncQueueInput::Discard { item },
            SyncStatusOutput::RetryAll => SyncQueueInput::RetryAll,
            SyncStatusOutput::SyncNow => SyncQueueInput::SyncNow,
            SyncStatusOutput::Simulate { fault } => SyncQueueInput::Simulate { fault },
            SyncStatusOutput::SignIn => return Err(out),
        })
    }
}
