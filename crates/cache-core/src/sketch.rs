//! Count-min frequency sketch with periodic halving: the popularity estimate behind the
//! TinyLFU admission filter (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache
//! Admission Policy", 2017). Four rows of saturating 4-bit counts (held in a byte each);
//! after `sample` additions every count is halved, so old popularity fades.

const MAX_COUNT: u8 = 15;
const SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];

pub struct FrequencySketch {
    table: Vec<u8>,
    width: usize,
    additions: usize,
    sample: usize,
}

impl FrequencySketch {
    /// Rows of 4 × `expected_entries` counts (a power of two, at most 2^20: 4 MiB in
    /// all); halving after 10 × `expected_entries` additions, as Caffeine does.
    pub fn new(expected_entries: usize) -> Self {
        let entries = expected_entries.clamp(16, 1 << 18);
        let width = (4 * entries).next_power_of_two();
        FrequencySketch {
            table: vec![0; 4 * width],
            width,
            additions: 0,
            sample: 10 * entries,
        }
    }

    fn slot(&self, hash: u64, row: usize) -> usize {
        let h = (hash ^ (hash >> 29)).wrapping_mul(SEEDS[row]);
        row * self.width + ((h >> 32) as usize & (self.width - 1))
    }

    /// Conservative update (Estan, Varghese 2002): only the smallest counts grow, which
    /// keeps collisions from inflating estimates.
    pub fn increment(&mut self, hash: u64) {
        let slots = [0, 1, 2, 3].map(|row| self.slot(hash, row));
        let min = slots.iter().map(|&i| self.table[i]).min().unwrap_or(0);
        if min < MAX_COUNT {
            for i in slots {
                if self.table[i] == min {
                    self.table[i] += 1;
                }
            }
            self.additions += 1;
            if self.additions >= self.sample {
                self.age();
            }
        }
    }

    pub fn frequency(&self, hash: u64) -> u8 {
        (0..4)
            .map(|row| self.table[self.slot(hash, row)])
            .min()
            .unwrap_or(0)
    }

    /// Halves every count: the "reset" that keeps the sketch fresh.
    fn age(&mut self) {
        for c in &mut self.table {
            *c >>= 1;
        }
        self.additions /= 2;
    }

    pub fn heap_bytes(&self) -> usize {
        self.table.len()
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
}
