//! The surface of a one- or two-dimensional learned energy (an energy model's E_θ, or a
//! potential flow's −log q): normalised on a grid around its data, compared with the system's
//! exact density when that is known, written to `run.h5` and drawn beside the data's histogram.

use super::grid::TORUS_GRID_POINTS;
use super::{EnergyModel, GRID_POINTS, Grid, kl_divergence};
use crate::Result;
use crate::analysis::histogram::{density, free_energy};
use crate::analysis::plots::{SurfaceAxes, surface_panels};
use crate::backend::FlowBackend;
use crate::energy::{BOLTZMANN, System};
use crate::flow::{from_f64, to_host};
use crate::io::OutputFile;
use std::f64::consts::PI;
use std::path::Path;

/// Bins per axis of the PNG's panels.
const PLOT_BINS: usize = 64;
/// Top of the PNG's colour scale, in k_BT.
const PLOT_CEILING_KBT: f64 = 15.0;

/// Where a one- or two-dimensional energy model is normalised: a grid around its training data,
/// with the system's exact normalised log-density there when its log Z is known.
pub struct EnergySurface {
    grid: Grid,
    points: Vec<f64>,
    exact_log_density: Option<Vec<f64>>,
    /// k_BT in kJ/mol, when the system has a temperature.
    kbt_kj_per_mol: Option<f64>,
    /// The coordinates are angles: the data are wrapped into the grid's [−π, π) for the PNG.
    periodic: bool,
    /// The axes' names in the PNG: the angles' names when the system has them, else x₁, x₂.
    axis_names: [String; 2],
}

/// A learned energy evaluated at host points (`n × dim` in, `n` energies out).
pub type EnergyFn<'a> = &'a dyn Fn(&[f64]) -> Vec<f64>;

/// E_θ of an energy model as an [`EnergyFn`] on `device`.
pub fn model_energy<'a, B: FlowBackend>(
    model: &'a EnergyModel<B>,
    device: &'a B::Device,
) -> impl Fn(&[f64]) -> Vec<f64> + 'a {
    move |x: &[f64]| {
        let n = x.len() / model.dim();
        to_host(model.energy(from_f64(x.to_vec(), [n, model.dim()], device)))
    }
}

/// What [`EnergySurface::evaluate`] finds.
pub struct SurfaceEvaluation {
    /// Mean log p_θ of the test points.
    pub test_log_likelihood: Option<f64>,
    /// KL(p‖p_θ) on the grid, when the exact density is known.
    pub kl: Option<f64>,
}

impl EnergySurface {
    /// The surface for a model of `system`'s coordinates trained on `data` (`n × dim`,
    /// dim 1 or 2): over the data's box, or over the torus [−π, π)^dim for a model of angles
    /// (`periodic`).
    pub fn new(data: &[f64], system: &System, periodic: bool) -> Result<Self> {
        let grid = if periodic {
            Grid::torus(system.dim(), TORUS_GRID_POINTS)?
        } else {
            Grid::around(data, system.dim(), GRID_POINTS)?
        };
        let points = grid.points();
        let exact_log_density = match system.log_z() {
            Some(log_z) => {
                let u = system.evaluate(&points, false)?.u;
                Some(u.iter().map(|u| -u - log_z).collect())
            }
            None => None,
        };
        Ok(EnergySurface {
            grid,
            points,
            exact_log_density,
            kbt_kj_per_mol: system.metadata().temperature_kelvin.map(|t| BOLTZMANN * t),
            periodic,
            axis_names: match system.metadata().angles.as_deref() {
                Some([first, second]) => [first.clone(), second.clone()],
                _ => ["x₁".to_owned(), "x₂".to_owned()],
            },
        })
    }

    /// log p_θ at the grid's points, and log Z_θ.
    fn log_density(&self, energy: EnergyFn) -> (Vec<f64>, f64) {
        let energy = energy(&self.points);
        let log_z = self.grid.log_normaliser(&energy);
        (energy.iter().map(|e| -e - log_z).collect(), log_z)
    }

