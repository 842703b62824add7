use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use super::*;
use crate::provider::pool::MAX_IDLE_TIME;
use crate::provider::stamp::Connector;

/// What a test server does with each request on a connection: writes `pieces` one by one
/// (each after a short pause, so that they arrive in reads of their own), then closes the
/// connection when `close`.
#[derive(Clone)]
struct Answer {
    pieces: Vec<&'static [u8]>,
    close: bool,
}

fn answer(pieces: &[&'static [u8]]) -> Answer {
    Answer {
        pieces: pieces.to_vec(),
        close: false,
    }
}

fn closing(pieces: &[&'static [u8]]) -> Answer {
    Answer {
        close: true,
        ..answer(pieces)
    }
}

/// A server on loopback answering each connection's n-th request with `answers[n]` (the last
/// one again after that); the count of connections it accepted and the requests it read.
async fn server(answers: Vec<Answer>) -> (hyper::Uri, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri: hyper::Uri = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (counted, seen) = (accepted.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let answers = answers.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                for n in 0.. {
                    let Some(request) = read_request(&mut socket, &mut buffer).await else {
                        return;
                    };
                    seen.lock().unwrap().push(request);
                    let answer = &answers[n.min(answers.len() - 1)];
                    for piece in &answer.pieces {
                        if socket.write_all(piece).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                    if answer.close {
                        return;
                    }
                }
            });
        }
    });
    (uri, accepted, requests)
}

/// One request (head and `content-length` body) from `socket`; `None` at its end.
async fn read_request(socket: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(buffer.drain(..end + 4 + length).collect());
            }
        }
        let mut chunk = [0u8; 4096];
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn pool() -> Pool<Wire> {
    Pool::new(Connector::new(HttpConnector::new(), false), 4, MAX_IDLE_TIME)
}

fn key(uri: &hyper::Uri) -> Arc<str> {
    format!("http://{}", uri.authority().unwrap()).into()
}

const HEAD: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n";

async fn send(pool: &Pool<Wire>, uri: &hyper::Uri, limit: &BodyLimit) -> Result<Reply, Broken> {
    exchange(pool, &key(uri), uri, HEAD, b"{}", limit).await
}

async fn body(pool: &Pool<Wire>, uri: &hyper::Uri) -> String {
    match send(pool, uri, &BodyLimit::default()).await {
        Ok(reply) => String::from_utf8(reply.bytes).unwrap(),
        Err(broken) => panic!("{broken:?}"),
    }
}

fn idle(pool: &Pool<Wire>) -> usize {
    pool.idle_count()
}

#[tokio::test]
async fn one_connection_carries_answers_of_every_framing_one_after_another() {
    let (uri, accepted, requests) = server(vec![
        answer(&[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]),
        answer(&[
            b"HTTP/1.1 200 OK\r\ncontent-len",
            b"gth: 11\r\nx-request-id: r2\r\n\r\nhel",
            b"lo world",
        ]),
        answer(&[
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc",
            b"\r\n2\r",
            b"\nde\r\n0\r\n\r\n",
        ]),
        answer(&[
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 4\r\n\r\nslow",
        ]),
    ])
    .await;
    let pool = pool();
    assert_eq!(body(&pool, &uri).await, "hello");
    let reply = send(&pool, &uri, &BodyLimit::default()).await.unwrap();
    assert_eq!(reply.bytes, b"hello world");
    assert_eq!(reply.headers["x-request-id"], "r2");
    assert_eq!(body(&pool, &uri).await, "abcde");
    let reply = send(&pool, &uri, &BodyLimit::default()).await.unwrap();
    assert_eq!((reply.status, reply.bytes.as_slice()), (429, &b"slow"[..]));
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let requests = requests.lock().unwrap();
    assert_eq!(requests.len(), 4);
    assert!(requests.iter().all(|r| r.as_slice() == [HEAD, b"{}"].concat()));
}

