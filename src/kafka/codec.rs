//! Length-prefixed Kafka framing. A frame is kept as one `Bytes` including its 4-byte length
//! prefix, so that forwarding it is a single write of the bytes that arrived.

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Why no frame could be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix announces more than the configured limit; nothing was allocated for it.
    #[error("frame of {size} bytes{} exceeds the limit of {limit} bytes", api_key.map(|k| format!(" (API key {k})")).unwrap_or_default())]
    TooLarge {
        /// The size announced by the prefix.
        size: i64,
        /// The frame's API key, when the limit depends on it.
        api_key: Option<i16>,
        /// The limit in force for this frame.
        limit: usize,
    },
    /// The length prefix is negative.
    #[error("negative frame length {0}")]
    NegativeLength(i32),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed inside a frame ({0} bytes buffered)")]
    Truncated(usize),
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Size limits of incoming frames. A request's limit depends on its API key, read from the
/// header before the body is buffered: only Produce carries data, the SASL frames carry
/// tokens, and every other request only names resources and may be held to a smaller size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Produce requests.
    pub produce: usize,
    /// SaslHandshake and SaslAuthenticate requests.
    pub sasl: usize,
    /// Frames of every other API key.
    pub other: usize,
}

impl FrameLimits {
    /// One limit for every frame (responses, whose header carries no API key).
    pub fn uniform(limit: usize) -> Self {
        Self {
            produce: limit,
            sasl: limit,
            other: limit,
        }
    }

    /// The limit of a frame with this API key (`None`: not known).
    pub fn of(&self, api_key: Option<i16>) -> usize {
        match api_key {
            Some(0) => self.produce,
            Some(17 | 36) => self.sasl,
            _ => self.other,
        }
    }

    fn smallest(&self) -> usize {
        self.produce.min(self.sasl).min(self.other)
    }

    fn by_key(&self) -> bool {
        self.produce != self.other || self.sasl != self.other
    }
}

/// Reads frames from a byte stream, reading ahead into one buffer to save system calls.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    limits: FrameLimits,
    read_ahead: bool,
}

const READ_CHUNK: usize = 64 * 1024;

/// What the buffer holds of the next frame.
enum Next {
    /// Not yet its size, or not yet the API key its limit depends on: `n` more bytes.
    Header(usize),
    /// Its size, which passed its limit.
    Sized(usize),
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream; frames larger than `max_frame` bytes (excluding the prefix) are refused.
    pub fn new(inner: R, max_frame: usize) -> Self {
        Self::with_limits(inner, FrameLimits::uniform(max_frame))
    }

    /// Wraps a stream of requests, whose size limits depend on their API key.
    pub fn with_limits(inner: R, limits: FrameLimits) -> Self {
        // Allocated by the first read, as large as the reading mode asks: a connection that
        // is read without read-ahead before it authenticates never holds a chunk it did not use.
        Self {
            inner,
            buf: BytesMut::new(),
            limits,
            read_ahead: true,
        }
    }

    /// Changes the size limits, e.g. once a client has authenticated.
    pub fn set_limits(&mut self, limits: FrameLimits) {
        self.limits = limits;
    }

    /// Whether to read ahead of the frame at hand (saving system calls) or only what it
    /// needs, so that the buffer holds nothing a caller has not accounted for.
    pub fn set_read_ahead(&mut self, read_ahead: bool) {
        self.read_ahead = read_ahead;
        if !read_ahead && self.buf.is_empty() {
            self.buf = BytesMut::new();
        }
    }

    /// The stream back, with what was read of it beyond the frames returned.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }

    /// Whether a complete frame is already buffered (so the next read will not block).
    pub fn has_buffered_frame(&self) -> bool {
        matches!(self.next(), Ok(Next::Sized(size)) if self.buf.len() >= 4 + size)
    }

    fn next(&self) -> Result<Next, FrameError> {
        if self.buf.len() < 4 {
            return Ok(Next::Header(4 - self.buf.len()));
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Err(FrameError::NegativeLength(size));
        }
        let size = size as usize;
        if size <= self.limits.smallest() {
            return Ok(Next::Sized(size));
        }
        // The limit depends on the API key, the two bytes after the prefix.
        let api_key = if !self.limits.by_key() || size < 2 {
            None
        } else if self.buf.len() < 6 {
            return Ok(Next::Header(6 - self.buf.len()));
        } else {
            Some(i16::from_be_bytes([self.buf[4], self.buf[5]]))
        };
        let limit = self.limits.of(api_key);
        if size > limit {
            return Err(FrameError::TooLarge {
                size: size as i64,
                api_key,
                limit,
            });
        }
        Ok(Next::Sized(size))
    }

    /// Reads more; `false` at the end of the stream.
    async fn fill(&mut self, need: usize) -> Result<bool, FrameError> {
        let reserve = if self.read_ahead {
            need.max(READ_CHUNK)
        } else {
            need
        };
        self.buf.reserve(reserve);
        if self.read_ahead {
            return Ok(self.inner.read_buf(&mut self.buf).await? != 0);
        }
        // Only what was asked for: a bounded view of the buffer's spare room.
        let mut limited = (&mut self.buf).limit(need);
        Ok(self.inner.read_buf(&mut limited).await? != 0)
    }

    fn end(&self) -> Result<Option<usize>, FrameError> {
        if self.buf.is_empty() {
            Ok(None)
        } else {
            Err(FrameError::Truncated(self.buf.len()))
        }
    }

    /// The size (without its prefix) of the next frame, once its header has arrived and its
    /// size has passed its limit, before its body is read; `Ok(None)` on a clean end of
    /// stream between frames.
    pub async fn announced(&mut self) -> Result<Option<usize>, FrameError> {
        loop {
            match self.next()? {
                Next::Sized(size) => return Ok(Some(size)),
                Next::Header(need) => {
                    if !self.fill(need).await? {
                        return self.end();
                    }
                }
            }
        }
    }

