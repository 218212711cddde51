//! What comes down the tree: `policy show` (and which bulletin it comes
//! from), `policy publish` and `orgs publish` at the national node, and
//! `bulletins`.

use super::{
    BulletinsArgs, CliError, CliResult, Output, PolicyShowArgs, PublishArgs, StatusFormat, exit,
    parse_as_of,
};
use crate::node::Node;
use lunxun_core::bulletin::{BULLETIN_BYTES_MAX, Body};

/// `policy show`: the policy in force on a date, and where it comes from.
pub(super) fn policy(node: &Node, args: PolicyShowArgs, io: &mut Output<'_>) -> CliResult {
    let as_of = parse_as_of(node, args.as_of.as_deref())?;
    match node.in_force().policy_bulletin_at(as_of) {
        Some((number, effective)) => writeln!(
            io.out,
            "# in force on {as_of}: bulletin {number} of the national bureau, effective {effective}"
        )?,
        None => {
            let source = node.dir().join(crate::config::POLICY_FILE);
            if source.exists() {
                writeln!(
                    io.out,
                    "# in force on {as_of}: defaults overridden by {}",
                    source.display()
                )?;
            } else {
                writeln!(
                    io.out,
                    "# in force on {as_of}: the defaults (no {} in the data dir, no policy bulletin)",
                    crate::config::POLICY_FILE
                )?;
            }
        }
    }
    write!(io.out, "{}", node.policy_at(as_of).to_toml())?;
    Ok(())
}

/// Reads a bulletin's file within the bound of what one bulletin may carry.
fn read(args: &PublishArgs) -> Result<(String, crate::model::Date), CliError> {
    let effective = crate::model::parse_date("--effective", &args.effective)
        .map_err(|e| CliError::new(exit::USAGE, e.0))?;
    let path = &args.file;
    let refused =
        |reason: String| CliError::new(exit::REFUSED, format!("{}: {reason}", path.display()));
    let len = std::fs::metadata(path)
        .map_err(|e| refused(e.to_string()))?
        .len();
    // The file goes into a bulletin with a little framing around it.
    if len > (BULLETIN_BYTES_MAX - 1024) as u64 {
        return Err(refused(format!(
            "{len} bytes, more than a bulletin carries ({} bytes)",
            BULLETIN_BYTES_MAX - 1024
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| refused("not UTF-8 text".into()))?;
    Ok((text.trim_start_matches('\u{feff}').to_owned(), effective))
}

fn published(
    node: &Node,
    body: Body,
    effective: crate::model::Date,
    io: &mut Output<'_>,
) -> CliResult {
    let kind = body.kind();
    let number = node.publish(body, effective).map_err(|e| match e {
        crate::error::Error::Usage(m) => CliError::new(exit::REFUSED, m),
        e => e.into(),
    })?;
    writeln!(
        io.out,
        "published bulletin {number} ({kind}, effective {effective}){}: every node receives it at its next session",
        if node.requires_signatures() {
            ", signed"
        } else {
            ", unsigned (no tls dir)"
        }
    )?;
    Ok(())
}

/// `policy publish FILE --effective DATE`.
pub(super) fn publish_policy(node: &Node, args: PublishArgs, io: &mut Output<'_>) -> CliResult {
    let (toml, effective) = read(&args)?;
    // The file's own errors name the file, line and field.
    crate::policy::Policy::from_toml(&toml, &args.file.display().to_string())
        .map_err(|e| CliError::new(exit::REFUSED, e.to_string()))?;
    published(node, Body::Policy { toml }, effective, io)
}

/// `orgs publish FILE --effective DATE`.
pub(super) fn publish_orgs(node: &Node, args: PublishArgs, io: &mut Output<'_>) -> CliResult {
    let (csv, effective) = read(&args)?;
    let mut check = (*node.orgs()).clone();
    check
        .amend_csv(&args.file.display().to_string(), &csv, effective)
        .map_err(|e| CliError::new(exit::REFUSED, e.to_string()))?;
    published(node, Body::Orgs { csv }, effective, io)
}

/// `bulletins`: every bulletin held, and what is in force today.
pub(super) fn bulletins(node: &Node, args: BulletinsArgs, io: &mut Output<'_>) -> CliResult {
    let listed = node.bulletins();
    let today = node.today();
    let policy = node.in_force().policy_bulletin_at(today).map(|(n, _)| n);
    if args.format == StatusFormat::Json {
        let json = serde_json::json!({
            "held": node.bulletins_held(),
            "policy_in_force": policy,
            "bulletins": listed,
        });
        writeln!(
            io.out,
            "{}",
            serde_json::to_string_pretty(&json)
                .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?
        )?;
        return Ok(());
    }
    if listed.is_empty() {
        writeln!(
            io.out,
            "no bulletins: the node's own policy and directory are in force"
        )?;
        return Ok(());
    }
    use crate::render::{col, num};
    let columns = [
        num("number", "编号"),
        col("kind", "类别"),
        col("effective", "生效日期"),
        col("signed at", "签发时间"),
        col("signed", "签名"),
        col("what", "内容"),
    ];
    let rows: Vec<Vec<String>> = listed
        .iter()
        .map(|b| {
            vec![
                b.number.to_string(),
                b.kind.to_owned(),
                b.effective.clone(),
                b.signed_at.clone(),
                if b.signed { "yes" } else { "no" }.to_owned(),
                b.summary.clone(),
            ]
        })
        .collect();
    crate::render::table(io.out, &columns, &rows)?;
    match policy {
        Some(n) => writeln!(io.out, "policy in force today ({today}): bulletin {n}")?,
        None => writeln!(
            io.out,
            "policy in force today ({today}): the node's own (no policy bulletin effective yet)"
        )?,
    }
    Ok(())
}
