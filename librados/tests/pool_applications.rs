//! Pool applications on the embedded cluster through the client API: enabling (and the rule
//! that a second application needs `force`), metadata set/get/list/remove, the errors Ceph
//! gives (ENOENT, EPERM, EINVAL), and the tags surviving a restart of the cluster.

mod common;

use common::cluster::{init_tracing, shared};
use librados::errno::{EINVAL, ENOENT, EPERM};
use librados::msg::command::{MonCommand, MonReply};
use librados::{Error, IoCtx, Rados};

fn pool(r: &Rados, name: &str) -> IoCtx {
    r.create_pool_with(name, Some(8), None).unwrap();
    r.ioctx(name).unwrap()
}

fn errno<T: std::fmt::Debug>(res: Result<T, Error>) -> i32 {
    res.expect_err("an error").errno()
}

fn pairs(kv: &[(&str, &str)]) -> Vec<(String, String)> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn enable_list_and_the_force_rule() {
    let r = shared();
    let io = pool(&r, "apps-force");
    assert!(io.application_list().unwrap().is_empty());

    io.application_enable("rbd", false).unwrap();
    // Enabling it again changes nothing and needs no force.
    io.application_enable("rbd", false).unwrap();
    assert_eq!(io.application_list().unwrap(), vec!["rbd"]);

    // A second application needs force.
    let e = io.application_enable("rgw", false).unwrap_err();
    assert_eq!(e.errno(), EPERM);
    assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
    assert!(e.to_string().contains("--yes-i-really-mean-it"), "{e}");
    assert_eq!(io.application_list().unwrap(), vec!["rbd"]);
    io.application_enable("rgw", true).unwrap();
    assert_eq!(io.application_list().unwrap(), vec!["rbd", "rgw"]);

    // Bad names: empty, over 128 bytes; at most four applications.
    assert_eq!(errno(io.application_enable("", true)), EINVAL);
    assert_eq!(errno(io.application_enable(&"a".repeat(129), true)), EINVAL);
    io.application_enable(&"b".repeat(128), true).unwrap();
    io.application_enable("cephfs", true).unwrap();
    assert_eq!(errno(io.application_enable("fifth", true)), EINVAL);
    assert_eq!(io.application_list().unwrap().len(), 4);

    // A client started since then sees them in its first map.
    let other = shared();
    let io2 = other.ioctx("apps-force").unwrap();
    assert_eq!(io2.application_list().unwrap().len(), 4);
}

#[test]
fn metadata_set_get_list_remove() {
    let r = shared();
    let io = pool(&r, "apps-meta");
    io.application_enable("rgw", false).unwrap();
    assert!(io.application_metadata_list("rgw").unwrap().is_empty());

    io.application_metadata_set("rgw", "zone", "east").unwrap();
    io.application_metadata_set("rgw", "empty", "").unwrap();
    io.application_metadata_set("rgw", "zone", "west").unwrap();
    assert_eq!(io.application_metadata_get("rgw", "zone").unwrap(), "west");
    assert_eq!(io.application_metadata_get("rgw", "empty").unwrap(), "");
    assert_eq!(
        io.application_metadata_list("rgw").unwrap(),
        pairs(&[("empty", ""), ("zone", "west")])
    );

    io.application_metadata_remove("rgw", "zone").unwrap();
    // Removing a key that is not there succeeds, as in Ceph.
    io.application_metadata_remove("rgw", "zone").unwrap();
    assert_eq!(errno(io.application_metadata_get("rgw", "zone")), ENOENT);
    assert_eq!(
        io.application_metadata_list("rgw").unwrap(),
        pairs(&[("empty", "")])
    );

    // Limits: non-empty keys, keys and values up to 128 bytes, 64 keys.
    assert_eq!(errno(io.application_metadata_set("rgw", "", "v")), EINVAL);
    let long = "k".repeat(129);
    assert_eq!(
        errno(io.application_metadata_set("rgw", &long, "v")),
        EINVAL
    );
    assert_eq!(
        errno(io.application_metadata_set("rgw", "k", &long)),
        EINVAL
    );
    for i in 1..64 {
        io.application_metadata_set("rgw", &format!("key{i}"), "v")
            .unwrap();
    }
    assert_eq!(
        errno(io.application_metadata_set("rgw", "key64", "v")),
        EINVAL
    );
    // An existing key may still change at the limit.
    io.application_metadata_set("rgw", "key1", "changed")
        .unwrap();
    assert_eq!(io.application_metadata_list("rgw").unwrap().len(), 64);
}

#[test]
fn an_application_not_enabled_is_enoent() {
    let r = shared();
    let io = pool(&r, "apps-missing");
    io.application_enable("rbd", false).unwrap();
    assert_eq!(errno(io.application_metadata_get("nope", "k")), ENOENT);
    assert_eq!(errno(io.application_metadata_list("nope")), ENOENT);
    assert_eq!(errno(io.application_metadata_set("nope", "k", "v")), ENOENT);
    assert_eq!(errno(io.application_metadata_remove("nope", "k")), ENOENT);
    assert_eq!(errno(io.application_metadata_get("rbd", "k")), ENOENT);

    // Disabling needs force, drops the metadata, and a second disable is no error.
    io.application_metadata_set("rbd", "k", "v").unwrap();
    let disable = |force| {
        r.mon_command(MonCommand::PoolApplicationDisable {
            pool: "apps-missing".into(),
            app: "rbd".into(),
            force,
        })
    };
    assert_eq!(errno(disable(false)), EPERM);
    assert_eq!(io.application_list().unwrap(), vec!["rbd"]);
    let Ok(MonReply::Done { message, .. }) = disable(true) else {
        panic!("disable failed")
    };
    assert_eq!(message, "disable application 'rbd' on pool 'apps-missing'");
    assert!(io.application_list().unwrap().is_empty());
    assert_eq!(errno(io.application_metadata_list("rbd")), ENOENT);
    assert!(disable(true).is_ok());
    // With no application left, a new one needs no force.
    io.application_enable("cephfs", false).unwrap();
    assert_eq!(io.application_list().unwrap(), vec!["cephfs"]);
}

#[test]
fn applications_survive_a_restart() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    {
        let r = Rados::embedded(dir.path()).unwrap();
        let io = r.ioctx("data").unwrap();
        io.application_enable("rbd", false).unwrap();
        io.application_enable("rgw", true).unwrap();
        io.application_metadata_set("rgw", "zone", "east").unwrap();
        io.application_metadata_set("rbd", "features", "layering")
            .unwrap();
        io.application_metadata_remove("rbd", "features").unwrap();
    }
    let r = Rados::embedded(dir.path()).unwrap();
    let io = r.ioctx("data").unwrap();
    assert_eq!(io.application_list().unwrap(), vec!["rbd", "rgw"]);
    assert_eq!(io.application_metadata_get("rgw", "zone").unwrap(), "east");
    assert!(io.application_metadata_list("rbd").unwrap().is_empty());
    // And the force rule still holds against the reloaded map.
    assert_eq!(errno(io.application_enable("cephfs", false)), EPERM);
}
