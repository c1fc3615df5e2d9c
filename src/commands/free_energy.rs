//! `boltzflow free-energy`: free-energy differences between thermodynamic states from samples
//! of them (exponential averaging, BAR, MBAR, and density ratios through a transport flow).

use super::{check_memory, progress_bar};
use crate::backend::{AutodiffFlowBackend, DeviceKind, OnDevice, run_on};
use crate::config::read_ron_file;
use crate::energy::BOLTZMANN;
use crate::free_energy::dre::DreResult;
use crate::free_energy::{
    DreContext, EstimatorResult, FreeEnergyConfig, RatioCheck, State, chained, load_states,
    reduced_energies, run_estimator,
};
use crate::io::{OutputFile, check_output, folder_of};
use crate::job::StopFlag;
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Free-energy differences between thermodynamic states, from samples of them.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The configuration (RON): the states (system files and samples) and the estimators.
    pub config: PathBuf,
    /// HDF5 file to write (/free_energy/<estimator>, /free_energy/u_kn, …).
    #[arg(long)]
    pub output: PathBuf,
    /// Folder of the density-ratio estimator's training runs (one per pair of states,
    /// resumable); OUTPUT without its extension, plus `.dre`, by default.
    #[arg(long)]
    pub runs: Option<PathBuf>,
    /// Where the density-ratio estimator's networks run.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

/// Evaluates every sample at every state, runs the estimators and writes their results. An
/// estimator that fails (MBAR without overlap, say) is reported and the others are written; the
/// command fails only when every one fails. Ctrl-C during the density-ratio estimator's training
/// saves its checkpoint and writes nothing; the same command resumes it.
pub fn run(args: Args) -> Result<()> {
    run_on(args.device, args)
}

impl OnDevice for Args {
    type Output = ();

    fn run<B: AutodiffFlowBackend>(self, device: B::Device) -> Result<()> {
        estimate::<B>(self, device)
    }
}

fn estimate<B: AutodiffFlowBackend>(args: Args, device: B::Device) -> Result<()> {
    let (config, text): (FreeEnergyConfig, String) = read_ron_file(&args.config)?;
    config.validate()?;
    let folder = folder_of(&args.config);
    let mut inputs: Vec<PathBuf> = vec![args.config.clone()];
    for state in &config.states {
        inputs.push(folder.join(&state.system));
        inputs.extend(state.samples.as_ref().map(|s| folder.join(s)));
    }
    check_output(
        &args.output,
        &inputs.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
    )?;
    let states = load_states(&config, folder)?;
    let k = states.len();
    let n: usize = states.iter().map(State::n).sum();
    // u_kn, MBAR's weights and a copy while the matrix is built.
    check_memory(
        n.saturating_mul(k).saturating_mul(3 * 8),
        "the samples of these states",
    )?;
    for (i, state) in states.iter().enumerate() {
        if let Some(from) = state.resampled_from {
            eprintln!(
                "state {i}: {} weighted samples resampled to {} (their effective sample size)",
                from,
                state.n()
            );
        }
    }
    let bar = progress_bar(n as u64, "evaluating every sample at every state");
    let evaluated = reduced_energies(&states, config.subsample, &bar)?;
    bar.finish_and_clear();
    for (i, state) in states.iter().enumerate().filter(|(_, s)| s.n() > 0) {
        let used = evaluated.energies.counts()[i];
        if used < state.n() {
            eprintln!(
                "state {i}: {used} of {} samples used (statistical inefficiency g = {:.2})",
                state.n(),
                evaluated.inefficiency[i]
            );
        }
    }
    if evaluated.dropped > 0 {
        eprintln!(
            "warning: {} samples have a non-finite energy at their own state and were dropped",
            evaluated.dropped
        );
    }
    if evaluated.nan_elsewhere > 0 {
        eprintln!(
            "warning: {} energies at other states are NaN and were taken as +∞",
            evaluated.nan_elsewhere
        );
    }
    let dre = DreContext::<B> {
        runs: args
            .runs
            .clone()
            .unwrap_or_else(|| args.output.with_extension("dre")),
        seed: config.seed,
        stop: StopFlag::ctrl_c(),
        show_progress: true,
        device,
    };
    let mut results = Vec::new();
    for estimator in &config.estimators {
        match run_estimator(estimator, &states, &evaluated, &dre) {
            Ok(result) => results.push(result),
            Err(e @ Error::Interrupted(_)) => return Err(e),
            Err(e) => eprintln!("warning: {} failed: {e}", estimator.name()),
        }
    }
    if results.is_empty() {
        return Err(Error::InvalidArgument(
            "every estimator failed (see the warnings above); nothing was written".into(),
        ));
    }
    let temperature = common_temperature(&states);
    let written = write(
        &args.output,
        &text,
        &states,
        &evaluated,
        &results,
        temperature,
    )?;
    print_summary(&results, temperature);
    eprintln!("wrote {}", written.display());
    Ok(())
}

