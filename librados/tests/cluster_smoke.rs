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
