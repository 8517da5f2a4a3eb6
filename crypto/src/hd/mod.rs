//! HD wallets over secp256k1: being written.