/// The temperature of all the states, when they have one and it is the same.
fn common_temperature(states: &[State]) -> Option<f64> {
    let t = states[0].system.metadata().temperature_kelvin?;
    states
        .iter()
        .all(|s| s.system.metadata().temperature_kelvin == Some(t))
        .then_some(t)
}

fn write(
    path: &Path,
    config_text: &str,
    states: &[State],
    evaluated: &crate::free_energy::Evaluated,
    results: &[EstimatorResult],
    temperature: Option<f64>,
) -> Result<PathBuf> {
    let out = OutputFile::create(path)?;
    out.write_program("free-energy")?;
    out.set_str("", "config", config_text)?;
    out.set_str(
        "",
        "units",
        "free energies f = −log Z in k_BT (reduced); kJ/mol where every state has one temperature",
    )?;
    if let Some(t) = temperature {
        out.set_f64("", "temperature_kelvin", t)?;
    }
    for (i, state) in states.iter().enumerate() {
        let group = format!("free_energy/states/{i}");
        out.set_str(
            &group,
            "system_file",
            &state.file.path.display().to_string(),
        )?;
        out.set_str(&group, "system_config", &state.file.text)?;
        out.set_str(&group, "system", &state.system.metadata().system)?;
        if let Some(samples) = &state.samples_file {
            out.set_str(&group, "samples_file", &samples.display().to_string())?;
        }
        out.set_u64(&group, "n_samples", evaluated.energies.counts()[i] as u64)?;
        if state.n() > 0 {
            out.set_u64(&group, "n_samples_read", state.n() as u64)?;
            out.set_f64(
                &group,
                "statistical_inefficiency",
                evaluated.inefficiency[i],
            )?;
        }
        if let Some(from) = state.resampled_from {
            out.set_u64(&group, "n_weighted_samples_read", from as u64)?;
        }
    }
    let energies = &evaluated.energies;
    let (k, n) = (energies.states(), energies.samples());
    // Row-major K × N for readers (nalgebra stores column-major).
    out.write_array(
        "free_energy/u_kn",
        energies.matrix().transpose().as_slice(),
        &[k, n],
    )?;
    let counts: Vec<u64> = energies.counts().iter().map(|&c| c as u64).collect();
    out.set_u64s("free_energy", "n_k", &counts)?;
    out.set_u64("free_energy", "dropped_samples", evaluated.dropped as u64)?;
    for result in results {
        let group = format!("free_energy/{}", result.estimator.name());
        out.set_f64(&group, "delta_f", result.total.delta_f)?;
        out.set_f64(&group, "delta_f_stderr", result.total.stderr)?;
        if let Some(t) = temperature {
            let kt = BOLTZMANN * t;
            out.set_f64(&group, "delta_f_kj_per_mol", result.total.delta_f * kt)?;
            out.set_f64(
                &group,
                "delta_f_stderr_kj_per_mol",
                result.total.stderr * kt,
            )?;
        }
        out.set_u64(&group, "n_samples", n as u64)?;
        let pairs = |f: fn(&crate::free_energy::Estimate) -> f64| -> Vec<f64> {
            result.pairs.iter().map(f).collect()
        };
        out.write_array(
            &format!("{group}/pair_delta_f"),
            &pairs(|p| p.delta_f),
            &[k - 1],
        )?;
        out.write_array(
            &format!("{group}/pair_delta_f_stderr"),
            &pairs(|p| p.stderr),
            &[k - 1],
        )?;
        if let Some(mbar) = &result.mbar {
            let matrix = |f: &dyn Fn(usize, usize) -> f64| -> Vec<f64> {
                (0..k * k).map(|i| f(i / k, i % k)).collect()
            };
            out.write_array(
                &format!("{group}/free_energies"),
                mbar.free_energies(),
                &[k],
            )?;
            out.write_array(
                &format!("{group}/delta_f"),
                &matrix(&|i, j| mbar.delta_f(i, j).delta_f),
                &[k, k],
            )?;
            out.write_array(
                &format!("{group}/delta_f_stderr"),
                &matrix(&|i, j| mbar.delta_f(i, j).stderr),
                &[k, k],
            )?;
            let overlap = mbar.overlap();
            out.write_array(
                &format!("{group}/overlap"),
                &matrix(&|i, j| overlap[(i, j)]),
                &[k, k],
            )?;
        }
    }
    write_dre(&out, results, n)?;
    out.commit()
}

