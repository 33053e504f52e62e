//! The stack's own certificate authority and the server certificate its
//! services present on TLS (for `127.0.0.1` and `localhost`), made with the
//! `openssl` command once per stack, in `<stack>/tls/`. Tests verify the
//! services against `ca.pem` (`STACK_CA_FILE`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use super::install;
use crate::project;

/// The stack's TLS files.
#[derive(Clone, Debug)]
pub(crate) struct TlsFiles {
    /// The CA certificate (PEM).
    pub(crate) ca: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub(crate) cert: PathBuf,
    /// The server certificate's private key (PEM, PKCS#8).
    pub(crate) key: PathBuf,
    /// A client certificate for the PostgreSQL role [`CERT_USER`] (PEM).
    pub(crate) client_cert: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub(crate) client_key: PathBuf,
}

/// The PostgreSQL role that logs in with the stack's client certificate.
pub(crate) const CERT_USER: &str = "orgman_cert";

/// A new P-256 key without a passphrase.
const EC_KEY: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

impl TlsFiles {
    /// The files of the stack at `stack_dir` (made when missing).
    pub(crate) fn ensure(stack_dir: &Path) -> Result<Self> {
        let dir = stack_dir.join("tls");
        let files = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        };
        let all = [
            &files.ca,
            &files.cert,
            &files.key,
            &files.client_cert,
            &files.client_key,
        ];
        if all.iter().all(|file| file.exists()) {
            return Ok(files);
        }
        install::openssl()?;
        fs::create_dir_all(&dir)?;
        let ca = [
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=orgman local stack CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        openssl(&dir, &[&["req", "-x509"][..], &EC_KEY, &ca].concat())?;
        let issue =
            |name: &str, subject: &str, extensions: &str| issue(&dir, name, subject, extensions);
        issue(
            "server",
            "/CN=localhost",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n",
        )?;
        issue(
            "client",
            &format!("/CN={CERT_USER}"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        )?;
        Ok(files)
    }
}

/// Runs `openssl` in `dir`.
fn openssl(dir: &Path, args: &[&str]) -> Result<()> {
    project::run(Command::new("openssl").current_dir(dir).args(args))
        .context("openssl failed making the stack's certificates")
}

/// A certificate signed by the CA in `dir`: `name`.key and `name`.pem.
fn issue(dir: &Path, name: &str, subject: &str, extensions: &str) -> Result<()> {
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    let request = ["-keyout", &key, "-out", &csr, "-subj", subject];
    openssl(dir, &[&["req"][..], &EC_KEY, &request].concat())?;
    fs::write(dir.join(&ext), extensions)?;
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "3650",
            "-extfile",
            &ext,
        ],
    )
}
