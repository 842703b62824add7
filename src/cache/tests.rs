use super::*;

fn answer(text: &str) -> Cached {
    Cached {
        target: "t".into(),
        model: "m".into(),
        status: 200,
        request_id: Some("r1".into()),
        body: crate::record::raw_body(&serde_json::json!({"choices": [{"message": {"content": text}}]})),
        usage: Usage {
            input_tokens: 3,
            cached_input_tokens: 0,
            cache_write_tokens: 0,
            output_tokens: 2,
        },
    }
}

/// An answer as the cache stores it, to compare two.
fn json(answer: &Cached) -> String {
    serde_json::to_string(answer).unwrap()
}

#[tokio::test]
async fn an_answer_is_served_to_waiters_then_from_disk_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.redb");
    let (k1, k2) = ([1u8; 32], [2u8; 32]);
    {
        let cache = ResponseCache::open(&path).unwrap();
        let Lookup::Lead(lead) = cache.lookup(&[k1]) else {
            panic!("first lookup leads")
        };
        let Lookup::Wait(mut waiting) = cache.lookup(&[k1]) else {
            panic!("identical request waits")
        };
        cache.finish(lead, Some((k1, answer("hello"))));
        waiting.changed().await.unwrap();
        assert_eq!(waiting.borrow().as_deref().map(json), Some(json(&answer("hello"))));
        assert!(
            matches!(cache.lookup(&[k1]), Lookup::Hit(_)),
            "answered, not yet committed"
        );
        cache.close().unwrap();
    }
    let cache = ResponseCache::open(&path).unwrap();
    match cache.lookup(&[k2, k1]) {
        Lookup::Hit(hit) => assert_eq!(json(&hit), json(&answer("hello"))),
        _ => panic!("the answer survived reopening"),
    }
    assert!(matches!(cache.lookup(&[k2]), Lookup::Lead(_)));
}

#[tokio::test]
async fn a_failed_or_dropped_lead_lets_the_next_request_lead() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ResponseCache::open(&dir.path().join("c.redb")).unwrap();
    let k = [7u8; 32];
    let Lookup::Lead(lead) = cache.lookup(&[k]) else {
        panic!("leads")
    };
    let Lookup::Wait(mut waiting) = cache.lookup(&[k]) else {
        panic!("waits")
    };
    cache.finish(lead, None);
    assert!(waiting.changed().await.is_err(), "the waiter learns the lead failed");
    let Lookup::Lead(lead) = cache.lookup(&[k]) else {
        panic!("leads again")
    };
    drop(lead);
    assert!(
        matches!(cache.lookup(&[k]), Lookup::Lead(_)),
        "a dropped lead frees the key"
    );
}
