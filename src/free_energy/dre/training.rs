//! Training the estimator, as a [`Job`] for the driver (progress bar, checkpoints, Ctrl-C,
//! exact resume): phase 1 trains the transport flow with its two classifiers, phase 2 the ratio
//! network (and the single classifier beside it) on the frozen flow's trajectories.

use super::DreConfig;
use super::model::{DreModel, interval_logit, logistic_loss, logit, path_cost, trajectory};
use crate::flow::from_f64;
use crate::flow::to_host;
use crate::job::Job;
use crate::train::{Checkpoint, TrainState, clip_global_norm, seed_for_step};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use indicatif::ProgressBar;
use rand::{Rng, RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// What a checkpoint was made from; a resumed run must match it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DreSetup {
    /// The settings.
    pub config: DreConfig,
    /// Dimension of the samples.
    pub dim: usize,
    /// The seed of batches and initial weights.
    pub seed: u64,
    /// Training samples of P and Q.
    pub n_train: [usize; 2],
    /// Sums of the training samples' coordinates and squares, a fingerprint of the data.
    pub fingerprint: [f64; 4],
}

/// One logged step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DreRow {
    /// Step index (phase 2 continues the count of phase 1).
    pub step: usize,
    /// Total loss.
    pub loss: f64,
    /// Phase 1: the KL terms as the classifiers see them (mean logits); phase 2: the ratio
    /// network's telescoping logistic loss.
    pub objective: f64,
    /// Phase 1: the mean path cost of the forward and backward batches.
    pub transport_cost: Option<f64>,
    /// The classifiers' logistic loss (phase 1: the two KL classifiers; phase 2: the baseline).
    pub classifier_loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

const HISTORY: &str = "dre_history.ron";

/// Training of one pair of sample sets.
pub struct DreTraining<B: AutodiffBackend> {
    setup: DreSetup,
    p: Vec<f64>,
    q: Vec<f64>,
    model: Option<DreModel<B>>,
    optimizer: Option<OptimizerAdaptor<AdamW, DreModel<B>, B>>,
    state: TrainState,
    history: Vec<DreRow>,
    checkpoint: Checkpoint,
    device: B::Device,
}

fn new_optimizer<B: AutodiffBackend>() -> OptimizerAdaptor<AdamW, DreModel<B>, B> {
    AdamWConfig::new().with_weight_decay(0.0).init()
}

/// Sums of coordinates and of squares of two sample sets.
fn fingerprint(p: &[f64], q: &[f64]) -> [f64; 4] {
    let sums = |x: &[f64]| (x.iter().sum::<f64>(), x.iter().map(|v| v * v).sum::<f64>());
    let ((a, b), (c, d)) = (sums(p), sums(q));
    [a, b, c, d]
}

impl<B: AutodiffBackend> DreTraining<B> {
    /// Prepares training on the samples `p` and `q` (row-major, `dim` columns), resuming from
    /// the checkpoint in `run_dir` when there is one made from the same settings and data.
    pub fn new(
        config: &DreConfig,
        dim: usize,
        seed: u64,
        p: Vec<f64>,
        q: Vec<f64>,
        run_dir: &std::path::Path,
        device: B::Device,
    ) -> Result<Self> {
        config.validate()?;
        let setup = DreSetup {
            config: config.clone(),
            dim,
            seed,
            n_train: [p.len() / dim, q.len() / dim],
            fingerprint: fingerprint(&p, &q),
        };
        crate::flow::set_precision::<B>(&device, config.precision)?;
        let checkpoint = Checkpoint::of_run(run_dir);
        B::seed(&device, seed);
        let mut model = DreModel::new(config, dim, &device)?;
        let mut optimizer = new_optimizer();
        let (mut state, mut history) = (TrainState::default(), Vec::new());
        if checkpoint.exists() {
            let saved: DreSetup = checkpoint.model_config()?;
            if saved != setup {
                return Err(Error::InvalidArgument(format!(
                    "{} holds a density-ratio run of other settings or samples; delete it to \
                     start again, or restore the configuration and samples to resume it",
                    run_dir.display()
                )));
            }
            model = checkpoint.load_model(model, &device)?;
            optimizer = checkpoint.load_optimizer(optimizer, &device)?;
            state = checkpoint.state()?;
            history = crate::config::read_ron_file(&checkpoint.dir().join(HISTORY))?.0;
        }
        Ok(DreTraining {
            setup,
            p,
            q,
            model: Some(model),
            optimizer: Some(optimizer),
            state,
            history,
            checkpoint,
            device,
        })
    }

