//! Random numbers from the operating system (`getrandom(2)`), for identities that must not
//! collide: process incarnation nonces, temporary names. Never for placement, which is pure.

/// Fills `buf` from the kernel's random source.
pub fn fill(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe `rest`, a live, writable slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// A random u64 that is never 0 (0 stands for "none" in the places that use these).
pub fn nonzero_u64() -> u64 {
    let mut b = [0u8; 8];
    if fill(&mut b).is_err() {
        // No kernel source: the clock and the process id still tell incarnations apart.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        return (t ^ (u64::from(std::process::id()) << 32)) | 1;
    }
    u64::from_le_bytes(b).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn draws_differ() {
        let a: Vec<u64> = (0..8).map(|_| super::nonzero_u64()).collect();
        assert!(a.iter().all(|&x| x != 0));
        let mut d = a.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), a.len());
    }
}
