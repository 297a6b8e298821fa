//! Compare-extent and write-same through an [`IoCtx`], each one request (C librados'
//! `rados_cmpext` and `rados_writesame`). Inside compound operations they are
//! [`super::ReadOp::cmp_ext`], [`super::WriteOp::cmp_ext`] and [`super::WriteOp::write_same`].

use super::ioctx::{AioCtx, IoCtx};
use super::Result;
use crate::msg::ops::OpStep;
use bytes::Bytes;

impl IoCtx {
    /// Ok when the object's bytes at `offset` equal `data` (bytes past its end compare as
    /// zeros); otherwise [`super::Error::CmpExtMismatch`] with the index in `data` of the first
    /// differing byte. A missing object is ENOENT.
    pub fn cmp_ext(&self, name: &str, offset: u64, data: impl Into<Bytes>) -> Result<()> {
        let (n, d) = (name.to_string(), data.into());
        self.block(|a| async move { a.cmp_ext(&n, offset, d).await })
    }
    /// Writes `data` repeated to fill `len` bytes at `offset` (EINVAL when `data` is empty or
    /// `len` is not a multiple of its length).
    pub fn write_same(
        &self,
        name: &str,
        data: impl Into<Bytes>,
        len: u64,
        offset: u64,
    ) -> Result<()> {
        let (n, d) = (name.to_string(), data.into());
        self.block(|a| async move { a.write_same(&n, d, len, offset).await })
    }
}

impl AioCtx {
    /// See [`IoCtx::cmp_ext`].
    pub async fn cmp_ext(&self, name: &str, offset: u64, data: Bytes) -> Result<()> {
        self.run(name, vec![OpStep::CmpExt { offset, data }])
            .await
            .map(|_| ())
    }
    /// See [`IoCtx::write_same`].
    pub async fn write_same(&self, name: &str, data: Bytes, len: u64, offset: u64) -> Result<()> {
        self.run(name, vec![OpStep::WriteSame { offset, len, data }])
            .await
            .map(|_| ())
    }
}