#[tokio::test]
async fn a_body_that_ends_with_the_connection_is_read_to_it_and_the_connection_not_kept() {
    let (uri, accepted, _) = server(vec![closing(&[b"HTTP/1.1 200 OK\r\n\r\npart one ", b"and two"])]).await;
    let pool = pool();
    assert_eq!(body(&pool, &uri).await, "part one and two");
    assert_eq!(idle(&pool), 0);
    assert_eq!(body(&pool, &uri).await, "part one and two");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connection_close_is_honoured_and_a_closed_idle_connection_replaced_without_an_error() {
    let (uri, accepted, requests) = server(vec![closing(&[
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
    ])])
    .await;
    let pool = pool();
    assert_eq!(body(&pool, &uri).await, "ok");
    assert_eq!(idle(&pool), 0, "connection: close");

    // A server that closes a kept connection while it is idle, without saying so.
    let (quiet, quiet_accepted, quiet_requests) =
        server(vec![closing(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"])]).await;
    for n in 1..=3 {
        assert_eq!(body(&pool, &quiet).await, "ok");
        assert_eq!(quiet_accepted.load(Ordering::SeqCst), n);
        // Until the client's runtime has seen the close (5 s at most): the next request must
        // not race the server's close, which no client can tell from a live connection.
        for _ in 0..500 {
            if pool.all_idle_closed() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(pool.all_idle_closed(), "the server's close was never seen");
    }
    assert_eq!(quiet_requests.lock().unwrap().len(), 3, "each request sent once");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    assert_eq!(requests.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn an_answer_cut_short_is_an_error_that_says_so_and_its_connection_is_dropped() {
    let cut: [(&[&'static [u8]], &str); 4] = [
        (&[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort"], "body"),
        (
            &[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab"],
            "body",
        ),
        (&[b"HTTP/1.1 200 OK\r\ncontent-"], "head"),
        (&[], "head"),
    ];
    for (pieces, what) in cut {
        let (uri, _, _) = server(vec![closing(pieces)]).await;
        let pool = pool();
        match send(&pool, &uri, &BodyLimit::default()).await {
            Err(Broken::Failure(Failure::Exchange(e))) => {
                assert!(e.to_string().contains(&format!("answer's {what} was complete")), "{e}")
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("a cut answer was taken"),
        }
        assert_eq!(idle(&pool), 0);
    }
}

#[tokio::test]
async fn an_answer_over_the_limit_is_refused_declared_or_as_it_grows() {
    let (uri, _, _) = server(vec![answer(&[b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n"])]).await;
    match send(&pool(), &uri, &BodyLimit::new(1024)).await {
        Err(Broken::Limit(RequestError::TooLarge {
            declared: true,
            seen: 5000,
            ..
        })) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("taken"),
    }
    static CHUNK: [u8; 1500] = [b'a'; 1500];
    let (uri, _, _) = server(vec![answer(&[
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5dc\r\n",
        &CHUNK,
        b"\r\n0\r\n\r\n",
    ])])
    .await;
    match send(&pool(), &uri, &BodyLimit::new(1024)).await {
        Err(Broken::Limit(RequestError::TooLarge { declared: false, .. })) => {}
        Err(other) => panic!("{other:?}"),
        Ok(_) => panic!("taken"),
    }
}

#[tokio::test]
async fn bytes_after_the_answer_keep_its_connection_from_being_used_again() {
    let (uri, accepted, _) = server(vec![answer(&[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA"])]).await;
    let pool = pool();
    assert_eq!(body(&pool, &uri).await, "ok");
    assert_eq!(body(&pool, &uri).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_large_request_body_is_written_whole() {
    let (uri, _, requests) = server(vec![answer(&[b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"])]).await;
    let body = vec![b'x'; 3 << 20];
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let reply = exchange(&pool(), &key(&uri), &uri, head.as_bytes(), &body, &BodyLimit::default())
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    let requests = requests.lock().unwrap();
    assert_eq!(requests[0].len(), head.len() + body.len());
}

#[tokio::test]
async fn a_port_without_a_server_is_a_connect_failure() {
    // Bound but not listening: refused, and no other test's server can take the port meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let uri: hyper::Uri = format!("http://{}/v1", socket.local_addr().unwrap()).parse().unwrap();
    let failure = send(&pool(), &uri, &BodyLimit::default()).await.err().unwrap();
    assert!(matches!(failure, Broken::Failure(Failure::Connect(_))), "{failure:?}");
    drop(socket);
}

#[tokio::test]
async fn an_answer_given_before_the_body_was_read_is_taken_when_the_write_fails() {
    // A gateway refusing a long prompt from its head alone, and closing.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri: hyper::Uri = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap())
        .parse()
        .unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let mut chunk = [0u8; 1024];
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        let refusal = b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo long";
        let _ = socket.write_all(refusal).await;
        // Closed with the body unread: the kernel resets the connection.
    });
    let body = vec![b'x'; 16 << 20];
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let reply = exchange(&pool(), &key(&uri), &uri, head.as_bytes(), &body, &BodyLimit::default())
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((reply.status, reply.bytes.as_slice()), (413, &b"too long"[..]));
}

/// A streamed body read to its end.
async fn read_to_end(body: &mut body::Body) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(piece) = body.next().await {
        bytes.extend_from_slice(&piece.unwrap_or_else(|e| panic!("{e}")));
    }
    bytes
}

#[tokio::test]
async fn a_streamed_body_comes_piece_by_piece_and_its_connection_is_used_again_at_its_end() {
    let (uri, accepted, _) = server(vec![
        answer(&[
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n",
            b"6\r\ndata: \r\n",
            b"3\r\none\r\n",
            b"3\r\ntwo\r\n0\r\n\r\n",
        ]),
        answer(&[b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nab", b"cd", b"ef"]),
    ])
    .await;
    let pool = pool();
    let key = key(&uri);
    let mut opened = open(&pool, &key, &uri, HEAD, b"{}")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((opened.status, opened.length), (200, None));
    let mut pieces = Vec::new();
    while let Some(piece) = opened.body.next().await {
        pieces.push(String::from_utf8(piece.unwrap().to_vec()).unwrap());
    }
    assert!(pieces.len() >= 3, "pieces as they came: {pieces:?}");
    assert_eq!(pieces.concat(), "data: onetwo");
    assert_eq!(idle(&pool), 1, "read to its end: kept");

    let mut opened = open(&pool, &key, &uri, HEAD, b"{}")
        .await
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(opened.length, Some(6));
    assert_eq!(read_to_end(&mut opened.body).await, b"abcdef");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_stream_cut_short_is_an_error_and_one_ended_by_the_close_is_whole() {
    let (uri, _, _) = server(vec![closing(&[
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab",
    ])])
    .await;
    let pool = pool();
    let mut opened = open(&pool, &key(&uri), &uri, HEAD, b"{}").await.unwrap();
    let mut error = None;
    while let Some(piece) = opened.body.next().await {
        if let Err(e) = piece {
            error = Some(e);
            break;
        }
    }
    let error = error.expect("a stream cut short must fail");
    assert!(error.to_string().contains("body was complete"), "{error}");

    let (uri, _, _) = server(vec![closing(&[b"HTTP/1.1 200 OK\r\n\r\ndata: a\n\n", b"data: b\n\n"])]).await;
    let mut opened = open(&pool, &key(&uri), &uri, HEAD, b"{}").await.unwrap();
    assert_eq!(read_to_end(&mut opened.body).await, b"data: a\n\ndata: b\n\n");
    assert_eq!(idle(&pool), 0);
}