    /// The model's mean log-likelihood of `test` points (if any) and its KL(p‖p_θ) on the
    /// grid (if the exact density is known).
    pub fn evaluate(&self, energy: EnergyFn, test: Option<&[f64]>) -> SurfaceEvaluation {
        let (log_q, log_z) = self.log_density(energy);
        SurfaceEvaluation {
            test_log_likelihood: test.map(|x| {
                let e = energy(x);
                -e.iter().sum::<f64>() / e.len() as f64 - log_z
            }),
            kl: self
                .exact_log_density
                .as_ref()
                .map(|log_p| kl_divergence(log_p, &log_q, self.grid.cell_volume())),
        }
    }

    /// Writes the surface into `out` (group `energy`: `grid` points, `energy`, `log_density`,
    /// `exact_log_density` when known, `free_energy_kj_per_mol` when the system has a
    /// temperature; attributes `log_z` and `points_per_axis`) and, in two dimensions, the PNG
    /// `png`: the learned free energy beside the data's histogram (and the exact one).
    pub fn write(
        &self,
        energy: EnergyFn,
        data: &[f64],
        out: &OutputFile,
        png: &Path,
    ) -> Result<()> {
        let (log_q, log_z) = self.log_density(energy);
        let (n, dim) = (log_q.len(), self.grid.dim());
        out.write_array("energy/grid", &self.points, &[n, dim])?;
        let normalised: Vec<f64> = log_q.iter().map(|lq| -lq - log_z).collect();
        out.write_array("energy/energy", &normalised, &[n])?;
        out.write_array("energy/log_density", &log_q, &[n])?;
        if let Some(exact) = &self.exact_log_density {
            out.write_array("energy/exact_log_density", exact, &[n])?;
        }
        if let Some(kbt) = self.kbt_kj_per_mol {
            let density: Vec<f64> = log_q.iter().map(|lq| lq.exp()).collect();
            let (f, _) = free_energy(&density, &vec![0.0; n], kbt);
            out.write_array("energy/free_energy_kj_per_mol", &f, &[n])?;
        }
        out.set_f64("energy", "log_z", log_z)?;
        out.set_u64("energy", "points_per_axis", self.grid.axes()[0].bins as u64)?;
        if dim == 2 {
            self.draw(energy, data, png)?;
        }
        Ok(())
    }

    /// The PNG of [`EnergySurface::write`]: the learned and the data's free energies
    /// −log p − min, in k_BT, on [`PLOT_BINS`]² bins.
    fn draw(&self, energy: EnergyFn, data: &[f64], png: &Path) -> Result<()> {
        let bins = self.grid.with_points(PLOT_BINS);
        let centres = bins.points();
        let energy = energy(&centres);
        let min = energy.iter().copied().fold(f64::INFINITY, f64::min);
        let learned: Vec<f64> = energy.iter().map(|e| e - min).collect();
        let wrap = |v: f64| {
            if self.periodic {
                (v + PI).rem_euclid(2.0 * PI) - PI
            } else {
                v
            }
        };
        let coordinates: Vec<Vec<f64>> = (0..2)
            .map(|j| data.iter().skip(j).step_by(2).map(|v| wrap(*v)).collect())
            .collect();
        let histogram = density(
            &[&coordinates[0], &coordinates[1]],
            &vec![1.0; data.len() / 2],
            bins.axes(),
        );
        let no_errors = vec![0.0; histogram.len()];
        let panels = [
            ("learned", learned),
            ("data", free_energy(&histogram, &no_errors, 1.0).0),
        ];
        let edges: Vec<Vec<f64>> = bins.axes().iter().map(|a| a.edges()).collect();
        let axes = SurfaceAxes {
            x_edges: &edges[0],
            y_edges: &edges[1],
            x_desc: &self.axis_names[0],
            y_desc: &self.axis_names[1],
            labels: &|v| format!("{v:.1}"),
        };
        surface_panels(png, &axes, &panels, "k_BT", PLOT_CEILING_KBT)
    }
}
