//! The writing half of a WebSocket connection. tungstenite still reads
//! (and checks) what clients send; frames to clients are built here, straight
//! into one buffer per connection, and written in one call per batch.
//! tungstenite's own writer keeps its buffer at the size of the largest
//! burst it ever wrote (the `joined` state, say) for the connection's whole
//! life; this one gives its buffer back after every write, so an idle
//! connection holds none.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// The frame types a server sends (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opcode {
    Text = 0x1,
    Binary = 0x2,
    Close = 0x8,
    Ping = 0x9,
    Pong = 0xA,
}

pub(crate) struct FrameWriter<W> {
    io: W,
    buf: Vec<u8>,
    /// How much of `buf` is already on the wire. A write cut short (the
    /// connection's stall timeout or close request cancels it) resumes from
    /// here, so the stream never repeats or skips a byte.
    written: usize,
    /// Buffered bytes past which `feed` writes out without waiting for `flush`.
    write_at: usize,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub fn new(io: W, write_at: usize) -> Self {
        FrameWriter {
            io,
            buf: Vec::new(),
            written: 0,
            write_at,
        }
    }

    /// Appends one unfragmented, unmasked frame; writes out what is
    /// buffered once it passes the write threshold.
    pub async fn feed(&mut self, op: Opcode, payload: &[u8]) -> io::Result<()> {
        push_frame(&mut self.buf, op, payload);
        if self.buf.len() >= self.write_at {
            self.write_out().await?;
        }
        Ok(())
    }

    /// Feeds one frame and writes out everything.
    pub async fn send(&mut self, op: Opcode, payload: &[u8]) -> io::Result<()> {
        self.feed(op, payload).await?;
        self.flush().await
    }

    /// Writes out everything fed so far.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.write_out().await?;
        self.io.flush().await
    }

    /// Cancel-safe: each `write` either happened (and is counted) or not.
    async fn write_out(&mut self) -> io::Result<()> {
        while self.written < self.buf.len() {
            let n = self.io.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.written += n;
        }
        // Given back, not kept: one allocation per batch costs far less than
        // the write it precedes, and idle connections are most connections.
        self.buf = Vec::new();
        self.written = 0;
        Ok(())
    }
}

fn push_frame(buf: &mut Vec<u8>, op: Opcode, payload: &[u8]) {
    let len = payload.len();
    buf.reserve(10 + len);
    // FIN set: every frame is a whole message.
    buf.push(0x80 | op as u8);
    if len < 126 {
        buf.push(len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        buf.push(126);
        buf.extend_from_slice(&short.to_be_bytes());
    } else {
        buf.push(127);
        buf.extend_from_slice(&(len as u64).to_be_bytes());
    }
    buf.extend_from_slice(payload);
}

/// The read half as tungstenite sees it: what tungstenite would write on
/// its own (automatic pongs and close replies) is discarded, because the
/// [`FrameWriter`] answers pings and closes itself.
pub(crate) struct ReadSide<R>(pub R);

impl<R: AsyncRead + Unpin> AsyncRead for ReadSide<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<R: Unpin> AsyncWrite for ReadSide<R> {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::Role;
    use tokio_tungstenite::tungstenite::{Message, WebSocket};

    /// What a client reads from `bytes`, decoded by tungstenite.
    fn client_reads(bytes: Vec<u8>) -> Vec<Message> {
        struct Wire(std::io::Cursor<Vec<u8>>);
        impl std::io::Read for Wire {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf)
            }
        }
        impl std::io::Write for Wire {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut ws =
            WebSocket::from_raw_socket(Wire(std::io::Cursor::new(bytes)), Role::Client, None);
        let mut out = Vec::new();
        while let Ok(m) = ws.read() {
            out.push(m);
        }
        out
    }

    #[tokio::test]
    async fn a_client_reads_every_frame_length_form_and_type() {
        let long = vec![7u8; 70_000];
        let medium = "m".repeat(300);
        let mut wire = Vec::new();
        let mut w = FrameWriter::new(&mut wire, 1 << 20);
        w.feed(Opcode::Binary, b"tiny").await.unwrap();
        w.feed(Opcode::Text, medium.as_bytes()).await.unwrap();
        w.feed(Opcode::Binary, &long).await.unwrap();
        w.feed(Opcode::Ping, b"").await.unwrap();
        w.feed(Opcode::Pong, b"p").await.unwrap();
        w.feed(Opcode::Close, b"").await.unwrap();
        w.flush().await.unwrap();
        let got = client_reads(wire);
        assert_eq!(got.len(), 6, "{got:?}");
        assert_eq!(got[0], Message::Binary(b"tiny".to_vec().into()));
        assert_eq!(got[1], Message::Text(medium.into()));
        assert_eq!(got[2], Message::Binary(long.into()));
        assert_eq!(got[3], Message::Ping(Vec::new().into()));
        assert_eq!(got[4], Message::Pong(b"p".to_vec().into()));
        assert_eq!(got[5], Message::Close(None));
    }

    #[tokio::test]
    async fn frames_wait_for_flush_until_the_threshold_and_the_buffer_is_given_back() {
        let mut wire = Vec::new();
        let mut w = FrameWriter::new(&mut wire, 64);
        w.feed(Opcode::Binary, &[1; 10]).await.unwrap();
        assert!(w.io.is_empty(), "below the threshold: buffered");
        w.feed(Opcode::Binary, &[2; 60]).await.unwrap();
        assert_eq!(w.io.len(), 12 + 62, "past the threshold: written");
        assert_eq!(w.buf.capacity(), 0, "nothing kept after a write");
        w.feed(Opcode::Binary, &[3; 5]).await.unwrap();
        w.flush().await.unwrap();
        assert_eq!(w.buf.capacity(), 0);
        assert_eq!(client_reads(wire).len(), 3);
    }

    /// A client that stops reading blocks a write; the connection gives up
    /// on it (a stall timeout) and later sends its `closing` frame: the
    /// stream must resume exactly where the cut-short write stopped.
    #[tokio::test]
    async fn a_write_cut_short_resumes_where_it_stopped() {
        use tokio::io::AsyncReadExt;
        let (server, mut client) = tokio::io::duplex(100);
        let mut w = FrameWriter::new(server, 1 << 20);
        for n in 0..20u8 {
            w.feed(Opcode::Binary, &[n; 30]).await.unwrap();
        }
        let stalled = tokio::time::timeout(std::time::Duration::from_millis(50), w.flush()).await;
        assert!(
            stalled.is_err(),
            "the client reads nothing: the write blocks"
        );
        assert!(w.written > 0 && w.written < w.buf.len());
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            client.read_to_end(&mut all).await.unwrap();
            all
        });
        w.feed(Opcode::Text, b"closing").await.unwrap();
        w.flush().await.unwrap();
        drop(w);
        let got = client_reads(reader.await.unwrap());
        assert_eq!(got.len(), 21, "{got:?}");
        assert_eq!(got[19], Message::Binary(vec![19; 30].into()));
        assert_eq!(got[20], Message::Text("closing".into()));
    }
}
