//! A throwaway certificate authority made with the `openssl` CLI, for the TLS tests: a CA and
//! server certificates it signs for 127.0.0.1 and localhost, EC P-256, valid for two days.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pki {
    pub dir: tempfile::TempDir,
    name: String,
}

/// `openssl req` arguments for a new EC P-256 key, unencrypted.
const NEW_KEY: [&str; 6] = [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Pki {
    /// A new CA called `name`.
    pub fn new(name: &str) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let subject = format!("/CN={name}");
        let ca = [
            "-x509",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ];
        openssl(dir.path(), &[&NEW_KEY[..], &ca].concat());
        Pki {
            dir,
            name: name.to_string(),
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// A server certificate and key signed by this CA: `(chain, key)` files.
    pub fn server(&self, file: &str) -> (PathBuf, PathBuf) {
        let d = self.dir.path();
        std::fs::write(
            d.join("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let (key, csr, crt) = (format!("{file}.key"), format!("{file}.csr"), format!("{file}.crt"));
        let subject = format!("/CN=localhost/O={}", self.name);
        openssl(
            d,
            &[&NEW_KEY[..], &["-keyout", &key, "-out", &csr, "-subj", &subject]].concat(),
        );
        let sign = [
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ];
        openssl(d, &sign);
        (d.join(crt), d.join(key))
    }
}
