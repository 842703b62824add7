use serde_json::json;

use super::*;

#[test]
fn every_endpoint_has_its_batch_url_and_path_and_reads_back_from_them() {
    for api in ApiEndpoint::ALL {
        assert_eq!(ApiEndpoint::from_batch_url(api.batch_url()), Some(api));
        assert_eq!(ApiEndpoint::from_batch_url(api.path()), Some(api));
        assert_eq!(format!("/v1{}", api.path()), api.batch_url());
        assert_eq!(api.name().parse::<ApiEndpoint>(), Ok(api));
        assert_eq!(api.batch_url().parse::<ApiEndpoint>(), Ok(api));
    }
    assert_eq!("chat/completions".parse::<ApiEndpoint>(), Ok(ApiEndpoint::Chat));
    assert_eq!(ApiEndpoint::from_batch_url("/v1/images/generations"), None);
    let error = "embedding".parse::<ApiEndpoint>().unwrap_err();
    assert!(
        error.contains("\"embedding\"") && error.contains("embeddings"),
        "{error}"
    );
}

#[test]
fn only_generating_endpoints_stream_and_bill_output() {
    let streamed: Vec<ApiEndpoint> = ApiEndpoint::ALL.into_iter().filter(|a| a.streams()).collect();
    assert_eq!(
        streamed,
        [ApiEndpoint::Chat, ApiEndpoint::Completions, ApiEndpoint::Responses]
    );
}

#[test]
fn a_target_model_fits_the_endpoints_of_its_kind() {
    assert!(ApiEndpoint::Embeddings.fits_model("text-embedding-3-small"));
    assert!(!ApiEndpoint::Embeddings.fits_model("gpt-4.1-mini"));
    assert!(ApiEndpoint::Moderations.fits_model("omni-moderation-latest"));
    assert!(!ApiEndpoint::Chat.fits_model("text-embedding-3-small"));
    assert!(ApiEndpoint::Responses.fits_model("gpt-4.1-mini"));
    assert!(ApiEndpoint::Completions.fits_model("gpt-3.5-turbo-instruct"));
    assert!(ApiEndpoint::Embeddings.fits_model("Cohere-EMBED-v3"), "any case");
    assert!(!ApiEndpoint::Chat.fits_model("Omni-Moderation-Latest"), "any case");
    assert!(!ApiEndpoint::Embeddings.fits_model("emb"), "shorter than the name");
}

#[test]
fn the_model_sent_is_the_targets_where_it_fits_else_the_lines() {
    let chat_target = Some("gpt-4.1-mini");
    let line = Some("text-embedding-3-small");
    assert_eq!(ApiEndpoint::Embeddings.model_for(chat_target, line, None), line);
    assert_eq!(
        ApiEndpoint::Chat.model_for(chat_target, Some("gpt-4.1"), None),
        chat_target
    );
    let embedding_target = Some("text-embedding-3-large");
    assert_eq!(
        ApiEndpoint::Embeddings.model_for(embedding_target, line, None),
        embedding_target
    );
    assert_eq!(
        ApiEndpoint::Chat.model_for(embedding_target, Some("gpt-4.1"), None),
        Some("gpt-4.1")
    );
    assert_eq!(
        ApiEndpoint::Moderations.model_for(chat_target, None, None),
        Some(DEFAULT_MODERATION_MODEL)
    );
    assert_eq!(ApiEndpoint::Embeddings.model_for(chat_target, None, None), chat_target);
    assert_eq!(ApiEndpoint::Embeddings.model_for(None, None, Some("d")), Some("d"));
}

