//! Store commands: `store` (which store holds what, and why), `store use`, `store migrate`,
//! `lock` and `unlock`.

use std::sync::Arc;

use latchkey_core::store::choice::{self, StoreKind, StorePreference};

use super::*;
use crate::cli::{StoreAction, StoreArgs, StoreTarget};

fn kind(t: StoreTarget) -> StoreKind {
    match t {
        StoreTarget::Vault => StoreKind::Vault,
        StoreTarget::SecretService => StoreKind::SecretService,
    }
}

fn selector(m: &LoginManager) -> Result<Arc<choice::StoreSelector>, Error> {
    m.keychain()
        .selector()
        .cloned()
        .ok_or_else(|| Error::Other("this Latchkey has a fixed secret store".into()))
}

/// `latchkey store …`.
pub async fn store(direct: &DirectPath, a: StoreArgs, json: bool) -> Result<u8, Error> {
    let json = json || a.json;
    let m = direct.manager()?;
    match a.action {
        None => {
            let report = m.store_report().await?;
            output::store_report(&report, json);
            Ok(0)
        }
        Some(StoreAction::Use { store }) => {
            let preference: StorePreference = store.parse()?;
            choice::set_preference(m.paths(), preference)?;
            output::store_pinned(preference, json);
            Ok(0)
        }
        Some(StoreAction::Migrate { to }) => {
            let ids: Vec<_> = m.accounts()?.iter().map(|a| a.id).collect();
            let done =
                choice::migrate(&selector(&m)?, kind(to), &ids, m.keychain().deadline()).await?;
            output::migrated(&done, json);
            Ok(0)
        }
    }
}

/// `latchkey unlock`: asks for the vault's passphrase now and caches the key.
pub async fn unlock(direct: &DirectPath, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
    let choice = m.unlock_store().await?;
    output::unlocked(&choice, json);
    Ok(0)
}
