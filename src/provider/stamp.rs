//! When the bytes of a streamed answer reached the machine, as the kernel stamped them.
//!
//! A stream's times (TTFT, each token's arrival, the end) are worth what their stamps are. A
//! stamp taken when a task gets to a chunk is late by however long the chunk waited for the
//! request's task to be polled and read the socket. With
//! a thousand streams on two cores that wait is milliseconds at the tail. So connections to
//! plain-HTTP endpoints that stream ask the kernel for receive timestamps (`SO_TIMESTAMPNS`,
//! Linux): each read of the socket comes with the time the kernel took in its last packet, the
//! time a packet capture would show. The connection ([`super::wire::Wire`]) keeps the latest
//! one in a [`RxClock`], which the answer's body hands on, and the stream takes the clock's
//! time for a chunk (never later than when it got the chunk).
//!
//! A chunk is stamped with the connection's latest read: when a second read came in before the
//! stream got to the first one's chunk, the first chunk's stamp is the second read's, which is
//! still no later than the time it was taken. Packets that wait in the socket are merged by the
//! kernel, which keeps the newest one's stamp: when the client fell behind by more than the
//! gap between two tokens, the earlier token is stamped when the later one came. (A peek at the
//! first byte before the read gets the same merged stamp, so it is not made.) Where the kernel
//! gives no stamp (another system, a socket that refused the option), chunks are stamped when
//! they are taken, as before.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime};

use hyper::Uri;
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::net::TcpStream;
use tower::Service;

/// The latest time a connection's socket was read, from the kernel's stamp.
#[derive(Debug, Clone, Default)]
pub struct RxClock(Arc<AtomicU64>);

/// A kernel stamp older than this is taken for a clock that jumped, not for a slow task.
const OLDEST: Duration = Duration::from_secs(60);

/// What [`RxClock`]'s nanoseconds count from: early enough for the oldest stamp taken.
static EPOCH: LazyLock<Instant> = LazyLock::new(|| {
    let now = Instant::now();
    now.checked_sub(OLDEST).unwrap_or(now)
});

impl RxClock {
    fn note(&self, at: Instant) {
        let nanos = at.saturating_duration_since(*EPOCH).as_nanos();
        // Zero means "no read yet".
        self.0
            .store(u64::try_from(nanos).unwrap_or(u64::MAX).max(1), Ordering::Relaxed);
    }

    /// When the latest read's bytes arrived, if the kernel said.
    pub fn latest(&self) -> Option<Instant> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(*EPOCH + Duration::from_nanos(nanos)),
        }
    }

    /// When a chunk taken `now` arrived: the latest read's stamp, no later than `now`.
    pub fn arrival(clock: Option<&RxClock>, now: Instant) -> Instant {
        clock.and_then(RxClock::latest).map_or(now, |at| at.min(now))
    }
}

/// Connects as hyper's `HttpConnector` does; with `stamp`, every connection asks the kernel
/// for receive timestamps.
#[derive(Clone)]
pub struct Connector {
    http: HttpConnector,
    stamp: bool,
}

impl Connector {
    pub fn new(http: HttpConnector, stamp: bool) -> Connector {
        Connector { http, stamp }
    }

    /// A plain socket to `uri`, connected as hyper's `HttpConnector` does, and the clock of
    /// its reads when it stamps them (see [`receive`]).
    pub async fn tcp(&self, uri: Uri) -> Result<(TcpStream, Option<RxClock>), <HttpConnector as Service<Uri>>::Error> {
        let tcp = self.http.clone().call(uri).await?.into_inner();
        let clock = (self.stamp && kernel::enable(&tcp)).then(RxClock::default);
        Ok((tcp, clock))
    }
}

/// Reads what `tcp` holds onto the end of `out`, noting the kernel's stamp of it on `clock`:
/// the bytes read (0 at the connection's end). For `TcpStream::async_io`, which waits until the
/// socket is readable and calls this again on `WouldBlock`.
pub fn receive(tcp: &TcpStream, out: &mut Vec<u8>, clock: &RxClock) -> io::Result<usize> {
    let (read, stamp) = kernel::receive_into(tcp, out)?;
    if let Some(at) = stamp.and_then(since) {
        clock.note(at);
    }
    Ok(read)
}

/// The `Instant` of a kernel stamp (wall-clock time), from how long ago it was.
fn since(stamp: SystemTime) -> Option<Instant> {
    let age = SystemTime::now().duration_since(stamp).unwrap_or(Duration::ZERO);
    (age < OLDEST).then(|| Instant::now().checked_sub(age)).flatten()
}

#[cfg(target_os = "linux")]
mod kernel {
    use std::cell::RefCell;
    use std::io::{self, IoSliceMut};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
    use tokio::net::TcpStream;

    /// The most one read takes.
    const READ: usize = 64 * 1024;

