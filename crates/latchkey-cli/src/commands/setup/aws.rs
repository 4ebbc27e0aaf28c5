//! `latchkey setup aws PROFILE --account ACCOUNT --role-arn ARN [--region R]`: a profile in
//! the AWS config file (`AWS_CONFIG_FILE`, else `~/.aws/config`; never the credentials file)
//! whose `credential_process` is `latchkey aws-credential`. Every other section and key is
//! kept as written (comments included). `--undo` removes the `credential_process` Latchkey
//! wrote, and the profile when nothing but a `region` is left in it. No selection rule: the
//! account is named in the command.

use super::*;

pub(super) fn aws_config_path() -> Result<PathBuf, Error> {
    if let Some(p) = std::env::var_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".aws").join("config"))
        .ok_or_else(|| Error::InvalidInput("no HOME: set AWS_CONFIG_FILE".into()))
}

/// The section header of `profile` (`[default]` for the default profile).
fn header(profile: &str) -> String {
    if profile == "default" {
        "[default]".into()
    } else {
        format!("[profile {profile}]")
    }
}

fn is_header_of(line: &str, profile: &str) -> bool {
    let t = line.trim();
    let Some(inner) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return false;
    };
    let words: Vec<&str> = inner.split_whitespace().collect();
    match words.as_slice() {
        ["profile", name] => *name == profile,
        [name] => profile == "default" && *name == "default",
        _ => false,
    }
}

fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#')
        || t.starts_with(';')
        || t.starts_with('[')
        || line.starts_with([' ', '\t'])
    {
        return None;
    }
    t.split_once('=').map(|(k, _)| k.trim())
}

/// Sets (or with `undo` removes) the profile's `credential_process` and, when given, its
/// `region`, keeping every other line. Pure: the new text and the changes.
pub fn edit_aws_config(
    text: &str,
    profile: &str,
    command: &str,
    region: Option<&str>,
    undo: bool,
) -> (String, Vec<String>) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines.iter().position(|l| is_header_of(l, profile));
    let mut changes = Vec::new();
    let head = header(profile);
    let Some(start) = start else {
        if undo {
            return (text.to_string(), changes);
        }
        if lines.last().is_some_and(|l| !l.trim().is_empty()) {
            lines.push(String::new());
        }
        lines.push(head.clone());
        lines.push(format!("credential_process = {command}"));
        changes.push(format!("+ {head} credential_process = {command}"));
        if let Some(r) = region {
            lines.push(format!("region = {r}"));
            changes.push(format!("+ {head} region = {r}"));
        }
        return (lines.join("\n") + "\n", changes);
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let find =
        |lines: &[String], key: &str| (start + 1..end).find(|i| key_of(&lines[*i]) == Some(key));
    let value = |line: &str| line.split_once('=').map(|(_, v)| v.trim().to_string());
    let current = find(&lines, "credential_process");
    if undo {
        if let Some(i) = current
            && value(&lines[i]).is_some_and(|v| v.contains(" aws-credential "))
        {
            changes.push(format!("- {head} {}", lines[i].trim()));
            lines.remove(i);
            let end = end - 1;
            let left: Vec<&str> = (start + 1..end).filter_map(|i| key_of(&lines[i])).collect();
            if left.iter().all(|k| *k == "region") {
                changes.push(format!("- {head}"));
                lines.drain(start..end);
            }
        }
        return (lines.join("\n") + "\n", changes);
    }
    let mut end = end;
    let mut set = |lines: &mut Vec<String>, key: &str, want: &str| match find(lines, key) {
        Some(i) if value(&lines[i]).as_deref() == Some(want) => {}
        Some(i) => {
            changes.push(format!(
                "~ {head} {key} = {want} (was {})",
                value(&lines[i]).unwrap_or_default()
            ));
            lines[i] = format!("{key} = {want}");
        }
        None => {
            changes.push(format!("+ {head} {key} = {want}"));
            lines.insert(start + 1, format!("{key} = {want}"));
            end += 1;
        }
    };
    set(&mut lines, "credential_process", command);
    if let Some(r) = region {
        set(&mut lines, "region", r);
    }
    (lines.join("\n") + "\n", changes)
}

