//! The link to the parent: `sync`, `restore`, and `status`.

use std::io::Write;
use std::sync::Arc;

use super::{CliError, CliResult, Output, StatusArgs, StatusFormat, block_on, exit};
use crate::app::App;
use crate::app::sync::SyncFailure;
use crate::node::Node;
use crate::render::{self, col, num};
use crate::sync::client::SyncError;

pub(super) fn sync_once(app: &App, io: &mut Output<'_>) -> CliResult {
    let node = app.node();
    match block_on(app.sync_until_done())? {
        // Our own log disagrees with the parent's copy (the session still
        // forwarded every other origin).
        Err(SyncFailure::Conflict(e)) => Err(CliError::new(exit::FAILED, e.to_string())),
        Ok(o) if o.complete() => {
            writeln!(
                io.out,
                "synced with {}: {} changes sent in {} batches ({} applied, {} already held); the parent holds everything",
                node.config().upstream.as_deref().unwrap_or("?"),
                o.sent,
                o.batches,
                o.applied,
                o.skipped
            )?;
            let returned = node.returned_counts();
            if returned.people > 0 {
                writeln!(
                    io.out,
                    "returned by the parent: {} attendance records of {} people of our rosters",
                    returned.records, returned.people
                )?;
            }
            Ok(())
        }
        Ok(o) => {
            writeln!(
                io.out,
                "sent {} changes ({} applied, {} already held)",
                o.sent, o.applied, o.skipped
            )?;
            for (origin, seq, reason) in &o.held {
                writeln!(
                    io.out,
                    "held back by the parent: {origin} from seq {seq}: {reason}"
                )?;
            }
            Err(CliError::new(
                exit::INCOMPLETE,
                format!(
                    "sync incomplete: {}",
                    crate::sync::worker::incomplete_reason(&o)
                ),
            ))
        }
        Err(SyncFailure::Session(e @ SyncError::NoUpstream)) => {
            Err(CliError::new(exit::USAGE, e.to_string()))
        }
        Err(SyncFailure::Session(e)) => Err(CliError::new(exit::INCOMPLETE, e.to_string())),
    }
}

pub(super) fn restore(node: &Arc<Node>, io: &mut Output<'_>) -> CliResult {
    let result = block_on(crate::app::restore::restore(node))?;
    let r = result.map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    writeln!(
        io.out,
        "restored from {}: {} changes received in {} batches, {} new, {} already held",
        node.config().upstream.as_deref().unwrap_or("?"),
        r.received,
        r.batches,
        r.applied,
        r.skipped
    )?;
    for k in &r.kept {
        writeln!(
            io.out,
            "kept our {} local changes of {} from seq {}: the parent's copy differs there and was not taken",
            k.local, k.origin, k.from_seq
        )?;
    }
    if let Some(conflict) = node.conflict() {
        return Err(CliError::new(
            exit::FAILED,
            format!(
                "the parent's copy did not resolve this node's own log ({conflict:?}): writes stay refused"
            ),
        ));
    }
    writeln!(
        io.out,
        "own log at seq {}; writes allowed",
        node.view().head(node.me()).map_or(0, |h| h.seq)
    )?;
    Ok(())
}

