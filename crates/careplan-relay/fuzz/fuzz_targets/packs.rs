//! Packs read back whatever is in their files (`src/pack.rs`): two pack files made of the
//! input (a sealed one and the newest, split where the first byte says) must open without
//! a panic; every blob the index then knows reads back its full length, and every blob of
//! the newest pack its exact bytes (that pack is checked against the SHA-256s when it
//! opens); a new blob can be written after whatever tail was cut, and is found again when
//! the packs are opened once more.

#![no_main]

use std::sync::LazyLock;

use careplan_relay::pack::Packs;
use futures::StreamExt;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

fuzz_target!(|data: &[u8]| {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let split = (usize::from(*first) * rest.len() / 255).min(rest.len());
    let (old, new) = rest.split_at(split);
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("pack-00000001.dat"), old).expect("write");
    std::fs::write(dir.path().join("pack-00000002.dat"), new).expect("write");
    RT.block_on(async {
        let p = Packs::open(dir.path()).expect("packs open whatever their bytes");
        for (sha, pack) in p.keys() {
            let size = p.size(&sha).expect("size of a known blob");
            let mut got = Vec::new();
            let mut s = p.read(&sha, None).expect("read").expect("known blob");
            while let Some(b) = s.next().await {
                got.extend_from_slice(&b.expect("piece"));
            }
            assert_eq!(got.len() as u64, size);
            if pack == 2 {
                assert_eq!(hex::encode(Sha256::digest(&got)), sha, "the newest pack is checked");
            }
        }
        let bytes = b"202407,131011,0000012345\r\n".repeat(3);
        let sha = hex::encode(Sha256::digest(&bytes));
        p.put(&sha, bytes.clone().into()).await.expect("put after open");
        drop(p);
        let p = Packs::open(dir.path()).expect("open again");
        assert_eq!(p.size(&sha), Some(bytes.len() as u64));
    });
});
