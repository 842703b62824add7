//! The counting pass: chunking, per-model and per-encoding tallies, size bands.

use super::*;

fn write(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn every_line_is_counted_once_whatever_the_chunking() {
    let mut text = String::new();
    for i in 0..5000 {
        if i % 1000 == 7 {
            text.push_str("not json\n\n");
        }
        text.push_str(&format!(
            "{{\"id\":\"i{i}\",\"prompt\":\"hello world number {i}\",\"max_tokens\":{}}}\n",
            i % 3
        ));
    }
    text.push_str("{\"id\":\"last\",\"prompt\":\"no newline at the end\"}");
    let file = write(&text);
    let plan = Plan::Every(vec![Encoding::O200kBase, Encoding::Cl100kBase]);
    let one = count(file.path(), &plan, &[], ApiEndpoint::Chat, 1).unwrap();
    let four = count(file.path(), &plan, &[], ApiEndpoint::Chat, 4).unwrap();
    assert_eq!(one, four);
    assert_eq!(one.lines, 5006);
    assert_eq!(one.all.items, 5001);
    assert_eq!(one.rejected, 5);
    assert_eq!(one.all.no_max_tokens, 1);
    assert_eq!(one.all.max_tokens, (0..5000u64).map(|i| i % 3).sum::<u64>());
    // The first invalid line is line 8 (0-based item 7), the next 1002 lines later.
    let lines: Vec<u64> = one.rejected_shown.iter().map(|r| r.line).collect();
    assert_eq!(lines, [8, 1010, 2012, 3014, 4016]);
    assert!(one.per_encoding[&Encoding::O200kBase].input_tokens > 5001 * 9);
    assert_eq!(one.per_encoding[&Encoding::O200kBase].items, 5001);
}

#[test]
fn as_written_counts_per_model_and_lines_without_one() {
    let file = write(
        "{\"id\":\"a\",\"model\":\"gpt-4.1\",\"prompt\":\"hello world\"}\n\
         {\"id\":\"b\",\"model\":\"deepseek-chat\",\"prompt\":\"hello world\",\"max_tokens\":50}\n\
         {\"id\":\"c\",\"prompt\":\"hello world\"}\n",
    );
    let tally = count(file.path(), &Plan::AsWritten, &[], ApiEndpoint::Chat, 2).unwrap();
    assert_eq!(tally.per_model.len(), 3);
    let gpt = &tally.per_model[&Some("gpt-4.1".to_string())];
    assert_eq!((gpt.items, gpt.input_tokens, gpt.no_max_tokens), (1, 9, 1));
    let deepseek = &tally.per_model[&Some("deepseek-chat".to_string())];
    assert_eq!((deepseek.items, deepseek.max_tokens), (1, 50));
    assert_eq!(tally.per_model[&None].items, 1);
}

#[test]
fn each_line_lands_in_the_band_of_its_own_prompt_size() {
    // "hello world" is 9 tokens as a chat prompt; each extra " hello world" adds 2.
    let prompt = |words: usize| " hello world".repeat(words);
    let file = write(&format!(
        "{{\"id\":\"a\",\"model\":\"gpt-4.1\",\"prompt\":\"hello world\",\"max_tokens\":5}}\n\
         {{\"id\":\"b\",\"model\":\"gpt-4.1\",\"prompt\":\"hello world{}\",\"max_tokens\":7}}\n\
         {{\"id\":\"c\",\"model\":\"gpt-4.1\",\"prompt\":\"hello world{}\"}}\n",
        prompt(1),
        prompt(10),
    ));
    // Unsorted and repeated thresholds are put in order.
    let thresholds = [20, 10, 20];
    let tally = count(file.path(), &Plan::AsWritten, &thresholds, ApiEndpoint::Chat, 2).unwrap();
    assert_eq!(tally.thresholds, [10, 20]);
    let gpt = &tally.per_model[&Some("gpt-4.1".to_string())];
    let bands: Vec<(u64, u64, u64)> = gpt
        .bands
        .iter()
        .map(|b| (b.items, b.input_tokens, b.max_tokens))
        .collect();
    // 9 tokens (up to 10), 11 (above 10, up to 20), 29 (above 20).
    assert_eq!(bands, [(1, 9, 5), (1, 11, 7), (1, 29, 0)]);
    assert_eq!(gpt.input_tokens, 49);
    assert!(tally.all.bands.is_empty(), "the overall tally is not split");

    let every = Plan::Every(vec![Encoding::O200kBase]);
    let tally = count(file.path(), &every, &thresholds, ApiEndpoint::Chat, 1).unwrap();
    let o200k = &tally.per_encoding[&Encoding::O200kBase];
    assert_eq!(o200k.bands.iter().map(|b| b.items).collect::<Vec<_>>(), [1, 1, 1]);
    assert_eq!((o200k.items, o200k.max_tokens, o200k.no_max_tokens), (3, 12, 1));
}

#[test]
fn embeddings_and_moderations_count_their_input_and_no_output() {
    let file = write(
        "{\"custom_id\":\"e\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"text-embedding-3-small\",\"input\":[\"hello world\",\"hello world\"]}}\n\
         {\"custom_id\":\"m\",\"url\":\"/v1/moderations\",\"body\":{\"input\":\"hello world\"}}\n\
         {\"id\":\"s\",\"input\":\"hello world\",\"model\":\"text-embedding-3-small\"}\n",
    );
    let tally = count(file.path(), &Plan::AsWritten, &[], ApiEndpoint::Embeddings, 1).unwrap();
    assert_eq!(
        (tally.all.items, tally.all.input_only, tally.all.no_max_tokens),
        (3, 3, 0)
    );
    let small = &tally.per_model[&Some("text-embedding-3-small".to_string())];
    // "hello world" is 2 tokens, with no chat framing.
    assert_eq!((small.items, small.input_tokens), (2, 6));
}

#[test]
fn a_missing_file_is_an_input_error() {
    let err = count(
        Path::new("/nonexistent/x.jsonl"),
        &Plan::AsWritten,
        &[],
        ApiEndpoint::Chat,
        1,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot open input file"), "{err}");
}
