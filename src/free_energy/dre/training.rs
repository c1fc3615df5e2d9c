//! Training the estimator, as a [`Job`] for the driver (progress bar, checkpoints, Ctrl-C,
//! exact resume): phase 1 trains the transport flow with its two classifiers, phase 2 the ratio
//! network (and the single classifier beside it) on the frozen flow's trajectories.

use super::DreConfig;
use super::model::{DreModel, interval_logit, logistic_loss, logit, path_cost, trajectory};
use crate::backend::AutodiffFlowBackend;
use crate::flow::from_f64;
use crate::flow::to_host;
use crate::job::Job;
use crate::train::{Checkpoint, TrainState, clip_global_norm, seed_for_step};
use crate::{Error, Result};
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{AdamW, AdamWConfig, GradientsParams, Optimizer};
use burn::prelude::*;
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
pub struct DreTraining<B: AutodiffFlowBackend> {
    setup: DreSetup,
    p: Vec<f64>,
    q: Vec<f64>,
    model: Option<DreModel<B>>,
    optimizer: Option<OptimizerAdaptor<AdamW, DreModel<B>, B>>,
    state: TrainState,
    history: Vec<DreRow>,
    checkpoint: Checkpoint,
    device: B::Device,
    /// The training samples at the flow's inner nodes, made when phase 2 starts.
    nodes: Option<Nodes>,
}

/// The training samples carried to the flow's inner nodes t_1 … t_{K−1}, row-major: computed
/// once when phase 2 starts (the flow is frozen from then on, so every batch of phase 2 would
/// solve the same trajectories again).
struct Nodes {
    /// `forward[j − 1]`: P's samples at t_j.
    forward: Vec<Vec<f64>>,
    /// `backward[j − 1]`: Q's samples carried back to t_j.
    backward: Vec<Vec<f64>>,
}

fn new_optimizer<B: AutodiffFlowBackend>() -> OptimizerAdaptor<AdamW, DreModel<B>, B> {
    AdamWConfig::new().with_weight_decay(0.0).init()
}

/// Sums of coordinates and of squares of two sample sets.
fn fingerprint(p: &[f64], q: &[f64]) -> [f64; 4] {
    let sums = |x: &[f64]| (x.iter().sum::<f64>(), x.iter().map(|v| v * v).sum::<f64>());
    let ((a, b), (c, d)) = (sums(p), sums(q));
    [a, b, c, d]
}

impl<B: AutodiffFlowBackend> DreTraining<B> {
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
            nodes: None,
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

    /// `batch_size` row indices of a set of `n` rows, drawn with replacement.
    fn draw(&self, n: usize, rng: &mut impl Rng) -> Vec<usize> {
        (0..self.config().batch_size)
            .map(|_| rng.random_range(0..n))
            .collect()
    }

    /// The rows `which` of `x` (row-major, `dim` columns) as a tensor.
    fn gather(&self, x: &[f64], which: &[usize]) -> Tensor<B, 2> {
        let dim = self.setup.dim;
        let rows: Vec<f64> = which
            .iter()
            .flat_map(|&i| x[i * dim..(i + 1) * dim].iter().copied())
            .collect();
        from_f64(rows, [which.len(), dim], &self.device)
    }

