//! npm registries: pnpm's per-registry `tokenHelper`, and the user `.npmrc` line that names it.
//!
//! pnpm runs `//host[:port]/path/:tokenHelper=/abs/path` from the *user* `.npmrc` only, with no
//! arguments, through a shell (`spawnSync(path, {shell: true})`), and sends what it prints,
//! trimmed, as the whole `Authorization` value. So `latchkey setup npm --registry URL ACCOUNT`
//! writes (the CLI does the I/O, this module says what):
//!
//! - a wrapper script ([`helper_script`], mode 0700, in `<config>/npm/` named by
//!   [`helper_file_name`]) that runs `latchkey npm-token-helper --registry URL` — the registry
//!   is how the helper finds its account, through the rule URL → ACCOUNT;
//! - the `tokenHelper` line ([`edit_npmrc`]), keyed by the registry as npm "nerf-darts" it
//!   ([`Registry::npmrc_key`]). Never a token: `.npmrc` only ever holds the helper's path.
//!
//! [`token_helper`] is the helper itself: the registry's token from the one hand-out
//! ([`crate::LoginManager::credential_for`]: the rules or `LATCHKEY_ACCOUNT`, https only except
//! loopback, bearer only), printed as `Bearer <token>`. Anything else (no rule, refused, an
//! error) prints nothing on stdout and exits non-zero, which pnpm reports as the helper failing.
//!
//! npm itself has no helper: it reads `//registry/:_authToken=${NPM_TOKEN}` with the variable
//! set by `latchkey exec ACCOUNT --env NPM_TOKEN -- npm …` (see the README).

use std::io::Write;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::handout::{CredentialRequest, Handout, Handouts, Subject, Tool};
use crate::rules::Target;

/// The CLI command the wrapper script runs.
pub const HELPER_COMMAND: &str = "npm-token-helper";

/// The config dir's folder for the wrapper scripts.
pub const HELPERS_DIR: &str = "npm";

/// A registry URL, checked and in one canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    /// `scheme://host[:port]/path/` (always a trailing `/`), as the helper is told.
    pub url: String,
    /// The parsed target (what the rules match on).
    pub target: Target,
}

impl Registry {
    /// Parses `url` (`https://npm.example.com/`, `http://127.0.0.1:4873`, or a bare host, which
    /// means https). Plain http is refused except to loopback (the one transport rule).
    pub fn parse(url: &str) -> Result<Registry> {
        let target = Target::parse(url)?;
        let scheme = target.protocol.clone().unwrap_or_else(|| "https".into());
        if !scheme.eq_ignore_ascii_case("https") && !scheme.eq_ignore_ascii_case("http") {
            return Err(Error::InvalidInput(format!(
                "a registry URL is http(s)://, not {}://",
                crate::text::clean(&scheme, 20)
            )));
        }
        if target.username.is_some() {
            return Err(Error::InvalidInput(
                "the registry URL must not carry a username or password".into(),
            ));
        }
        target.check_transport()?;
        let path = target
            .path
            .as_deref()
            .map_or(String::new(), |p| format!("{p}/"));
        let url = format!(
            "{}://{}/{path}",
            scheme.to_ascii_lowercase(),
            target.authority()
        );
        Ok(Registry { url, target })
    }

    /// npm's key for the registry (`//host[:port]/path/`): the URL without its scheme.
    pub fn npmrc_key(&self) -> String {
        let rest = self
            .url
            .find("://")
            .map_or(&*self.url, |i| &self.url[i + 1..]);
        rest.to_string()
    }
}

/// The wrapper script's file name for a registry: `token-helper-` and 16 hex digits of the
/// SHA-256 of its `.npmrc` key (one script per registry, whichever account it uses).
pub fn helper_file_name(registry: &Registry) -> String {
    let digest = Sha256::digest(registry.npmrc_key().as_bytes());
    format!("token-helper-{}", &hex::encode(digest)[..16])
}

/// Characters pnpm's shell passes through unquoted in the helper's path.
fn shell_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@%,:".contains(c))
}

/// Checks that pnpm can run `path` as a helper: absolute, and nothing its shell would
/// interpret (pnpm runs it with `shell: true`, unquoted).
pub fn check_helper_path(path: &str) -> Result<()> {
    if !path.starts_with('/') || !shell_safe(path) {
        return Err(Error::InvalidInput(format!(
            "pnpm runs its tokenHelper through a shell, unquoted, so its path must be absolute and plain (letters, digits, `/._-+@%,:`); `{}` is not: choose another config dir with LATCHKEY_CONFIG_DIR",
            crate::text::clean(path, crate::text::MAX_URI)
        )));
    }
    Ok(())
}

