//! [`Sm4Block`]: the SM4 block cipher GCM runs on. Where the CPU has GFNI, runs of four
//! blocks go through `sm4_gfni` and single blocks through RustCrypto's software `sm4`, which is
//! quicker for one block (a GFNI call costs the same for one block as for four). Elsewhere
//! everything is software. Chosen once per key; every path gives the same bytes.
//!
//! GCM's counter mode (the `ctr` crate) asks for keystream in runs of the backend's parallel
//! width and the remainder block by block, so a 10-block record is two GFNI runs and two
//! software blocks, plus the software block for the tag.

use std::fmt;

use sm4::cipher::consts::{U16, U4};
use sm4::cipher::{
    Block, BlockCipherEncBackend, BlockCipherEncClosure, BlockCipherEncrypt, BlockSizeUser, InOut, Key, KeyInit,
    KeySizeUser, ParBlocks, ParBlocksSizeUser,
};
use zeroize::Zeroize;

#[cfg(target_arch = "x86_64")]
use super::sm4_gfni::{Sm4Gfni, PAR_BLOCKS};

/// One SM4 key's schedules. Zeroized on drop (both ciphers zeroize theirs).
pub enum Sm4Block {
    #[cfg(target_arch = "x86_64")]
    Gfni(Sm4Gfni, sm4::Sm4),
    Soft(sm4::Sm4),
}

impl Sm4Block {
    /// Which backend this key runs on, for tests and logs.
    pub fn backend(&self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Sm4Block::Gfni(..) => "gfni",
            Sm4Block::Soft(_) => "software",
        }
    }

    /// The software backend, whatever the CPU: for tests that compare the two.
    pub fn software(key: &[u8; 16]) -> Sm4Block {
        Sm4Block::Soft(soft(key))
    }
}

impl KeySizeUser for Sm4Block {
    type KeySize = U16;
}

impl BlockSizeUser for Sm4Block {
    type BlockSize = U16;
}

impl KeyInit for Sm4Block {
    fn new(key: &Key<Self>) -> Sm4Block {
        let bytes: &[u8; 16] = key.as_ref();
        #[cfg(target_arch = "x86_64")]
        if let Some(gfni) = Sm4Gfni::new(bytes) {
            return Sm4Block::Gfni(gfni, soft(bytes));
        }
        Sm4Block::software(bytes)
    }
}

impl BlockCipherEncrypt for Sm4Block {
    fn encrypt_with_backend(&self, f: impl BlockCipherEncClosure<BlockSize = U16>) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Sm4Block::Gfni(gfni, soft) => f.call(&GfniBackend { gfni, soft }),
            Sm4Block::Soft(soft) => f.call(soft),
        }
    }
}

fn soft(key: &[u8; 16]) -> sm4::Sm4 {
    sm4::Sm4::new(&Key::<sm4::Sm4>::from(*key))
}

/// Redacted: the key schedule is key material.
impl fmt::Debug for Sm4Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm4Block({}, <redacted>)", self.backend())
    }
}

/// The two ciphers as one `cipher` backend, four blocks wide.
#[cfg(target_arch = "x86_64")]
struct GfniBackend<'a> {
    gfni: &'a Sm4Gfni,
    soft: &'a sm4::Sm4,
}

#[cfg(target_arch = "x86_64")]
impl BlockSizeUser for GfniBackend<'_> {
    type BlockSize = U16;
}

#[cfg(target_arch = "x86_64")]
impl ParBlocksSizeUser for GfniBackend<'_> {
    type ParBlocksSize = U4;
}

#[cfg(target_arch = "x86_64")]
impl BlockCipherEncBackend for GfniBackend<'_> {
    fn encrypt_block(&self, block: InOut<'_, '_, Block<Self>>) {
        self.soft.encrypt_block_inout(block);
    }

    fn encrypt_par_blocks(&self, mut blocks: InOut<'_, '_, ParBlocks<Self>>) {
        let inputs = blocks.get_in();
        let mut words: [[u8; 16]; PAR_BLOCKS] = std::array::from_fn(|i| inputs[i].into());
        self.gfni.encrypt(&mut words);
        for (out, word) in blocks.get_out().iter_mut().zip(words.iter_mut()) {
            *out = Block::<Self>::from(*word);
            word.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use aes_gcm::aead::array::Array;
    use aes_gcm::aead::consts::U12;
    use aes_gcm::aead::AeadInOut;
    use aes_gcm::AesGcm;

    #[test]
    fn gcm_over_either_backend_gives_the_same_bytes_at_every_length() {
        let key = [0x5au8; 16];
        let fast = AesGcm::<Sm4Block, U12>::from(Sm4Block::new(&Key::<Sm4Block>::from(key)));
        let soft = AesGcm::<Sm4Block, U12>::from(Sm4Block::software(&key));
        let nonce = Array::from([7u8; 12]);
        for len in 0..=200 {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
            let mut a = plaintext.clone();
            let mut b = plaintext.clone();
            fast.encrypt_in_place(&nonce, b"aad", &mut a).unwrap();
            soft.encrypt_in_place(&nonce, b"aad", &mut b).unwrap();
            assert_eq!(a, b, "length {len}");
            fast.decrypt_in_place(&nonce, b"aad", &mut a).unwrap();
            assert_eq!(a, plaintext, "length {len}");
        }
    }

    #[test]
    fn this_machine_uses_gfni_where_it_has_it() {
        let block = Sm4Block::new(&Key::<Sm4Block>::from([1u8; 16]));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("gfni") && std::arch::is_x86_feature_detected!("ssse3") {
            assert_eq!(block.backend(), "gfni");
            return;
        }
        assert_eq!(block.backend(), "software");
    }
}
