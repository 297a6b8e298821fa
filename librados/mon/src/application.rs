//! Pool applications (`osd pool application enable|disable|set|rm`): the tags that say which
//! application (`rbd`, `rgw`, `cephfs`, ...) uses a pool, each with string metadata.
//!
//! Rules and limits as Ceph 16 has them: a second application on a pool needs `force`;
//! disabling needs `force`; at most 4 applications per pool and 64 keys per application;
//! names, keys and values at most 128 bytes. Each change is a new map epoch carrying the
//! changed pool; re-enabling an enabled application and removing a missing key change
//! nothing.

use super::state::{MonState, Proposal};
use super::MonError;
use crate::osdmap::Pool;
use std::collections::BTreeMap;

/// Most applications one pool may have enabled.
pub const MAX_APPLICATIONS: usize = 4;
/// Most metadata keys one application may carry on a pool.
pub const MAX_APPLICATION_KEYS: usize = 64;
/// Longest application name, metadata key or value, in bytes.
pub const MAX_APPLICATION_LENGTH_BYTES: usize = 128;

/// Checks that `what` ('application name', 'key', 'value') is within the length limit.
fn check_length(what: &str, text: &str) -> Result<(), MonError> {
    if text.len() > MAX_APPLICATION_LENGTH_BYTES {
        return Err(MonError::Invalid(format!(
            "{what} '{text}' too long; max length {MAX_APPLICATION_LENGTH_BYTES}"
        )));
    }
    Ok(())
}

/// Application `app`'s metadata on pool `p` (ENOENT when it is not enabled there).
fn metadata_mut<'a>(
    p: &'a mut Pool,
    app: &str,
) -> Result<&'a mut BTreeMap<String, String>, MonError> {
    p.applications.get_mut(app).ok_or_else(|| {
        MonError::NotFound(format!(
            "application '{app}' is not enabled on pool '{}'",
            p.name
        ))
    })
}

impl MonState {
    pub(super) fn application_enable(
        &self,
        pool: &str,
        app: &str,
        force: bool,
    ) -> Result<Proposal, MonError> {
        if app.is_empty() {
            return Err(MonError::Invalid(
                "application name must be provided".into(),
            ));
        }
        let mut p = self.pool(pool)?.clone();
        let message = format!("enabled application '{app}' on pool '{pool}'");
        if p.applications.contains_key(app) {
            return Ok(self.unchanged(message));
        }
        if !p.applications.is_empty() && !force {
            return Err(MonError::NotPermitted(format!(
                "Are you SURE? Pool '{pool}' already has an enabled application; \
                 pass --yes-i-really-mean-it to proceed anyway"
            )));
        }
        if p.applications.len() >= MAX_APPLICATIONS {
            return Err(MonError::Invalid(format!(
                "too many enabled applications on pool '{pool}'; max {MAX_APPLICATIONS}"
            )));
        }
        check_length("application name", app)?;
        p.applications.insert(app.to_string(), Default::default());
        Ok(self.pool_changed(p, message))
    }

    pub(super) fn application_disable(
        &self,
        pool: &str,
        app: &str,
        force: bool,
    ) -> Result<Proposal, MonError> {
        let mut p = self.pool(pool)?.clone();
        if !force {
            return Err(MonError::NotPermitted(
                "Are you SURE? Disabling an application within a pool might result in loss of \
                 application functionality; pass --yes-i-really-mean-it to proceed anyway"
                    .into(),
            ));
        }
        if p.applications.remove(app).is_none() {
            return Ok(self.unchanged(format!(
                "application '{app}' is not enabled on pool '{pool}'"
            )));
        }
        Ok(self.pool_changed(p, format!("disable application '{app}' on pool '{pool}'")))
    }

    pub(super) fn application_set(
        &self,
        pool: &str,
        app: &str,
        key: &str,
        value: &str,
    ) -> Result<Proposal, MonError> {
        let mut p = self.pool(pool)?.clone();
        let metadata = metadata_mut(&mut p, app)?;
        if key.is_empty() {
            return Err(MonError::Invalid("key must be provided".into()));
        }
        if metadata.len() >= MAX_APPLICATION_KEYS && !metadata.contains_key(key) {
            return Err(MonError::Invalid(format!(
                "too many keys set for application '{app}' on pool '{pool}'; \
                 max {MAX_APPLICATION_KEYS}"
            )));
        }
        check_length("key", key)?;
        check_length("value", value)?;
        metadata.insert(key.to_string(), value.to_string());
        let message = format!("set application '{app}' key '{key}' to '{value}' on pool '{pool}'");
        Ok(self.pool_changed(p, message))
    }

    pub(super) fn application_remove(
        &self,
        pool: &str,
        app: &str,
        key: &str,
    ) -> Result<Proposal, MonError> {
        let mut p = self.pool(pool)?.clone();
        if metadata_mut(&mut p, app)?.remove(key).is_none() {
            return Ok(self.unchanged(format!(
                "application '{app}' on pool '{pool}' does not have key '{key}'"
            )));
        }
        Ok(self.pool_changed(
            p,
            format!("removed application '{app}' key '{key}' on pool '{pool}'"),
        ))
    }

    /// `pool`, changed, in the next epoch.
    fn pool_changed(&self, mut pool: Pool, message: String) -> Proposal {
        let mut inc = self.next_inc();
        pool.last_change = inc.epoch;
        inc.new_pools.insert(pool.id, pool);
        self.changed(inc, message)
    }
}