/// `'s'` for a POSIX shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The wrapper script: runs `latchkey npm-token-helper --registry URL` in its place (no token,
/// no account: the rule for the registry says which).
pub fn helper_script(latchkey: &str, registry: &Registry) -> String {
    format!(
        "#!/bin/sh\n# pnpm tokenHelper for {url}, written by Latchkey's npm set-up.\nexec {} {HELPER_COMMAND} --registry {}\n",
        quote(latchkey),
        quote(&registry.url),
        url = crate::text::clean(&registry.url, crate::text::MAX_URI),
    )
}

/// The result of [`edit_npmrc`].
#[derive(Debug, PartialEq, Eq)]
pub struct NpmrcEdit {
    /// The new text.
    pub text: String,
    /// What changed, for people (`+ //host/:tokenHelper=…`); empty: nothing.
    pub changes: Vec<String>,
}

/// The key of an `.npmrc` line (`key = value`), if it has one.
fn line_key(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with(['#', ';', '[']) {
        return None;
    }
    t.split_once('=').map(|(k, _)| k.trim())
}

/// Sets (or, with `undo`, removes) `KEY:tokenHelper=helper` in a user `.npmrc`, keeping every
/// other line as it was. `undo` removes the line only if it names `helper`. Pure.
pub fn edit_npmrc(text: &str, registry: &Registry, helper: &str, undo: bool) -> NpmrcEdit {
    let key = format!("{}:tokenHelper", registry.npmrc_key());
    let wanted = format!("{key}={helper}");
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| line_key(l) == Some(key.as_str()))
        .map(|(i, _)| i)
        .collect();
    let mut changes = Vec::new();
    let value_of = |l: &str| l.split_once('=').map_or("", |(_, v)| v.trim()).to_string();
    if undo {
        for &i in at.iter().rev() {
            if value_of(&lines[i]) == helper {
                lines.remove(i);
                changes.push(format!("- {wanted}"));
            }
        }
    } else {
        match at.as_slice() {
            [] => {
                lines.push(wanted.clone());
                changes.push(format!("+ {wanted}"));
            }
            [i] if lines[*i].trim() == wanted => {}
            [first, rest @ ..] => {
                let old = value_of(&lines[*first]);
                lines[*first] = wanted.clone();
                for &i in rest.iter().rev() {
                    lines.remove(i);
                }
                changes.push(format!(
                    "~ {wanted} (was {})",
                    crate::text::clean(&old, crate::text::MAX_URI)
                ));
            }
        }
    }
    let mut text_out = lines.join("\n");
    if !text_out.is_empty() {
        text_out.push('\n');
    }
    NpmrcEdit {
        text: if changes.is_empty() {
            text.to_string()
        } else {
            text_out
        },
        changes,
    }
}

/// The hand-out the helper asks for.
pub fn request(registry: &Registry, env_override: Option<&str>) -> CredentialRequest {
    CredentialRequest {
        tool: Tool::Npm,
        subject: Subject::Server {
            url: registry.url.clone(),
        },
        env_override: env_override.map(str::to_string),
        min_ttl: None,
    }
}

/// The helper: prints `Bearer <token>` for `registry` and returns 0, or says on `stderr` why
/// not and returns the error's exit status (pnpm then reports the helper failed). `say` is the
/// shell's words for an error and its exit code (the core owns no exit code).
pub async fn token_helper(
    registry: &str,
    env_override: Option<&str>,
    mut stdout: impl Write,
    mut stderr: impl Write,
    latchkey: &impl Handouts,
    say: impl Fn(&Error) -> (String, u8),
) -> u8 {
    match helper_value(registry, env_override, &mut stderr, latchkey).await {
        Ok(value) => {
            let written = stdout
                .write_all(value.as_bytes())
                .and_then(|()| stdout.flush());
            u8::from(written.is_err())
        }
        Err(e) => {
            let (words, code) = say(&e);
            let _ = writeln!(stderr, "latchkey {HELPER_COMMAND}: {words}");
            code
        }
    }
}