/// The density-ratio estimator's outputs: `/ratios/log_ratio` (K − 1 × N: log q_{i+1}/q_i at
/// every sample), `/transport/…` per pair, and the KL estimates and training curves under
/// `/free_energy/dre`.
fn write_dre(out: &OutputFile, results: &[EstimatorResult], n: usize) -> Result<()> {
    let Some(result) = results.iter().find(|r| !r.dre.is_empty()) else {
        return Ok(());
    };
    let pairs = &result.dre;
    let m = pairs.len();
    let per_pair = |f: &dyn Fn(&DreResult) -> f64| pairs.iter().map(f).collect::<Vec<f64>>();
    let log_ratio: Vec<f64> = pairs.iter().flat_map(|p| p.log_ratio.clone()).collect();
    out.write_array("ratios/log_ratio", &log_ratio, &[m, n])?;
    out.set_str(
        "ratios",
        "description",
        "row i: log q_{i+1}(x)/q_i(x) of the density-ratio estimator at every sample (the \
         columns of /free_energy/u_kn)",
    )?;
    out.write_array(
        "transport/cost",
        &per_pair(&|p| p.transport_cost.mean),
        &[m],
    )?;
    out.write_array(
        "transport/cost_stderr",
        &per_pair(&|p| p.transport_cost.stderr),
        &[m],
    )?;
    out.write_array("transport/map_cost", &per_pair(&|p| p.map_cost.mean), &[m])?;
    out.write_array(
        "transport/map_cost_stderr",
        &per_pair(&|p| p.map_cost.stderr),
        &[m],
    )?;
    out.write_array(
        "transport/inversion_error",
        &per_pair(&|p| p.inversion_error),
        &[m],
    )?;
    let group = "free_energy/dre";
    if !result.mapped_bar.is_empty() {
        let mapped = &result.mapped_bar;
        out.write_array(
            &format!("{group}/mapped_bar_pair_delta_f"),
            &mapped.iter().map(|e| e.delta_f).collect::<Vec<_>>(),
            &[m],
        )?;
        out.write_array(
            &format!("{group}/mapped_bar_pair_delta_f_stderr"),
            &mapped.iter().map(|e| e.stderr).collect::<Vec<_>>(),
            &[m],
        )?;
        let total = chained(mapped);
        out.set_f64(group, "mapped_bar_delta_f", total.delta_f)?;
        out.set_f64(group, "mapped_bar_delta_f_stderr", total.stderr)?;
    }
    for (name, f) in [
        (
            "kl_forward",
            &(|p: &DreResult| p.kl_pq.mean) as &dyn Fn(&DreResult) -> f64,
        ),
        ("kl_forward_stderr", &|p: &DreResult| p.kl_pq.stderr),
        ("kl_reverse", &|p: &DreResult| p.kl_qp.mean),
        ("kl_reverse_stderr", &|p: &DreResult| p.kl_qp.stderr),
        ("classifier_kl_forward", &|p: &DreResult| {
            p.classifier_kl[0].mean
        }),
        ("classifier_kl_reverse", &|p: &DreResult| {
            p.classifier_kl[1].mean
        }),
        ("n_held_out", &|p: &DreResult| {
            (p.held_out[0].len() + p.held_out[1].len()) as f64
        }),
    ] {
        out.write_array(&format!("{group}/{name}"), &per_pair(f), &[m])?;
    }
    let checks = &result.ratio_checks;
    let check = |f: &dyn Fn(&RatioCheck) -> f64| checks.iter().map(f).collect::<Vec<f64>>();
    for (name, values) in [
        ("residual_sd", check(&|c| c.residual_sd)),
        ("delta_f_from_first", check(&|c| c.delta_f_by_state[0])),
        ("delta_f_from_second", check(&|c| c.delta_f_by_state[1])),
    ] {
        out.write_array(&format!("{group}/{name}"), &values, &[m])?;
    }
    for (i, pair) in pairs.iter().enumerate() {
        let h = &pair.history;
        let column = |f: &dyn Fn(&crate::free_energy::dre::DreRow) -> f64| {
            h.iter().map(f).collect::<Vec<f64>>()
        };
        let curves = format!("{group}/training/pair_{i}");
        for (name, values) in [
            ("step", column(&|r| r.step as f64)),
            ("loss", column(&|r| r.loss)),
            ("objective", column(&|r| r.objective)),
            (
                "transport_cost",
                column(&|r| r.transport_cost.unwrap_or(f64::NAN)),
            ),
            ("classifier_loss", column(&|r| r.classifier_loss)),
            ("grad_norm", column(&|r| r.grad_norm)),
        ] {
            out.write_array(&format!("{curves}/{name}"), &values, &[h.len()])?;
        }
    }
    Ok(())
}

