use librados::Rados;

#[test]
fn write_read_list_on_a_fresh_embedded_cluster() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let r = Rados::embedded(dir.path()).unwrap();
    eprintln!("open {:?}", t.elapsed());
    let io = r.ioctx("data").unwrap();
    io.write_full("hello", &b"world"[..]).unwrap();
    assert_eq!(&io.read_full("hello").unwrap()[..], b"world");
    assert_eq!(io.stat("hello").unwrap().size, 5);
    let names: Vec<String> = io.list_objects().map(|e| e.unwrap().name).collect();
    assert_eq!(names, vec!["hello".to_string()]);
    eprintln!("done {:?}", t.elapsed());
}

fn small_cluster(dir: &std::path::Path, osds: u32, default_size: Option<u8>) -> librados::Config {
    let mut c = librados::Config::embedded(dir);
    c.set("osd_count", &osds.to_string());
    if let Some(s) = default_size {
        c.set("osd_pool_default_size", &s.to_string());
    }
    c
}

/// A one-OSD cluster works as it is: with no size configured, pools get one replica. A pool
/// that could never become active is refused at once instead of leaving ops to time out.
#[test]
fn a_one_osd_cluster_works_and_refuses_pools_it_cannot_serve() {
    let dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let r = Rados::connect(&small_cluster(dir.path(), 1, None)).unwrap();
    assert_eq!(r.pool_get("data", "size").unwrap().value, "1");
    let io = r.ioctx("data").unwrap();
    io.write_full("one", &b"copy"[..]).unwrap();
    assert_eq!(&io.read_full("one").unwrap()[..], b"copy");

    let err = r.create_pool_with("three", Some(8), Some(3)).unwrap_err();
    assert_eq!(err.errno(), librados::errno::EINVAL);
    assert!(
        err.to_string().contains("could never become active"),
        "{err}"
    );
    assert!(!r.list_pools().contains(&"three".to_string()));
    let err = r.pool_set("data", "min_size", "2").unwrap_err();
    assert_eq!(err.errno(), librados::errno::EINVAL);
    // Well under the 60 s a client op would have waited.
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
}

/// An explicit default size the OSDs cannot serve fails the first open promptly, naming why.
#[test]
fn an_explicit_pool_size_above_the_osds_fails_the_open_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let t = std::time::Instant::now();
    let err = Rados::connect(&small_cluster(dir.path(), 1, Some(3)))
        .err()
        .expect("opening must fail");
    assert_eq!(err.errno(), librados::errno::EINVAL, "{err}");
    assert!(
        err.to_string().contains("could never become active"),
        "{err}"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(30),
        "{:?}",
        t.elapsed()
    );
}

/// Two OSDs and size 3: the pool runs undersized (min_size 2) and serves.
#[test]
fn a_size_three_pool_on_two_osds_serves_undersized() {
    let dir = tempfile::tempdir().unwrap();
    let r = Rados::connect(&small_cluster(dir.path(), 2, None)).unwrap();
    assert_eq!(r.pool_get("data", "size").unwrap().value, "2");
    r.create_pool_with("three", Some(8), Some(3)).unwrap();
    let io = r.ioctx("three").unwrap();
    io.write_full("x", &b"y"[..]).unwrap();
    assert_eq!(&io.read_full("x").unwrap()[..], b"y");
}
