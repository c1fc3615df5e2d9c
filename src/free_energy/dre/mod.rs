//! Density ratios between two sample sets with no overlap required: the optimal-transport flow
//! and infinitesimal density-ratio estimation of Xu, Cheng & Xie (arXiv 2305.11857).
//!
//! Given samples of P and Q (and nothing else), the estimator builds a path of distributions
//! from P to Q whose neighbours overlap, and adds up the log-ratios of the neighbours:
//!
//! 1. **The flow** (phase 1): a continuous flow dx/dt = V_t(x) (the time-gated field of
//!    [`crate::flow::continuous`]), integrated by RK4 in K steps, trained from both sample sets at
//!    once: P's samples forward to t = 1 and Q's backward to t = 0. The loss is
//!    KL(T#P‖Q) + KL(T⁻¹#Q‖P) + γ·(path costs), where the path cost of a trajectory is
//!    Σ_k ‖x(t_k) − x(t_{k−1})‖²/h, so that among the maps that carry P onto Q the cheapest,
//!    the optimal-transport one, is preferred. Neither density is known: each KL term is
//!    estimated by a logistic classifier between the pushed samples and the real ones, trained
//!    in the same steps. With the classifier D ≈ log(T#P/Q) held fixed, ∇_θ E_P[D(T_θ x)] is
//!    ∇_θ KL(T_θ#P‖Q) (the derivative of the density inside the log averages to zero).
//! 2. **The ratio network** (phase 2): r(x, t) ≈ ∂ₜ log ρ_t(x), an MLP on [x, t]. For each
//!    interval [t_k, t_{k+1}] of the flow's nodes, ∫ r(x, t) dt (2-point Gauss–Legendre) is the
//!    logit of a logistic classifier between the samples at t_k and at t_{k+1}: P's samples at
//!    t = 0, Q's at t = 1, and in between the forward trajectories of P and the backward ones of
//!    Q, pooled. Each optimal logit is log ρ_{k+1}/ρ_k, and the sum telescopes:
//!    log q/p(x) = ∫₀¹ r(x, t) dt. The flow is frozen in this phase, so the training samples
//!    are carried to the nodes once, when it starts.
//!
//! Each phase's learning rate decays by a cosine (the field's in phase 1, the ratio network's
//! in phase 2): with a constant rate the flow keeps oscillating against its classifiers
//! (GAN-like cycles of the path cost).
//!
//! One classifier between P and Q directly (the baseline, trained beside the ratio network)
//! fails when the two barely overlap: its logistic loss saturates long before its logit reaches
//! the true log-ratio. The path never asks a classifier to separate distributions further apart
//! than one flow step.
//!
//! With energies, Δf from P to Q is ⟨log q/p + u_Q − u_P⟩ (every term equals Δf where the ratio
//! is exact), with a bootstrap error that covers the samples' noise but not the networks'. The
//! flow also gives an estimate whose error bar is honest whatever the networks' errors: targeted
//! free-energy perturbation (Jarzynski 2002) with BAR on both directions' works,
//! w_F = u_Q(T x) − u_P(x) − log|det ∂T/∂x| and w_R = u_P(T⁻¹y) − u_Q(y) − log|det ∂T⁻¹/∂y|,
//! asymptotically unbiased for any invertible T (a poor T only widens the error bar); the
//! log-determinants come from exact divergences along the same RK4 solve.
//!
//! The estimates (KL divergences, the transport cost, free-energy differences) use samples held
//! out of training only. Training is a resumable job: checkpoints in a run folder, Ctrl-C saves.

mod config;
mod estimate;
mod model;
mod ratio;
mod training;

pub use config::DreConfig;
pub use estimate::{DreResult, Mapped, Mean, SamplePair, estimate_ratio};
pub use model::{DreModel, interval_logit, log_ratio, path_cost, trajectory};
pub use ratio::RatioNetwork;
pub use training::{DreRow, DreSetup, DreTraining};