fn print_summary(results: &[EstimatorResult], temperature: Option<f64>) {
    println!("Δf from the first state to the last:");
    for result in results {
        let t = result.total;
        let kj = temperature
            .map(|t_k| {
                let kt = BOLTZMANN * t_k;
                format!("  ({:.4} ± {:.4} kJ/mol)", t.delta_f * kt, t.stderr * kt)
            })
            .unwrap_or_default();
        println!(
            "  {:<12} {:>12.6} ± {:.6} k_BT{kj}",
            result.estimator.name(),
            t.delta_f,
            t.stderr
        );
        if !result.mapped_bar.is_empty() {
            let t = chained(&result.mapped_bar);
            println!(
                "  {:<12} {:>12.6} ± {:.6} k_BT  (BAR on the works of the flow's map)",
                "dre (mapped)", t.delta_f, t.stderr
            );
        }
        for (i, pair) in result.dre.iter().enumerate() {
            println!(
                "    pair {i}: KL(P‖Q) {:.4} ± {:.4}, KL(Q‖P) {:.4} ± {:.4} (one classifier: {:.4}, \
                 {:.4}); transport cost {:.4} (path), {:.4} (map), inversion error {:.2e}",
                pair.kl_pq.mean,
                pair.kl_pq.stderr,
                pair.kl_qp.mean,
                pair.kl_qp.stderr,
                pair.classifier_kl[0].mean,
                pair.classifier_kl[1].mean,
                pair.transport_cost.mean,
                pair.map_cost.mean,
                pair.inversion_error
            );
            if let Some(check) = result.ratio_checks.get(i) {
                let [first, second] = check.delta_f_by_state;
                println!(
                    "    pair {i}: log q/p + Δu over held-out samples: sd {:.4}, mean {first:.4} \
                     on the first state's and {second:.4} on the second's (sd 0 and equal means \
                     where the ratio is exact; not in the error bar)",
                    check.residual_sd
                );
            }
        }
    }
}
