//! Linux errno values, as Ceph clients report them at the API boundary.
//!
//! Each layer has its own typed error; this table is where they become numbers.

pub const EPERM: i32 = 1;
pub const ENOENT: i32 = 2;
pub const EIO: i32 = 5;
pub const E2BIG: i32 = 7;
pub const EBADF: i32 = 9;
pub const EAGAIN: i32 = 11;
pub const ENOMEM: i32 = 12;
pub const EACCES: i32 = 13;
pub const EBUSY: i32 = 16;
pub const EEXIST: i32 = 17;
pub const ENODEV: i32 = 19;
pub const EINVAL: i32 = 22;
pub const EFBIG: i32 = 27;
pub const ENOSPC: i32 = 28;
pub const EROFS: i32 = 30;
pub const ERANGE: i32 = 34;
pub const ENAMETOOLONG: i32 = 36;
pub const ENOTEMPTY: i32 = 39;
pub const ENOMSG: i32 = 42;
pub const ENODATA: i32 = 61;
pub const EOVERFLOW: i32 = 75;
pub const EMSGSIZE: i32 = 90;
pub const EOPNOTSUPP: i32 = 95;
pub const ENOTCONN: i32 = 107;
pub const ESHUTDOWN: i32 = 108;
/// What an OSD answers a fenced (blocklisted) client: Ceph's EBLOCKLISTED is ESHUTDOWN.
pub const EBLOCKLISTED: i32 = ESHUTDOWN;
pub const ETIMEDOUT: i32 = 110;
pub const ECANCELED: i32 = 125;
pub const EDQUOT: i32 = 122;
/// The largest errno; Ceph reports a compare-extent mismatch at index `i` of the compared
/// buffer as `MAX_ERRNO + i`.
pub const MAX_ERRNO: i32 = 4095;
