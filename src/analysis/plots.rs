//! PNG plots: free-energy surfaces side by side (Ramachandran plots of the dihedral analyses,
//! learned energies against their data) and 1D marginals with error bands.
//!
//! Drawn with plotters' bitmap backend and the DejaVu Sans font embedded in the binary (the
//! `dejavu` crate through plotters' `ab_glyph` feature), so no system font is needed. Each PNG
//! is written under a temporary name and renamed into place when complete.

use crate::analysis::histogram::Binning;
use crate::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

/// Side of one square Ramachandran panel, in pixels.
pub const PANEL: u32 = 480;
/// Width of the Ramachandran colour bar, in pixels.
pub const COLORBAR: u32 = 130;
/// Width of one marginal panel, in pixels.
pub const MARGINAL_WIDTH: u32 = 560;
/// Height of the marginals image, in pixels.
pub const MARGINAL_HEIGHT: u32 = 420;

/// The font family name the embedded font is registered under.
const FONT: &str = "sans-serif";
/// Colours of the series of a marginal panel, in order.
const PALETTE: [RGBColor; 4] = [
    RGBColor(230, 120, 20),
    RGBColor(30, 100, 200),
    RGBColor(20, 20, 20),
    RGBColor(40, 160, 60),
];

type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// One density curve of a marginal panel, with its standard errors (drawn as a ±1 stderr band).
#[derive(Clone, Copy, Debug)]
pub struct Series<'a> {
    /// Legend text.
    pub label: &'a str,
    /// Density per radian, one value per bin.
    pub density: &'a [f64],
    /// Its standard error, one value per bin (NaN draws no band).
    pub stderr: &'a [f64],
}

/// The top of the free-energy colour scale, kJ/mol (about 16 k_BT at 300 K: the range over
/// which a Ramachandran surface has structure).
pub const F_CEILING: f64 = 40.0;

/// Writes `path` ([`PANEL`]·k + [`COLORBAR`] × [`PANEL`] pixels): one free-energy surface
/// F(φ, ψ) per entry of `surfaces` (title, F row-major [φ bin][ψ bin] in `unit`) on a common
/// colour scale from 0 to the largest finite F of all of them, capped at [`F_CEILING`] (a few
/// stray low-weight samples would otherwise stretch the scale over hundreds of kJ/mol and flatten
/// the basins into one colour; bins above it take the top colour); empty bins (+∞) stay white.
pub fn ramachandran(
    path: &Path,
    binning: Binning,
    surfaces: &[(&str, Vec<f64>)],
    unit: &str,
) -> Result<()> {
    let edges: Vec<f64> = binning.edges().iter().map(|e| e.to_degrees()).collect();
    let axes = SurfaceAxes {
        x_edges: &edges,
        y_edges: &edges,
        x_desc: "φ (degrees)",
        y_desc: "ψ (degrees)",
        labels: &degrees,
    };
    surface_panels(path, &axes, surfaces, unit, F_CEILING)
}

/// The axes of the panels of [`surface_panels`].
pub struct SurfaceAxes<'a> {
    /// Bin edges along x (one more than the bins).
    pub x_edges: &'a [f64],
    /// Bin edges along y.
    pub y_edges: &'a [f64],
    /// Label of the x axis.
    pub x_desc: &'a str,
    /// Label of the y axis.
    pub y_desc: &'a str,
    /// How tick values are written.
    pub labels: &'a dyn Fn(&f64) -> String,
}

/// Writes `path` ([`PANEL`]·k + [`COLORBAR`] × [`PANEL`] pixels): one surface per entry of
/// `surfaces` (title, values row-major [x bin][y bin] in `unit`) on a common colour scale from 0
/// to the largest finite value of all of them, capped at `ceiling` (bins above it take the top
/// colour); bins at +∞ stay white.
pub fn surface_panels(
    path: &Path,
    axes: &SurfaceAxes,
    surfaces: &[(&str, Vec<f64>)],
    unit: &str,
    ceiling: f64,
) -> Result<()> {
    let k = surfaces.len().max(1) as u32;
    let f_max = surfaces
        .iter()
        .flat_map(|(_, f)| f.iter().copied())
        .filter(|f| f.is_finite())
        .fold(0.0, f64::max);
    let f_max = if f_max > 0.0 { f_max.min(ceiling) } else { 1.0 };
    let (xs, ys) = (axes.x_edges, axes.y_edges);
    let (nx, ny) = (xs.len() - 1, ys.len() - 1);
    write_png(path, (PANEL * k + COLORBAR, PANEL), |root| {
        let (panels, bar) = root.split_horizontally(PANEL * k);
        for (area, (title, f)) in panels.split_evenly((1, k as usize)).iter().zip(surfaces) {
            let mut chart = ChartBuilder::on(area)
                .caption(*title, (FONT, 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d(xs[0]..xs[nx], ys[0]..ys[ny])?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(7)
                .y_labels(7)
                .x_label_formatter(axes.labels)
                .y_label_formatter(axes.labels)
                .x_desc(axes.x_desc)
                .y_desc(axes.y_desc)
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 15))
                .draw()?;
            chart.draw_series((0..nx * ny).filter_map(|flat| {
                let (i, j) = (flat / ny, flat % ny);
                let v = f[flat];
                v.is_finite().then(|| {
                    Rectangle::new(
                        [(xs[i], ys[j]), (xs[i + 1], ys[j + 1])],
                        ViridisRGB::get_color_normalized(v.min(f_max), 0.0, f_max).filled(),
                    )
                })
            }))?;
        }
        let mut scale = ChartBuilder::on(&bar)
            .margin_top(40)
            .margin_bottom(50)
            .margin_right(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..1.0, 0.0..f_max)?;
        scale
            .configure_mesh()
            .disable_mesh()
            .disable_x_axis()
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc(format!("F ({unit})"))
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .draw()?;
        let steps = 100;
        scale.draw_series((0..steps).map(|s| {
            let (a, b) = (s as f64 / steps as f64, (s + 1) as f64 / steps as f64);
            Rectangle::new(
                [(0.0, a * f_max), (1.0, b * f_max)],
                ViridisRGB::get_color_normalized(0.5 * (a + b), 0.0, 1.0).filled(),
            )
        }))?;
        Ok(())
    })
}

