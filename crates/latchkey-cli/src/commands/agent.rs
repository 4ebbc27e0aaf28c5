//! `latchkey agent`: serve the accounts over the agent socket (foreground), or install /
//! uninstall its systemd user unit.

use std::sync::Arc;

use latchkey_core::agent::{self, install, server};

use super::*;

/// Keychain deadline of the agent: short enough that a stuck keychain never holds a client
/// past its own answer deadline.
const AGENT_KEYCHAIN_DEADLINE: Duration = Duration::from_secs(3);

/// `latchkey agent`.
pub async fn agent(a: AgentArgs, interrupt: Interrupt) -> Result<u8, Error> {
    if a.install {
        let exe = std::env::current_exe()
            .map(|exe| latchkey_wire::front::front_for(&exe))
            .map_err(|e| Error::io("finding the latchkey binary to put in the unit", e))?;
        let report = install::install(&exe)?;
        println!("Wrote {}", report.path.display());
        match report.systemctl {
            Ok(()) => println!(
                "Enabled and started {} (systemctl --user status {} to check)",
                install::UNIT_NAME,
                install::UNIT_NAME
            ),
            Err(why) => eprintln!(
                "latchkey: the unit was written but not enabled: {why}.\n  systemd's user manager is not available here; start the agent yourself with `latchkey agent`, or run `systemctl --user enable --now {}` in a session that has it.",
                install::UNIT_NAME
            ),
        }
        return Ok(0);
    }
    if a.uninstall {
        let report = install::uninstall()?;
        println!("Removed {}", report.path.display());
        if let Err(why) = report.systemctl {
            eprintln!(
                "latchkey: systemd was not told: {why}. If the agent still runs, stop it (it exits on SIGTERM)."
            );
        }
        return Ok(0);
    }
    server::harden_process();
    let socket = a.socket.clone().unwrap_or_else(agent::socket_path);
    let bound = server::bind(&socket)?;
    // A vault is unlocked once, before serving: on the terminal if the agent has one (later
    // requests never ask: a client waiting for its answer cannot see a prompt).
    let prompt = crate::passphrase::TerminalPrompt::new();
    let opts = ManagerOptions::from_env_asking(AGENT_KEYCHAIN_DEADLINE, Arc::new(prompt.clone()))?;
    let manager = Arc::new(LoginManager::new(opts).with_token_memory());
    if let Some(Ok(choice)) = manager.keychain().choice().await
        && choice.kind == latchkey_core::store::choice::StoreKind::Vault
        && choice.vault_exists
        && let Err(e) = manager.keychain().unlock(false).await
    {
        eprintln!("latchkey agent: the vault stays locked ({e}); clients are told to unlock it");
    }
    prompt.disable();
    eprintln!(
        "latchkey agent (pid {}) serving {} on {}",
        std::process::id(),
        manager.paths().dir().display(),
        socket.display()
    );
    let shutdown = async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            match signal(SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        () = interrupted(interrupt) => {}
                    }
                }
                Err(_) => interrupted(interrupt).await,
            }
        }
        #[cfg(not(unix))]
        interrupted(interrupt).await;
    };
    server::serve(manager, bound, shutdown).await?;
    Ok(0)
}
