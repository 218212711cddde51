//! `user add|list|remove` and `audit`: the dashboard's accounts and the
//! audit log, on the command line of the data dir's owner.

use super::{AuditArgs, CliError, CliResult, Output, StatusFormat, UserCommand, exit};
use crate::accounts::{self, AccountError, Action, Event};
use crate::node::Node;
use crate::render::{self, col};

/// Who the command line is in the audit log: whoever can run it owns the
/// data dir.
pub const CLI_ACTOR: &str = "cli";

fn refused(e: AccountError) -> CliError {
    match e {
        AccountError::Store(_) | AccountError::Hash(_) | AccountError::Corrupt { .. } => {
            CliError::new(exit::FAILED, e.to_string())
        }
        _ => CliError::new(exit::REFUSED, e.to_string()),
    }
}

fn audited(node: &Node, event: Event) -> CliResult {
    accounts::record(node, event).map_err(|e| CliError::new(exit::FAILED, e.to_string()))
}

/// Records what the command line did with people's data.
pub(super) fn audit_cli(node: &Node, action: Action, detail: String) -> CliResult {
    audited(node, Event::new(CLI_ACTOR, action, detail).org(node.code()))
}

pub(super) fn user(node: &Node, command: UserCommand, io: &mut Output<'_>) -> CliResult {
    match command {
        UserCommand::Add(args) => {
            let input = io.read_stdin(accounts::PASSWORD_BYTES_MAX + 2)?;
            let text = String::from_utf8(input)
                .map_err(|_| CliError::new(exit::REFUSED, "the password is not UTF-8"))?;
            let password = text.strip_suffix('\n').unwrap_or(&text);
            let password = password.strip_suffix('\r').unwrap_or(password);
            let account =
                accounts::add(node, &args.name, &args.org, args.role, password).map_err(refused)?;
            audited(
                node,
                Event::new(CLI_ACTOR, Action::AccountAdded, account.name.clone()).org(&account.org),
            )?;
            let org = node
                .orgs()
                .get(&account.org)
                .map(|id| node.orgs().org(id).name.clone())
                .unwrap_or_default();
            writeln!(
                io.out,
                "account {} added: {} of {} {org}",
                account.name,
                account.role.as_str(),
                account.org
            )?;
            Ok(())
        }
        UserCommand::List => {
            let list = accounts::list(node).map_err(refused)?;
            let zone = node.config().zone();
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|a| {
                    let name = node
                        .orgs()
                        .get(&a.org)
                        .map(|id| node.orgs().org(id).name.clone())
                        .unwrap_or_default();
                    vec![
                        a.name.clone(),
                        a.org.clone(),
                        name,
                        a.role.as_str().to_owned(),
                        crate::clock::local_minutes(zone, a.created_at_ms),
                    ]
                })
                .collect();
            render::table(
                io.out,
                &[
                    col("account", "账号"),
                    col("org", "机构代码"),
                    col("org name", "机构"),
                    col("role", "角色"),
                    col("created", "创建时间"),
                ],
                &rows,
            )?;
            Ok(())
        }
        UserCommand::Remove(args) => {
            let account = accounts::get(node, &args.name)
                .map_err(refused)?
                .ok_or_else(|| refused(AccountError::Unknown(args.name.clone())))?;
            accounts::remove(node, &args.name).map_err(refused)?;
            audited(
                node,
                Event::new(CLI_ACTOR, Action::AccountRemoved, account.name.clone())
                    .org(&account.org),
            )?;
            writeln!(io.out, "account {} removed", account.name)?;
            Ok(())
        }
    }
}

pub(super) fn audit(node: &Node, args: AuditArgs, io: &mut Output<'_>) -> CliResult {
    let zone = node.config().zone();
    let since_ms = match args.since.as_deref() {
        None => i64::MIN,
        Some(text) => {
            let day = crate::model::parse_date("--since", text)
                .map_err(|e| CliError::new(exit::USAGE, e.0))?;
            crate::clock::start_of_day_ms(zone, day)
        }
    };
    let events = accounts::events(node, since_ms, None)
        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    match args.format {
        StatusFormat::Json => {
            let events: Vec<serde_json::Value> = events
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "at": chrono::DateTime::<chrono::Utc>::from_timestamp_millis(e.at_ms)
                            .unwrap_or_default()
                            .with_timezone(&zone)
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
                        "actor": e.actor,
                        "action": e.action.as_str(),
                        "org": e.org,
                        "address": e.address,
                        "detail": e.detail,
                    })
                })
                .collect();
            render::json(io.out, &serde_json::json!({ "events": events }))?;
        }
        StatusFormat::Table => {
            let rows: Vec<Vec<String>> = events
                .iter()
                .map(|e| {
                    vec![
                        crate::clock::local_seconds(zone, e.at_ms),
                        e.actor.clone(),
                        e.action.as_str().to_owned(),
                        e.org.clone().unwrap_or_default(),
                        e.address.clone().unwrap_or_default(),
                        e.detail.clone(),
                    ]
                })
                .collect();
            render::table(
                io.out,
                &[
                    col("time", "时间"),
                    col("account", "账号"),
                    col("action", "操作"),
                    col("org", "机构代码"),
                    col("address", "地址"),
                    col("detail", "内容"),
                ],
                &rows,
            )?;
        }
    }
    Ok(())
}
