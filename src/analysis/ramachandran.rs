//! The conformational basins of a peptide backbone on the Ramachandran plane (φ, ψ).

/// A basin of the (φ, ψ) plane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basin {
    /// φ < 0 and ψ outside (−120°, 50°): the extended C7eq / β region.
    C7eqBeta,
    /// φ < 0 and −120° < ψ < 50°: the right-handed helix αR.
    AlphaR,
    /// φ ≥ 0: αL and C7ax.
    PhiPositive,
}

impl Basin {
    /// All basins, in the order of [`Basin::index`].
    pub const ALL: [Basin; 3] = [Basin::C7eqBeta, Basin::AlphaR, Basin::PhiPositive];

    /// The basin of (φ, ψ) in radians; `None` when either is NaN.
    pub fn of(phi: f64, psi: f64) -> Option<Basin> {
        if phi.is_nan() || psi.is_nan() {
            return None;
        }
        let psi_degrees = psi.to_degrees();
        Some(if phi >= 0.0 {
            Basin::PhiPositive
        } else if -120.0 < psi_degrees && psi_degrees < 50.0 {
            Basin::AlphaR
        } else {
            Basin::C7eqBeta
        })
    }

    /// Position in [`Basin::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The attribute name of its population in `/estimates`.
    pub fn attribute(self) -> &'static str {
        match self {
            Basin::C7eqBeta => "pop_c7eq_beta",
            Basin::AlphaR => "pop_alpha_r",
            Basin::PhiPositive => "pop_phi_pos",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basins_by_their_boundaries() {
        let r = f64::to_radians;
        assert_eq!(Basin::of(r(-80.0), r(150.0)), Some(Basin::C7eqBeta));
        assert_eq!(Basin::of(r(-80.0), r(-150.0)), Some(Basin::C7eqBeta));
        assert_eq!(Basin::of(r(-70.0), r(-40.0)), Some(Basin::AlphaR));
        assert_eq!(Basin::of(r(-70.0), r(49.9)), Some(Basin::AlphaR));
        assert_eq!(Basin::of(r(-70.0), r(50.1)), Some(Basin::C7eqBeta));
        assert_eq!(Basin::of(r(-70.0), r(-119.9)), Some(Basin::AlphaR));
        assert_eq!(Basin::of(0.0, r(-40.0)), Some(Basin::PhiPositive));
        assert_eq!(Basin::of(r(60.0), r(30.0)), Some(Basin::PhiPositive));
        assert_eq!(Basin::of(f64::NAN, 0.0), None);
        assert_eq!(Basin::ALL.map(Basin::index), [0, 1, 2]);
    }
}
