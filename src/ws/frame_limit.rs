//! Bounds the bytes a socket can make the node hold for one frame (SPEC §7). actix-ws buffers a
//! frame until it is whole and only then compares its declared length with the limit, so
//! `FrameLimit` reads each frame header as the bytes pass by: a frame declaring more than the
//! limit has its length rewritten to one the parser refuses at once (`ProtocolError::Overflow`,
//! closed with 1009), and nothing after it is passed on. Other bytes pass through unchanged;
//! only a header cut between two reads is held back (at most 14 bytes). Why: docs/ws-frame-limit.md.

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{web, FromRequest, HttpRequest};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// The longest frame header: 2 bytes, a 64-bit extended length, a mask key.
const MAX_HEADER: usize = 14;

/// The request payload of a WebSocket, with frames over `max` bytes refused at their header.
pub async fn limit_frames(req: &HttpRequest, body: web::Payload, max: usize) -> Result<web::Payload, actix_web::Error> {
    let limited: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> = Box::pin(FrameLimit::new(body, max as u64));
    let mut limited = Payload::Stream { payload: limited };
    web::Payload::from_request(req, &mut limited).await
}

pub struct FrameLimit<S> {
    inner: S,
    max: u64,
    /// Payload bytes of the current frame still to pass; `None`: a header comes next.
    payload_left: Option<u64>,
    /// The start of a header cut at the end of the last read.
    held: BytesMut,
    /// An oversized frame was refused: the stream has ended.
    done: bool,
}

impl<S> FrameLimit<S> {
    pub fn new(inner: S, max: u64) -> Self {
        FrameLimit { inner, max, payload_left: None, held: BytesMut::new(), done: false }
    }

    /// Scans `data` from the frame boundary state. Returns how many bytes may pass, and whether
    /// an oversized header starts there (the bytes before it pass; it is replaced).
    fn scan(&mut self, data: &[u8]) -> (usize, bool) {
        let mut at = 0;
        loop {
            if let Some(left) = self.payload_left {
                let take = left.min((data.len() - at) as u64);
                at += take as usize;
                if take == left {
                    self.payload_left = None;
                } else {
                    self.payload_left = Some(left - take);
                    return (at, false);
                }
            }
            match header(&data[at..]) {
                None => return (at, false),
                Some((_, declared)) if declared > self.max => return (at, true),
                Some((len, declared)) => {
                    at += len;
                    self.payload_left = Some(declared);
                }
            }
        }
    }
}

/// A complete frame header at the start of `data`: its length and the payload length it
/// declares (RFC 6455 §5.2). `None` while it is incomplete.
fn header(data: &[u8]) -> Option<(usize, u64)> {
    let second = *data.get(1)?;
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let (extended, declared) = match second & 0x7f {
        126 => (2, u64::from(u16::from_be_bytes(data.get(2..4)?.try_into().ok()?))),
        127 => (8, u64::from_be_bytes(data.get(2..10)?.try_into().ok()?)),
        short => (0, u64::from(short)),
    };
    let len = 2 + extended + mask;
    (data.len() >= len).then_some((len, declared))
}

impl<S> Stream for FrameLimit<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            let chunk = match ready!(Pin::new(&mut this.inner).poll_next(cx)) {
                Some(Ok(chunk)) => chunk,
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                // The client is gone: what is held is an incomplete header, useless to the parser.
                None => return Poll::Ready(None),
            };
            let mut data = if this.held.is_empty() {
                chunk
            } else {
                this.held.extend_from_slice(&chunk);
                this.held.split().freeze()
            };
            let (pass, oversized) = this.scan(&data);
            if oversized {
                this.done = true;
                let mut out = BytesMut::with_capacity(pass + 10);
                out.extend_from_slice(&data[..pass]);
                // Same FIN/opcode and mask bit; a 64-bit length with the top bit set.
                out.extend_from_slice(&[data[pass], (data[pass + 1] & 0x80) | 127]);
                out.extend_from_slice(&[0xff; 8]);
                return Poll::Ready(Some(Ok(out.freeze())));
            }
            let rest = data.split_off(pass);
            debug_assert!(rest.len() < MAX_HEADER, "only an incomplete header is held");
            this.held.extend_from_slice(&rest);
            if !data.is_empty() {
                return Poll::Ready(Some(Ok(data)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    const MAX: u64 = 64 * 1024;

    /// A masked client frame declaring `declared` bytes, with `payload`.
    fn frame(head: u8, declared: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![head];
        match declared {
            0..=125 => out.push(0x80 | declared as u8),
            126..=0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(declared as u16).to_be_bytes());
            }
            _ => {
                out.push(0x80 | 127);
                out.extend_from_slice(&declared.to_be_bytes());
            }
        }
        out.extend_from_slice(&[1, 2, 3, 4]);
        out.extend_from_slice(payload);
        out
    }

    /// Everything the limit passes on when `wire` arrives in reads of `read` bytes.
    async fn through(wire: &[u8], read: usize) -> Vec<u8> {
        let chunks: Vec<Result<Bytes, PayloadError>> =
            wire.chunks(read.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let limited = FrameLimit::new(futures_util::stream::iter(chunks), MAX);
        let out: Vec<Bytes> = limited.map(|c| c.expect("no error")).collect().await;
        out.concat()
    }

    #[tokio::test]
    async fn frames_within_the_limit_pass_unchanged_however_they_are_cut() {
        let mut wire = frame(0x81, 5, b"hello");
        wire.extend(frame(0x01, 200, &[b'a'; 200]));
        wire.extend(frame(0x89, 0, b""));
        wire.extend(frame(0x80, MAX, &vec![b'b'; MAX as usize]));
        wire.extend(frame(0x82, 3, b"xyz"));
        for read in [1, 2, 3, 7, 13, 14, 15, 100, 4096, wire.len()] {
            assert_eq!(through(&wire, read).await, wire, "reads of {read}");
        }
    }

    #[tokio::test]
    async fn an_oversized_header_is_rewritten_to_an_overflow_and_nothing_after_it_passes() {
        let before = frame(0x81, 2, b"{}");
        for declared in [MAX + 1, 1 << 40, u64::MAX] {
            let mut wire = before.clone();
            wire.extend(frame(0x81, declared, &[b'z'; 5000]));
            wire.extend(frame(0x81, 2, b"{}"));
            let mut expected = before.clone();
            expected.extend_from_slice(&[0x81, 0x80 | 127]);
            expected.extend_from_slice(&[0xff; 8]);
            for read in [1, 5, 9, 64, wire.len()] {
                assert_eq!(through(&wire, read).await, expected, "declared {declared}, reads of {read}");
            }
        }
        // A 16-bit length over the limit cannot be: 0xffff is the largest, under 64 KiB + 1.
        assert_eq!(header(&frame(0x81, 0xffff, b"")), Some((8, 0xffff)));
    }

    #[test]
    fn headers_are_read_whole() {
        assert_eq!(header(&[0x81]), None);
        assert_eq!(header(&[0x81, 0x85, 1, 2, 3]), None);
        assert_eq!(header(&[0x81, 0x85, 1, 2, 3, 4]), Some((6, 5)));
        assert_eq!(header(&[0x81, 0x05]), Some((2, 5)));
        assert_eq!(header(&[0x81, 0xfe, 0x01]), None);
        assert_eq!(header(&[0x81, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 9, 9, 9, 9]), Some((14, 256)));
    }
}
