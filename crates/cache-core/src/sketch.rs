//! Count-min frequency sketch with periodic halving: the popularity estimate behind the
//! TinyLFU admission filter (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
//! Admission Policy", 2017). Four rows of saturating 4-bit counts (held in a byte each);
//! after `sample` additions every count is halved, so old popularity fades.
//!
//! Blocked layout (as Caffeine's sketch): a key's four counts lie in one 64-byte block, a
//! 16-byte quarter per row, so an update or estimate touches one cache line instead of
//! four — at 2^18 expected entries the table is 4 MiB and each line is a cache miss.

const MAX_COUNT: u8 = 15;
const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];

/// One cache line of counts: bytes `16 * row .. 16 * row + 16` belong to `row`.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Block([u8; 64]);

pub struct FrequencySketch {
    blocks: Vec<Block>,
    additions: usize,
    sample: usize,
}

impl FrequencySketch {
    /// 16 counts per expected entry (4 per row; a power of two, at most 2^18 entries: 4 MiB
    /// in all); halving after 10 × `expected_entries` additions, as Caffeine does.
    pub fn new(expected_entries: usize) -> Self {
        let entries = expected_entries.clamp(16, 1 << 18);
        let counts = 16 * entries.next_power_of_two();
        FrequencySketch {
            blocks: vec![Block([0; 64]); counts / 64],
            additions: 0,
            sample: 10 * entries,
        }
    }

    /// The block of `hash`, and the byte in it of each row's count.
    fn slots(&self, hash: u64) -> (usize, [usize; 4]) {
        let h = (hash ^ (hash >> 29)).wrapping_mul(SEEDS[0]);
        let block = (h >> 32) as usize & (self.blocks.len() - 1);
        // each row's position from its own multiplier: rows collide independently
        let at = [0, 1, 2, 3].map(|row| {
            let r = (hash ^ (hash >> 31)).wrapping_mul(SEEDS[row]);
            16 * row + (r >> 60) as usize
        });
        (block, at)
    }

    /// Conservative update (Estan, Varghese 2002): only the smallest counts grow, which
    /// keeps collisions from inflating estimates.
    pub fn increment(&mut self, hash: u64) {
        let (b, at) = self.slots(hash);
        let block = &mut self.blocks[b].0;
        let min = at.iter().map(|&i| block[i]).min().unwrap_or(0);
        if min < MAX_COUNT {
            for i in at {
                if block[i] == min {
                    block[i] += 1;
                }
            }
            self.additions += 1;
            if self.additions >= self.sample {
                self.age();
            }
        }
    }

    pub fn frequency(&self, hash: u64) -> u8 {
        let (b, at) = self.slots(hash);
        let block = &self.blocks[b].0;
        at.iter().map(|&i| block[i]).min().unwrap_or(0)
    }

    /// Halves every count: the "reset" that keeps the sketch fresh.
    fn age(&mut self) {
        for block in &mut self.blocks {
            for c in &mut block.0 {
                *c >>= 1;
            }
        }
        self.additions /= 2;
    }

    pub fn heap_bytes(&self) -> usize {
        self.blocks.len() * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_and_fade() {
        let mut s = FrequencySketch::new(16);
        for _ in 0..20 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert!(s.frequency(7) <= 1);
        for i in 0..(10 * 16) as u64 {
            s.increment(1000 + i);
        }
        assert!(s.frequency(42) < 15, "aging halves old counts");
    }

    /// Spread like the memory level's hashes (ahash), from small integers.
    fn spread(i: u64) -> u64 {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 32)
    }

    #[test]
    fn estimates_stay_close_at_the_expected_load() {
        let mut s = FrequencySketch::new(1024);
        for i in 0..1024 {
            s.increment(spread(i));
        }
        for _ in 0..12 {
            s.increment(spread(5_000));
        }
        // never below the true count before aging
        assert!(s.frequency(spread(5_000)) >= 12);
        assert!((0..1024).all(|i| s.frequency(spread(i)) >= 1));
        // keys never added: collisions inflate few of them, and little
        let unseen: Vec<u8> = (10_000..12_000).map(|i| s.frequency(spread(i))).collect();
        let over = unseen.iter().filter(|&&f| f >= 2).count();
        assert!(
            over < 40,
            "{over} of 2000 unseen keys estimated at 2 or more"
        );
    }
}
