//! Serde defaults written on the fields of the configuration types, so that a reader sees each
//! default where the field is declared:
//!
//! ```ignore
//! #[serde(default = "defaults::int::<1000>")]
//! pub checkpoint_every: usize,
//! #[serde(default = "defaults::real::<65, 100>")]   // 0.65
//! pub target_acceptance: f64,
//! ```

/// `N` as a `usize` default.
pub const fn int<const N: usize>() -> usize {
    N
}

/// `N` as a `u64` default.
pub const fn uint<const N: u64>() -> u64 {
    N
}

/// `NUM / DEN` as an `f64` default.
pub fn real<const NUM: i64, const DEN: u64>() -> f64 {
    NUM as f64 / DEN as f64
}

/// `true` as a default.
pub const fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn values() {
        assert_eq!(super::int::<12>(), 12);
        assert_eq!(super::uint::<100_000>(), 100_000);
        assert_eq!(super::real::<65, 100>(), 0.65);
        assert_eq!(super::real::<5, 1>(), 5.0);
        const { assert!(super::yes()) };
    }
}