    thread_local! {
        /// Where a read lands before it is copied onto the connection's buffer (whose spare
        /// room is uninitialised memory, which a safe `recvmsg` cannot be given): one per
        /// thread.
        static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ]);
    }

    /// Asks the kernel to stamp what `tcp` receives; whether it will.
    pub fn enable(tcp: &TcpStream) -> bool {
        setsockopt(tcp, sockopt::ReceiveTimestampns, &true).is_ok()
    }

    /// Reads what is there onto the end of `out`: the bytes read, with the kernel's stamp.
    pub fn receive_into(tcp: &TcpStream, out: &mut Vec<u8>) -> io::Result<(usize, Option<SystemTime>)> {
        let mut read_bytes = 0;
        let stamp = read(tcp, READ, |bytes| {
            read_bytes = bytes.len();
            out.extend_from_slice(bytes);
        })?;
        Ok((read_bytes, stamp))
    }

    /// One `recvmsg` of at most `wanted` bytes into this thread's scratch buffer; `take` gets
    /// the bytes read.
    fn read(tcp: &TcpStream, wanted: usize, take: impl FnOnce(&[u8])) -> io::Result<Option<SystemTime>> {
        SCRATCH.with_borrow_mut(|scratch| {
            let wanted = wanted.min(scratch.len());
            let mut control = [0u8; 64];
            let (read, stamp) = {
                let mut iov = [IoSliceMut::new(&mut scratch[..wanted])];
                let message = recvmsg::<()>(tcp.as_raw_fd(), &mut iov, Some(&mut control), MsgFlags::empty())
                    .map_err(io::Error::from)?;
                let mut stamp = None;
                for cmsg in message.cmsgs().map_err(io::Error::from)? {
                    if let ControlMessageOwned::ScmTimestampns(at) = cmsg {
                        let (secs, nanos) = (u64::try_from(at.tv_sec()), u32::try_from(at.tv_nsec()));
                        if let (Ok(secs), Ok(nanos)) = (secs, nanos) {
                            stamp = Some(UNIX_EPOCH + Duration::new(secs, nanos));
                        }
                    }
                }
                (message.bytes, stamp)
            };
            take(&scratch[..read]);
            Ok(stamp)
        })
    }
}

#[cfg(not(target_os = "linux"))]
mod kernel {
    use std::io;
    use std::time::SystemTime;

    use tokio::net::TcpStream;

    /// Receive timestamps are asked for on Linux only.
    pub fn enable(_: &TcpStream) -> bool {
        false
    }

    pub fn receive_into(_: &TcpStream, _: &mut Vec<u8>) -> io::Result<(usize, Option<SystemTime>)> {
        Err(io::ErrorKind::Unsupported.into())
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::time::{Duration, Instant};

    use super::RxClock;
    use crate::provider::stream::StreamSettings;
    use crate::provider::{Client, Endpoint};

    #[test]
    fn a_chunk_is_stamped_with_the_latest_read_never_after_it_was_taken() {
        let now = Instant::now();
        assert_eq!(RxClock::arrival(None, now), now);
        let clock = RxClock::default();
        assert_eq!(RxClock::arrival(Some(&clock), now), now, "no read yet");
        let read = now - Duration::from_millis(30);
        clock.note(read);
        assert_eq!(clock.latest(), Some(read));
        assert_eq!(RxClock::arrival(Some(&clock), now), read);
        assert_eq!(
            RxClock::arrival(Some(&clock), read - Duration::from_millis(1)),
            read - Duration::from_millis(1)
        );
    }

    /// One HTTP/1.1 chunk of the body.
    fn chunk(text: &str) -> String {
        format!("{:x}\r\n{text}\r\n", text.len())
    }

    /// The client's only thread is kept busy for 250 ms while the first token arrives (50 ms
    /// after the request): the stream's TTFT is still about 50 ms, because the kernel stamped
    /// the bytes when they came. Stamped when the task got to them, it would be over 250 ms.
    #[test]
    fn a_streamed_token_is_timed_when_its_bytes_arrived_not_when_a_busy_client_read_them() {
        const EVENT: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#;
        const LAST: &str = r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (asked, asked_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&request).contains("Say hi") {
                let n = socket.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            asked.send(()).unwrap();
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
            socket.write_all(head.as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            socket
                .write_all(chunk(&format!("data: {EVENT}\n\n")).as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(300));
            let end = format!("data: {LAST}\n\ndata: [DONE]\n\n");
            socket
                .write_all(format!("{}0\r\n\r\n", chunk(&end)).as_bytes())
                .unwrap();
            // Keep the connection open until the client is done with it.
            let _ = socket.read(&mut buf);
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let reply = runtime.block_on(async move {
            let settings = StreamSettings {
                idle_timeout: Duration::from_secs(5),
            };
            let client = Client::new(1).unwrap().streaming(settings);
            let endpoint = Endpoint::new("test", format!("http://{addr}/v1"), None);
            let body = br#"{"model":"m","messages":[{"role":"user","content":"Say hi"}]}"#;
            let sending = tokio::spawn(async move {
                client
                    .chat(&endpoint, body.to_vec().into(), Duration::from_secs(10))
                    .await
            });
            while asked_rx.try_recv().is_err() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            std::thread::sleep(Duration::from_millis(250));
            sending.await.unwrap()
        });
        let reply = reply.unwrap();
        let ttft = reply.ttft.unwrap();
        assert!(ttft < Duration::from_millis(200), "TTFT {ttft:?}");
        assert!(
            reply.latency >= Duration::from_millis(300),
            "latency {:?}",
            reply.latency
        );
        drop(runtime);
        server.join().unwrap();
    }
}