/// The `credential_process` line: this binary, quoted when its path has spaces.
fn command_line(
    account: &str,
    role_arn: &str,
    region: Option<&str>,
    spec: &TokenSpec,
) -> Result<String, Error> {
    let quote = |s: &str| {
        if s.chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'')
        {
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        } else {
            s.to_string()
        }
    };
    let mut parts = vec![
        quote(&exe()?),
        "aws-credential".into(),
        quote(account),
        "--role-arn".into(),
        quote(role_arn),
    ];
    if let Some(r) = region {
        parts.extend(["--region".into(), quote(r)]);
    }
    for s in spec.scopes() {
        parts.extend(["--scope".into(), quote(s)]);
    }
    for r in spec.resources() {
        parts.extend(["--resource".into(), quote(r)]);
    }
    if let Some(a) = spec.audience() {
        parts.extend(["--audience".into(), quote(a)]);
    }
    Ok(parts.join(" "))
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn setup(
    m: &LoginManager,
    profile: &str,
    account: &str,
    role_arn: &str,
    region: Option<&str>,
    spec: TokenSpec,
    mode: Mode,
) -> Result<Plan, Error> {
    m.account(account)?;
    if profile.is_empty()
        || !profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@+".contains(c))
    {
        return Err(Error::InvalidInput(format!(
            "not a profile name: {}",
            latchkey_core::text::clean(profile, 60)
        )));
    }
    if !role_arn.starts_with("arn:") || role_arn.chars().any(char::is_whitespace) {
        return Err(Error::InvalidInput(
            "--role-arn must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME)".into(),
        ));
    }
    if let Some(r) = region
        && (r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(Error::InvalidInput("not an AWS region".into()));
    }
    let path = aws_config_path()?;
    let text = read_config(&path)?.unwrap_or_default();
    let command = command_line(account, role_arn, region, &spec)?;
    let (out, changes) = edit_aws_config(&text, profile, &command, region, mode.undo);
    if !changes.is_empty() && !mode.dry_run {
        write_config(&path, &out)?;
    }
    Ok(Plan {
        changes,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMD: &str = "/usr/bin/latchkey aws-credential work --role-arn arn:aws:iam::1:role/r";

    #[test]
    fn adds_then_keeps_then_undoes() {
        let before = "# mine\n[default]\nregion = eu-west-1\n\n[profile other]\noutput = json\n";
        let (once, changes) = edit_aws_config(before, "dev", CMD, Some("us-east-1"), false);
        assert_eq!(changes.len(), 2);
        assert!(once.starts_with(before));
        assert!(
            once.contains("[profile dev]\ncredential_process = /usr/bin/latchkey aws-credential")
        );
        let (twice, changes) = edit_aws_config(&once, "dev", CMD, Some("us-east-1"), false);
        assert!(changes.is_empty());
        assert_eq!(twice, once);
        let (undone, changes) = edit_aws_config(&once, "dev", CMD, None, true);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert_eq!(undone.trim_end(), before.trim_end());
    }

    #[test]
    fn changes_only_its_keys_in_an_existing_profile() {
        let before =
            "[profile dev]\noutput = json\ncredential_process = other\n[profile x]\na = b\n";
        let (after, changes) = edit_aws_config(before, "dev", CMD, None, false);
        assert_eq!(changes.len(), 1);
        assert!(changes[0].contains("(was other)"));
        assert!(after.contains("output = json") && after.contains("[profile x]\na = b"));
        let (undone, _) = edit_aws_config(&after, "dev", CMD, None, true);
        assert!(undone.contains("[profile dev]\noutput = json"));
        // Someone else's credential_process is not undone.
        let (same, changes) = edit_aws_config(before, "dev", CMD, None, true);
        assert!(changes.is_empty());
        assert_eq!(same, before);
    }

    #[test]
    fn the_default_profile_has_no_profile_prefix() {
        let (after, _) = edit_aws_config("", "default", CMD, None, false);
        assert!(after.starts_with("[default]\n"));
    }
}
