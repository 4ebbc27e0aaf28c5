//! kubectl's exec credential plugin (`latchkey kubectl-credential`): what kubectl asks
//! ([`parse_exec_info`], the `KUBERNETES_EXEC_INFO` document) and which account and token the
//! cluster gets ([`select_for_cluster`]). Pure: no I/O, so the parser can be fuzzed and the
//! decision unit-tested; [`crate::LoginManager::select_for_cluster`] applies it to the rules in
//! `accounts.toml`.
//!
//! A token goes only to a cluster that was set up for it. kubectl runs the plugin for every
//! context that names its kubeconfig user, so the plugin does not trust the user's name: it needs
//! the cluster's server (`provideClusterInfo: true`), which must be https (plain http only to
//! loopback, [`crate::rules::transport_allowed`]) and must be the server `latchkey setup kubectl`
//! recorded in the user's exec args (`--server`), or — without a recorded server — be named by a
//! selection rule. The account is the one the args name, else `LATCHKEY_ACCOUNT`, else the
//! rule's; with a rule, `LATCHKEY_ACCOUNT` behaves exactly as in [`crate::rules::select`] (a
//! rule is required, its token spec is kept). Options in the args (`--scope`, `--resource`,
//! `--audience`) win over the rule's spec.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::remedy::Remedy;
use crate::rules::{Reason, Rule, Selection, Target};
use crate::target::TokenSpec;

