//! Pool applications through an [`IoCtx`]: which applications (`rbd`, `rgw`, `cephfs`, ...)
//! use the pool, and each one's string metadata, as librados' `rados_application_*` calls
//! have them.
//!
//! Changes go through the monitor and return once this client's map has them; reads answer
//! from this client's map (as librados does), so another client's change shows once the map
//! carrying it has arrived.

use super::ioctx::IoCtx;
use super::{Error, Result};
use crate::msg::command::MonCommand;
use std::collections::BTreeMap;

impl IoCtx {
    /// Enables application `app` on the pool. Enabling one already enabled succeeds. A pool
    /// that has another application already refuses a second one with EPERM
    /// ([`Error::PermissionDenied`]) unless `force` is set. EINVAL for an empty or overlong
    /// (over 128 bytes) name, or a fifth application.
    pub fn application_enable(&self, app: &str, force: bool) -> Result<()> {
        self.rados()
            .mon_command(MonCommand::PoolApplicationEnable {
                pool: self.pool_name().to_string(),
                app: app.to_string(),
                force,
            })
            .map(|_| ())
    }

    /// The applications enabled on the pool, in name order.
    pub fn application_list(&self) -> Result<Vec<String>> {
        Ok(self.pool_record()?.applications.into_keys().collect())
    }

    /// The value of metadata `key` of application `app` (ENOENT when the application is not
    /// enabled or has no such key).
    pub fn application_metadata_get(&self, app: &str, key: &str) -> Result<String> {
        self.application_metadata(app)?
            .remove(key)
            .ok_or_else(|| Error::NotFound {
                what: format!("application '{app}' metadata key '{key}'"),
            })
    }

    /// Sets metadata `key` of application `app` to `value` (ENOENT when the application is
    /// not enabled; EINVAL for an empty key, a key or value over 128 bytes, or a 65th key).
    pub fn application_metadata_set(&self, app: &str, key: &str, value: &str) -> Result<()> {
        self.rados()
            .mon_command(MonCommand::PoolApplicationSet {
                pool: self.pool_name().to_string(),
                app: app.to_string(),
                key: key.to_string(),
                value: value.to_string(),
            })
            .map(|_| ())
    }

    /// Removes metadata `key` of application `app` (ENOENT when the application is not
    /// enabled; removing a key it does not have succeeds).
    pub fn application_metadata_remove(&self, app: &str, key: &str) -> Result<()> {
        self.rados()
            .mon_command(MonCommand::PoolApplicationRemove {
                pool: self.pool_name().to_string(),
                app: app.to_string(),
                key: key.to_string(),
            })
            .map(|_| ())
    }

    /// Application `app`'s metadata as (key, value) pairs in key order (ENOENT when the
    /// application is not enabled).
    pub fn application_metadata_list(&self, app: &str) -> Result<Vec<(String, String)>> {
        Ok(self.application_metadata(app)?.into_iter().collect())
    }

    fn application_metadata(&self, app: &str) -> Result<BTreeMap<String, String>> {
        self.pool_record()?
            .applications
            .remove(app)
            .ok_or_else(|| Error::NotFound {
                what: format!(
                    "application '{app}' is not enabled on pool '{}'",
                    self.pool_name()
                ),
            })
    }
}
