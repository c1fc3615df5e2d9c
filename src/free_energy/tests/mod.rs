//! Tests of the free-energy estimators: against pymbar on the same reduced energies
//! (`reference`), and against exact free energies of harmonic wells over many seeds
//! (`calibration`).

mod calibration;
mod reference;
