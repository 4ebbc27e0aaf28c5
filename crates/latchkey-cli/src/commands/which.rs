//! `latchkey which URL`: the account a tool talking to URL would get, and why — and, when the
//! rule names scopes, resources or an audience, which token (`spec` in the JSON).

use clap::Args;
use latchkey_core::Error;
use latchkey_core::rules::Target;

use super::DirectPath;
use super::tokens::account_override;

/// `latchkey which`.
#[derive(Debug, Args)]
pub struct WhichArgs {
    /// A URL (`https://git.example.com/org/repo.git`) or `host[:port][/path]`.
    pub url: String,
    /// The username the tool would ask with (rules may name one).
    #[arg(long)]
    pub username: Option<String>,
    /// JSON output: account, reason.
    #[arg(long)]
    pub json: bool,
}

/// `latchkey which`: prints the account and the reason; exit 1 when nothing matches.
pub async fn which(direct: &DirectPath, w: WhichArgs, json: bool) -> Result<u8, Error> {
    let m = direct.manager()?;
    let mut target = Target::parse(&w.url)?;
    if w.username.is_some() {
        target.username = w.username.clone();
    }
    let selection = m.select_account(&target, account_override().as_deref())?;
    match selection {
        Some(s) if json || w.json => {
            println!(
                "{}",
                serde_json::json!({"account": s.account, "reason": s.explain(), "detail": s.reason, "spec": s.spec})
            );
            Ok(0)
        }
        Some(s) => {
            println!("{}", s.account);
            eprintln!("because: {}", s.explain());
            Ok(0)
        }
        None => {
            if json || w.json {
                println!(
                    "{}",
                    serde_json::json!({"account": null, "reason": "no rule matches"})
                );
            }
            eprintln!(
                "latchkey: no rule matches {}, so no tool gets a token for it (LATCHKEY_ACCOUNT only chooses among servers that have rules); add one with `latchkey setup git|docker ACCOUNT ...`",
                target.authority()
                    + &target
                        .path
                        .as_deref()
                        .map(|p| format!("/{p}"))
                        .unwrap_or_default()
            );
            Ok(1)
        }
    }
}