async fn helper_value(
    registry: &str,
    env_override: Option<&str>,
    stderr: &mut impl Write,
    latchkey: &impl Handouts,
) -> Result<String> {
    let registry = Registry::parse(registry)?;
    match latchkey
        .credential(request(&registry, env_override))
        .await?
    {
        Handout::NoRule => Err(Error::InvalidInput(format!(
            "no Latchkey rule for {}",
            registry.url
        ))
        .with_remedy(crate::remedy::Remedy::SetupNpm {
            registry: registry.url.clone(),
        })),
        Handout::Refused(reason) => Err(Error::InvalidInput(reason)),
        Handout::Issued(c) => {
            if let Some(w) = &c.token.degraded {
                let _ = writeln!(stderr, "latchkey {HELPER_COMMAND}: warning: {w}");
            }
            Ok(format!("Bearer {}\n", c.token.token.expose()))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::tools::fake::{Fake, block, issued};

    fn reg(s: &str) -> Registry {
        Registry::parse(s).unwrap()
    }

    #[test]
    fn registries_are_canonical_and_keyed_as_npm_does() {
        let r = reg("https://NPM.example.com/org/");
        assert_eq!(r.url, "https://npm.example.com/org/");
        assert_eq!(r.npmrc_key(), "//npm.example.com/org/");
        assert_eq!(reg("npm.example.com").url, "https://npm.example.com/");
        let local = reg("http://127.0.0.1:4873");
        assert_eq!(local.npmrc_key(), "//127.0.0.1:4873/");
        assert!(helper_file_name(&local).starts_with("token-helper-"));
        assert_ne!(helper_file_name(&local), helper_file_name(&r));
        for bad in [
            "http://npm.example.com/",
            "ftp://h/",
            "https://u:p@h/",
            "https://h/a/%2e%2e/b",
        ] {
            assert!(Registry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_wrapper_runs_the_helper_with_the_registry_quoted() {
        let s = helper_script("/opt/it's/latchkey", &reg("https://h.test/o"));
        assert_eq!(
            s.lines().last().unwrap(),
            r"exec '/opt/it'\''s/latchkey' npm-token-helper --registry 'https://h.test/o/'"
        );
        assert!(s.starts_with("#!/bin/sh\n"));
        check_helper_path("/home/u/.config/latchkey/npm/token-helper-0123").unwrap();
        for bad in ["rel/path", "/a b/c", "/a;rm/x", "/a$(x)", ""] {
            assert!(check_helper_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn npmrc_edit_adds_replaces_is_idempotent_and_undoes_only_its_own_line() {
        let r = reg("http://127.0.0.1:4873/");
        let before = "registry=http://127.0.0.1:4873/\n; comment\n//other/:_authToken=${T}\n";
        let e = edit_npmrc(before, &r, "/c/npm/h1", false);
        assert_eq!(e.changes, ["+ //127.0.0.1:4873/:tokenHelper=/c/npm/h1"]);
        assert_eq!(
            e.text,
            format!("{before}//127.0.0.1:4873/:tokenHelper=/c/npm/h1\n")
        );
        let again = edit_npmrc(&e.text, &r, "/c/npm/h1", false);
        assert!(again.changes.is_empty());
        assert_eq!(again.text, e.text);
        let moved = edit_npmrc(&e.text, &r, "/d/h2", false);
        assert_eq!(
            moved.changes,
            ["~ //127.0.0.1:4873/:tokenHelper=/d/h2 (was /c/npm/h1)"]
        );
        // Undo leaves a helper it did not write.
        assert!(
            edit_npmrc(&moved.text, &r, "/c/npm/h1", true)
                .changes
                .is_empty()
        );
        let undone = edit_npmrc(&e.text, &r, "/c/npm/h1", true);
        assert_eq!(undone.text, before);
        assert_eq!(
            edit_npmrc("", &r, "/h", false).text,
            "//127.0.0.1:4873/:tokenHelper=/h\n"
        );
    }

    fn helper(registry: &str, fake: &Fake) -> (u8, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = block(token_helper(
            registry,
            Some("work"),
            &mut out,
            &mut err,
            fake,
            |e| (e.to_string(), 1),
        ));
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn the_helper_prints_the_whole_header_value_for_the_registry() {
        let fake = Fake::answering(Ok(issued("tok-n")));
        let (code, out, _) = helper("http://127.0.0.1:4873", &fake);
        assert_eq!((code, out.as_str()), (0, "Bearer tok-n\n"));
        let asked = fake.asked.borrow();
        assert_eq!(asked[0].tool, Tool::Npm);
        assert_eq!(asked[0].env_override.as_deref(), Some("work"));
        assert_eq!(
            asked[0].subject,
            Subject::Server {
                url: "http://127.0.0.1:4873/".into()
            }
        );
    }

    #[test]
    fn no_rule_refusals_and_bad_registries_print_nothing_on_stdout() {
        let (code, out, err) = helper("https://r.test/", &Fake::answering(Ok(Handout::NoRule)));
        assert_ne!(code, 0);
        assert_eq!(out, "");
        assert!(
            err.contains("no Latchkey rule for https://r.test/"),
            "{err}"
        );
        let refused = Fake::answering(Ok(Handout::Refused("not over http".into())));
        let (code, out, _) = helper("https://r.test/", &refused);
        assert_ne!(code, 0);
        assert_eq!(out, "");
        let fake = Fake::answering(Ok(issued("never")));
        let (code, out, err) = helper("http://r.test/", &fake);
        // The exit code is the shell's (`say`); here any failure is 1.
        assert_eq!((code, out.as_str()), (1, ""));
        assert!(err.contains("use https"), "{err}");
        assert!(fake.asked.borrow().is_empty());
    }
}
