//! `rados watch OBJ` and `rados notify OBJ MESSAGE`, with Ceph's output. In the embedded
//! deployment one process runs the cluster, so a watcher and a notifier in two `rados`
//! processes need the daemons of a later release; within one process (the library) they work.

use crate::session::{errstr, fail};
use crate::textfmt::hexdump;
use anyhow::Result;
use librados::client::WatchOptions;
use librados::IoCtx;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

/// How long `notify` waits for the watchers (Ceph's default).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// What `watch` prints when its watch fails (its object was removed), as Ceph's does.
fn error_line(cookie: u64, err: &librados::Error) -> String {
    format!("ERROR cookie {cookie} err {}", errstr(err))
}

/// Watches `obj`, printing each notify (and the watch's failure, should its object be
/// removed), until a line (or end of input) arrives on stdin.
pub fn watch(io: &IoCtx, obj: &str) -> Result<()> {
    let options = WatchOptions {
        timeout: None,
        on_error: Some(Arc::new(|cookie, err| {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", error_line(cookie, err));
            let _ = out.flush();
        })),
    };
    let cookie = io
        .watch_with(obj, options, |ev| {
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_failed_watch_is_reported_as_ceph_reports_it() {
        let err = librados::Error::NotConnected {
            what: "watch 7 on x".into(),
        };
        assert_eq!(
            super::error_line(7, &err),
            "ERROR cookie 7 err (107) Transport endpoint is not connected"
        );
    }
}