/// Writes `path` ([`MARGINAL_WIDTH`]·m × [`MARGINAL_HEIGHT`] pixels): one panel per entry of
/// `panels` (dihedral name, its curves) with the densities against the angle in degrees and
/// ±1 standard error bands.
pub fn marginals(path: &Path, binning: Binning, panels: &[(&str, Vec<Series>)]) -> Result<()> {
    let m = panels.len().max(1) as u32;
    let centres: Vec<f64> = binning.centres().iter().map(|c| c.to_degrees()).collect();
    let (lo, hi) = (binning.lo.to_degrees(), binning.hi.to_degrees());
    write_png(path, (MARGINAL_WIDTH * m, MARGINAL_HEIGHT), |root| {
        for (area, (name, series)) in root.split_evenly((1, m as usize)).iter().zip(panels) {
            let top = series
                .iter()
                .flat_map(|s| {
                    s.density
                        .iter()
                        .zip(s.stderr)
                        .map(|(d, e)| d + if e.is_finite() { *e } else { 0.0 })
                })
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max);
            let top = if top > 0.0 { 1.05 * top } else { 1.0 };
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{name} marginal"), (FONT, 18))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(55)
                .build_cartesian_2d(lo..hi, 0.0..top)?;
            chart
                .configure_mesh()
                .disable_mesh()
                .x_labels(7)
                .x_label_formatter(&degrees)
                .x_desc(format!("{name} (degrees)"))
                .y_desc("density (1/rad)")
                .label_style((FONT, 13))
                .axis_desc_style((FONT, 15))
                .draw()?;
            for (s, color) in series.iter().zip(PALETTE.iter().cycle()) {
                let band = |sign: f64| {
                    move |(c, (d, e)): (&f64, (&f64, &f64))| {
                        let e = if e.is_finite() { *e } else { 0.0 };
                        (*c, (d + sign * e).max(0.0))
                    }
                };
                let mut outline: Vec<(f64, f64)> = centres
                    .iter()
                    .zip(s.density.iter().zip(s.stderr))
                    .map(band(1.0))
                    .collect();
                outline.extend(
                    centres
                        .iter()
                        .zip(s.density.iter().zip(s.stderr))
                        .map(band(-1.0))
                        .rev(),
                );
                chart.draw_series(std::iter::once(Polygon::new(
                    outline,
                    color.mix(0.25).filled(),
                )))?;
                let color = *color;
                chart
                    .draw_series(LineSeries::new(
                        centres.iter().copied().zip(s.density.iter().copied()),
                        color.stroke_width(2),
                    ))?
                    .label(s.label)
                    .legend(move |(x, y)| {
                        PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    })
}

/// A tick label in whole degrees.
fn degrees(v: &f64) -> String {
    format!("{v:.0}")
}

/// Draws into a white bitmap of `size` and saves it as `path` (through a temporary PNG beside
/// it, renamed into place).
fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, Shift>) -> DrawResult,
) -> Result<()> {
    register_font()?;
    let temp = crate::io::temp_path(path, ".png")?;
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&temp, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    let result = drawn
        .map_err(|e| std::io::Error::other(e.to_string()))
        .and_then(|()| std::fs::rename(&temp, path));
    result.map_err(|source| {
        let _ = std::fs::remove_file(&temp);
        Error::Io {
            path: path.to_owned(),
            source,
        }
    })
}

/// Registers the embedded DejaVu Sans as the plots' font, once.
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular()).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "the embedded plot font could not be loaded".to_owned(),
        ))
    }
}
