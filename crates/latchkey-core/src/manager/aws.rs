//! The manager's side of AWS's `credential_process` ([`crate::tools::aws`]): the cache of
//! temporary AWS credentials in the keychain under the account (`<id>/aws/<digest>`, deleted
//! with the account's other cached tokens at sign-out), its own lock file per entry
//! ([`crate::config::Paths::aws_lock`]), and STS requests through the manager's HTTPS client.

use super::*;
use crate::tools::aws::AwsBackend;

impl Account {
    /// The keychain key of a cached AWS credential of this account.
    pub fn aws_key(&self, digest: &str) -> String {
        format!("{}/aws/{digest}", self.id)
    }
}

impl AwsBackend for LoginManager {
    type Guard = lock::FileLock;

    async fn cached(&self, account: &str, digest: &str) -> Result<Option<Secret>> {
        let account = self.account(account)?;
        self.opts.keychain.get(&account.aws_key(digest)).await
    }

    async fn store(&self, account: &str, digest: &str, value: &Secret) -> Result<()> {
        let account = self.account(account)?;
        self.opts
            .keychain
            .set(&account.aws_key(digest), value)
            .await
    }

    async fn lock(&self, account: &str, digest: &str) -> Result<lock::FileLock> {
        let account = self.account(account)?;
        lock::acquire(
            &self.opts.paths.aws_lock(&account.id, digest),
            self.opts.lock_timeout,
        )
        .await
    }

    async fn post(&self, url: &Url, form: &[(String, Secret)]) -> Result<(u16, Vec<u8>)> {
        let resp = self.opts.http.post_plain_form(url, form).await?;
        Ok((resp.status, resp.body))
    }

    fn now(&self) -> OffsetDateTime {
        LoginManager::now(self)
    }
}