    /// The networks (trained once [`Job::done`] equals [`Job::total`]).
    pub fn model(&self) -> &DreModel<B> {
        self.model.as_ref().expect("present between steps")
    }

    /// The logged steps.
    pub fn history(&self) -> &[DreRow] {
        &self.history
    }

    fn config(&self) -> &DreConfig {
        &self.setup.config
    }

    /// `batch_size` rows of `x` drawn with replacement.
    fn batch(&self, x: &[f64], rng: &mut impl Rng) -> Tensor<B, 2> {
        let (dim, size) = (self.setup.dim, self.config().batch_size);
        let n = x.len() / dim;
        let rows: Vec<f64> = (0..size)
            .flat_map(|_| {
                let i = rng.random_range(0..n);
                x[i * dim..(i + 1) * dim].iter().copied()
            })
            .collect();
        from_f64(rows, [size, dim], &self.device)
    }

    /// Phase 1: E_P[D_f(T x)] + E_Q[D_b(T⁻¹ y)] + γ·(path costs), with the classifiers held
    /// fixed in these terms (their gradient with respect to the flow is that of the two KL
    /// divergences), plus the classifiers' own logistic losses on the detached end points.
    fn flow_loss(
        model: &DreModel<B>,
        config: &DreConfig,
        step: usize,
        xp: Tensor<B, 2>,
        yq: Tensor<B, 2>,
    ) -> (Tensor<B, 1>, [Tensor<B, 1>; 3]) {
        let k = config.time_steps;
        let forward = trajectory(&model.field, xp.clone(), k, true);
        let backward = trajectory(&model.field, yq.clone(), k, false);
        let pushed = forward.last().expect("nodes").clone();
        let pulled = backward.last().expect("nodes").clone();
        let cost = (path_cost(&forward).mean() + path_cost(&backward).mean()).div_scalar(2.0);
        let frozen_forward = model.forward_classifier.clone().no_grad();
        let frozen_backward = model.backward_classifier.clone().no_grad();
        let kl = logit(&frozen_forward, pushed.clone()).mean()
            + logit(&frozen_backward, pulled.clone()).mean();
        let classifiers = logistic_loss(
            logit(&model.forward_classifier, pushed.detach()),
            logit(&model.forward_classifier, yq),
        ) + logistic_loss(
            logit(&model.backward_classifier, pulled.detach()),
            logit(&model.backward_classifier, xp),
        );
        let loss = kl.clone()
            + cost.clone().mul_scalar(config.transport_weight_at(step))
            + classifiers.clone();
        (loss, [kl, cost, classifiers])
    }

    /// Phase 2: the telescoping logistic loss of the ratio network between the distributions at
    /// consecutive nodes (P at t = 0, Q at t = 1, and in between the forward trajectories of P
    /// and the backward ones of Q pooled), plus the baseline classifier's loss between P and Q.
    fn ratio_loss(
        model: &DreModel<B>,
        config: &DreConfig,
        xp: Tensor<B, 2>,
        yq: Tensor<B, 2>,
    ) -> (Tensor<B, 1>, [Tensor<B, 1>; 2]) {
        let k = config.time_steps;
        let field = model.field.valid();
        let forward = trajectory(&field, xp.clone().inner(), k, true);
        let backward = trajectory(&field, yq.clone().inner(), k, false);
        let at = |j: usize| -> Tensor<B, 2> {
            match j {
                0 => xp.clone(),
                j if j == k => yq.clone(),
                j => Tensor::from_inner(Tensor::cat(
                    vec![forward[j].clone(), backward[k - j].clone()],
                    0,
                )),
            }
        };
        let telescoping = (0..k)
            .map(|j| {
                logistic_loss(
                    interval_logit(&model.ratio, at(j + 1), j, k),
                    interval_logit(&model.ratio, at(j), j, k),
                )
            })
            .reduce(|a, b| a + b)
            .expect("at least one interval");
        let direct = logistic_loss(
            logit(&model.direct_classifier, yq),
            logit(&model.direct_classifier, xp),
        );
        (telescoping.clone() + direct.clone(), [telescoping, direct])
    }

