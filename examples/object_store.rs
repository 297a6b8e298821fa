//! The object store on its own: one transaction writes objects, xattrs and omap; another clones
//! an object (sharing its data); then reads, a listing in hash order, statfs and a verify walk.
//!
//! ```text
//! cargo run --release -p rados-examples --example object_store [DIR]
//! ```
//! Without DIR it uses a fresh temporary directory.

use bytes::Bytes;
use librados::store::{
    CollectionId, DiskStore, ListCursor, ObjectId, ObjectStore, StoreResult, Transaction,
};

fn oid(pool: i64, name: &str) -> ObjectId {
    ObjectId::new(
        pool,
        name,
        librados::hash::str_hash_rjenkins(name.as_bytes()),
    )
}

fn main() -> StoreResult<()> {
    let dir = match std::env::args().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("rados-object-store-{}", std::process::id())),
    };
    let store = DiskStore::open(&dir)?;
    let pg = CollectionId::new(1, 0);
    if store.list_collections()?.is_empty() {
        let mut t = Transaction::new();
        t.create_collection(pg, 0);
        store.apply_transaction(t)?;
    }

    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut t = Transaction::new();
    t.write(pg, &oid(1, "greeting"), 0, &b"hello, object store"[..])
        .setattr(pg, &oid(1, "greeting"), "lang", &b"en"[..])
        .omap_setkeys(
            pg,
            &oid(1, "greeting"),
            vec![(Bytes::from("author"), Bytes::from("the project"))],
        )
        .write(pg, &oid(1, "big"), 0, big.clone());
    store.apply_transaction(t)?; // returns once durable

    let mut t = Transaction::new();
    t.clone_object(pg, &oid(1, "big"), &oid(1, "big-clone"));
    store.apply_transaction(t)?;

    let text = store.read(pg, &oid(1, "greeting"), 0, u64::MAX)?;
    println!("greeting: {}", String::from_utf8_lossy(&text));
    println!(
        "xattr lang: {}",
        String::from_utf8_lossy(&store.getattr(pg, &oid(1, "greeting"), "lang")?)
    );
    let clone = store.read(pg, &oid(1, "big-clone"), 0, u64::MAX)?;
    println!("clone of 8 MiB object reads back equal: {}", clone == big);
    let page = store.list_objects(pg, &ListCursor::Start, 100)?;
    let names: Vec<&str> = page.objects.iter().map(|o| o.name.as_str()).collect();
    println!("objects in hash order: {names:?}");
    let st = store.statfs()?;
    println!(
        "statfs: {} objects, {} data bytes, {} bytes on disk, {} available",
        st.objects, st.data_bytes, st.used_bytes, st.available_bytes
    );
    let report = store.verify()?;
    println!(
        "verify: {} objects, {} bytes checked, {} problems",
        report.objects_checked,
        report.bytes_checked,
        report.problems.len()
    );
    drop(store);
    if std::env::args().nth(1).is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
