//! Custody at start-up: the keystore passphrase (from a file or a systemd credential, never
//! the command line), the keystore key derived from it once, and the server's long-term SM2
//! key in `<data_dir>/wallet/server.keystore`, created on first start.
//!
//! The per-shard wallet logs (`book.rs`) seal each seed with the same key: one Argon2 run per
//! process start, not per wallet.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use shardhub_crypto::gm::{open_keystore_key, KdfParams, KeystoreKey, Passphrase, Sm2KeyPair};

use super::error::CustodyError;
use crate::config::WalletConfig;

/// The systemd credential name (`LoadCredential=wallet-passphrase:/etc/...`).
pub const CREDENTIAL_NAME: &str = "wallet-passphrase";
const SERVER_KEYSTORE: &str = "server.keystore";

/// What every shard shares: the keystore key and the server's SM2 identity.
pub struct Custody {
    pub key: KeystoreKey,
    pub server: Sm2KeyPair,
    pub server_public_hex: String,
    pub server_id: String,
}

/// The wallet directory inside the data dir.
pub fn wallet_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("wallet")
}

/// Fills `buf` from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CustodyError> {
    getrandom::fill(buf).map_err(|e| CustodyError::Random(e.to_string()))
}

/// Where the passphrase comes from, if anywhere: `wallet.passphrase_file`, else the systemd
/// credential.
pub fn passphrase_source(config: &WalletConfig) -> Option<PathBuf> {
    if !config.passphrase_file.as_os_str().is_empty() {
        return Some(config.passphrase_file.clone());
    }
    let dir = std::env::var_os("CREDENTIALS_DIRECTORY")?;
    let path = Path::new(&dir).join(CREDENTIAL_NAME);
    path.exists().then_some(path)
}

/// Reads the passphrase; one trailing newline (as editors and `echo` leave) is not part of it.
pub fn read_passphrase(path: &Path) -> Result<Passphrase, CustodyError> {
    let mut bytes = std::fs::read(path).map_err(|source| CustodyError::Passphrase {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.ends_with(b"\n") {
        bytes.pop();
        if bytes.ends_with(b"\r") {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(CustodyError::EmptyPassphrase {
            path: path.to_path_buf(),
        });
    }
    Ok(Passphrase::from_bytes(bytes))
}

/// Opens the server keystore, or creates it on a first start. `None` when no passphrase is
/// configured: the wallet API is then disabled.
pub fn open(data_dir: &Path, config: &WalletConfig) -> Result<Option<Custody>, CustodyError> {
    let Some(source) = passphrase_source(config) else {
        return Ok(None);
    };
    let passphrase = read_passphrase(&source)?;
    let dir = wallet_dir(data_dir);
    let io = |path: &Path, source| CustodyError::Io {
        path: path.to_path_buf(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| io(&dir, e))?;
    let path = dir.join(SERVER_KEYSTORE);
    let (key, server) = match std::fs::read(&path) {
        Ok(file) => {
            let (secret, key) =
                open_keystore_key(&file, &passphrase).map_err(|e| CustodyError::keystore(path.clone(), e))?;
            let server = Sm2KeyPair::from_secret_bytes(&secret).map_err(|_| CustodyError::Corrupt {
                path: path.clone(),
                source: shardhub_crypto::gm::KeystoreError::Corrupt("the sealed SM2 key is not a valid scalar"),
            })?;
            (key, server)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if has_wallet_logs(&dir) {
                return Err(CustodyError::MissingServerKeystore { path });
            }
            create(&path, &passphrase, config)?
        }
        Err(e) => return Err(io(&path, e)),
    };
    Ok(Some(Custody {
        server_public_hex: server.public_key_hex(),
        server,
        key,
        server_id: config.server_id.clone(),
    }))
}

fn has_wallet_logs(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("shard-"))
    })
}

/// A first start: a fresh salt and SM2 key, sealed and written atomically (temp file, fsync,
/// rename, fsync of the directory).
fn create(
    path: &Path,
    passphrase: &Passphrase,
    config: &WalletConfig,
) -> Result<(KeystoreKey, Sm2KeyPair), CustodyError> {
    let params = KdfParams::argon2id(config.kdf_memory_kib, config.kdf_iterations, config.kdf_parallelism)
        .map_err(|e| CustodyError::keystore(path.to_path_buf(), e))?;
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let key =
        KeystoreKey::derive(passphrase, &params, &salt).map_err(|e| CustodyError::keystore(path.to_path_buf(), e))?;
    let server = loop {
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        random_bytes(&mut *secret)?;
        // Out of [1, n-1] with probability below 2^-32: draw again.
        if let Ok(pair) = Sm2KeyPair::from_secret_bytes(&*secret) {
            break pair;
        }
    };
    let mut nonce = [0u8; 12];
    random_bytes(&mut nonce)?;
    let file = key
        .seal(&server.secret_bytes(), &nonce)
        .map_err(|e| CustodyError::keystore(path.to_path_buf(), e))?;
    write_atomically(path, &file).map_err(|source| CustodyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::info!(path = %path.display(), "wallet keystore created with a new server SM2 key");
    Ok((key, server))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .mode(0o600)
        .create(true)
        .truncate(true)
        .write(true)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Writes a small file atomically (the admin client list uses it too).
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quick() -> WalletConfig {
        WalletConfig {
            kdf_memory_kib: 64,
            kdf_iterations: 1,
            ..WalletConfig::default()
        }
    }

    #[test]
    fn created_once_then_opened_and_a_wrong_passphrase_or_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "correct horse\n").unwrap();
        let config = WalletConfig {
            passphrase_file: pass.clone(),
            ..quick()
        };
        let data = dir.path().join("data");
        let first = open(&data, &config).unwrap().unwrap();
        let again = open(&data, &config).unwrap().unwrap();
        assert_eq!(first.server_public_hex, again.server_public_hex);

        std::fs::write(&pass, "wrong horse").unwrap();
        let e = open(&data, &config).err().unwrap();
        assert!(matches!(e, CustodyError::WrongPassphrase { .. }), "{e}");

        std::fs::write(&pass, "correct horse").unwrap();
        let keystore = wallet_dir(&data).join(SERVER_KEYSTORE);
        let mut bytes = std::fs::read(&keystore).unwrap();
        bytes[60] ^= 1;
        std::fs::write(&keystore, &bytes).unwrap();
        let e = open(&data, &config).err().unwrap();
        assert!(e.to_string().contains("corrupt"), "{e}");
        assert_eq!(std::fs::read(&keystore).unwrap(), bytes, "left as it was");
    }

    #[test]
    fn no_source_disables_and_an_empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        if std::env::var_os("CREDENTIALS_DIRECTORY").is_none() {
            assert!(open(dir.path(), &quick()).unwrap().is_none());
        }
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "\n").unwrap();
        let config = WalletConfig {
            passphrase_file: pass,
            ..quick()
        };
        assert!(matches!(
            open(dir.path(), &config),
            Err(CustodyError::EmptyPassphrase { .. })
        ));
    }
}
