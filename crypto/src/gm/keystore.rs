//! The keystore file's encryption: seeds and the server's SM2 key at rest, sealed with SM4-GCM
//! under a key that Argon2id derives from a passphrase. Pure: the caller reads and writes the
//! file and brings the salt and nonce (fresh random bytes for every seal).
//!
//! Format, version 1 (integers big-endian):
//!
//! ```text
//! offset  size  field
//!      0     8  magic "SHKSTORE"
//!      8     1  format version = 1
//!      9     1  KDF id: 1 = Argon2id (version 0x13)
//!     10     4  Argon2 memory, KiB
//!     14     4  Argon2 iterations (t)
//!     18     4  Argon2 parallelism (p)
//!     22     1  salt length S (16..=64)
//!     23     S  salt
//!   23+S     1  cipher id: 1 = SM4-GCM, 128-bit tag
//!   24+S    12  nonce
//!   36+S     4  length L of ciphertext || tag
//!   40+S     L  ciphertext || tag
//! 40+S+L    32  SM3 of every byte before it
//! ```
//!
//! The header (offsets 0 to 40+S) is the GCM aad, so every parameter is authenticated with the
//! secret: a file whose KDF settings were weakened does not open. The trailing SM3 is not
//! security (anyone can recompute it); it tells a damaged or cut-short file ("corrupt", checked
//! first) from an intact one that GCM refuses, which is a wrong passphrase or deliberate
//! tampering: GCM cannot tell those two apart, and the error says so.
//!
//! The key is Argon2id(passphrase, salt) cut to 16 bytes, SM4's key size.

use argon2::{Algorithm, Argon2, Version};
use sm3::{Digest, Sm3};
use zeroize::Zeroizing;

use super::error::KeystoreError;
use super::passphrase::Passphrase;
use super::sm4_gcm::{Sm4Gcm, SM4_GCM_TAG_LEN};

const MAGIC: [u8; 8] = *b"SHKSTORE";
const VERSION: u8 = 1;
const KDF_ARGON2ID: u8 = 1;
const CIPHER_SM4_GCM: u8 = 1;
const SALT_LEN_MIN: usize = 16;
const SALT_LEN_MAX: usize = 64;
const NONCE_LEN: usize = 12;
const CHECKSUM_LEN: usize = 32;
/// Magic, version, KDF id and parameters, salt length (before the salt).
const PREFIX_LEN: usize = 23;
/// The smallest file: 16-byte salt, empty plaintext.
const FILE_LEN_MIN: usize = PREFIX_LEN + SALT_LEN_MIN + 1 + NONCE_LEN + 4 + SM4_GCM_TAG_LEN + CHECKSUM_LEN;

/// Bounds on what a file may ask of the machine: a damaged or hostile file must not make the
/// server allocate gigabytes or spin for minutes before failing.
const MEMORY_KIB_MAX: u32 = 1 << 20; // 1 GiB
const ITERATIONS_MAX: u32 = 64;
const PARALLELISM_MAX: u32 = 16;

