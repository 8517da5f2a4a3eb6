//! `wallet --transport raw`: the wallet operations in a loop on this thread, calling
//! shardhub-crypto directly with the inputs the HTTP loads send (`op.rs`).
//!
//! No sockets, no JSON, no HTTP: what one core does when it does nothing but the
//! cryptography. Its CPU per op is the per-core ceiling the server's figures are held up to.
//! The key tree is built and each operation run once before the clock starts, as the server
//! builds a wallet's tree on its first request and caches the account's chain keys.

use std::hint::black_box;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use shardhub_crypto::hd::{AddressPath, BtcSpend, Coin, EthTransaction, HdError, Mnemonic, WalletKeys};

use crate::common::error::BenchError;
use crate::common::percentiles::new_histogram;
use crate::common::process_cpu_clock::ProcessCpuClock;
use crate::wallet::op::{self, WalletOp};

/// Highest latency the histogram tells apart: one minute.
pub const LATENCY_US_MAX: u64 = 60_000_000;

/// What the loop measured.
pub struct RawOutcome {
    pub ops: u64,
    pub elapsed: Duration,
    pub latency_us: Histogram<u64>,
    /// This process's CPU time over the loop.
    pub cpu_ns: u64,
    pub cpu_method: &'static str,
}

/// The key tree and the prepared inputs of one op.
struct RawWallet {
    op: WalletOp,
    keys: WalletKeys,
    eth_path: AddressPath,
    eth_tx: EthTransaction,
    btc_spend: BtcSpend,
}

impl RawWallet {
    fn new(op: WalletOp) -> Result<RawWallet, HdError> {
        let mnemonic = Mnemonic::parse(op::MNEMONIC)?;
        Ok(RawWallet {
            op,
            keys: WalletKeys::from_mnemonic(&mnemonic, "")?,
            eth_path: op::eth_signer_path()?,
            eth_tx: op::eth_transaction(0)?,
            btc_spend: op::btc_spend()?,
        })
    }

    /// Runs request number `n`: the same derivation or signature as the server's.
    fn run(&mut self, n: u64) -> Result<(), HdError> {
        match self.op {
            WalletOp::Address => {
                black_box(self.keys.address(Coin::BtcSegwit, 0, 0, op::address_index(n))?);
            }
            WalletOp::SignEth => {
                self.eth_tx.nonce = n;
                black_box(self.keys.sign_eth_transaction(&self.eth_path, &self.eth_tx)?);
            }
            WalletOp::SignBtc => {
                black_box(self.keys.sign_btc_transaction(&self.btc_spend)?);
            }
        }
        Ok(())
    }
}

/// Runs `op` back to back for `duration`.
pub fn run(op: WalletOp, duration: Duration) -> Result<RawOutcome, BenchError> {
    let failed = |e: HdError| BenchError::Crypto(format!("{}: {e}", op.name()));
    let mut wallet = RawWallet::new(op).map_err(failed)?;
    // Warm-up, outside the clock: builds the account cache, faults the code in.
    wallet.run(0).map_err(failed)?;
    let clock = ProcessCpuClock::open(std::process::id())?;
    let mut latency_us = new_histogram(LATENCY_US_MAX);
    let cpu_before_ns = clock.read_ns()?;
    let started_at = Instant::now();
    let deadline = started_at + duration;
    let mut ops = 0u64;
    let mut op_started_at = started_at;
    loop {
        wallet.run(ops + 1).map_err(failed)?;
        ops += 1;
        let now = Instant::now();
        latency_us.saturating_record(now.duration_since(op_started_at).as_micros() as u64);
        op_started_at = now;
        if now >= deadline {
            break;
        }
    }
    let elapsed = started_at.elapsed();
    let cpu_ns = clock.read_ns()?.saturating_sub(cpu_before_ns);
    Ok(RawOutcome {
        ops,
        elapsed,
        latency_us,
        cpu_ns,
        cpu_method: clock.source().name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_runs_and_is_timed() {
        for op in [WalletOp::Address, WalletOp::SignEth, WalletOp::SignBtc] {
            let outcome = run(op, Duration::from_millis(20)).unwrap();
            assert!(outcome.ops > 0, "{op:?}");
            assert_eq!(outcome.latency_us.len(), outcome.ops);
        }
    }
}
