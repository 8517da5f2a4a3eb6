//! SM4 (GB/T 32907) on x86-64's Galois Field New Instructions, up to eight blocks at once.
//!
//! The software `sm4` crate looks its S-box up one byte at a time, 160 ns a block here, which
//! made SM4 the largest cost of a secure-channel record after the HTTP round trip. GFNI
//! computes the S-box for sixteen bytes in two instructions, because SM4's S-box is affine
//! maps around an inversion in GF(2^8), the same shape as AES's:
//!
//! S(x) = A · inv(A · x + C) + C, inverse taken modulo x^8+x^7+x^6+x^5+x^4+x^2+1,
//!
//! and GF(2^8) has one field up to isomorphism. With T the isomorphism onto the field GFNI
//! inverts in (modulo x^8+x^4+x^3+x+1, the AES polynomial; T maps x to the root 0x23 of SM4's
//! polynomial there),
//!
//! S(x) = (A · T⁻¹) · inv_aes((T · A) · x + T · C) + C,
//!
//! which is `gf2p8affineqb` with matrix T·A and constant T·C followed by `gf2p8affineinvqb`
//! with matrix A·T⁻¹ and constant C. The matrices below are those products in the
//! instructions' layout (row i of the matrix in byte 7 - i); the tests check the whole cipher
//! against the `sm4` crate and the standard's example, so a wrong bit cannot pass.
//!
//! Each 128-bit register holds one word of four blocks, so four blocks go through the 32
//! rounds together, in about 220 ns here: the rounds are a chain of dependent instructions,
//! so one block alone takes nearly as long, and `sm4_block` leaves single blocks to the
//! software cipher. Only SSSE3 and GFNI are used (no AVX), so every GFNI CPU qualifies;
//! [`Sm4Gfni::new`] checks for both at run time.

use std::arch::x86_64::{
    __m128i, _mm_cvtsi128_si32, _mm_cvtsi32_si128, _mm_gf2p8affine_epi64_epi8, _mm_gf2p8affineinv_epi64_epi8,
    _mm_loadu_si128, _mm_or_si128, _mm_set1_epi32, _mm_set1_epi64x, _mm_setr_epi8, _mm_shuffle_epi8, _mm_slli_epi32,
    _mm_srli_epi32, _mm_storeu_si128, _mm_unpackhi_epi32, _mm_unpackhi_epi64, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
    _mm_xor_si128,
};

use zeroize::Zeroize;

/// T·A, row i in byte 7 - i.
const AFFINE_IN: i64 = 0x4c28_7db9_1a22_505d;
/// T·C.
const AFFINE_IN_CONSTANT: i32 = 0x3e;
/// A·T⁻¹, row i in byte 7 - i.
const AFFINE_OUT: i64 = 0xf3ab_34a9_74a6_b589_u64 as i64;
/// C, SM4's S-box constant.
const AFFINE_OUT_CONSTANT: i32 = 0xd3;

/// The key schedule's system parameter FK (GB/T 32907, 7.3).
const FK: [u32; 4] = [0xa3b1_bac6, 0x56aa_3350, 0x677d_9197, 0xb270_22dc];

/// Blocks one call encrypts.
pub const PAR_BLOCKS: usize = 4;

/// The fixed parameter CK_i: byte j is (4i + j) · 7 mod 256.
fn ck(i: usize) -> u32 {
    let byte = |j: usize| ((4 * i + j) * 7 % 256) as u32;
    (byte(0) << 24) | (byte(1) << 16) | (byte(2) << 8) | byte(3)
}

/// SM4 round keys for the GFNI rounds. Zeroized on drop.
pub struct Sm4Gfni {
    round_keys: [u32; 32],
}

impl Sm4Gfni {
    /// The cipher for `key`, or `None` where the CPU lacks GFNI or SSSE3.
    pub fn new(key: &[u8; 16]) -> Option<Sm4Gfni> {
        if !(std::arch::is_x86_feature_detected!("gfni") && std::arch::is_x86_feature_detected!("ssse3")) {
            return None;
        }
        // SAFETY: both target features were detected just above.
        let round_keys = unsafe { key_schedule(key) };
        Some(Sm4Gfni { round_keys })
    }

    /// Encrypts four blocks in place.
    pub fn encrypt(&self, blocks: &mut [[u8; 16]; PAR_BLOCKS]) {
        // SAFETY: an `Sm4Gfni` exists only where `new` detected the target features.
        unsafe { encrypt4(&self.round_keys, blocks) }
    }
}

impl Drop for Sm4Gfni {
    fn drop(&mut self) {
        self.round_keys.zeroize();
    }
}

/// The S-box on all sixteen bytes of `x`.
#[inline]
#[target_feature(enable = "gfni,ssse3")]
fn sbox(x: __m128i) -> __m128i {
    let inner = _mm_gf2p8affine_epi64_epi8::<AFFINE_IN_CONSTANT>(x, _mm_set1_epi64x(AFFINE_IN));
    _mm_gf2p8affineinv_epi64_epi8::<AFFINE_OUT_CONSTANT>(inner, _mm_set1_epi64x(AFFINE_OUT))
}

