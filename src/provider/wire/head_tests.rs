use proptest::prelude::*;

use super::*;

fn head(text: &str) -> Head {
    match parse(text.as_bytes()) {
        Ok(Some(head)) => head,
        other => panic!("{text:?}: {other:?}"),
    }
}

fn refused(text: &str) -> String {
    match parse(text.as_bytes()) {
        Err(e) => e.to_string(),
        other => panic!("{text:?} was taken: {other:?}"),
    }
}

#[test]
fn a_head_gives_its_status_headers_length_and_where_the_body_starts() {
    let text =
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-request-id: req-1\r\nset-cookie: a\r\nset-cookie: b\r\n\r\n{}";
    let parsed = head(text);
    assert_eq!(parsed.status, 200);
    assert_eq!(parsed.framing, Framing::Length(2));
    assert!(parsed.keep_alive);
    assert_eq!(&text[parsed.len..], "{}");
    assert_eq!(parsed.headers["x-request-id"], "req-1");
    assert_eq!(parsed.headers.get_all("set-cookie").iter().count(), 2);
}

#[test]
fn an_incomplete_head_waits_for_more_and_an_endless_one_is_refused() {
    assert!(parse(b"HTTP/1.1 200 OK\r\ncontent-le").unwrap().is_none());
    assert!(parse(b"").unwrap().is_none());
    let endless = format!("HTTP/1.1 200 OK\r\nx-a: {}", "a".repeat(MAX_HEAD));
    assert!(refused(&endless).contains("longer than"));
    let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
    assert!(refused(&format!("HTTP/1.1 200 OK\r\n{many}\r\n")).contains("not HTTP/1"));
    assert!(refused("SSH-2.0-OpenSSH_9.2\r\n\r\n").contains("not HTTP/1"));
}

#[test]
fn the_body_is_framed_by_chunks_length_or_close_as_rfc_9112_says() {
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n").framing,
        Framing::Chunked
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").framing,
        Framing::Chunked
    );
    let not_chunked = head("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n");
    assert_eq!(not_chunked.framing, Framing::Close);
    assert!(!not_chunked.keep_alive);
    let neither = head("HTTP/1.1 200 OK\r\n\r\n");
    assert_eq!(neither.framing, Framing::Close);
    assert!(!neither.keep_alive);
    for status in ["204 No Content", "304 Not Modified"] {
        let parsed = head(&format!("HTTP/1.1 {status}\r\ncontent-length: 10\r\n\r\n"));
        assert_eq!(parsed.framing, Framing::Length(0), "{status}");
        assert!(parsed.keep_alive);
    }
    let both = head("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n");
    assert_eq!(both.framing, Framing::Chunked, "chunks win over a length");
    assert!(!both.keep_alive, "and the connection is not used again");
}

#[test]
fn a_content_length_must_be_one_number() {
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-length: 7, 7\r\n\r\n").framing,
        Framing::Length(7)
    );
    assert_eq!(
        head("HTTP/1.1 200 OK\r\ncontent-length: 7\r\nContent-Length: 7\r\n\r\n").framing,
        Framing::Length(7)
    );
    for bad in ["-1", "7, 8", "0x10", "", "1 2", "99999999999999999999999"] {
        let text = format!("HTTP/1.1 200 OK\r\ncontent-length: {bad}\r\n\r\n");
        assert!(refused(&text).contains("Content-Length"), "{bad:?}");
    }
    let two = refused("HTTP/1.1 200 OK\r\ncontent-length: 7\r\ncontent-length: 8\r\n\r\n");
    assert!(two.contains("two different"), "{two}");
}

#[test]
fn the_connection_is_kept_unless_the_answer_closes_it() {
    assert!(!head("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").keep_alive);
    assert!(!head("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\ncontent-length: 0\r\n\r\n").keep_alive);
    assert!(!head("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
    assert!(head("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n").keep_alive);
    assert!(head("HTTP/1.1 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n").keep_alive);
}

#[test]
fn informational_answers_are_marked_to_be_skipped() {
    assert!(head("HTTP/1.1 100 Continue\r\n\r\n").informational());
    assert!(head("HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n").informational());
    assert!(!head("HTTP/1.1 101 Switching Protocols\r\n\r\n").informational());
    assert!(!head("HTTP/1.1 429 Too Many Requests\r\ncontent-length: 0\r\n\r\n").informational());
}

fn decode_whole(body: &[u8]) -> std::io::Result<(Vec<u8>, usize, bool)> {
    let mut chunked = Chunked::default();
    let mut out = Vec::new();
    let taken = chunked.decode(body, &mut out)?;
    Ok((out, taken, chunked.done()))
}

#[test]
fn chunks_are_joined_with_extensions_and_trailers_skipped() {
    let body = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\nx-trailer: 1\r\n\r\nNEXT";
    let (out, taken, done) = decode_whole(body).unwrap();
    assert_eq!(out, b"hello, world");
    assert!(done);
    assert_eq!(&body[taken..], b"NEXT", "the bytes after the body are not taken");
    let (out, _, done) = decode_whole(b"A\r\n0123456789\r\n0\r\n\r\n").unwrap();
    assert_eq!((out.len(), done), (10, true), "sizes are hexadecimal, either case");
    let (out, taken, done) = decode_whole(b"5\r\nhel").unwrap();
    assert_eq!((out.as_slice(), taken, done), (&b"hel"[..], 6, false));
}

#[test]
fn broken_chunks_are_errors() {
    for bad in [
        &b"zz\r\n"[..],
        b"\r\n",
        b"5\nhello\r\n",
        b"3\r\nhello\r\n",
        b"3\r\nhey\n0\r\n\r\n",
        b"ffffffffffffffffff\r\n",
        b"0\r\nx: 1\n",
    ] {
        assert!(decode_whole(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
    }
    let mut endless = b"1;".to_vec();
    endless.extend(std::iter::repeat_n(b'x', MAX_CHUNK_OVERHEAD + 1));
    assert!(decode_whole(&endless).unwrap_err().to_string().contains("too long"));
}

proptest! {
    /// However the bytes arrive, the decoded body is the same.
    #[test]
    fn chunks_decode_the_same_whatever_the_reads(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..8),
        cuts in proptest::collection::vec(0usize..400, 0..10),
    ) {
        let mut body = Vec::new();
        let mut expected = Vec::new();
        for piece in pieces.iter().filter(|p| !p.is_empty()) {
            body.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            body.extend_from_slice(piece);
            body.extend_from_slice(b"\r\n");
            expected.extend_from_slice(piece);
        }
        body.extend_from_slice(b"0\r\n\r\n");
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(body.len())).collect();
        cuts.push(body.len());
        cuts.sort_unstable();
        let mut chunked = Chunked::default();
        let mut out = Vec::new();
        let mut from = 0;
        for cut in cuts {
            let taken = chunked.decode(&body[from..cut], &mut out).unwrap();
            prop_assert_eq!(taken, cut - from);
            from = cut;
        }
        prop_assert!(chunked.done());
        prop_assert_eq!(out, expected);
    }
}