/// The passphrase KDF and its cost, stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KdfParams {
    /// Argon2id (RFC 9106), version 0x13.
    Argon2id {
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
    },
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane: RFC 9106 §4's memory-constrained recommendation with one lane,
    /// as the key is derived once, at start-up, on one core.
    pub const DEFAULT: KdfParams = KdfParams::Argon2id {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 1,
    };

    /// Argon2id parameters, checked against Argon2's rules (memory at least 8 KiB per lane) and
    /// this crate's bounds (1 GiB, 64 passes, 16 lanes).
    pub fn argon2id(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<KdfParams, KeystoreError> {
        let params = KdfParams::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        };
        params.kdf()?;
        Ok(params)
    }

    fn kdf(&self) -> Result<Argon2<'static>, KeystoreError> {
        let KdfParams::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } = *self;
        if memory_kib > MEMORY_KIB_MAX {
            return Err(KeystoreError::KdfParams("memory above 1 GiB"));
        }
        if iterations > ITERATIONS_MAX {
            return Err(KeystoreError::KdfParams("more than 64 iterations"));
        }
        if parallelism > PARALLELISM_MAX {
            return Err(KeystoreError::KdfParams("more than 16 lanes"));
        }
        let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(16))
            .map_err(|_| KeystoreError::KdfParams("Argon2 needs 1+ iterations, 1+ lanes and 8 KiB per lane"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    fn derive_key(&self, passphrase: &Passphrase, salt: &[u8]) -> Result<Zeroizing<[u8; 16]>, KeystoreError> {
        let mut key = Zeroizing::new([0u8; 16]);
        self.kdf()?
            .hash_password_into(passphrase.as_bytes(), salt, &mut *key)
            .map_err(|_| KeystoreError::KdfParams("Argon2 refused the passphrase or salt"))?;
        Ok(key)
    }
}

impl Default for KdfParams {
    fn default() -> KdfParams {
        KdfParams::DEFAULT
    }
}

/// Encrypts `plaintext` into a keystore file. `salt` and `nonce` must be fresh random bytes.
pub fn seal_keystore(
    plaintext: &[u8],
    passphrase: &Passphrase,
    params: &KdfParams,
    salt: &[u8; 16],
    nonce: &[u8; 12],
) -> Result<Vec<u8>, KeystoreError> {
    KeystoreKey::derive(passphrase, params, salt)?.seal(plaintext, nonce)
}

/// Decrypts a keystore file.
pub fn open_keystore(file: &[u8], passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
    open_keystore_key(file, passphrase).map(|(plaintext, _)| plaintext)
}

/// Decrypts a keystore file and keeps the derived key, so that more files can be sealed and
/// opened under the same salt and parameters without paying for Argon2 again.
pub fn open_keystore_key(
    file: &[u8],
    passphrase: &Passphrase,
) -> Result<(Zeroizing<Vec<u8>>, KeystoreKey), KeystoreError> {
    let parsed = Parsed::checked(file)?;
    let key = KeystoreKey::derive(passphrase, &parsed.params, parsed.salt)?;
    let plaintext = key.open_parsed(&parsed)?;
    Ok((plaintext, key))
}

/// A passphrase's keystore key with the salt and parameters it was derived under. Argon2 is
/// slow on purpose (it is what makes guessing the passphrase expensive), so a process derives
/// the key once and seals each wallet's record with it, a fresh nonce per record.
pub struct KeystoreKey {
    params: KdfParams,
    /// 16 to 64 bytes, as the format allows.
    salt: Vec<u8>,
    key: Zeroizing<[u8; 16]>,
}

impl KeystoreKey {
    /// Runs the KDF: as slow as `params` asks.
    pub fn derive(passphrase: &Passphrase, params: &KdfParams, salt: &[u8]) -> Result<KeystoreKey, KeystoreError> {
        if !(SALT_LEN_MIN..=SALT_LEN_MAX).contains(&salt.len()) {
            return Err(KeystoreError::KdfParams("salt must be 16 to 64 bytes"));
        }
        Ok(KeystoreKey {
            params: *params,
            salt: salt.to_vec(),
            key: params.derive_key(passphrase, salt)?,
        })
    }

    /// Seals `plaintext` into a keystore file under this key. `nonce` must never repeat for
    /// this key: 12 fresh random bytes per file.
    pub fn seal(&self, plaintext: &[u8], nonce: &[u8; 12]) -> Result<Vec<u8>, KeystoreError> {
        let sealed_len =
            u32::try_from(plaintext.len() + SM4_GCM_TAG_LEN).map_err(|_| KeystoreError::PlaintextTooLong)?;
        let KdfParams::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } = self.params;
        let mut file = Vec::with_capacity(FILE_LEN_MIN + self.salt.len() + plaintext.len());
        file.extend_from_slice(&MAGIC);
        file.push(VERSION);
        file.push(KDF_ARGON2ID);
        file.extend_from_slice(&memory_kib.to_be_bytes());
        file.extend_from_slice(&iterations.to_be_bytes());
        file.extend_from_slice(&parallelism.to_be_bytes());
        file.push(self.salt.len() as u8);
        file.extend_from_slice(&self.salt);
        file.push(CIPHER_SM4_GCM);
        file.extend_from_slice(nonce);
        file.extend_from_slice(&sealed_len.to_be_bytes());

        let sealed = Sm4Gcm::new(&self.key)
            .seal(nonce, &file, plaintext)
            .map_err(|_| KeystoreError::PlaintextTooLong)?;
        debug_assert_eq!(sealed.len(), sealed_len as usize);
        file.extend_from_slice(&sealed);
        let checksum = Sm3::digest(&file);
        file.extend_from_slice(&checksum);
        Ok(file)
    }

    /// Opens a file sealed under this key; a file of another salt or parameters is refused
    /// ([`KeystoreError::OtherKey`]) rather than derived for.
    pub fn open(&self, file: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        let parsed = Parsed::checked(file)?;
        if parsed.params != self.params || parsed.salt != self.salt.as_slice() {
            return Err(KeystoreError::OtherKey);
        }
        self.open_parsed(&parsed)
    }

    fn open_parsed(&self, parsed: &Parsed<'_>) -> Result<Zeroizing<Vec<u8>>, KeystoreError> {
        Sm4Gcm::new(&self.key)
            .open(parsed.nonce, parsed.header, parsed.sealed)
            .map_err(|_| KeystoreError::WrongPassphraseOrTampered)
    }
}

