//! Bit-level writing and bounded reading, for the packed snapshot body.

/// Reading ran past the end of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("bit stream truncated")]
pub struct Truncated;

/// Appends values of 1 to 32 bits, least significant bit first.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    pending: u32,
}

impl BitWriter {
    /// An empty writer with room for `bytes` bytes before it reallocates.
    #[inline]
    pub fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(bytes),
            ..Self::default()
        }
    }

    /// Writes the low `bits` bits of `value` (`bits` ≤ 32).
    #[inline]
    pub fn write(&mut self, value: u32, bits: u32) {
        debug_assert!(bits <= 32);
        if bits == 0 {
            return;
        }
        let masked = u64::from(value) & ((1u64 << bits) - 1);
        self.acc |= masked << self.pending;
        self.pending += bits;
        while self.pending >= 8 {
            self.bytes.push(self.acc as u8);
            self.acc >>= 8;
            self.pending -= 8;
        }
    }

    /// Bits written so far.
    #[inline]
    pub fn len_bits(&self) -> usize {
        self.bytes.len() * 8 + self.pending as usize
    }

    /// Writes one bit.
    #[inline]
    pub fn bit(&mut self, on: bool) {
        self.write(u32::from(on), 1);
    }

    /// The bytes, the last one zero-padded.
    #[inline]
    pub fn finish(mut self) -> Vec<u8> {
        if self.pending > 0 {
            self.bytes.push(self.acc as u8);
        }
        self.bytes
    }
}

/// Reads what a [`BitWriter`] wrote; never reads past the end.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `bytes`.
    #[inline]
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    /// Reads `bits` bits (≤ 32).
    #[inline]
    pub fn read(&mut self, bits: u32) -> Result<u32, Truncated> {
        debug_assert!(bits <= 32);
        let end = self.pos + bits as usize;
        if end > self.bytes.len() * 8 {
            return Err(Truncated);
        }
        let mut value = 0u64;
        let mut got = 0;
        while got < bits {
            let byte = self.bytes[self.pos / 8];
            let offset = (self.pos % 8) as u32;
            let take = (8 - offset).min(bits - got);
            let chunk = (u64::from(byte) >> offset) & ((1 << take) - 1);
            value |= chunk << got;
            got += take;
            self.pos += take as usize;
        }
        Ok(value as u32)
    }

    /// Reads one bit.
    #[inline]
    pub fn bit(&mut self) -> Result<bool, Truncated> {
        Ok(self.read(1)? == 1)
    }

    /// Bits left, including the final byte's padding.
    #[inline]
    pub fn remaining_bits(&self) -> usize {
        self.bytes.len() * 8 - self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_width_round_trip() {
        let mut w = BitWriter::default();
        let values: Vec<(u32, u32)> = (1..=32)
            .map(|b| ((0xdead_beefu32.rotate_left(b)) & (u32::MAX >> (32 - b)), b))
            .collect();
        for &(v, b) in &values {
            w.write(v, b);
        }
        let total: u32 = values.iter().map(|v| v.1).sum();
        let bytes = w.finish();
        assert_eq!(bytes.len(), (total as usize).div_ceil(8));
        let mut r = BitReader::new(&bytes);
        for &(v, b) in &values {
            assert_eq!(r.read(b), Ok(v));
        }
        assert!(r.remaining_bits() < 8);
        assert_eq!(r.read(9), Err(Truncated));
    }
}
