//! Wallet cryptography of shardhub: BIP-39/32/44/84 keys, addresses, transaction signing,
//! the SM2 key exchange and SM4-GCM channel, SPV header and Merkle checks.
//!
//! Pure, like `shardhub-core`: no I/O, no clocks, randomness passed in. It depends on nothing
//! else of ours. Empty until the light-wallet work (see the issue tracker); the crate exists
//! now so the workspace has its final shape.
