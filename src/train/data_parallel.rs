//! Data-parallel training over ranks: every rank holds the same parameters, computes the
//! gradient of its share of the batch, and takes the same optimiser step on the gradients
//! summed over the ranks. Three collective operations keep it so: rank 0's parameters given to
//! all at the start, the gradients' sum before every step, and a comparison of the parameters
//! at every checkpoint.

use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::flow::{from_f64, to_host};
use crate::parallel::Ranks;
use crate::{Error, Result};
use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;

/// `model` with rank 0's parameters on every rank (a collective operation).
pub fn from_root<B: AutodiffFlowBackend, M: AutodiffModule<B>>(
    model: M,
    ranks: &dyn Ranks,
    device: &B::Device,
) -> M {
    let mut values = parameters(&model);
    if !ranks.is_root() {
        values.iter_mut().for_each(|v| *v = 0.0);
    }
    // Rank 0's values plus zeros: rank 0's values, exactly.
    ranks.all_sum(&mut values);
    model.map(&mut Replace {
        values: &values,
        at: 0,
        device,
    })
}

/// Sums `grads` over the ranks, in place (a collective operation). A parameter without a
/// gradient on this rank counts as zeros, so that every rank sends the same layout; one
/// without a gradient on every rank is left without one (the optimiser then leaves it alone,
/// as on one process).
pub fn sum_gradients<B: AutodiffFlowBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &mut GradientsParams,
    ranks: &dyn Ranks,
) {
    let mut flat = FlatGradients::<B> {
        grads,
        values: Vec::new(),
        at: None,
        _b: Default::default(),
    };
    model.visit(&mut flat);
    ranks.all_sum(&mut flat.values);
    flat.at = Some(0);
    model.visit(&mut flat);
}

/// Fails unless every rank holds the same parameters, bit for bit, after `step` steps (a
/// collective operation).
pub fn check_same_parameters<B: FlowBackend, M: Module<B>>(
    model: &M,
    ranks: &dyn Ranks,
    step: usize,
) -> Result<()> {
    let hash = parameters(model)
        .iter()
        .fold(0xCBF2_9CE4_8422_2325_u64, |h, v| {
            (h ^ v.to_bits()).wrapping_mul(0x0000_0100_0000_01B3)
        });
    // Two halves of 32 bits: exact as f64.
    let halves = [(hash >> 32) as f64, (hash & 0xFFFF_FFFF) as f64];
    let all = ranks.all_gather(&halves);
    let differ: Vec<usize> = (0..ranks.size())
        .filter(|&r| all[2 * r..2 * r + 2] != all[..2])
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    Err(Error::InvalidArgument(format!(
        "after step {step} the parameters of rank(s) {differ:?} differ from rank 0's; \
         data-parallel training needs every rank to take the same steps (the same build and \
         backend on every rank); resume from the last checkpoint"
    )))
}

/// Every float parameter of `model`, flattened in the module's order.
fn parameters<B: FlowBackend, M: Module<B>>(model: &M) -> Vec<f64> {
    struct Collect(Vec<f64>);
    impl<B: FlowBackend> ModuleVisitor<B> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.extend(to_host(param.val()));
        }
    }
    let mut collect = Collect(Vec::new());
    model.visit(&mut collect);
    collect.0
}

/// Replaces every float parameter by the next values of `values`, keeping its identity and
/// whether it is trained.
struct Replace<'a, B: FlowBackend> {
    values: &'a [f64],
    at: usize,
    device: &'a B::Device,
}

impl<B: FlowBackend> ModuleMapper<B> for Replace<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        let shape: [usize; D] = tensor.dims();
        let n = shape.iter().product::<usize>();
        let values = self.values[self.at..self.at + n].to_vec();
        self.at += n;
        let replaced =
            from_f64::<B, D>(values, shape, self.device).set_require_grad(tensor.is_require_grad());
        Param::from_mapped_value(id, replaced, mapper)
    }
}

/// The gradients as one flat vector (`at` = `None`: collecting), then written back from it
/// (`at` = `Some(position)`). Each parameter's values are preceded by 1 if it has a gradient
/// here, else 0 (the values are then zeros).
struct FlatGradients<'a, B: AutodiffFlowBackend> {
    grads: &'a mut GradientsParams,
    values: Vec<f64>,
    at: Option<usize>,
    _b: std::marker::PhantomData<B>,
}

impl<B: AutodiffFlowBackend> ModuleVisitor<B> for FlatGradients<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let shape: [usize; D] = param.val().dims();
        let n = shape.iter().product::<usize>();
        match self.at.as_mut() {
            None => match self.grads.get::<B::InnerBackend, D>(param.id) {
                Some(g) => {
                    self.values.push(1.0);
                    self.values.extend(to_host(g));
                }
                None => self.values.extend(std::iter::repeat_n(0.0, n + 1)),
            },
            Some(at) => {
                let present = self.values[*at] > 0.0;
                let values = self.values[*at + 1..*at + 1 + n].to_vec();
                *at += n + 1;
                if present {
                    let device = param.val().device();
                    let summed = from_f64::<B::InnerBackend, D>(values, shape, &device);
                    self.grads.register(param.id, summed);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::{TestAutodiff, device};
    use crate::parallel::run_on_threads;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::backend::AutodiffBackend;

    /// A layer whose parameters are drawn now (burn draws them lazily, at their first use).
    fn layer(seed: u64) -> Linear<TestAutodiff> {
        TestAutodiff::seed(&device(), seed);
        let layer = LinearConfig::new(3, 2).init(&device());
        parameters(&layer);
        layer
    }

    /// Rank 0's parameters reach every rank; the check then passes, and fails (naming the rank)
    /// where one rank's parameters differ; gradients are summed over the ranks, and a parameter
    /// without a gradient on any rank is left without one.
    #[test]
    fn parameters_start_alike_and_gradients_are_summed() {
        // Made one after the other: burn's generator is shared by the threads.
        let layers: Vec<_> = (0..3).map(|r| layer(10 + r)).collect();
        let results = run_on_threads(3, |ranks| {
            let own = layers[ranks.rank()].clone();
            let shared = from_root(own.clone(), ranks, &device());
            let alike = check_same_parameters(&shared, ranks, 7).is_ok();
            let unlike = check_same_parameters(&own, ranks, 7)
                .err()
                .map(|e| e.to_string());
            // The loss (rank + 1) · Σ weights: gradient (rank + 1) on every weight.
            let loss = shared
                .weight
                .val()
                .sum()
                .mul_scalar((ranks.rank() + 1) as f64);
            let mut grads = GradientsParams::from_grads(loss.backward(), &shared);
            sum_gradients(&shared, &mut grads, ranks);
            let weight = grads
                .get::<<TestAutodiff as AutodiffBackend>::InnerBackend, 2>(shared.weight.id)
                .map(to_host);
            let bias = grads
                .get::<<TestAutodiff as AutodiffBackend>::InnerBackend, 1>(
                    shared.bias.as_ref().unwrap().id,
                )
                .map(to_host);
            (parameters(&shared), alike, unlike, weight, bias)
        });
        let root = parameters(&layers[0]);
        assert_ne!(root, parameters(&layers[1]));
        for (values, alike, unlike, weight, bias) in results {
            assert_eq!(values, root);
            assert!(alike);
            let message = unlike.expect("ranks 1 and 2 were initialised otherwise");
            assert!(message.contains("[1, 2]"), "{message}");
            // 1 + 2 + 3 on every weight.
            assert_eq!(weight.unwrap(), vec![6.0; 6]);
            assert_eq!(bias, None);
        }
    }
}