    /// The training samples at the inner nodes of the (frozen) flow.
    fn carry_to_nodes(&self) -> Nodes {
        let (dim, k) = (self.setup.dim, self.config().time_steps);
        let field = self.model().field.valid();
        let carry = |x: &[f64], forward: bool| -> Vec<Vec<f64>> {
            let mut nodes = vec![Vec::with_capacity(x.len()); k.saturating_sub(1)];
            for chunk in x.chunks(NODE_CHUNK * dim) {
                let start = from_f64(chunk.to_vec(), [chunk.len() / dim, dim], &self.device);
                let path = trajectory(&field, start, k, forward);
                for (j, node) in nodes.iter_mut().enumerate() {
                    // Node j + 1 in time: step j + 1 forward, step K − j − 1 backward.
                    let step = if forward { j + 1 } else { k - j - 1 };
                    node.extend(to_host(path[step].clone()));
                }
            }
            nodes
        };
        Nodes {
            forward: carry(&self.p, true),
            backward: carry(&self.q, false),
        }
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
    /// `at[j]` holds the batch at node j.
    fn ratio_loss(model: &DreModel<B>, at: &[Tensor<B, 2>]) -> (Tensor<B, 1>, [Tensor<B, 1>; 2]) {
        let k = at.len() - 1;
        let telescoping = (0..k)
            .map(|j| {
                logistic_loss(
                    interval_logit(&model.ratio, at[j + 1].clone(), j, k),
                    interval_logit(&model.ratio, at[j].clone(), j, k),
                )
            })
            .reduce(|a, b| a + b)
            .expect("at least one interval");
        let direct = logistic_loss(
            logit(&model.direct_classifier, at[k].clone()),
            logit(&model.direct_classifier, at[0].clone()),
        );
        (telescoping.clone() + direct.clone(), [telescoping, direct])
    }

    /// The batch of phase 2 at every node: P's rows `from_p` at t = 0, Q's rows `from_q` at
    /// t = 1, and both carried to each inner node, pooled.
    fn node_batches(&mut self, from_p: &[usize], from_q: &[usize]) -> Vec<Tensor<B, 2>> {
        if self.nodes.is_none() {
            self.nodes = Some(self.carry_to_nodes());
        }
        let nodes = self.nodes.as_ref().expect("just made");
        let inner = nodes
            .forward
            .iter()
            .zip(&nodes.backward)
            .map(|(f, b)| Tensor::cat(vec![self.gather(f, from_p), self.gather(b, from_q)], 0));
        std::iter::once(self.gather(&self.p, from_p))
            .chain(inner)
            .chain(std::iter::once(self.gather(&self.q, from_q)))
            .collect()
    }

    /// One gradient step; `None` when skipped as non-finite.
    fn train_step(&mut self) -> Result<Option<DreRow>> {
        let step = self.state.step;
        let seed = seed_for_step(self.setup.seed, step);
        B::seed(&self.device, seed);
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let from_p = self.draw(self.setup.n_train[0], &mut rng);
        let from_q = self.draw(self.setup.n_train[1], &mut rng);
        let config = self.setup.config.clone();
        let (loss, objective, transport_cost, classifier_loss, model) = if step < config.flow_steps
        {
            let (xp, yq) = (self.gather(&self.p, &from_p), self.gather(&self.q, &from_q));
            let model = self.model.take().expect("present between steps");
            let (loss, [kl, cost, classifiers]) = Self::flow_loss(&model, &config, step, xp, yq);
            (loss, kl, Some(cost), classifiers, model)
        } else {
            let at = self.node_batches(&from_p, &from_q);
            let model = self.model.take().expect("present between steps");
            let (loss, [telescoping, direct]) = Self::ratio_loss(&model, &at);
            (loss, telescoping, None, direct, model)
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
        let (field_rate, other_rate) = config.learning_rates_at(step);
        let mut optimizer = self.optimizer.take().expect("present between steps");
        let model = optimizer.step(field_rate, model, field_grads);
        self.model = Some(optimizer.step(other_rate, model, other_grads));
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

/// Samples carried through the flow at once when phase 2 starts.
const NODE_CHUNK: usize = 4096;

/// Consecutive non-finite steps after which training stops as diverged.
const MAX_CONSECUTIVE_SKIPS: usize = 50;

impl<B: AutodiffFlowBackend> Job for DreTraining<B> {
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

impl<B: AutodiffFlowBackend> DreTraining<B> {
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
        impl<B: crate::backend::FlowBackend> burn::module::ModuleVisitor<B> for Collect<'_> {
            fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
                self.0
                    .extend(param.val().into_data().convert::<f64>().iter::<f64>());
            }
        }
        record.visit(&mut Collect(&mut all));
        all
    }

    /// Stopped after 5 of 12 steps (inside phase 1) and after 9 (inside phase 2) and resumed
    /// from the checkpoints, training ends with the same parameters and history as an
    /// uninterrupted run; a run of other settings is refused in that folder.
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
        // Into phase 2 (whose nodes are carried once, and again on resuming).
        drive(&mut second, &stop, 4, false, "").unwrap();
        let mut third = new(pieces_dir.path(), &tiny()).unwrap();
        assert_eq!(third.done(), 9);
        drive(&mut third, &stop, u64::MAX, false, "").unwrap();
        assert_eq!(third.done(), 12);
        assert_eq!(parameters(&third), parameters(&straight));
        assert_eq!(third.history(), straight.history());
        let mut other = tiny();
        other.transport_weight = 0.5;
        let error = new(pieces_dir.path(), &other).err().unwrap().to_string();
        assert!(error.contains("other settings"), "{error}");
    }
}
