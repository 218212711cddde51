//! Setting a node up: `init`, `certs`, `gen`, and `policy show` before there is a node.

use std::path::Path;

use super::{CertsCommand, CliError, CliResult, GenArgs, GenFormat, InitArgs, Output, exit};
use crate::app::init::{InitError, InitRequest};
use crate::render::Lang;

pub(super) fn init(data: &Path, args: InitArgs, io: &mut Output<'_>) -> CliResult {
    let request = InitRequest {
        org: args.org,
        upstream: args.upstream,
        tls_dir: args.tls_dir,
        insecure: args.insecure,
        orgs: args.orgs,
    };
    let node = crate::app::init::init(data, request).map_err(|e| match e {
        InitError::Extension(m) => CliError::new(exit::REFUSED, m),
        InitError::DataDir(m) => CliError::new(exit::FAILED, m),
        InitError::Node(e) => e.into(),
    })?;
    let orgs = node.orgs();
    let org = orgs.org(node.me());
    let parent = org
        .parent
        .map(|p| node.orgs().org(p).to_string())
        .unwrap_or_else(|| "none".into());
    writeln!(
        io.out,
        "initialized {} ({}) in {}; parent in the directory: {}",
        org,
        org.level,
        data.display(),
        parent
    )?;
    match &node.config().upstream {
        Some(u) => writeln!(io.out, "upstream: {u}")?,
        None => writeln!(io.out, "no upstream: records stay on this machine")?,
    }
    Ok(())
}

/// `policy show` without a node: the defaults.
pub(super) fn default_policy(io: &mut Output<'_>) -> CliResult {
    write!(io.out, "{}", crate::policy::Policy::default().to_toml())?;
    Ok(())
}

pub(super) fn gen_files(args: GenArgs, io: &mut Output<'_>) -> CliResult {
    use lunxun_gen::GenParams;
    let orgs = crate::orgs::OrgDirectory::builtin();
    let root = orgs.get(&args.org).ok_or_else(|| {
        CliError::new(
            exit::REFUSED,
            format!("org {} is not in the org directory", args.org),
        )
    })?;
    let as_of = crate::model::parse_date("--as-of", &args.as_of)
        .map_err(|e| CliError::new(exit::USAGE, e.0))?;
    if !(0.0..=1.0).contains(&args.behind_share) {
        return Err(CliError::new(
            exit::USAGE,
            "--behind-share must be within 0..1",
        ));
    }
    if args.years == 0 || args.years > 40 {
        return Err(CliError::new(exit::USAGE, "--years must be within 1..=40"));
    }
    let params = GenParams {
        seed: args.seed,
        as_of,
        years: args.years,
        county_workers: args.county_workers,
        bureau_staff: args.bureau_staff,
        organs_staff: args.organs_staff,
        classes_per_year: args.classes_per_year,
        behind_share: args.behind_share,
        second_class_share: args.second_class_share.clamp(0.0, 1.0),
    };
    let nodes = orgs.subtree(root, args.depth);
    let bar = io.progress.then(|| {
        let b = indicatif::ProgressBar::new(nodes.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} nodes {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let chinese = args.lang == Lang::Zh;
    let (mut people, mut rows) = (0usize, 0usize);
    for (org, _) in &nodes {
        let data = lunxun_gen::generate_node(&params, &orgs, *org);
        people += data.roster.len();
        rows += data.attendance.len();
        let dir = args.out.join(orgs.code(*org));
        match args.format {
            GenFormat::Csv => lunxun_gen::write_csv(&data, &dir, chinese)
                .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", dir.display())))?,
            GenFormat::Xlsx => lunxun_gen::write_xlsx(&data, &dir, chinese)
                .map_err(|e| CliError::new(exit::FAILED, format!("{}: {e}", dir.display())))?,
        }
        if let Some(b) = &bar {
            b.inc(1);
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    writeln!(
        io.out,
        "generated {} nodes under {} (seed {}): {people} roster rows, {rows} training rows in {}",
        nodes.len(),
        orgs.org(root),
        args.seed,
        args.out.display()
    )?;
    Ok(())
}

fn directory(extension: Option<&Path>) -> Result<crate::orgs::OrgDirectory, CliError> {
    match extension {
        None => Ok(crate::orgs::OrgDirectory::builtin()),
        Some(p) => {
            crate::config::load_orgs(p).map_err(|e| CliError::new(exit::REFUSED, e.to_string()))
        }
    }
}

pub(super) fn certs(command: CertsCommand, io: &mut Output<'_>) -> CliResult {
    use crate::certs::{self, CertError};
    let refused = |e: CertError| match e {
        CertError::Refused(_) | CertError::Invalid { .. } => {
            CliError::new(exit::REFUSED, e.to_string())
        }
        _ => CliError::new(exit::FAILED, e.to_string()),
    };
    match command {
        CertsCommand::InitCa(a) => {
            let orgs = directory(a.orgs.as_deref())?;
            let made =
                certs::init_ca(&a.out, &a.org, a.ca.as_deref(), a.days, &orgs).map_err(refused)?;
            let kind = if a.ca.is_some() {
                "intermediate CA"
            } else {
                "root CA"
            };
            writeln!(
                io.out,
                "{kind} for {} in {}: serial {}, valid until {}",
                made.org,
                a.out.display(),
                made.serial,
                made.not_after
            )?;
            writeln!(
                io.out,
                "keep {} secret: it can vouch for every node below {}",
                a.out.join(certs::CA_KEY_FILE).display(),
                made.org
            )?;
        }
        CertsCommand::Issue(a) => {
            let orgs = directory(a.orgs.as_deref())?;
            let made =
                certs::issue(&a.ca, &a.org, &a.hosts, &a.out, a.days, &orgs).map_err(refused)?;
            writeln!(
                io.out,
                "certificate for {} in {} (use it as --tls-dir): serial {}, valid until {}",
                made.org,
                a.out.display(),
                made.serial,
                made.not_after
            )?;
        }
        CertsCommand::Show(a) => {
            let file = if a.path.is_dir() {
                let node = a.path.join(crate::tls::CERT_FILE);
                if node.exists() {
                    node
                } else {
                    a.path.join(crate::tls::CA_FILE)
                }
            } else {
                a.path.clone()
            };
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::new(exit::REFUSED, format!("{}: {e}", file.display())))?;
            let ders = certs::pem_certificates(&text);
            if ders.is_empty() {
                return Err(CliError::new(
                    exit::REFUSED,
                    format!("{}: no certificate in it", file.display()),
                ));
            }
            for der in ders {
                let Some(i) = certs::info(&der) else {
                    return Err(CliError::new(
                        exit::REFUSED,
                        format!("{}: a certificate does not parse", file.display()),
                    ));
                };
                writeln!(
                    io.out,
                    "{}{}\n  org {}  serial {}\n  valid {} .. {}{}",
                    if i.is_ca { "CA " } else { "" },
                    i.subject,
                    if i.orgs.is_empty() {
                        "-".into()
                    } else {
                        i.orgs.join(",")
                    },
                    i.serial,
                    i.not_before,
                    i.not_after,
                    if i.hosts.is_empty() {
                        String::new()
                    } else {
                        format!("\n  hosts {}", i.hosts.join(", "))
                    }
                )?;
            }
        }
    }
    Ok(())
}