/// Redacted: key material.
impl std::fmt::Debug for KeystoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeystoreKey")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// The fields of a checksummed file body.
struct Parsed<'a> {
    params: KdfParams,
    salt: &'a [u8],
    nonce: &'a [u8; NONCE_LEN],
    /// Everything before the ciphertext: the aad.
    header: &'a [u8],
    sealed: &'a [u8],
}

impl<'a> Parsed<'a> {
    /// The magic, version, length and checksum checks, then the fields.
    fn checked(file: &'a [u8]) -> Result<Parsed<'a>, KeystoreError> {
        if !file.starts_with(&MAGIC) {
            return Err(KeystoreError::NotAKeystore);
        }
        match file.get(MAGIC.len()) {
            None => return Err(KeystoreError::Corrupt("cut short after the magic")),
            Some(&VERSION) => {}
            Some(&version) => return Err(KeystoreError::UnsupportedVersion { version }),
        }
        if file.len() < FILE_LEN_MIN {
            return Err(KeystoreError::Corrupt("shorter than the smallest keystore"));
        }
        let (body, checksum) = file.split_at(file.len() - CHECKSUM_LEN);
        if Sm3::digest(body).as_slice() != checksum {
            return Err(KeystoreError::Corrupt("checksum does not match (damaged or cut short)"));
        }
        Parsed::read(body)
    }

    fn read(body: &'a [u8]) -> Result<Parsed<'a>, KeystoreError> {
        let mut reader = Reader {
            bytes: body,
            at: MAGIC.len() + 1,
        };
        let kdf = reader.u8()?;
        if kdf != KDF_ARGON2ID {
            return Err(KeystoreError::UnsupportedAlgorithm { what: "KDF", id: kdf });
        }
        let (memory_kib, iterations, parallelism) = (reader.u32()?, reader.u32()?, reader.u32()?);
        let params = KdfParams::argon2id(memory_kib, iterations, parallelism)?;
        let salt_len = usize::from(reader.u8()?);
        if !(SALT_LEN_MIN..=SALT_LEN_MAX).contains(&salt_len) {
            return Err(KeystoreError::Corrupt("salt length outside 16..=64"));
        }
        let salt = reader.take(salt_len)?;
        let cipher = reader.u8()?;
        if cipher != CIPHER_SM4_GCM {
            return Err(KeystoreError::UnsupportedAlgorithm {
                what: "cipher",
                id: cipher,
            });
        }
        let nonce = reader
            .take(NONCE_LEN)?
            .try_into()
            .map_err(|_| KeystoreError::Corrupt("nonce"))?;
        let sealed_len = reader.u32()? as usize;
        let header = &body[..reader.at];
        let sealed = reader.take(sealed_len)?;
        if reader.at != body.len() {
            return Err(KeystoreError::Corrupt("bytes after the ciphertext"));
        }
        if sealed.len() < SM4_GCM_TAG_LEN {
            return Err(KeystoreError::Corrupt("ciphertext shorter than its tag"));
        }
        Ok(Parsed {
            params,
            salt,
            nonce,
            header,
            sealed,
        })
    }
}

/// A cursor that refuses to read past the end.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], KeystoreError> {
        let end = self.at.checked_add(len).filter(|&end| end <= self.bytes.len());
        let end = end.ok_or(KeystoreError::Corrupt("a field runs past the end"))?;
        let field = &self.bytes[self.at..end];
        self.at = end;
        Ok(field)
    }

    fn u8(&mut self) -> Result<u8, KeystoreError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, KeystoreError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters: tests must not spend 64 MiB and seconds per file.
    fn quick() -> KdfParams {
        KdfParams::argon2id(32, 1, 1).unwrap()
    }

