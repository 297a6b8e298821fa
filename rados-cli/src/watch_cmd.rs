//! `rados watch OBJ` and `rados notify OBJ MESSAGE`, with Ceph's output. In the embedded
//! deployment one process runs the cluster, so a watcher and a notifier in two `rados`
//! processes need the daemons of a later release; within one process (the library) they work.

use crate::session::{errstr, fail};
use crate::textfmt::hexdump;
use anyhow::Result;
use librados::IoCtx;
use std::io::{BufRead, Write};
use std::time::Duration;

/// How long `notify` waits for the watchers (Ceph's default).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Watches `obj`, printing each notify, until a line (or end of input) arrives on stdin.
pub fn watch(io: &IoCtx, obj: &str) -> Result<()> {
    let cookie = io
        .watch(obj, |ev| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(
                out,
                "NOTIFY cookie {} notify_id {} from {}",
                ev.cookie, ev.notify_id, ev.notifier
            );
            let _ = write!(out, "{}", hexdump(&ev.payload));
            let _ = out.flush();
            Vec::new()
        })
        .map_err(|e| {
            fail(
                format!(
                    "{}/{obj}: watch {obj} failed: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })?;
    println!("press enter to exit...");
    std::io::stdout().flush()?;
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    io.unwatch(cookie)
        .map_err(|e| fail(format!("unwatch failed: {}", errstr(&e)), 1))?;
    Ok(())
}

/// Notifies `obj`'s watchers with `message`; prints each reply.
pub fn notify(io: &IoCtx, obj: &str, message: &str) -> Result<()> {
    let replies = io
        .notify(obj, message.as_bytes().to_vec(), NOTIFY_TIMEOUT)
        .map_err(|e| {
            fail(
                format!(
                    "{}/{obj}: notify {obj} failed: {}",
                    io.pool_name(),
                    errstr(&e)
                ),
                1,
            )
        })?;
    let mut out = std::io::stdout().lock();
    for (client, cookie, reply) in &replies.acks {
        writeln!(
            out,
            "reply client.{client} cookie {cookie} : {} bytes",
            reply.len()
        )?;
        if !reply.is_empty() {
            write!(out, "{}", hexdump(reply))?;
        }
    }
    out.flush()?;
    Ok(())
}