#[test]
fn bodies_are_checked_for_the_field_their_endpoint_takes() {
    let body = |v: Value| v.as_object().cloned().unwrap();
    assert_eq!(
        ApiEndpoint::Embeddings.check_body(&body(json!({"input": ["a", "b"]}))),
        Ok(())
    );
    assert_eq!(
        ApiEndpoint::Embeddings.check_body(&body(json!({"input": [[1, 2], [3]]}))),
        Ok(())
    );
    assert!(ApiEndpoint::Embeddings
        .check_body(&body(json!({"input": ""})))
        .unwrap_err()
        .contains("empty"));
    assert!(ApiEndpoint::Moderations
        .check_body(&body(json!({"prompt": "x"})))
        .unwrap_err()
        .contains("/v1/moderations"));
    assert!(ApiEndpoint::Responses
        .check_body(&body(json!({"input": 5})))
        .unwrap_err()
        .contains("not a string"));
    assert_eq!(
        ApiEndpoint::Completions.check_body(&body(json!({"prompt": "x"}))),
        Ok(())
    );
    assert!(ApiEndpoint::Completions
        .check_body(&body(json!({"messages": []})))
        .unwrap_err()
        .contains("\"prompt\""));
    assert!(ApiEndpoint::Chat
        .check_body(&body(json!({"messages": [{"content": "x"}]})))
        .unwrap_err()
        .contains("role"));
    assert!(ApiEndpoint::Embeddings
        .check_body(&body(json!({"input": "x", "model": 3})))
        .unwrap_err()
        .contains("model"));
}

#[test]
fn usage_is_read_in_each_endpoints_shape() {
    let embeddings = json!({"usage": {"prompt_tokens": 12, "total_tokens": 12}});
    let usage = ApiEndpoint::Embeddings.parse_usage(&embeddings).unwrap();
    assert_eq!((usage.input_tokens, usage.output_tokens), (12, 0));
    let moderation = json!({"usage": {"input_tokens": 7}});
    assert_eq!(
        ApiEndpoint::Moderations.parse_usage(&moderation).unwrap().input_tokens,
        7
    );
    assert_eq!(ApiEndpoint::Moderations.parse_usage(&json!({"results": []})), None);
    let responses = json!({"usage": {"input_tokens": 100,
                                     "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 50},
                                     "output_tokens": 9, "output_tokens_details": {"reasoning_tokens": 0}}});
    let usage = ApiEndpoint::Responses.parse_usage(&responses).unwrap();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.cache_write_tokens,
            usage.output_tokens
        ),
        (100, 40, 50, 9)
    );
    let chat = json!({"usage": {"prompt_tokens": 5, "completion_tokens": 3}});
    assert_eq!(ApiEndpoint::Completions.parse_usage(&chat).unwrap().output_tokens, 3);
}

#[test]
fn prompt_tokens_count_the_text_each_endpoint_sends() {
    let e = Encoding::O200kBase;
    // "hello world" is 2 tokens; chat adds the message framing (3 + role + 3).
    assert_eq!(
        ApiEndpoint::Embeddings.prompt_tokens(e, &json!({"input": "hello world"})),
        2
    );
    assert_eq!(
        ApiEndpoint::Embeddings.prompt_tokens(e, &json!({"input": ["hello world", "hello world"]})),
        4
    );
    assert_eq!(
        ApiEndpoint::Embeddings.prompt_tokens(e, &json!({"input": [1, 2, 3]})),
        3
    );
    assert_eq!(
        ApiEndpoint::Embeddings.prompt_tokens(e, &json!({"input": [[1, 2], [3]]})),
        3
    );
    assert_eq!(
        ApiEndpoint::Completions.prompt_tokens(e, &json!({"prompt": "hello world"})),
        2
    );
    assert_eq!(
        ApiEndpoint::Moderations.prompt_tokens(
            e,
            &json!({"input": [{"type": "text", "text": "hello world"}, {"type": "image_url"}]})
        ),
        2
    );
    assert_eq!(
        ApiEndpoint::Responses.prompt_tokens(e, &json!({"input": "hello world", "instructions": "hello world"})),
        4
    );
    let messages = json!([{"role": "user", "content": "hello world"}]);
    assert_eq!(
        ApiEndpoint::Responses.prompt_tokens(e, &json!({ "input": messages })),
        ApiEndpoint::Chat.prompt_tokens(e, &json!({ "messages": messages }))
    );
    assert_eq!(ApiEndpoint::Embeddings.prompt_tokens(e, &json!({})), 0);
}
