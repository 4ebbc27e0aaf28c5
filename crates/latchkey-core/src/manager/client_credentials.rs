//! Client-credentials accounts: fetching a token with no user.

use super::*;

impl LoginManager {
    /// For a client-credentials account: obtains a new token now (what `latchkey login` does
    /// for such accounts; `latchkey token` does it by itself when needed).
    pub async fn sign_in_client_credentials(&self, name: &str) -> Result<SignedIn> {
        let account = self.account(name)?;
        if account.flow != GrantFlow::ClientCredentials {
            return Err(Error::InvalidInput(format!(
                "`{name}` does not use the client credentials grant"
            )));
        }
        let token = self.force_refresh(name).await?;
        if let Some(why) = token.degraded {
            return Err(Error::Unreachable {
                url: display_endpoint(&account.provider.endpoints.token),
                detail: why,
            });
        }
        Ok(SignedIn {
            account: account.name,
            identity: None,
            expires_at: token.expires_at,
            scope: token.scope,
            has_refresh_token: false,
            offline_access: None,
        })
    }
}
