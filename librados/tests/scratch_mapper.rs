use librados::crush::{binary, Workspace};
use std::fs;

#[test]
fn scratch_mappings() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/crush");
    let manifest = fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut fails = 0;
    let mut total = 0;
    for line in manifest.lines().skip(1) {
        let (out, cmd) = line.split_once('\t').unwrap();
        if !out.starts_with("mappings/") { continue; }
        let args: Vec<&str> = cmd.split_whitespace().collect();
        let mut map_path = ""; let mut rule = 0; let mut nrep = 0; let mut minx = 0; let mut maxx = 0; let mut pool: Option<u32> = None;
        let mut wts = vec![];
        let mut i = 1;
        while i < args.len() {
            match args[i] {
                "-i" => { map_path = args[i+1]; i += 1; }
                "--rule" => { rule = args[i+1].parse().unwrap(); i += 1; }
                "--num-rep" => { nrep = args[i+1].parse().unwrap(); i += 1; }
                "--min-x" => { minx = args[i+1].parse().unwrap(); i += 1; }
                "--max-x" => { maxx = args[i+1].parse().unwrap(); i += 1; }
                "--pool-id" => { pool = Some(args[i+1].parse().unwrap()); i += 1; }
                "--weight" => { wts.push((args[i+1].parse::<usize>().unwrap(), args[i+2].parse::<f64>().unwrap())); i += 2; }
                _ => {}
            }
            i += 1;
        }
        let map = binary::decode(&fs::read(dir.join(map_path)).unwrap()).unwrap();
        let mut weights: Vec<u32> = (0..map.max_devices()).map(|d| if map.is_device_placed(d) { 0x10000 } else { 0 }).collect();
        for (d, w) in wts { weights[d] = ((w * 65536.0) as i64).clamp(0, 0x10000) as u32; }
        let expected = fs::read_to_string(dir.join(out)).unwrap();
        let mut got = String::new();
        if weights.iter().any(|&w| w > 0) {
            let mut ws = Workspace::new();
            let mut res = vec![];
            let ca = map.choose_args_for(0);
            for x in minx..=maxx {
                let real_x = match pool { Some(p) => librados::hash::crush_hash32_2(x, p), None => x };
                map.do_rule(rule, real_x, nrep, &weights, ca, &mut ws, &mut res);
                let s: Vec<String> = res.iter().map(|v| v.to_string()).collect();
                got.push_str(&format!("CRUSH rule {} x {} [{}]\n", rule, x, s.join(",")));
            }
        }
        total += 1;
        if got != expected {
            fails += 1;
            let first = got.lines().zip(expected.lines()).find(|(a, b)| a != b);
            println!("FAIL {out}: {:?}", first);
        }
    }
    println!("{fails}/{total} failed");
    assert_eq!(fails, 0);
}

#[test]
fn scratch_roundtrip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/crush");
    for e in fs::read_dir(dir.join("maps")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().unwrap() != "bin" { continue; }
        let b = fs::read(&p).unwrap();
        let m = binary::decode(&b).unwrap();
        assert!(binary::encode(&m) == b, "{}", p.display());
    }
}

#[test]
fn scratch_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors/crush");
    let mut fails = 0;
    for e in fs::read_dir(dir.join("maps")).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_str().unwrap().to_string();
        if !n.ends_with(".txt") || n.ends_with(".decompiled.txt") { continue; }
        let stem = n.trim_end_matches(".txt");
        let text = fs::read_to_string(&p).unwrap();
        let m = match librados::crush::compile(&text) { Ok(m) => m, Err(e) => { println!("{n}: compile error {e}"); fails += 1; continue; } };
        let want_bin = fs::read(dir.join(format!("maps/{stem}.bin"))).unwrap();
        let got_bin = binary::encode(&m);
        if got_bin != want_bin {
            let at = got_bin.iter().zip(&want_bin).position(|(a, b)| a != b);
            println!("{n}: binary differs at {:?} (len {} vs {})", at, got_bin.len(), want_bin.len()); fails += 1;
        }
        let want = fs::read_to_string(dir.join(format!("maps/{stem}.decompiled.txt"))).unwrap();
        let got = librados::crush::decompile(&m);
        if got != want {
            let first = got.lines().zip(want.lines()).enumerate().find(|(_, (a, b))| a != b);
            println!("{n}: decompile differs {:?}", first); fails += 1;
        }
        let from_bin = librados::crush::decompile(&binary::decode(&want_bin).unwrap());
        if from_bin != want { println!("{n}: decompile of bin differs"); fails += 1; }
    }
    assert_eq!(fails, 0);
}