    const SEED: &[u8] = b"\x00\x01 sixty-four bytes of wallet seed, more or less, for the test!!";

    fn sealed() -> Vec<u8> {
        seal_keystore(SEED, &Passphrase::from("hunter2"), &quick(), &[0x11; 16], &[0x22; 12]).unwrap()
    }

    /// Recomputes the trailing checksum after a deliberate edit.
    fn rechecksum(file: &mut Vec<u8>) {
        file.truncate(file.len() - CHECKSUM_LEN);
        let checksum = Sm3::digest(&file);
        file.extend_from_slice(&checksum);
    }

    #[test]
    fn round_trip() {
        let file = sealed();
        assert_eq!(*open_keystore(&file, &Passphrase::from("hunter2")).unwrap(), SEED);
        assert_eq!(file.len(), FILE_LEN_MIN + SEED.len());
        let empty = seal_keystore(b"", &Passphrase::from(""), &quick(), &[0; 16], &[0; 12]).unwrap();
        assert_eq!(*open_keystore(&empty, &Passphrase::from("")).unwrap(), b"");
    }

    #[test]
    fn the_file_describes_itself_at_the_documented_offsets() {
        let file = sealed();
        assert_eq!(&file[..8], b"SHKSTORE");
        assert_eq!(file[8], 1);
        assert_eq!(file[9], 1);
        assert_eq!(file[10..22], [0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(file[22], 16);
        assert_eq!(file[23..39], [0x11; 16]);
        assert_eq!(file[39], 1);
        assert_eq!(file[40..52], [0x22; 12]);
        assert_eq!(file[52..56], ((SEED.len() + 16) as u32).to_be_bytes());
        assert_eq!(file[file.len() - 32..], Sm3::digest(&file[..file.len() - 32])[..]);
    }

    #[test]
    fn a_key_derived_once_seals_and_opens_many_files() {
        let (plaintext, key) = open_keystore_key(&sealed(), &Passphrase::from("hunter2")).unwrap();
        assert_eq!(*plaintext, SEED);
        let second = key.seal(b"another wallet", &[0x33; 12]).unwrap();
        assert_eq!(
            &second[..56 - 16 - 4],
            &sealed()[..56 - 16 - 4],
            "same header up to the nonce"
        );
        assert_eq!(*key.open(&second).unwrap(), b"another wallet");
        assert_eq!(
            *open_keystore(&second, &Passphrase::from("hunter2")).unwrap(),
            b"another wallet"
        );
        let other_salt = seal_keystore(SEED, &Passphrase::from("hunter2"), &quick(), &[0x12; 16], &[0; 12]).unwrap();
        assert_eq!(key.open(&other_salt).unwrap_err(), KeystoreError::OtherKey);
        assert!(format!("{key:?}").contains("params") && !format!("{key:?}").contains("key:"));
    }

    #[test]
    fn a_wrong_passphrase_is_its_own_error() {
        let error = open_keystore(&sealed(), &Passphrase::from("hunter3")).unwrap_err();
        assert_eq!(error, KeystoreError::WrongPassphraseOrTampered);
        assert!(error.to_string().contains("cannot tell"));
    }

    #[test]
    fn every_truncation_is_refused() {
        let file = sealed();
        for len in 0..file.len() {
            let error = open_keystore(&file[..len], &Passphrase::from("hunter2")).unwrap_err();
            match len {
                0..8 => assert_eq!(error, KeystoreError::NotAKeystore, "len {len}"),
                _ => assert!(matches!(error, KeystoreError::Corrupt(_)), "len {len}: {error:?}"),
            }
        }
    }

    #[test]
    fn every_flipped_bit_is_refused_as_damage() {
        let file = sealed();
        for bit in 0..file.len() * 8 {
            let mut flipped = file.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let error = open_keystore(&flipped, &Passphrase::from("hunter2")).unwrap_err();
            match bit / 8 {
                0..8 => assert_eq!(error, KeystoreError::NotAKeystore, "bit {bit}"),
                8 => assert!(matches!(error, KeystoreError::UnsupportedVersion { .. }), "bit {bit}"),
                _ => assert!(matches!(error, KeystoreError::Corrupt(_)), "bit {bit}: {error:?}"),
            }
        }
    }

    #[test]
    fn tampering_that_fixes_the_checksum_still_fails_gcm() {
        let pass = Passphrase::from("hunter2");
        // A ciphertext bit.
        let mut file = sealed();
        file[60] ^= 1;
        rechecksum(&mut file);
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::WrongPassphraseOrTampered
        );
        // Weakened KDF parameters (the header is the aad, and the key changes too).
        let mut file = sealed();
        file[13] = 8; // memory 32 -> 8 KiB
        rechecksum(&mut file);
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::WrongPassphraseOrTampered
        );
        // The nonce.
        let mut file = sealed();
        file[45] ^= 0x40;
        rechecksum(&mut file);
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::WrongPassphraseOrTampered
        );
    }

    #[test]
    fn unknown_algorithms_and_hostile_parameters_are_refused_before_the_kdf() {
        let pass = Passphrase::from("hunter2");
        let mut file = sealed();
        file[9] = 2;
        rechecksum(&mut file);
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::UnsupportedAlgorithm { what: "KDF", id: 2 }
        );
        let mut file = sealed();
        file[39] = 7;
        rechecksum(&mut file);
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::UnsupportedAlgorithm { what: "cipher", id: 7 }
        );
        // 4 TiB of memory: refused without allocating it.
        let mut file = sealed();
        file[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
        rechecksum(&mut file);
        assert!(matches!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::KdfParams(_)
        ));
        // A length field that runs past the end.
        let mut file = sealed();
        file[52..56].copy_from_slice(&u32::MAX.to_be_bytes());
        rechecksum(&mut file);
        assert!(matches!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::Corrupt(_)
        ));
    }

    #[test]
    fn other_files_are_not_keystores() {
        let pass = Passphrase::from("x");
        assert_eq!(
            open_keystore(b"{\"version\": 3, \"crypto\": {}}", &pass).unwrap_err(),
            KeystoreError::NotAKeystore
        );
        assert_eq!(open_keystore(b"", &pass).unwrap_err(), KeystoreError::NotAKeystore);
        let mut file = sealed();
        file[8] = 2;
        assert_eq!(
            open_keystore(&file, &pass).unwrap_err(),
            KeystoreError::UnsupportedVersion { version: 2 }
        );
    }

    #[test]
    fn parameters_are_checked_when_built() {
        assert!(KdfParams::argon2id(8, 1, 1).is_ok());
        assert!(matches!(KdfParams::argon2id(7, 1, 1), Err(KeystoreError::KdfParams(_))));
        assert!(matches!(
            KdfParams::argon2id(64, 0, 1),
            Err(KeystoreError::KdfParams(_))
        ));
        assert!(matches!(
            KdfParams::argon2id(64, 1, 0),
            Err(KeystoreError::KdfParams(_))
        ));
        assert!(matches!(
            KdfParams::argon2id(MEMORY_KIB_MAX + 1, 1, 1),
            Err(KeystoreError::KdfParams(_))
        ));
        assert!(matches!(
            KdfParams::argon2id(1024, 65, 1),
            Err(KeystoreError::KdfParams(_))
        ));
        assert!(matches!(
            KdfParams::argon2id(1024, 1, 17),
            Err(KeystoreError::KdfParams(_))
        ));
        let KdfParams::Argon2id {
            memory_kib,
            iterations,
            parallelism,
        } = KdfParams::default();
        assert_eq!((memory_kib, iterations, parallelism), (65536, 3, 1));
        assert!(KdfParams::default().kdf().is_ok());
    }

    /// Argon2id itself, RFC 9106 §5.3's test vector, so the KDF under the keystore is the real
    /// one (the RFC's vector also uses a secret and associated data, which the keystore does
    /// not, so it is run through the crate directly).
    #[test]
    fn argon2id_rfc_9106_vector() {
        let params = argon2::ParamsBuilder::new()
            .m_cost(32)
            .t_cost(3)
            .p_cost(4)
            .output_len(32)
            .data(argon2::AssociatedData::new(&[4; 12]).unwrap())
            .build()
            .unwrap();
        let argon = Argon2::new_with_secret(&[3; 8], Algorithm::Argon2id, Version::V0x13, params).unwrap();
        let mut out = [0u8; 32];
        argon.hash_password_into(&[1; 32], &[2; 16], &mut out).unwrap();
        assert_eq!(
            hex::encode(out),
            "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"
        );
    }
}
