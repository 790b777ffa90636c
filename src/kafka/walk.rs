//! A zero-allocation structural check of Kafka message bodies.
//!
//! kafka-protocol 0.18 calls `Vec::with_capacity(count)` with the element count read off the
//! wire before it decodes a single element, so a 5-byte Metadata request whose topic count is
//! `0x7fffffff` makes it request hundreds of gigabytes and abort the process. Every Kafka array
//! element occupies at least one byte, so a count larger than the bytes left is impossible.
//! A [`Walker`] steps through a body field by field exactly as the decoder will, rejecting such
//! counts and any read past the end, before the crate's decoder is allowed to see the bytes.

use super::DecodeError;

/// Reads primitive fields of one message body, in its version's encoding (flexible or not).
pub(crate) struct Walker<'a> {
    buf: &'a [u8],
    pos: usize,
    flexible: bool,
    /// Array entries the rest of the walk may still meet, and the limit they count against.
    entries_left: usize,
    max_entries: usize,
    /// Where each topic name and transactional id lies, when the walk records them.
    names: Option<Vec<NameAt>>,
    /// How many tagged fields the walk is inside.
    tagged_depth: u32,
}

/// Where a (non-null) name lies in a body: its length prefix starts at `at`, its bytes are
/// `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NameAt {
    pub(crate) at: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl<'a> Walker<'a> {
    pub(crate) fn new(buf: &'a [u8], flexible: bool) -> Self {
        Self::with_max_entries(buf, flexible, usize::MAX)
    }

    /// A walker that refuses a body with more than `max_entries` array entries in all (at
    /// every depth): what one decoded request costs grows with its entries, each of which
    /// can be a single byte on the wire.
    pub(crate) fn with_max_entries(buf: &'a [u8], flexible: bool, max_entries: usize) -> Self {
        Self {
            buf,
            pos: 0,
            flexible,
            entries_left: max_entries,
            max_entries,
            names: None,
            tagged_depth: 0,
        }
    }

    /// A walker that records where each topic name and transactional id lies
    /// ([`Self::names`]).
    pub(crate) fn recording_names(buf: &'a [u8], flexible: bool) -> Self {
        Self {
            names: Some(Vec::new()),
            ..Self::new(buf, flexible)
        }
    }

    /// The names met so far, in body order (empty unless recording).
    pub(crate) fn names(self) -> Vec<NameAt> {
        self.names.unwrap_or_default()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Switches encodings, for headers whose tagged fields follow a non-compact client id.
    pub(crate) fn set_flexible(&mut self, flexible: bool) {
        self.flexible = flexible;
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let start = self.pos;
        self.pos += n;
        Ok(&self.buf[start..self.pos])
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.take(n).map(|_| ())
    }

    pub(crate) fn i8(&mut self) -> Result<i8, DecodeError> {
        Ok(self.take(1)?[0] as i8)
    }

    pub(crate) fn bool(&mut self) -> Result<(), DecodeError> {
        self.skip(1)
    }

    pub(crate) fn i16(&mut self) -> Result<i16, DecodeError> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn i64(&mut self) -> Result<(), DecodeError> {
        self.skip(8)
    }

    pub(crate) fn uuid(&mut self) -> Result<(), DecodeError> {
        self.skip(16)
    }

    /// An unsigned varint of at most five bytes, as the crate reads it.
    pub(crate) fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.take(1)?[0] as u32;
            value |= (b & 0x7f) << (i * 7);
            if b < 0x80 {
                return Ok(value);
            }
        }
        Ok(value)
    }

    /// A length prefix: INT16/INT32 (`-1` is null) or, in flexible versions, a varint length+1.
    fn length(&mut self, wide: bool) -> Result<Option<usize>, DecodeError> {
        let len: i64 = if self.flexible {
            i64::from(self.uvarint()?) - 1
        } else if wide {
            i64::from(self.i32()?)
        } else {
            i64::from(self.i16()?)
        };
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::NegativeLength),
            n => Ok(Some(n as usize)),
        }
    }

    /// A (nullable) STRING or COMPACT_STRING; returns its bytes when present.
    pub(crate) fn string(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.length(false)? {
            None => Ok(None),
            Some(n) => self.take(n).map(Some),
        }
    }

    /// A (nullable) STRING or COMPACT_STRING that names a topic; recorded when the walk
    /// records names.
    pub(crate) fn topic_name(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        self.name()
    }

    /// A (nullable) STRING or COMPACT_STRING that is a transactional id; recorded when the
    /// walk records names.
    pub(crate) fn transactional_id(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        self.name()
    }

    fn name(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let at = self.pos;
        let name = self.string()?;
        if self.names.is_some() && name.is_some() && self.tagged_depth > 0 {
            return Err(DecodeError::NameInTaggedField);
        }
        if let (Some(names), Some(n)) = (&mut self.names, name) {
            names.push(NameAt {
                at,
                start: self.pos - n.len(),
                end: self.pos,
            });
        }
        Ok(name)
    }

    /// A (nullable) BYTES or COMPACT_BYTES (also RECORDS).
    pub(crate) fn bytes(&mut self) -> Result<(), DecodeError> {
        if let Some(n) = self.length(true)? {
            self.skip(n)?;
        }
        Ok(())
    }

    /// A (nullable) ARRAY or COMPACT_ARRAY whose elements are walked by `element`.
    pub(crate) fn array(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<(), DecodeError>,
    ) -> Result<usize, DecodeError> {
        let Some(count) = self.length(true)? else {
            return Ok(0);
        };
        if count > self.remaining() {
            return Err(DecodeError::ImpossibleCount {
                count,
                remaining: self.remaining(),
            });
        }
        self.entries_left =
            self.entries_left
                .checked_sub(count)
                .ok_or(DecodeError::TooManyEntries {
                    limit: self.max_entries,
                })?;
        for _ in 0..count {
            element(self)?;
        }
        Ok(count)
    }

    /// The tagged-field section of a flexible struct. `known` walks a tag the crate decodes in
    /// place (returning `true`); every other tag is skipped by its size.
    pub(crate) fn tagged_fields_with(
        &mut self,
        mut known: impl FnMut(&mut Self, u32) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        if !self.flexible {
            return Ok(());
        }
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.tagged_depth += 1;
            let walked = known(self, tag);
            self.tagged_depth -= 1;
            if !walked? {
                self.skip(size)?;
            }
        }
        Ok(())
    }

    /// The tagged-field section of a struct with no tags the crate decodes in place.
    pub(crate) fn tagged_fields(&mut self) -> Result<(), DecodeError> {
        self.tagged_fields_with(|_, _| Ok(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_count_larger_than_remaining() {
        let body = [0x7f, 0xff, 0xff, 0xff, 0x00];
        let mut w = Walker::new(&body, false);
        let err = w.array(|w| w.i32().map(|_| ())).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::ImpossibleCount {
                count: 0x7fff_ffff,
                remaining: 1
            }
        ));
    }

    #[test]
    fn entries_are_counted_at_every_depth() {
        // Two arrays of two arrays of one INT32 each: 2 + 2 + 2 entries.
        let one = [0, 0, 0, 1, 0, 0, 0, 9];
        let mut body = vec![0, 0, 0, 2];
        body.extend_from_slice(&one);
        body.extend_from_slice(&one);
        let walk = |max| {
            let mut w = Walker::with_max_entries(&body, false, max);
            w.array(|w| w.array(|w| w.i32().map(|_| ())).map(|_| ()))
        };
        assert_eq!(walk(4).unwrap(), 2);
        assert!(matches!(
            walk(3),
            Err(DecodeError::TooManyEntries { limit: 3 })
        ));
    }

    #[test]
    fn compact_null_and_empty_arrays() {
        let mut w = Walker::new(&[0x00, 0x01], true);
        assert_eq!(w.array(|w| w.i32().map(|_| ())).unwrap(), 0);
        assert_eq!(w.array(|w| w.i32().map(|_| ())).unwrap(), 0);
        assert_eq!(w.remaining(), 0);
    }

    #[test]
    fn short_reads_are_errors_not_panics() {
        let mut w = Walker::new(&[0x00], false);
        assert!(matches!(w.i32(), Err(DecodeError::Truncated)));
        let mut w = Walker::new(&[0x00, 0x05, b'a'], false);
        assert!(matches!(w.string(), Err(DecodeError::Truncated)));
    }

    #[test]
    fn a_recorded_name_inside_a_tagged_field_is_refused() {
        // One tagged field (tag 0, 3 bytes) holding a compact string "ab".
        let body = [0x01, 0x00, 0x03, 0x03, b'a', b'b'];
        let walk = |mut w: Walker<'_>| {
            w.tagged_fields_with(|w, _| w.topic_name().map(|_| true))
                .map(|()| w.names())
        };
        assert!(matches!(
            walk(Walker::recording_names(&body, true)),
            Err(DecodeError::NameInTaggedField)
        ));
        assert!(walk(Walker::new(&body, true)).is_ok(), "a check walks it");
    }

    #[test]
    fn negative_lengths_other_than_null_are_rejected() {
        let mut w = Walker::new(&[0xff, 0xfe], false);
        assert!(matches!(w.string(), Err(DecodeError::NegativeLength)));
    }
}
