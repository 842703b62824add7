use super::*;

#[test]
fn shard_is_written_index_slash_count_and_checked() {
    assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
    assert_eq!(" 0/1 ".parse::<Shard>().map(|s| s.to_string()), Ok("0/1".to_string()));
    let out_of_range = "4/4".parse::<Shard>().unwrap_err().to_string();
    assert!(out_of_range.contains("from 0 to 3"), "{out_of_range}");
    assert!("0/0".parse::<Shard>().unwrap_err().to_string().contains("between 1"));
    assert!("2".parse::<Shard>().unwrap_err().to_string().contains("INDEX/COUNT"));
    assert!("a/4".parse::<Shard>().unwrap_err().to_string().contains("index"));
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
