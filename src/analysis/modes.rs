//! How the reweighted mass of a sample set is shared among the modes of a target.

/// The self-normalised importance-weighted mass near each centre: each point counts for the
/// nearest centre (Euclidean), with weight w_i / Σ w. `x` and `centres` are row-major with
/// `dim` coordinates per row; non-finite log weights count as zero. Returns one mass per centre
/// (all zero when no weight is finite).
pub fn mode_masses(x: &[f64], dim: usize, log_w: &[f64], centres: &[f64]) -> Vec<f64> {
    let k = centres.len().checked_div(dim).unwrap_or(0);
    let mut masses = vec![0.0; k];
    if k == 0 {
        return masses;
    }
    for (point, w) in x.chunks(dim).zip(super::normalised_weights(log_w)) {
        if w == 0.0 {
            continue;
        }
        let distance =
            |c: &[f64]| -> f64 { c.iter().zip(point).map(|(a, b)| (a - b).powi(2)).sum() };
        let (nearest, _) = centres.chunks_exact(dim).map(distance).enumerate().fold(
            (0, f64::INFINITY),
            |best, (i, d)| if d < best.1 { (i, d) } else { best },
        );
        masses[nearest] += w;
    }
    masses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_go_to_their_nearest_centre_with_their_weight() {
        let centres = [0.0, 0.0, 10.0, 0.0];
        let x = [1.0, 0.0, 9.0, 1.0, 11.0, 0.0, 0.5, 0.5];
        let log_w = [0.0, 2f64.ln(), f64::NAN, 0.0];
        let m = mode_masses(&x, 2, &log_w, &centres);
        assert!(
            (m[0] - 0.5).abs() < 1e-15 && (m[1] - 0.5).abs() < 1e-15,
            "{m:?}"
        );
        assert_eq!(mode_masses(&x, 2, &[f64::NAN; 4], &centres), vec![0.0, 0.0]);
    }
}
