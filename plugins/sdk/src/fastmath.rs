//! Fast elementary functions for plugin kernels: `ln` and `exp` as straight-line, branch-free
//! code that the compiler can inline and vectorise (libm's are calls, which keep a loop
//! scalar), accurate to a few ulp on their stated domains; and reductions with independent
//! lanes, which vectorise too.

/// ln 2 split as in fdlibm, so that n · LN2_HI is exact for |n| < 2^11.
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);

/// ln(x) for a positive, normal, finite x (within a few ulp). Other inputs give garbage, not a
/// trap: callers guarantee the domain.
#[inline(always)]
pub fn ln_positive(x: f64) -> f64 {
    const MANTISSA: u64 = (1 << 52) - 1;
    const ONE_BITS: u64 = 1023 << 52;
    // 2^52 + 1023 as bits plus a biased exponent field gives 2^52 + field exactly.
    const MAGIC: f64 = 4_503_599_627_370_496.0;
    let bits = x.to_bits();
    // x = m · 2^e with m in [1, 2).
    let m = f64::from_bits((bits & MANTISSA) | ONE_BITS);
    let field = f64::from_bits(MAGIC.to_bits() | (bits >> 52)) - MAGIC;
    // Centre m on 1: m in [√½, √2).
    let big = m > std::f64::consts::SQRT_2;
    let m = if big { 0.5 * m } else { m };
    let e = field - 1023.0 + if big { 1.0 } else { 0.0 };
    // ln m = 2 atanh(z), z = (m − 1)/(m + 1), |z| ≤ 0.1716: the odd series to z²³
    // (truncation below 1e-18 relative).
    let z = (m - 1.0) / (m + 1.0);
    let w = z * z;
    let w2 = w * w;
    let w4 = w2 * w2;
    let w8 = w4 * w4;
    const C: [f64; 12] = [
        1.0,
        1.0 / 3.0,
        1.0 / 5.0,
        1.0 / 7.0,
        1.0 / 9.0,
        1.0 / 11.0,
        1.0 / 13.0,
        1.0 / 15.0,
        1.0 / 17.0,
        1.0 / 19.0,
        1.0 / 21.0,
        1.0 / 23.0,
    ];
    // Estrin's scheme: short dependency chains.
    let p01 = C[0] + C[1] * w;
    let p23 = C[2] + C[3] * w;
    let p45 = C[4] + C[5] * w;
    let p67 = C[6] + C[7] * w;
    let p89 = C[8] + C[9] * w;
    let pab = C[10] + C[11] * w;
    let q0 = p01 + p23 * w2;
    let q1 = p45 + p67 * w2;
    let q2 = p89 + pab * w2;
    let series = (q0 + q1 * w4) + q2 * w8;
    let ln_m = 2.0 * z * series;
    e * LN2_HI + (e * LN2_LO + ln_m)
}

/// exp(t) for t ≤ 0 (within a few ulp); below −708 it returns about 3e-308 instead of less.
#[inline(always)]
pub fn exp_nonpositive(t: f64) -> f64 {
    // Adding 1.5 · 2^52 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f64 = 6_755_399_441_055_744.0;
    let t = if t > -708.0 { t } else { -708.0 };
    let shifted = t * std::f64::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (t - n * LN2_HI) - n * LN2_LO;
    // 2^n from the exponent bits: the low bits of `shifted` hold n (two's complement).
    let two_to_n = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    // exp(r), |r| ≤ ln 2 / 2, by its Taylor polynomial of degree 13 (error < 1e-17).
    const F: [f64; 14] = [
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let q: [f64; 7] = std::array::from_fn(|i| F[2 * i] + F[2 * i + 1] * r);
    let s0 = q[0] + q[1] * r2;
    let s1 = q[2] + q[3] * r2;
    let s2 = q[4] + q[5] * r2;
    let e0 = s0 + s1 * r4;
    let e1 = s2 + q[6] * r4;
    two_to_n * (e0 + e1 * r8)
}

/// Number of independent lanes in the vectorisable reductions.
const LANES: usize = 4;

/// Σ values, with four independent partial sums (vectorisable).
#[inline(always)]
pub fn sum(values: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] += c[k];
        }
    }
    let mut total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for v in rest {
        total += v;
    }
    total
}

/// The smallest value (∞ for none), with four independent lanes (vectorisable).
#[inline(always)]
pub fn min(values: &[f64]) -> f64 {
    let mut acc = [f64::INFINITY; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = if c[k] < acc[k] { c[k] } else { acc[k] };
        }
    }
    let mut m = acc[0].min(acc[1]).min(acc[2].min(acc[3]));
    for &v in rest {
        m = m.min(v);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        (a - b).abs() / (b.abs() * f64::EPSILON)
    }

    #[test]
    fn ln_matches_std_over_many_decades() {
        let mut worst: f64 = 0.0;
        for k in 1..=400_000 {
            // 1e-6 .. 1e6, densely around 1.
            let x = 10f64.powf(-6.0 + 12.0 * f64::from(k) / 400_000.0);
            for x in [x, 1.0 + (x - 1.0) * 1e-3] {
                let (fast, exact) = (ln_positive(x), x.ln());
                if exact.abs() > 1e-3 {
                    worst = worst.max(ulps(fast, exact));
                } else {
                    assert!((fast - exact).abs() <= 4.0 * f64::EPSILON, "ln({x})");
                }
            }
        }
        assert!(worst <= 4.0, "worst {worst} ulp");
        assert_eq!(ln_positive(1.0), 0.0);
        assert!(
            (ln_positive(std::f64::consts::SQRT_2) - std::f64::consts::LN_2 / 2.0).abs() < 1e-16
        );
    }

    #[test]
    fn exp_matches_std() {
        for i in 0..=200_000 {
            let t = -708.0 * f64::from(i) / 200_000.0;
            let (fast, exact) = (exp_nonpositive(t), t.exp());
            assert!(ulps(fast, exact) <= 4.0, "exp({t}): {fast} vs {exact}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(-1e6) < 1e-307);
        assert!(exp_nonpositive(f64::NEG_INFINITY) < 1e-307);
    }

    #[test]
    fn lane_reductions() {
        let v: Vec<f64> = (0..11).map(|k| f64::from(k) - 3.5).collect();
        assert_eq!(sum(&v), v.iter().sum::<f64>());
        assert_eq!(min(&v), -3.5);
        assert_eq!(min(&[]), f64::INFINITY);
        assert_eq!(sum(&[]), 0.0);
    }
}
