//! `rados store ...`: look after one OSD's object store directly (it must not be open elsewhere):
//! `fsck` walks every object and checksum, `statfs` shows space, `ls` lists collections or a
//! collection's objects in hash order.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use librados::store::{CollectionId, DiskStore, ListCursor, ObjectStore, VerifyProblem};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Check every object's data, metadata and omap against their checksums.
    Fsck {
        /// The store's directory.
        dir: PathBuf,
    },
    /// Show the filesystem's size, the store's usage and what writes may still use.
    Statfs { dir: PathBuf },
    /// List the collections, or with `--collection POOL.SEED` (seed in hex) its objects.
    Ls {
        dir: PathBuf,
        #[arg(long)]
        collection: Option<String>,
    },
}

fn open(dir: &PathBuf) -> Result<DiskStore> {
    if !dir.join("superblock").exists() {
        bail!("{} is not an object store (no superblock)", dir.display());
    }
    DiskStore::open(dir).with_context(|| format!("cannot open the store at {}", dir.display()))
}

fn parse_collection(s: &str) -> Result<CollectionId> {
    let (pool, seed) = s
        .split_once('.')
        .with_context(|| format!("collection {s:?} is not POOL.SEED (for example 1.1f)"))?;
    let pool = pool
        .parse()
        .with_context(|| format!("bad pool id {pool:?}"))?;
    let seed =
        u32::from_str_radix(seed, 16).with_context(|| format!("bad PG seed {seed:?} (hex)"))?;
    Ok(CollectionId::new(pool, seed))
}

pub fn run(cmd: StoreCommand) -> Result<()> {
    match cmd {
        StoreCommand::Fsck { dir } => {
            let store = open(&dir)?;
            let report = store.verify_with_progress(&mut |objects, bytes| {
                eprint!("\r  checked {objects} objects, {} MiB", bytes >> 20);
            })?;
            eprintln!();
            for p in &report.problems {
                match p {
                    VerifyProblem::Object {
                        collection,
                        object,
                        detail,
                    } => {
                        let c = collection.map_or("-".to_string(), |c| c.to_string());
                        println!("damaged object {object} (collection {c}): {detail}");
                    }
                    VerifyProblem::Engine { detail } => println!("damaged engine file: {detail}"),
                }
            }
            println!(
                "{} objects, {} bytes checked, {} problems",
                report.objects_checked,
                report.bytes_checked,
                report.problems.len()
            );
            if !report.is_clean() {
                bail!("the store at {} is damaged", dir.display());
            }
        }
        StoreCommand::Statfs { dir } => {
            let st = open(&dir)?.statfs()?;
            println!("total      {}", st.total_bytes);
            println!("used       {}", st.used_bytes);
            println!("available  {}", st.available_bytes);
            println!("reserved   {}", st.reserved_bytes);
            println!("objects    {}", st.objects);
            println!("data       {}", st.data_bytes);
        }
        StoreCommand::Ls { dir, collection } => {
            let store = open(&dir)?;
            let Some(c) = collection else {
                for cid in store.list_collections()? {
                    println!("{cid} bits {}", store.collection_bits(cid)?);
                }
                return Ok(());
            };
            let cid = parse_collection(&c)?;
            let mut cursor = ListCursor::Start;
            loop {
                let page = store.list_objects(cid, &cursor, 1000)?;
                for o in &page.objects {
                    println!("{o}");
                }
                match page.next {
                    Some(next) => cursor = next,
                    None => break,
                }
            }
        }
    }
    Ok(())
}
