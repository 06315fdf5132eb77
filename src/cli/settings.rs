//! `playmark settings [KEY [VALUE]]`: list, show or change settings.
//!
//! Global keys are [`SettingKey`]s (stored by [`Store::set_setting`]); `policy` is the
//! signed-in account's conflict policy (the same as `playmark policy`).

use std::path::Path;

use serde_json::{json, Map, Value};

use super::{exit, open_store, parse_policy, require_account, Failure};
use crate::store::{SettingKey, Settings, Store};

/// The per-account key (the conflict policy of the signed-in account).
const POLICY: &str = "policy";

/// What `playmark settings` was asked.
#[derive(Debug, clap::Args)]
pub(super) struct SettingsArgs {
    /// A setting: pull_interval_s, min_resume_pct, max_resume_pct, min_resume_duration_s,
    /// download_folder, or policy (the signed-in account's conflict policy).
    key: Option<String>,
    /// The new value (an empty download_folder means the default).
    #[arg(allow_hyphen_values = true)]
    value: Option<String>,
    /// Put KEY back to its default.
    #[arg(long, requires = "key", conflicts_with = "value")]
    reset: bool,
    /// List every setting as one JSON object.
    #[arg(long, conflicts_with_all = ["key", "value"])]
    json: bool,
}

pub(super) fn run(data_dir: &Path, args: SettingsArgs) -> Result<u8, Failure> {
    let mut store = open_store(data_dir)?;
    let Some(name) = args.key else {
        return list(&mut store, args.json);
    };
    if name == POLICY {
        return policy(&mut store, args.value.as_deref(), args.reset);
    }
    let key = SettingKey::parse(&name).ok_or_else(|| unknown_key(&name))?;
    let settings = if args.reset {
        store.reset_setting(key)?
    } else if let Some(value) = args.value {
        store.set_setting(key, &value)?
    } else {
        println!("{}", key.value_in(&store.settings()?));
        return Ok(exit::OK);
    };
    println!("{key} = {}", shown(key, &settings, data_dir));
    Ok(exit::OK)
}

fn unknown_key(name: &str) -> Failure {
    let mut names: Vec<&str> = SettingKey::ALL.iter().map(|k| k.as_str()).collect();
    names.push(POLICY);
    Failure::usage(format!(
        "Unknown setting \"{name}\"; choose one of: {}.",
        names.join(", ")
    ))
}

/// A value for people: the download folder's default is spelled out.
fn shown(key: SettingKey, settings: &Settings, data_dir: &Path) -> String {
    match key {
        SettingKey::DownloadFolder if settings.download_folder.is_none() => format!(
            "{} (default)",
            settings.download_folder_in(data_dir).display()
        ),
        _ => key.value_in(settings),
    }
}

fn list(store: &mut Store, as_json: bool) -> Result<u8, Failure> {
    let settings = store.settings()?;
    let account = crate::cli::accounts::chosen_account(store)?;
    if as_json {
        let mut out = Map::new();
        for key in SettingKey::ALL {
            let text = key.value_in(&settings);
            let value = match key {
                SettingKey::DownloadFolder if text.is_empty() => Value::Null,
                SettingKey::DownloadFolder => Value::String(text),
                SettingKey::KeepDownloadingWhenClosed => Value::Bool(text == "true"),
                _ => text.parse::<u64>().map(Value::from).unwrap_or(Value::Null),
            };
            out.insert(key.as_str().to_string(), value);
        }
        let policy = match &account {
            Some(a) => json!(store.policy(a.id)?.as_str()),
            None => Value::Null,
        };
        out.insert(POLICY.to_string(), policy);
        println!("{}", Value::Object(out));
        return Ok(exit::OK);
    }
    let data_dir = store
        .path()
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    for key in SettingKey::ALL {
        let default = if store.setting_is_set(key)? {
            ""
        } else {
            "  (default)"
        };
        let value = match key {
            SettingKey::DownloadFolder => {
                settings.download_folder_in(&data_dir).display().to_string()
            }
            _ => key.value_in(&settings),
        };
        println!("{key} = {value}{default}\n    {}", key.describe());
    }
    match &account {
        Some(a) => println!(
            "{POLICY} = {}\n    how conflicts are decided for {} on {}",
            store.policy(a.id)?,
            a.user_name,
            a.server_name
        ),
        None => println!("{POLICY}: not signed in (per account)"),
    }
    Ok(exit::OK)
}

fn policy(store: &mut Store, value: Option<&str>, reset: bool) -> Result<u8, Failure> {
    let account = require_account(store)?;
    let new = if reset {
        Some(crate::sync::Policy::DEFAULT)
    } else {
        value
            .map(parse_policy)
            .transpose()
            .map_err(Failure::usage)?
    };
    match new {
        Some(p) => {
            store.set_policy(account.id, p)?;
            println!("{POLICY} = {p}");
        }
        None => println!("{}", store.policy(account.id)?),
    }
    Ok(exit::OK)
}