/// The round function's linear map on each 32-bit lane:
/// L(t) = t ^ (t <<< 2) ^ (t <<< 10) ^ (t <<< 18) ^ (t <<< 24)
///      = t ^ (t <<< 24) ^ ((t ^ (t <<< 8) ^ (t <<< 16)) <<< 2),
/// the byte rotations as shuffles.
#[inline]
#[target_feature(enable = "gfni,ssse3")]
fn linear(t: __m128i) -> __m128i {
    let rotl8 = _mm_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14);
    let rotl16 = _mm_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    let rotl24 = _mm_setr_epi8(1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12);
    let u = _mm_xor_si128(
        t,
        _mm_xor_si128(_mm_shuffle_epi8(t, rotl8), _mm_shuffle_epi8(t, rotl16)),
    );
    let u_rotl2 = _mm_or_si128(_mm_slli_epi32::<2>(u), _mm_srli_epi32::<30>(u));
    _mm_xor_si128(_mm_xor_si128(t, _mm_shuffle_epi8(t, rotl24)), u_rotl2)
}

/// Four blocks in, their four words out (word j of every block in register j, as
/// big-endian 32-bit lanes); applied to four words it gives the blocks back.
#[inline]
#[target_feature(enable = "gfni,ssse3")]
fn transpose(b: [__m128i; 4]) -> [__m128i; 4] {
    let byte_swap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    let low01 = _mm_unpacklo_epi32(b[0], b[1]);
    let low23 = _mm_unpacklo_epi32(b[2], b[3]);
    let high01 = _mm_unpackhi_epi32(b[0], b[1]);
    let high23 = _mm_unpackhi_epi32(b[2], b[3]);
    [
        _mm_shuffle_epi8(_mm_unpacklo_epi64(low01, low23), byte_swap),
        _mm_shuffle_epi8(_mm_unpackhi_epi64(low01, low23), byte_swap),
        _mm_shuffle_epi8(_mm_unpacklo_epi64(high01, high23), byte_swap),
        _mm_shuffle_epi8(_mm_unpackhi_epi64(high01, high23), byte_swap),
    ]
}

#[target_feature(enable = "gfni,ssse3")]
fn key_schedule(key: &[u8; 16]) -> [u32; 32] {
    let word = |i: usize| u32::from_be_bytes(key[4 * i..4 * i + 4].try_into().expect("four bytes"));
    let mut k = [word(0) ^ FK[0], word(1) ^ FK[1], word(2) ^ FK[2], word(3) ^ FK[3]];
    let mut round_keys = [0u32; 32];
    for (i, round_key) in round_keys.iter_mut().enumerate() {
        let x = k[(i + 1) % 4] ^ k[(i + 2) % 4] ^ k[(i + 3) % 4] ^ ck(i);
        let t = _mm_cvtsi128_si32(sbox(_mm_cvtsi32_si128(x as i32))) as u32;
        k[i % 4] ^= t ^ t.rotate_left(13) ^ t.rotate_left(23);
        *round_key = k[i % 4];
    }
    k.zeroize();
    round_keys
}

/// Encrypts four blocks: X_{i+4} = X_i ^ L(S(X_{i+1} ^ X_{i+2} ^ X_{i+3} ^ rk_i)).
#[target_feature(enable = "gfni,ssse3")]
fn encrypt4(round_keys: &[u32; 32], blocks: &mut [[u8; 16]; PAR_BLOCKS]) {
    // SAFETY: each block is 16 readable bytes; the load is unaligned.
    let load = |i: usize| unsafe { _mm_loadu_si128(blocks[i].as_ptr().cast()) };
    let mut x = transpose([load(0), load(1), load(2), load(3)]);
    for (round, round_key) in round_keys.iter().enumerate() {
        let j = round % 4;
        let t = _mm_xor_si128(
            _mm_xor_si128(x[(j + 1) % 4], x[(j + 2) % 4]),
            _mm_xor_si128(x[(j + 3) % 4], _mm_set1_epi32(*round_key as i32)),
        );
        x[j] = _mm_xor_si128(x[j], linear(sbox(t)));
    }
    // The output is the last four words in reverse order.
    let out = transpose([x[3], x[2], x[1], x[0]]);
    for (block, w) in blocks.iter_mut().zip(out) {
        // SAFETY: each block is 16 writable bytes; the store is unaligned.
        unsafe { _mm_storeu_si128(block.as_mut_ptr().cast(), w) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sm4::cipher::{Array, BlockCipherEncrypt, KeyInit};

    fn gfni() -> bool {
        std::arch::is_x86_feature_detected!("gfni") && std::arch::is_x86_feature_detected!("ssse3")
    }

    #[test]
    fn the_standards_example() {
        // GB/T 32907-2016, appendix A.1: key and plaintext 0123456789abcdeffedcba9876543210.
        let Some(cipher) = Sm4Gfni::new(&hex_literal("0123456789abcdeffedcba9876543210")) else {
            assert!(!gfni());
            return;
        };
        let mut blocks = [hex_literal("0123456789abcdeffedcba9876543210"); PAR_BLOCKS];
        cipher.encrypt(&mut blocks);
        assert_eq!(blocks, [hex_literal("681edf34d206965e86b3e94f536e4246"); PAR_BLOCKS]);
    }

    #[test]
    fn agrees_with_the_sm4_crate() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        };
        for _ in 0..200 {
            let key: [u8; 16] = std::array::from_fn(|_| next());
            let Some(cipher) = Sm4Gfni::new(&key) else {
                assert!(!gfni());
                return;
            };
            let soft = sm4::Sm4::new(&Array::from(key));
            let mut blocks: [[u8; 16]; PAR_BLOCKS] = std::array::from_fn(|_| std::array::from_fn(|_| next()));
            let expected = blocks.map(|b| {
                let mut a = Array::from(b);
                soft.encrypt_block(&mut a);
                <[u8; 16]>::from(a)
            });
            cipher.encrypt(&mut blocks);
            assert_eq!(blocks, expected);
        }
    }

    fn hex_literal(text: &str) -> [u8; 16] {
        hex::decode(text).unwrap().try_into().unwrap()
    }
}