/// The ExecCredential apiVersions the plugin speaks (the first is the answer without a request).
pub const API_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The most `KUBERNETES_EXEC_INFO` accepted (kubectl's are a few kilobytes, CA data included).
pub const MAX_EXEC_INFO: usize = 1024 * 1024;

/// What kubectl asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInfo {
    /// The ExecCredential apiVersion to answer in.
    pub api_version: String,
    /// kubectl may prompt (a sign-in may open a browser).
    pub interactive: bool,
    /// The cluster's server URL (only with `provideClusterInfo: true`).
    pub server: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawInfo {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    spec: RawSpec,
}

#[derive(Deserialize, Default)]
struct RawSpec {
    #[serde(default)]
    interactive: bool,
    #[serde(default)]
    cluster: Option<RawCluster>,
}

#[derive(Deserialize)]
struct RawCluster {
    server: Option<String>,
}

/// Parses `KUBERNETES_EXEC_INFO` (`None` or blank: run by hand, answer in v1, never prompt).
/// An unknown apiVersion or a document that is not an ExecCredential is an error; the error
/// quotes none of the document (it may carry certificate data).
pub fn parse_exec_info(raw: Option<&str>) -> Result<ExecInfo> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(ExecInfo {
            api_version: API_VERSIONS[0].to_string(),
            interactive: false,
            server: None,
        });
    };
    if raw.len() > MAX_EXEC_INFO {
        return Err(Error::InvalidInput(format!(
            "KUBERNETES_EXEC_INFO is longer than {MAX_EXEC_INFO} bytes"
        )));
    }
    let info: RawInfo = serde_json::from_str(raw).map_err(|e| {
        Error::InvalidInput(format!(
            "KUBERNETES_EXEC_INFO is not an ExecCredential (JSON error at line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let version = info
        .api_version
        .unwrap_or_else(|| API_VERSIONS[1].to_string());
    if !API_VERSIONS.contains(&version.as_str()) {
        return Err(Error::InvalidInput(format!(
            "kubectl asked for ExecCredential {}; latchkey speaks {}",
            crate::text::clean(&version, 80),
            API_VERSIONS.join(" and ")
        )));
    }
    Ok(ExecInfo {
        api_version: version,
        interactive: info.spec.interactive,
        server: info
            .spec
            .cluster
            .and_then(|c| c.server)
            .filter(|s| !s.trim().is_empty()),
    })
}

/// What the plugin was run with, beside kubectl's [`ExecInfo`].
#[derive(Debug, Clone, Default)]
pub struct ClusterRequest<'a> {
    /// The cluster's server from `KUBERNETES_EXEC_INFO`.
    pub server: Option<&'a str>,
    /// The account the exec args name (`kubectl-credential ACCOUNT`).
    pub account: Option<&'a str>,
    /// The server the exec args record (`--server URL`, written by `latchkey setup kubectl`).
    pub recorded_server: Option<&'a str>,
    /// `--scope/--resource/--audience` in the exec args (empty: none).
    pub spec: TokenSpec,
    /// `LATCHKEY_ACCOUNT`.
    pub env_override: Option<&'a str>,
}

/// Which account (and token spec) the cluster kubectl runs the plugin for gets; an error that
/// says in one line what to do when it gets none (see the module doc).
pub fn select_for_cluster(rules: &[Rule], req: &ClusterRequest<'_>) -> Result<Selection> {
    let setup_hint = |what: &str| format!("set up kubectl for {what}");
    let setup = || Remedy::SetupKubectl {
        account: req.account.map(str::to_string),
    };
    let server = req.server.ok_or_else(|| {
        Error::InvalidInput(format!(
            "kubectl did not say which cluster this is for (the kubeconfig user lacks `provideClusterInfo: true`, as entries written by older versions of latchkey do), so no token is sent; {}",
            setup_hint("the cluster to update the entry")
        ))
        .with_remedy(setup())
    })?;
    let shown = crate::text::clean(server, crate::text::MAX_URI);
    if !server.contains("://") {
        return Err(Error::InvalidInput(format!(
            "the cluster server `{shown}` has no https:// scheme; no token is sent to it (write the server as https://… in the kubeconfig)"
        )));
    }
    let target = Target::parse(server)?;
    target.check_transport().map_err(|e| {
        Error::InvalidInput(format!(
            "{e}; the cluster server {shown} is not https (fix the server in the kubeconfig)"
        ))
    })?;
    if let Some(recorded) = req.recorded_server {
        if !same_server(&Target::parse(recorded)?, &target) {
            return Err(Error::InvalidInput(format!(
                "this kubeconfig user was set up for the server {}, but kubectl runs it for {shown}; no token is sent; {}",
                crate::text::clean(recorded, crate::text::MAX_URI),
                setup_hint("that cluster")
            ))
            .with_remedy(setup()));
        }
        if let Some(account) = req.account {
            // The user names its account and the server it was set up for: self-contained.
            return Ok(Selection {
                account: account.to_string(),
                reason: Reason::Kubeconfig {
                    server: server.to_string(),
                },
                spec: req.spec.clone(),
            });
        }
    }
    // Named by the args or by LATCHKEY_ACCOUNT (the args win), chosen only among servers a
    // rule names, with the rule's spec: as `rules::select` does for every other tool.
    let chosen = req.account.or(req.env_override);
    let mut sel = crate::rules::select(rules, &target, chosen).ok_or_else(|| {
        Error::InvalidInput(format!(
            "no latchkey rule names the cluster server {shown}, so no token is sent to it; {}",
            setup_hint("that cluster")
        ))
        .with_remedy(setup())
    })?;
    if !req.spec.is_empty() {
        sel.spec = req.spec.clone();
    }
    if req.account.is_some() {
        sel.reason = Reason::Kubeconfig {
            server: server.to_string(),
        };
    }
    Ok(sel)
}

/// Same scheme, host, port and path (a username does not make another server).
fn same_server(a: &Target, b: &Target) -> bool {
    a.protocol == b.protocol && a.host == b.host && a.port == b.port && a.path == b.path
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn info(server: &str) -> String {
        serde_json::json!({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false,"cluster":{"server":server,"insecure-skip-tls-verify":true}}}).to_string()
    }

    #[test]
    fn exec_info_gives_the_version_interactivity_and_server() {
        let i = parse_exec_info(Some(r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true,"cluster":{"server":"https://k.test:6443"}}}"#)).unwrap();
        assert_eq!(i.api_version, "client.authentication.k8s.io/v1beta1");
        assert!(i.interactive);
        assert_eq!(i.server.as_deref(), Some("https://k.test:6443"));
        let i = parse_exec_info(Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
        ))
        .unwrap();
        assert_eq!(
            (i.api_version.as_str(), i.interactive, i.server),
            (API_VERSIONS[0], false, None)
        );
        assert_eq!(parse_exec_info(None).unwrap().api_version, API_VERSIONS[0]);
        assert_eq!(
            parse_exec_info(Some("  ")).unwrap().api_version,
            API_VERSIONS[0]
        );
        assert!(
            parse_exec_info(Some(r#"{"apiVersion":"client.authentication.k8s.io/v2"}"#)).is_err()
        );
        let e = parse_exec_info(Some(r#"{"spec": "secret-ca-data"#)).unwrap_err();
        assert!(!e.to_string().contains("secret-ca-data"), "{e}");
        assert!(parse_exec_info(Some("[1,2]")).is_err());
        assert!(parse_exec_info(Some(&format!("{{{}}}", " ".repeat(MAX_EXEC_INFO)))).is_err());
        let i = parse_exec_info(Some(&info("https://a.test"))).unwrap();
        assert_eq!(i.server.as_deref(), Some("https://a.test"));
    }

    fn rule(host: &str, acct: &str, res: Option<&str>) -> Rule {
        let r = Rule::new(host, None, None, acct).unwrap();
        match res {
            Some(res) => r.with_spec(TokenSpec::new(&[], &[res.into()], None).unwrap()),
            None => r,
        }
    }

    fn res(r: &str) -> TokenSpec {
        TokenSpec::new(&[], &[r.into()], None).unwrap()
    }

    #[test]
    fn a_cluster_needs_https_and_a_rule_or_the_recorded_server() {
        let rules = vec![
            rule("https://a.test:6443", "work", Some("https://ra")),
            rule("http://plain.test", "work", None),
        ];
        let ask = |server: Option<&'static str>,
                   account: Option<&'static str>,
                   recorded: Option<&'static str>,
                   env: Option<&'static str>| {
            select_for_cluster(
                &rules,
                &ClusterRequest {
                    server,
                    account,
                    recorded_server: recorded,
                    spec: TokenSpec::default(),
                    env_override: env,
                },
            )
        };
        // No cluster info (old entries, provideClusterInfo: false): nothing, and what to do.
        let e = ask(None, Some("work"), None, None).unwrap_err();
        assert!(e.to_string().contains("provideClusterInfo"), "{e}");
        assert_eq!(
            e.remedy(),
            Some(Remedy::SetupKubectl {
                account: Some("work".into())
            })
        );
        // Plain http, even with a rule and the account named.
        for account in [None, Some("work")] {
            let e = ask(Some("http://plain.test"), account, None, None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("use https"), "{e}");
        }
        assert!(ask(Some("plain.test"), Some("work"), None, None).is_err());
        // A server no rule names: refused with or without ACCOUNT or LATCHKEY_ACCOUNT.
        for (account, env) in [(None, None), (Some("work"), None), (None, Some("work"))] {
            let e = ask(Some("https://b.test:6443"), account, None, env).unwrap_err();
            assert!(
                e.to_string()
                    .contains("no latchkey rule names the cluster server https://b.test:6443"),
                "{e}"
            );
            assert!(
                matches!(e.remedy(), Some(Remedy::SetupKubectl { .. })),
                "{e:?}"
            );
        }
        // The rule's server: its account and spec; LATCHKEY_ACCOUNT keeps the spec.
        let s = ask(Some("https://a.test:6443"), None, None, None).unwrap();
        assert_eq!((s.account.as_str(), &s.spec), ("work", &res("https://ra")));
        let s = ask(Some("https://a.test:6443"), None, None, Some("other")).unwrap();
        assert_eq!((s.account.as_str(), &s.spec), ("other", &res("https://ra")));
        assert_eq!(s.reason, Reason::Environment);
        // The args name the account: a rule is still needed, its spec kept.
        let s = ask(Some("https://a.test:6443"), Some("mine"), None, Some("env")).unwrap();
        assert_eq!((s.account.as_str(), &s.spec), ("mine", &res("https://ra")));
        assert!(
            s.explain().starts_with("the kubeconfig user names it"),
            "{}",
            s.explain()
        );
        // A recorded server: must be the cluster's, then no rule is needed.
        let s = ask(
            Some("https://c.test"),
            Some("work"),
            Some("https://c.test/"),
            None,
        )
        .unwrap();
        assert_eq!(s.account, "work");
        assert!(s.spec.is_empty());
        let e = ask(
            Some("https://a.test:6443"),
            Some("work"),
            Some("https://c.test"),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "set up for the server https://c.test, but kubectl runs it for https://a.test:6443"
            ),
            "{e}"
        );
        // A refused path is refused here too.
        assert!(ask(Some("https://a.test:6443/x/%2e%2e/y"), None, None, None).is_err());
    }

    #[test]
    fn the_args_spec_wins_over_the_rules() {
        let rules = vec![rule("https://a.test", "work", Some("https://ra"))];
        let s = select_for_cluster(
            &rules,
            &ClusterRequest {
                server: Some("https://a.test"),
                account: None,
                spec: res("https://rb"),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(s.spec, res("https://rb"));
    }
}
