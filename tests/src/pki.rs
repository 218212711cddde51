//! A per-test PKI made with the real binary: `lunxun-hub certs init-ca` for
//! a root (or, with `--ca`, a province's intermediate), `certs issue` for
//! node certificates (hubs with `--host
//! 127.0.0.1`, the address children dial), so the tests exercise the same
//! certificates an operator makes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use lunxun_node::certs;
use lunxun_node::tls::{CA_FILE, CERT_FILE, KEY_FILE};

use crate::bins::bins;

/// A root CA in a directory (`ca.pem`, `ca.key`, `root.pem`, `chain.pem`).
#[derive(Debug, Clone)]
pub struct Pki {
    dir: PathBuf,
}

/// Runs `lunxun-hub ARGS` (no data dir needed), which must succeed.
fn certs_command(args: &[&str]) -> String {
    let out = Command::new(&bins().hub)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bins().hub.display()));
    assert!(
        out.status.success(),
        "`lunxun-hub {}` exited {}\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

impl Pki {
    /// A new national root in `dir` (`certs init-ca --out DIR`).
    pub fn root(dir: &Path) -> Pki {
        certs_command(&["certs", "init-ca", "--out", path_str(dir)]);
        Pki {
            dir: dir.to_path_buf(),
        }
    }

    /// An intermediate CA for `org`'s subtree in `dir`, signed by this one
    /// (`certs init-ca --ca THIS --org ORG`). Returns it and its serial.
    pub fn intermediate(&self, org: &str, dir: &Path) -> (Pki, String) {
        certs_command(&[
            "certs",
            "init-ca",
            "--ca",
            path_str(&self.dir),
            "--org",
            org,
            "--out",
            path_str(dir),
        ]);
        let text = std::fs::read_to_string(dir.join(CA_FILE)).expect("the CA's ca.pem");
        let der = certs::pem_certificates(&text)
            .into_iter()
            .next()
            .expect("a certificate in ca.pem");
        let serial = certs::info(&der).expect("ca.pem parses").serial;
        (
            Pki {
                dir: dir.to_path_buf(),
            },
            serial,
        )
    }

    /// The CA dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA's certificate (PEM): for the root, what every node trusts.
    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.join(CA_FILE)).expect("the root's ca.pem")
    }

    /// The CA's private key (PEM).
    pub fn key_pem(&self) -> String {
        std::fs::read_to_string(self.dir.join(certs::CA_KEY_FILE)).expect("the root's ca.key")
    }

    /// A certificate for `org` in `out` (a ready tls dir), serving on
    /// 127.0.0.1 when `hub`. Returns its serial, as revocation lists name it.
    pub fn issue(&self, org: &str, hub: bool, out: &Path) -> String {
        self.issue_with(org, hub, out, &[])
    }

    /// [`Pki::issue`] with more arguments for `certs issue` (`--orgs FILE`).
    pub fn issue_with(&self, org: &str, hub: bool, out: &Path, extra: &[&str]) -> String {
        let mut args = vec![
            "certs",
            "issue",
            "--ca",
            path_str(&self.dir),
            "--org",
            org,
            "--out",
            path_str(out),
        ];
        if hub {
            args.extend(["--host", "127.0.0.1"]);
        }
        args.extend(extra);
        certs_command(&args);
        serial(out)
    }
}

/// The serial of the leaf certificate in a tls dir's `node.pem`.
pub fn serial(tls_dir: &Path) -> String {
    leaf_info(tls_dir).serial
}

/// Facts about the leaf certificate in a tls dir's `node.pem`.
pub fn leaf_info(tls_dir: &Path) -> certs::CertInfo {
    let text = std::fs::read_to_string(tls_dir.join(CERT_FILE))
        .unwrap_or_else(|e| panic!("{}: {e}", tls_dir.join(CERT_FILE).display()));
    let der = certs::pem_certificates(&text)
        .into_iter()
        .next()
        .expect("a certificate in node.pem");
    certs::info(&der).expect("node.pem parses")
}

/// Puts the identity (`node.pem`, `node.key`) of tls dir `from` into tls
/// dir `to`, keeping `to`'s trust anchor: a node that presents another
/// certificate at its next connection (a child reads its tls dir at every
/// connection).
pub fn swap_identity(from: &Path, to: &Path) {
    for file in [CERT_FILE, KEY_FILE] {
        std::fs::copy(from.join(file), to.join(file)).unwrap_or_else(|e| {
            panic!(
                "copy {} to {}: {e}",
                from.join(file).display(),
                to.display()
            )
        });
    }
}

/// Keeps a copy of a tls dir's identity in `backup` (created), to put back
/// with [`swap_identity`].
pub fn backup_identity(tls_dir: &Path, backup: &Path) {
    std::fs::create_dir_all(backup).expect("create a backup dir");
    swap_identity(tls_dir, backup);
}