    /// One gradient step; `None` when skipped as non-finite.
    fn train_step(&mut self) -> Result<Option<DreRow>> {
        let step = self.state.step;
        let seed = seed_for_step(self.setup.seed, step);
        B::seed(&self.device, seed);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let xp = self.batch(&self.p, &mut rng);
        let yq = self.batch(&self.q, &mut rng);
        let config = self.setup.config.clone();
        let model = self.model.take().expect("present between steps");
        let (loss, objective, transport_cost, classifier_loss) = if step < config.flow_steps {
            let (loss, [kl, cost, classifiers]) = Self::flow_loss(&model, &config, step, xp, yq);
            (loss, kl, Some(cost), classifiers)
        } else {
            let (loss, [telescoping, direct]) = Self::ratio_loss(&model, &config, xp, yq);
            (loss, telescoping, None, direct)
        };
        let scalar = |t: Tensor<B, 1>| to_host(t)[0];
        let row_values = (
            scalar(loss.clone()),
            scalar(objective),
            transport_cost.map(scalar),
            scalar(classifier_loss),
        );
        self.state.step += 1;
        if !row_values.0.is_finite() {
            self.state.skipped_steps += 1;
            self.model = Some(model);
            return Ok(None);
        }
        // The field and the other networks learn at their own rates: two optimiser steps on
        // disjoint parameters (Adam's state is per parameter).
        let mut gradients = loss.backward();
        let mut field_grads = GradientsParams::from_module(&mut gradients, &model.field);
        let mut other_grads = GradientsParams::from_grads(gradients, &model);
        let norms = [&mut field_grads, &mut other_grads]
            .map(|grads| clip_global_norm(&model, grads, config.clip_grad_norm));
        let grad_norm = norms[0].hypot(norms[1]);
        if !grad_norm.is_finite() {
            self.state.skipped_steps += 1;
            self.model = Some(model);
            return Ok(None);
        }
        let mut optimizer = self.optimizer.take().expect("present between steps");
        let model = optimizer.step(config.flow_learning_rate, model, field_grads);
        self.model = Some(optimizer.step(config.learning_rate, model, other_grads));
        self.optimizer = Some(optimizer);
        let row = DreRow {
            step,
            loss: row_values.0,
            objective: row_values.1,
            transport_cost: row_values.2,
            classifier_loss: row_values.3,
            grad_norm,
        };
        self.history.push(row.clone());
        Ok(Some(row))
    }
}

/// Consecutive non-finite steps after which training stops as diverged.
const MAX_CONSECUTIVE_SKIPS: usize = 50;

impl<B: AutodiffBackend> Job for DreTraining<B> {
    fn done(&self) -> u64 {
        self.state.step as u64
    }

    fn total(&self) -> u64 {
        self.config().total_steps() as u64
    }

    fn step(&mut self, progress: &ProgressBar) -> Result<()> {
        match self.train_step()? {
            Some(DreRow {
                objective,
                transport_cost: Some(cost),
                ..
            }) => progress.set_message(format!(
                "flow: KL terms {objective:.3} · path cost {cost:.3}"
            )),
            Some(row) => progress.set_message(format!(
                "ratio network: telescoping loss {:.4}",
                row.objective
            )),
            None if self.consecutive_skips() >= MAX_CONSECUTIVE_SKIPS => {
                return Err(Error::Diverged {
                    steps: MAX_CONSECUTIVE_SKIPS,
                    at: self.state.step,
                });
            }
            None => {}
        }
        Ok(())
    }