    /// The next frame (prefix included), `Ok(None)` on a clean end of stream between frames.
    pub async fn next_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            // Room for the rest of the frame is reserved only once its size has passed its
            // limit; until then, only for the header.
            let need = match self.next()? {
                Next::Sized(size) if self.buf.len() >= 4 + size => {
                    let frame = self.buf.split_to(4 + size).freeze();
                    // The rest would keep the frame's whole allocation alive after the frame
                    // is dropped (a large frame's for the connection's lifetime): it moves to
                    // a buffer of its own when that allocation is large.
                    if self.buf.capacity() > READ_CHUNK {
                        self.buf = BytesMut::from(&self.buf[..]);
                    }
                    return Ok(Some(frame));
                }
                Next::Sized(size) => 4 + size - self.buf.len(),
                Next::Header(need) => need,
            };
            if !self.fill(need).await? {
                return self.end().map(|_| None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_frames_and_keeps_prefix() {
        let data: &[u8] = &[0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7];
        let mut r = FrameReader::new(data, 16);
        assert_eq!(
            &r.next_frame().await.unwrap().unwrap()[..],
            &[0, 0, 0, 2, 9, 9]
        );
        assert_eq!(
            &r.next_frame().await.unwrap().unwrap()[..],
            &[0, 0, 0, 1, 7]
        );
        assert!(r.next_frame().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn refuses_oversized_without_reading_it() {
        let data: &[u8] = &[0x7f, 0xff, 0xff, 0xff, 1, 2, 3];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::TooLarge { limit: 1024, .. })
        ));
        assert!(r.buf.capacity() <= READ_CHUNK);
    }

    #[tokio::test]
    async fn produce_has_its_own_limit_decided_before_the_body() {
        let limits = FrameLimits {
            produce: 1024,
            sasl: 16,
            other: 16,
        };
        let mut produce = vec![0, 0, 0, 100, 0, 0];
        produce.resize(104, 7);
        let mut r = FrameReader::with_limits(&produce[..], limits);
        assert_eq!(r.next_frame().await.unwrap().unwrap().len(), 104);
        // Metadata (key 3) of the same size: refused from its header, with only the header
        // bytes read ahead for.
        let data: &[u8] = &[0, 0, 0, 100, 0, 3, 1, 2];
        let mut r = FrameReader::with_limits(data, limits);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::TooLarge {
                api_key: Some(3),
                limit: 16,
                ..
            })
        ));
        assert!(r.buf.capacity() <= READ_CHUNK);
        // A large announced Produce whose key has not arrived yet reserves nothing for it.
        let (client, mut server) = tokio::io::duplex(64);
        let large = FrameLimits {
            produce: 100 << 20,
            sasl: 16,
            other: 16,
        };
        let mut r = FrameReader::with_limits(client, large);
        use tokio::io::AsyncWriteExt;
        server.write_all(&[3, 0, 0, 0, 0]).await.unwrap();
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(50), r.next_frame()).await;
        assert!(pending.is_err(), "waits for the API key");
        assert!(r.buf.capacity() <= 4 * READ_CHUNK, "{}", r.buf.capacity());
    }

    #[tokio::test]
    async fn without_read_ahead_only_the_frame_at_hand_is_read() {
        let data: &[u8] = &[0, 0, 0, 3, 0, 36, 9, 0, 0, 0, 1, 7];
        let mut r = FrameReader::with_limits(
            data,
            FrameLimits {
                produce: 1,
                sasl: 3,
                other: 1,
            },
        );
        r.set_read_ahead(false);
        assert_eq!(r.announced().await.unwrap(), Some(3));
        assert!(r.buf.len() <= 6, "the header only: {}", r.buf.len());
        assert_eq!(r.next_frame().await.unwrap().unwrap().len(), 7);
        assert!(r.buf.is_empty(), "nothing of the next frame");
        assert_eq!(r.announced().await.unwrap(), Some(1));
        assert_eq!(r.next_frame().await.unwrap().unwrap().len(), 5);
        assert_eq!(r.announced().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_large_frame_is_not_kept_alive_by_the_next() {
        let mut data = vec![0, 0, 4, 0];
        data.resize(4 + 1024, 1);
        data.extend_from_slice(&[0, 0, 0, 1]);
        let mut r = FrameReader::new(&data[..], 1 << 20);
        r.set_read_ahead(false);
        let frame = r.next_frame().await.unwrap().unwrap();
        assert_eq!(frame.len(), 1028);
        let big = vec![0u8; 4 * READ_CHUNK];
        let mut framed = ((big.len()) as i32).to_be_bytes().to_vec();
        framed.extend_from_slice(&big);
        framed.extend_from_slice(&[0, 0, 0, 9, 1]);
        let mut r = FrameReader::new(&framed[..], 1 << 20);
        let frame = r.next_frame().await.unwrap().unwrap();
        assert_eq!(frame.len(), 4 + 4 * READ_CHUNK);
        assert!(
            r.buf.capacity() <= READ_CHUNK,
            "the remainder holds {} bytes of the frame's allocation",
            r.buf.capacity()
        );
    }

    #[tokio::test]
    async fn truncated_frame_is_an_error() {
        let data: &[u8] = &[0, 0, 0, 9, 1, 2];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::Truncated(6))
        ));
    }

    #[tokio::test]
    async fn negative_length_is_an_error() {
        let data: &[u8] = &[0xff, 0xff, 0xff, 0xfe];
        let mut r = FrameReader::new(data, 1024);
        assert!(matches!(
            r.next_frame().await,
            Err(FrameError::NegativeLength(-2))
        ));
    }
}
