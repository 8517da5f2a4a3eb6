//! Snapshots: with a tiny `seckill.snapshot_log_bytes`, a sale writes several snapshots and
//! deletes the log segments they cover; a restart (graceful, then SIGKILL) restores exactly
//! the same SKUs and orders from snapshot plus the log after it.

mod common;

use common::{order_get, orders_get, stock_get, write_config, Server};

fn files(dir: &std::path::Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

#[test]
fn snapshots_bound_the_log_and_restore_the_same_state() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("shardhub.toml");
    write_config(
        &config,
        "[seckill]\ndurability = \"batch\"\nsnapshot_log_bytes = 4096\n",
    );
    let server = Server::start_with(1, Some(&config), &[]);
    let mut c = server.client();
    let skus = ["snap:a", "snap:b", "{snap}c"];
    for sku in skus {
        let _: () = redis::cmd("STOCK.SET")
            .arg(sku)
            .arg(400)
            .arg("LIMIT")
            .arg(3)
            .query(&mut c)
            .unwrap();
    }
    let mut ids = Vec::new();
    for i in 0..300 {
        let sku = skus[i % skus.len()];
        let id: String = redis::cmd("SECKILL.BUY")
            .arg(sku)
            .arg(format!("user{}", i % 97))
            .arg("REQID")
            .arg(format!("r{i}"))
            .query(&mut c)
            .unwrap();
        match i % 3 {
            0 => {
                let _: () = redis::cmd("ORDER.PAY").arg(&id).query(&mut c).unwrap();
            }
            1 => {
                let _: () = redis::cmd("ORDER.CANCEL").arg(&id).query(&mut c).unwrap();
            }
            _ => {}
        }
        ids.push(id);
    }
    let before_stock: Vec<_> = skus.iter().map(|s| stock_get(&mut c, s)).collect();
    let before_orders = orders_get(&mut c, &ids);
    let log_dir = server.data_dir.path().join("seckill/shard-0");
    let snapshots = files(&log_dir, "snap-");
    assert_eq!(snapshots.len(), 1, "only the newest snapshot is kept: {snapshots:?}");
    let segments = files(&log_dir, "seg-");
    assert_eq!(segments.len(), 1, "covered segments are deleted: {segments:?}");
    assert_ne!(
        segments[0], "seg-00000000000000000000.log",
        "the log moved past its first segment"
    );

    drop(c);
    let mut server = server;
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        let (_, data_dir) = server.stop(signal);
        server = Server::start_in(1, data_dir, Some(&config), &[]);
        let replayed = server.wait_log("seckill log replayed", std::time::Duration::from_secs(10));
        assert!(replayed.contains("snapshot=true"), "{replayed}");
        let mut c = server.client();
        let after_stock: Vec<_> = skus.iter().map(|s| stock_get(&mut c, s)).collect();
        assert_eq!(after_stock, before_stock);
        assert_eq!(orders_get(&mut c, &ids), before_orders);
        // REQIDs came back too: a retry answers the first id and reserves nothing.
        let again: String = redis::cmd("SECKILL.BUY")
            .arg(skus[2])
            .arg("user2")
            .arg("REQID")
            .arg("r2")
            .query(&mut c)
            .unwrap();
        assert_eq!(again, ids[2]);
        assert_eq!(order_get(&mut c, &again).state, "reserved");
        assert_eq!(stock_get(&mut c, skus[2]), before_stock[2]);
    }
}