    fn checkpoint_due(&self) -> bool {
        let done = self.state.step;
        done.is_multiple_of(self.config().checkpoint_every)
            || done == self.config().total_steps()
            || done == self.config().flow_steps
    }

    fn checkpoint(&mut self, _progress: &ProgressBar) -> Result<()> {
        self.save()
    }

    fn save(&mut self) -> Result<()> {
        let history = &self.history;
        self.checkpoint.save(
            &self.setup,
            self.model(),
            self.optimizer.as_ref().expect("present between steps"),
            &self.state,
            |dir| crate::config::write_ron_file(&dir.join(HISTORY), history),
        )
    }
}

impl<B: AutodiffBackend> DreTraining<B> {
    /// Steps skipped in a row at the end of the history.
    fn consecutive_skips(&self) -> usize {
        let last_logged = self.history.last().map_or(0, |r| r.step + 1);
        self.state.step - last_logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::{TestAutodiff, device, points};
    use crate::job::{StopFlag, drive};
    use burn::module::Module;

    fn tiny() -> DreConfig {
        ron::from_str(
            "(field_hidden: [8], classifier_hidden: [8], ratio_hidden: [8], time_steps: 3, \
             flow_steps: 6, ratio_steps: 6, batch_size: 16, checkpoint_every: 4, \
             precision: F64)",
        )
        .unwrap()
    }

    fn parameters(training: &DreTraining<TestAutodiff>) -> Vec<f64> {
        let record = training.model().clone().valid();
        let mut all = Vec::new();
        struct Collect<'a>(&'a mut Vec<f64>);
        impl<B: Backend> burn::module::ModuleVisitor<B> for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                self.0
                    .extend(param.val().into_data().convert::<f64>().iter::<f64>());
            }
        }
        record.visit(&mut Collect(&mut all));
        all
    }

    /// Stopped after 5 of 12 steps (inside phase 1) and resumed from the checkpoint, training
    /// ends with the same parameters and history as an uninterrupted run; a run of other
    /// settings is refused in that folder.
    #[test]
    fn resumes_exactly_and_refuses_other_settings() {
        let (p, q) = (points(40, 2, 1.0, 1), points(40, 2, 2.0, 2));
        let new = |dir: &std::path::Path, config: &DreConfig| {
            DreTraining::<TestAutodiff>::new(config, 2, 7, p.clone(), q.clone(), dir, device())
        };
        let stop = StopFlag::new();
        // Both start from one saved initialisation (burn's generator is shared by the tests
        // running in parallel, so two fresh initialisations could differ).
        let straight_dir = tempfile::tempdir().unwrap();
        let mut straight = new(straight_dir.path(), &tiny()).unwrap();
        drive(&mut straight, &stop, 0, false, "").unwrap();
        let pieces_dir = tempfile::tempdir().unwrap();
        let checkpoint = |dir: &tempfile::TempDir| dir.path().join("checkpoint");
        std::fs::create_dir(checkpoint(&pieces_dir)).unwrap();
        for file in std::fs::read_dir(checkpoint(&straight_dir)).unwrap() {
            let file = file.unwrap().path();
            std::fs::copy(
                &file,
                checkpoint(&pieces_dir).join(file.file_name().unwrap()),
            )
            .unwrap();
        }
        let mut straight = new(straight_dir.path(), &tiny()).unwrap();
        drive(&mut straight, &stop, u64::MAX, false, "").unwrap();
        let mut first = new(pieces_dir.path(), &tiny()).unwrap();
        drive(&mut first, &stop, 5, false, "").unwrap();
        let mut second = new(pieces_dir.path(), &tiny()).unwrap();
        assert_eq!(second.done(), 5);
        drive(&mut second, &stop, u64::MAX, false, "").unwrap();
        assert_eq!(second.done(), 12);
        assert_eq!(parameters(&second), parameters(&straight));
        assert_eq!(second.history(), straight.history());
        let mut other = tiny();
        other.transport_weight = 0.5;
        let error = new(pieces_dir.path(), &other).err().unwrap().to_string();
        assert!(error.contains("other settings"), "{error}");
    }
}