pub(super) fn status(node: &Node, args: StatusArgs, io: &mut Output<'_>) -> CliResult {
    let s = crate::app::status::status(node);
    if args.format == StatusFormat::Json {
        render::json(io.out, &s)?;
        return Ok(());
    }
    let out = &mut io.out;
    writeln!(
        out,
        "node       {} {} ({}), parent {}",
        s.org,
        s.name,
        s.level,
        s.parent.as_deref().unwrap_or("none")
    )?;
    writeln!(
        out,
        "data       {} ({:.1} MiB on disk)",
        s.data_dir,
        s.store_bytes as f64 / (1024.0 * 1024.0)
    )?;
    writeln!(
        out,
        "own log    seq {}, last write {}{}",
        s.own_seq,
        s.last_write.as_deref().unwrap_or("never"),
        if s.writable {
            ""
        } else {
            "; WRITES REFUSED: lost tail, run `restore --from-upstream`"
        }
    )?;
    writeln!(
        out,
        "held       {} changes from {} origins",
        s.counts.changes, s.counts.origins
    )?;
    writeln!(
        out,
        "records    {} roster entries, {} people, {} classes, {} attendance records",
        s.counts.roster_entries, s.counts.people, s.counts.classes, s.counts.attendance
    )?;
    writeln!(
        out,
        "policy     {}",
        match (s.bulletins.policy_in_force, &s.bulletins.policy_effective) {
            (Some(n), Some(d)) => format!(
                "bulletin {n} of the national bureau, effective {d} ({} bulletins held)",
                s.bulletins.held
            ),
            _ => format!(
                "this node's own (no policy bulletin in force; {} bulletins held)",
                s.bulletins.held
            ),
        }
    )?;
    if s.returned.people > 0 || s.returned.checked.is_some() {
        writeln!(
            out,
            "returned   {} attendance records of {} people from the parent (classes held outside this subtree), changed {}, last taken {}",
            s.returned.records,
            s.returned.people,
            s.returned.changed.as_deref().unwrap_or("never"),
            s.returned.checked.as_deref().unwrap_or("never")
        )?;
    }
    if s.unknown_origin_changes > 0 {
        writeln!(
            out,
            "warning    {} changes of origins not in the org directory are held but not shown",
            s.unknown_origin_changes
        )?;
    }
    match &s.upstream {
        None => writeln!(out, "upstream   none configured")?,
        Some(u) => {
            writeln!(out, "upstream   {}", u.url)?;
            writeln!(
                out,
                "           last success {}, last attempt {}, pending {} changes{}",
                u.last_success.as_deref().unwrap_or("never"),
                u.last_attempt.as_deref().unwrap_or("never"),
                u.pending,
                u.lag_seconds
                    .map(|l| format!(" (oldest {l}s old)"))
                    .unwrap_or_default()
            )?;
            if let Some(at) = &u.last_bundle_ack {
                writeln!(out, "           last bundle acknowledgement imported {at}")?;
            }
            if !u.parent_holds.is_empty() {
                let held: Vec<String> = u
                    .parent_holds
                    .iter()
                    .map(|(o, seq)| format!("{o} {seq}"))
                    .collect();
                writeln!(out, "           the parent holds {}", held.join(", "))?;
            }
            if let Some(e) = &u.last_error {
                writeln!(out, "           last error ({} in a row): {e}", u.failures)?;
            }
            for h in &u.held_by_parent {
                writeln!(
                    out,
                    "           held back by the parent: {} from seq {}: {}",
                    h.origin, h.seq, h.reason
                )?;
            }
        }
    }
    if !s.children.is_empty() {
        let rows: Vec<Vec<String>> = s
            .children
            .iter()
            .map(|c| {
                vec![
                    c.org.clone(),
                    c.name.clone(),
                    c.last_success.clone().unwrap_or_else(|| "never".into()),
                    c.lag_seconds
                        .map(|l| l.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.pending
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    c.applied.to_string(),
                    c.refused.to_string(),
                    c.last_bundle
                        .as_ref()
                        .map(|at| format!("{} ({})", at, c.bundles))
                        .unwrap_or_else(|| "-".into()),
                    c.last_error.clone().unwrap_or_default(),
                ]
            })
            .collect();
        writeln!(out, "children")?;
        render::table(
            *out,
            &[
                col("org", "机构代码"),
                col("name", "名称"),
                col("last_success", "最近同步"),
                num("lag_s", "滞后秒"),
                num("pending", "待传"),
                num("received", "已收"),
                num("refused", "拒收"),
                col("last_bundle", "最近文件包"),
                col("last_error", "最近错误"),
            ],
            &rows,
        )?;
    }
    for h in &s.held {
        writeln!(
            out,
            "HELD       {} from seq {}: {}",
            h.origin, h.seq, h.reason
        )?;
    }
    if !s.alerts.is_empty() {
        let zone = node.config().zone();
        let rows: Vec<Vec<String>> = s
            .alerts
            .iter()
            .map(|a| {
                vec![
                    format!("{} {}", a.kind.zh(), a.kind.as_str()),
                    a.child.clone(),
                    a.name.clone(),
                    a.since_ms
                        .map(|t| crate::clock::local_minutes(zone, t))
                        .unwrap_or_else(|| "never".into()),
                    a.detail.clone(),
                ]
            })
            .collect();
        writeln!(
            out,
            "ALERTS     {} (silent after {} days)",
            s.alerts.len(),
            s.silent_days
        )?;
        render::table(
            *out,
            &[
                col("alert", "告警"),
                col("org", "机构代码"),
                col("name", "名称"),
                col("since", "起始时间"),
                col("detail", "说明"),
            ],
            &rows,
        )?;
    }
    Ok(())
}
