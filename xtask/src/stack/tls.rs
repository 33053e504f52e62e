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
}

impl TlsFiles {
    /// The files of the stack at `stack_dir` (made when missing).
    pub(crate) fn ensure(stack_dir: &Path) -> Result<Self> {
        let dir = stack_dir.join("tls");
        let files = Self {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        if files.ca.exists() && files.cert.exists() && files.key.exists() {
            return Ok(files);
        }
        install::openssl()?;
        fs::create_dir_all(&dir)?;
        let openssl = |args: &[&str]| {
            project::run(Command::new("openssl").current_dir(&dir).args(args))
                .context("openssl failed making the stack's certificates")
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
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
                ],
            ]
            .concat(),
        )?;
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
            ]
            .concat(),
        )?;
        fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n",
        )?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "3650",
            "-extfile",
            "server.ext",
        ])?;
        Ok(files)
    }
}
