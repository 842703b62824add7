use super::*;
use crate::input::parse_line;

struct NoEnv;

impl crate::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

#[test]
fn shard_is_written_index_slash_count_and_checked() {
    assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
    assert_eq!(" 0/1 ".parse::<Shard>().map(|s| s.to_string()), Ok("0/1".to_string()));
    let out_of_range = "4/4".parse::<Shard>().unwrap_err();
    assert!(out_of_range.contains("from 0 to 3"), "{out_of_range}");
    assert!("0/0".parse::<Shard>().unwrap_err().contains("between 1"));
    assert!("2".parse::<Shard>().unwrap_err().contains("INDEX/COUNT"));
    assert!("a/4".parse::<Shard>().unwrap_err().contains("index"));
}

#[test]
fn documented_hash_matches_python_reference_values() {
    // int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % n
    assert_eq!((shard_of("a1", 4), shard_of("a1", 7)), (0, 0));
    assert_eq!((shard_of("line-7", 4), shard_of("line-7", 7)), (3, 1));
    assert_eq!((shard_of("sum-002", 4), shard_of("sum-002", 7)), (1, 4));
    assert_eq!(shard_of("anything", 1), 0);
}

#[test]
fn index_comes_from_job_completion_index_with_shards() {
    let from_env = Some(ShardRequest::FromEnv { count: 3 });
    assert_eq!(resolve(from_env, Some("2")), Ok(Some(Shard { index: 2, count: 3 })));
    let (key, message) = resolve(from_env, None).unwrap_err();
    assert_eq!(key, "--shards");
    assert!(message.contains(INDEX_ENV), "{message}");
    let (key, message) = resolve(from_env, Some("3")).unwrap_err();
    assert_eq!(key, INDEX_ENV);
    assert!(message.contains("out of range"), "{message}");
    assert_eq!(resolve(from_env, Some("x")).unwrap_err().0, INDEX_ENV);
    // An explicit --shard wins over the variable; no request means no shard.
    let fixed = Some(ShardRequest::Fixed(Shard { index: 0, count: 2 }));
    assert_eq!(resolve(fixed, Some("1")), Ok(Some(Shard { index: 0, count: 2 })));
    assert_eq!(resolve(None, Some("1")), Ok(None));
}

/// The key the reader's own parser implies for a line.
fn reader_key(line: &str, n: u64) -> String {
    match parse_line(line.as_bytes(), n) {
        Ok(item) => item.id,
        Err(rejected) => rejected.id.unwrap_or_else(|| format!("line-{n}")),
    }
}

#[test]
fn shard_key_is_the_id_the_reader_gives_or_the_line_number() {
    let lines = [
        r#"{"id":"a1","prompt":"p"}"#,
        r#"{"prompt":"no id"}"#,
        r#"{"id":42,"prompt":"p"}"#,
        r#"{"id":1.5e3,"prompt":"p"}"#,
        r#"{"id":null,"prompt":"p"}"#,
        r#"{"id":"","prompt":"p"}"#,
        r#"{"id":true,"prompt":"p"}"#,
        r#"{"id":"x","id":"y","prompt":"repeated key"}"#,
        r#"{"custom_id":"b1","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"hi"}]}}"#,
        r#"{"custom_id":null,"id":"ignored-in-batch","body":{}}"#,
        r#"{"id":"short","url":"/v1/embeddings"}"#,
        r#"{"id":"no-messages"}"#,
        "\u{feff}{\"id\":\"bom\",\"prompt\":\"p\"}",
        "  {\"id\":\"spaces\",\"prompt\":\"p\"}  \r\n",
        "{not json",
        "[1,2]",
        "\"a string\"",
        r#"{"id":"trailing","prompt":"p"} x"#,
        r#"{"id":"esc\u00e9\n","prompt":"p"}"#,
    ];
    for (i, line) in lines.iter().enumerate() {
        let n = i as u64 + 1;
        assert_eq!(
            line_key(line.as_bytes(), n).as_str(),
            reader_key(line, n),
            "line {n}: {line}"
        );
    }
    assert_eq!(line_key(b"\xff\xfe", 9), LineKey::Line("line-9".into()));
}

#[test]
fn every_line_is_in_exactly_one_shard_and_the_split_is_even() {
    let count = 4;
    let mut sizes = [0u32; 4];
    for n in 1..=4000u64 {
        let line = format!("{{\"id\":\"item-{:05}\",\"prompt\":\"p\"}}", n * 2);
        let owners: Vec<u32> = (0..count)
            .filter(|&i| Shard { index: i, count }.owns_line(line.as_bytes(), n))
            .collect();
        assert_eq!(owners.len(), 1, "{line}");
        sizes[owners[0] as usize] += 1;
    }
    // Even ids that differ in one digit (a weak hash would put them all in one shard).
    assert!(sizes.iter().all(|&s| (850..=1150).contains(&s)), "{sizes:?}");
}

#[test]
fn count_lines_counts_the_shards_non_blank_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.jsonl");
    let mut text = String::new();
    for n in 0..100 {
        text.push_str(&format!("{{\"id\":\"k{n}\",\"prompt\":\"p\"}}\n\n"));
    }
    text.push_str("{broken\n");
    std::fs::write(&path, &text).unwrap();
    let total: u64 = (0..3)
        .map(|index| count_lines(&path, Shard { index, count: 3 }).unwrap())
        .sum();
    assert_eq!(total, 101);
}

#[test]
fn limits_are_divided_by_the_shard_count_rounded_down_never_to_zero() {
    let env = NoEnv;
    let job = r#"
[[providers]]
name = "p"
base_url = "mock"
rpm = 500
tpm = 90000
max_concurrency = 2

[[targets]]
name = "t"
provider = "p"
model = "m"
rpm = 3
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.toml");
    std::fs::write(&path, job).unwrap();
    let mut o = crate::config::Overrides {
        config: Some(path.clone()),
        rpm: Some(1000),
        shard: Some(ShardRequest::Fixed(Shard { index: 1, count: 4 })),
        ..Default::default()
    };
    let config = crate::config::Config::resolve(&o, &env).unwrap();
    assert_eq!(config.dispatch.rpm, Some(250));
    let p = &config.providers[0];
    assert_eq!((p.rpm, p.tpm, p.max_concurrency), (Some(125), Some(22500), Some(1)));
    assert_eq!(config.targets[0].rpm, Some(1));
    assert!(config.notices.iter().any(|n| n.contains("divided by 4")));
    assert_eq!(config.echo()["shard"], "1/4");

    o.shard_limits = Some(ShardLimits::Full);
    let full = crate::config::Config::resolve(&o, &env).unwrap();
    assert_eq!((full.dispatch.rpm, full.providers[0].rpm), (Some(1000), Some(500)));

    std::fs::write(&path, format!("{job}\n[run]\nshard_limits = \"half\"\n")).unwrap();
    o.shard_limits = None;
    let error = crate::config::Config::resolve(&o, &env).unwrap_err().to_string();
    assert!(
        error.contains("run.shard_limits") && error.contains("divide"),
        "{error}"
    );
}
