//! Checkpoints: the model's configuration and parameters, the optimiser state and the training
//! history, in one folder written atomically.
//!
//! ```text
//! RUN_DIR/checkpoint/
//!   model.ron       the model's configuration (for a flow, the explicit FlowConfig, masks included)
//!   model.h5        the float parameters, in f64
//!   optimizer.h5    the AdamW state (step counts and moments), in f64
//!   state.ron       step, skipped steps, history
//!   …               files written by the caller's `extra` (a replay buffer, say)
//! ```
//!
//! Parameters and moments are stored in f64 whatever the run's precision, and loaded in the
//! device's float precision, so an f32 or f64 run resumes exactly where it stopped.
//!
//! `model.h5` holds a group `/parameters` (attribute `count`) with one group `/parameters/I` per
//! float parameter, in the module's visiting order: attribute `id` (burn's `ParamId`) and
//! dataset `value` of the parameter's shape. `optimizer.h5` holds `/state` (attribute `count`)
//! with one group per parameter the optimiser has state for, in increasing `id`: attributes `id`
//! and `time`, datasets `moment_1`, `moment_2`, and `max_moment_2` when AMSGrad keeps one.

use super::objective::ObjectiveState;
use crate::backend::{AutodiffFlowBackend, FlowBackend};
use crate::io::{InputFile, OutputFile};
use crate::{Error, Result};
use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::record::{AdaptorRecord, AdaptorRecordV1};
use burn::optim::{AdamW, AdamWState, AdaptiveMomentumState, Optimizer};
use burn::prelude::*;
use burn::tensor::{DType, TensorCreationOptions, TensorData};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Progress of a run, saved with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Gradient steps done.
    pub step: usize,
    /// Steps skipped because the loss or a gradient was not finite.
    pub skipped_steps: usize,
    /// Target-energy evaluations so far.
    pub target_evaluations: u64,
    /// Evaluations of a learned energy model so far (0 for flows).
    #[serde(default)]
    pub model_evaluations: u64,
    /// One row per logged step.
    pub history: Vec<HistoryRow>,
    /// Each objective's own state, in the order of the configuration.
    #[serde(default)]
    pub objectives: Vec<ObjectiveState>,
}

/// One logged training step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// Step index.
    pub step: usize,
    /// Total loss.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Mean log q on the exact test set, at evaluation steps.
    pub test_log_likelihood: Option<f64>,
    /// Reverse ESS (a fraction) of fresh flow samples, at evaluation steps.
    #[serde(default)]
    pub ess: Option<f64>,
    /// log Ẑ by importance sampling of fresh flow samples, at evaluation steps.
    #[serde(default)]
    pub log_z: Option<f64>,
    /// Target-energy evaluations of training so far (evaluation steps not included).
    #[serde(default)]
    pub target_evaluations: u64,
    /// Energy-model evaluations of training so far (0 for flows).
    #[serde(default)]
    pub model_evaluations: u64,
    /// KL(p‖p_θ) of a learned energy model against the system's exact density, on a grid, at
    /// evaluation steps (one- and two-dimensional systems with an exact log Z).
    #[serde(default)]
    pub kl: Option<f64>,
}

/// A checkpoint folder.
pub struct Checkpoint {
    dir: PathBuf,
}

const MODEL_CONFIG: &str = "model.ron";
const PARAMETERS: &str = "model.h5";
const OPTIMIZER: &str = "optimizer.h5";
const STATE: &str = "state.ron";

impl Checkpoint {
    /// The checkpoint of the run in `run_dir`. A process killed inside [`Checkpoint::save`],
    /// between moving the old checkpoint aside and moving the new one in, leaves only
    /// `checkpoint.old`: it is put back.
    pub fn of_run(run_dir: &Path) -> Self {
        let dir = run_dir.join("checkpoint");
        let old = dir.with_extension("old");
        if !dir.exists() && old.join(STATE).is_file() {
            let _ = std::fs::rename(&old, &dir);
        }
        Checkpoint { dir }
    }

    /// The checkpoint folder, where the files written by `extra` in [`Checkpoint::save`] are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a checkpoint has been written.
    pub fn exists(&self) -> bool {
        self.dir.join(STATE).is_file()
    }

    /// Writes the checkpoint: into a temporary folder, then swapped in, so an interruption
    /// never leaves a half-written checkpoint. `extra` may write more files into the temporary
    /// folder it is given; they are swapped in with the rest.
    pub fn save<B: AutodiffFlowBackend, M: AutodiffModule<B>, C: Serialize>(
        &self,
        model_config: &C,
        model: &M,
        optimizer: &OptimizerAdaptor<AdamW, M, B>,
        state: &TrainState,
        extra: impl FnOnce(&Path) -> Result<()>,
    ) -> Result<()> {
        let temp = self.dir.with_extension("partial");
        let _ = std::fs::remove_dir_all(&temp);
        std::fs::create_dir_all(&temp).map_err(|source| Error::Io {
            path: temp.clone(),
            source,
        })?;
        crate::config::write_ron_file(&temp.join(MODEL_CONFIG), model_config)?;
        write_parameters(&temp.join(PARAMETERS), model)?;
        write_optimizer(&temp.join(OPTIMIZER), optimizer)?;
        crate::config::write_ron_file(&temp.join(STATE), state)?;
        extra(&temp)?;
        let old = self.dir.with_extension("old");
        if self.dir.exists() {
            std::fs::rename(&self.dir, &old).map_err(|source| Error::Io {
                path: self.dir.clone(),
                source,
            })?;
        }
        std::fs::rename(&temp, &self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
            source,
        })?;
        let _ = std::fs::remove_dir_all(&old);
        Ok(())
    }

    /// The model's configuration.
    pub fn model_config<C: DeserializeOwned>(&self) -> Result<C> {
        crate::config::read_ron_file(&self.dir.join(MODEL_CONFIG)).map(|(v, _)| v)
    }

    /// The training state.
    pub fn state(&self) -> Result<TrainState> {
        crate::config::read_ron_file(&self.dir.join(STATE)).map(|(v, _)| v)
    }

    /// Loads the parameters into `model` (built from [`Checkpoint::model_config`]), in the
    /// device's float precision, with their saved ids (which the optimiser state refers to).
    /// Fails if the model's float parameters differ in number or shape from the saved ones.
    pub fn load_model<B: FlowBackend, M: Module<B>>(
        &self,
        model: M,
        device: &B::Device,
    ) -> Result<M> {
        let path = self.dir.join(PARAMETERS);
        let saved = read_parameters(&path)?;
        let count = saved.len();
        let mut loader = Loader {
            saved: saved.into_iter(),
            index: 0,
            device: device.clone(),
            error: None,
        };
        let model = model.map(&mut loader);
        let mismatch = |message: String| Error::Config {
            path: path.clone(),
            message: format!("{message}; the checkpoint is of another model"),
        };
        if loader.index != count {
            return Err(mismatch(format!(
                "the checkpoint has {count} float parameters, the model {}",
                loader.index
            )));
        }
        if let Some(message) = loader.error {
            return Err(mismatch(message));
        }
        Ok(model)
    }

    /// Loads the optimiser state into `optimizer`, with moments in the device's float precision.
    pub fn load_optimizer<B: AutodiffFlowBackend, M: AutodiffModule<B>>(
        &self,
        optimizer: OptimizerAdaptor<AdamW, M, B>,
        device: &B::Device,
    ) -> Result<OptimizerAdaptor<AdamW, M, B>> {
        let path = self.dir.join(OPTIMIZER);
        let record = read_optimizer::<B>(&path, device)?;
        Ok(optimizer.load_record(record.into_iter().collect()))
    }
}

/// A float tensor in f64, row-major.
struct Saved {
    shape: Vec<usize>,
    values: Vec<f64>,
}

impl Saved {
    /// The dataset `name` of `file`.
    fn read(file: &InputFile, name: &str) -> Result<Self> {
        let (values, shape) = file.array(name)?;
        Ok(Saved { shape, values })
    }

    fn of<B: FlowBackend, const D: usize>(tensor: Tensor<B, D>) -> Self {
        Saved {
            shape: tensor.dims().to_vec(),
            values: crate::flow::to_host(tensor),
        }
    }

    /// The tensor on `device`, of type `dtype` (the device's float type when `None`).
    fn tensor<B: FlowBackend, const D: usize>(
        self,
        device: &B::Device,
        dtype: Option<DType>,
    ) -> Tensor<B, D> {
        let mut options = TensorCreationOptions::<B>::new(device.clone());
        if let Some(dtype) = dtype {
            options = options.with_dtype(dtype);
        }
        Tensor::from_data(TensorData::new(self.values, self.shape), options)
    }
}

/// Collects every float parameter, in visiting order.
struct Collector {
    parameters: Vec<(ParamId, Saved)>,
    others: usize,
}

impl<B: FlowBackend> ModuleVisitor<B> for Collector {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.parameters.push((param.id, Saved::of(param.val())));
    }

    fn visit_int<const D: usize>(&mut self, _: &Param<Tensor<B, D, Int>>) {
        self.others += 1;
    }

    fn visit_bool<const D: usize>(&mut self, _: &Param<Tensor<B, D, Bool>>) {
        self.others += 1;
    }
}

/// Replaces every float parameter, in visiting order, by the next saved one.
struct Loader<B: FlowBackend> {
    saved: std::vec::IntoIter<(ParamId, Saved)>,
    index: usize,
    device: B::Device,
    /// The first mismatch found.
    error: Option<String>,
}

impl<B: FlowBackend> ModuleMapper<B> for Loader<B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let index = self.index;
        self.index += 1;
        if self.error.is_some() {
            return param;
        }
        // Too few saved parameters: counted, and reported after the mapping.
        let Some((id, saved)) = self.saved.next() else {
            return param;
        };
        let shape = param.lazy_shape().to_vec();
        if saved.shape != shape {
            self.error = Some(format!(
                "float parameter {index} has shape {:?} in the checkpoint, {shape:?} in the model",
                saved.shape
            ));
            return param;
        }
        // An initialised parameter keeps its type; a lazy one gets the device's.
        let dtype = param.is_initialized().then(|| param.val().dtype());
        let tensor = saved.tensor(&self.device, dtype);
        param.transform_for_load(tensor, id)
    }
}

fn write_parameters<B: FlowBackend, M: Module<B>>(path: &Path, model: &M) -> Result<()> {
    let mut collector = Collector {
        parameters: Vec::new(),
        others: 0,
    };
    model.visit(&mut collector);
    if collector.others > 0 {
        return Err(Error::InvalidArgument(format!(
            "checkpoints hold float parameters only, and this model has {} integer or boolean \
             parameters",
            collector.others
        )));
    }
    let out = OutputFile::create(path)?;
    out.set_u64("parameters", "count", collector.parameters.len() as u64)?;
    for (i, (id, saved)) in collector.parameters.iter().enumerate() {
        let group = format!("parameters/{i}");
        out.set_u64(&group, "id", id.val())?;
        out.write_array(&format!("{group}/value"), &saved.values, &saved.shape)?;
    }
    out.commit()?;
    Ok(())
}

fn read_parameters(path: &Path) -> Result<Vec<(ParamId, Saved)>> {
    let file = InputFile::open(path)?;
    let count = file.u64_attr("parameters", "count")?;
    (0..count)
        .map(|i| {
            let group = format!("parameters/{i}");
            let id = ParamId::from(file.u64_attr(&group, "id")?);
            Ok((id, Saved::read(&file, &format!("{group}/value"))?))
        })
        .collect()
}

fn write_optimizer<B: AutodiffFlowBackend, M: AutodiffModule<B>>(
    path: &Path,
    optimizer: &OptimizerAdaptor<AdamW, M, B>,
) -> Result<()> {
    let mut records: Vec<_> = optimizer.to_record().into_iter().collect();
    records.sort_by_key(|(id, _)| *id);
    let out = OutputFile::create(path)?;
    out.set_u64("state", "count", records.len() as u64)?;
    for (i, (id, record)) in records.into_iter().enumerate() {
        let group = format!("state/{i}");
        let AdaptorRecord::V1(record) = record;
        let momentum = match record {
            AdaptorRecordV1::Rank0(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank1(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank2(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank3(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank4(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank5(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank6(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank7(s) => SavedMomentum::of(s),
            AdaptorRecordV1::Rank8(s) => SavedMomentum::of(s),
        };
        out.set_u64(&group, "id", id.val())?;
        out.set_u64(&group, "time", momentum.time as u64)?;
        for (name, moment) in [
            ("moment_1", Some(&momentum.moment_1)),
            ("moment_2", Some(&momentum.moment_2)),
            ("max_moment_2", momentum.max_moment_2.as_ref()),
        ] {
            if let Some(m) = moment {
                out.write_array(&format!("{group}/{name}"), &m.values, &m.shape)?;
            }
        }
    }
    out.commit()?;
    Ok(())
}

/// AdamW's state for one parameter, in f64.
struct SavedMomentum {
    time: usize,
    moment_1: Saved,
    moment_2: Saved,
    max_moment_2: Option<Saved>,
}

impl SavedMomentum {
    fn of<B: FlowBackend, const D: usize>(state: AdamWState<B, D>) -> Self {
        let m = state.momentum;
        SavedMomentum {
            time: m.time,
            moment_1: Saved::of(m.moment_1),
            moment_2: Saved::of(m.moment_2),
            max_moment_2: m.max_moment_2.map(Saved::of),
        }
    }

    fn state<B: FlowBackend, const D: usize>(self, device: &B::Device) -> AdamWState<B, D> {
        AdamWState {
            momentum: AdaptiveMomentumState {
                time: self.time,
                moment_1: self.moment_1.tensor(device, None),
                moment_2: self.moment_2.tensor(device, None),
                max_moment_2: self.max_moment_2.map(|m| m.tensor(device, None)),
            },
        }
    }
}

fn read_optimizer<B: AutodiffFlowBackend>(
    path: &Path,
    device: &B::Device,
) -> Result<Vec<(ParamId, AdaptorRecord<AdamW, B>)>> {
    let file = InputFile::open(path)?;
    let count = file.u64_attr("state", "count")?;
    let mut record = Vec::new();
    for i in 0..count {
        let group = format!("state/{i}");
        let id = ParamId::from(file.u64_attr(&group, "id")?);
        let max_moment_2 = format!("{group}/max_moment_2");
        let momentum = SavedMomentum {
            time: file.u64_attr(&group, "time")? as usize,
            moment_1: Saved::read(&file, &format!("{group}/moment_1"))?,
            moment_2: Saved::read(&file, &format!("{group}/moment_2"))?,
            max_moment_2: if file.exists(&max_moment_2) {
                Some(Saved::read(&file, &max_moment_2)?)
            } else {
                None
            },
        };
        if momentum.moment_1.shape != momentum.moment_2.shape {
            return Err(Error::Config {
                path: path.to_owned(),
                message: format!("state {i}: the two moments differ in shape"),
            });
        }
        let v1 = match momentum.moment_1.shape.len() {
            1 => AdaptorRecordV1::Rank1(momentum.state(device)),
            2 => AdaptorRecordV1::Rank2(momentum.state(device)),
            3 => AdaptorRecordV1::Rank3(momentum.state(device)),
            4 => AdaptorRecordV1::Rank4(momentum.state(device)),
            5 => AdaptorRecordV1::Rank5(momentum.state(device)),
            6 => AdaptorRecordV1::Rank6(momentum.state(device)),
            rank => {
                return Err(Error::Config {
                    path: path.to_owned(),
                    message: format!(
                        "state {i} is of a rank-{rank} parameter; checkpoints load ranks 1 to 6"
                    ),
                });
            }
        };
        record.push((id, AdaptorRecord::V1(v1)));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::testing::*;
    use crate::flow::{Activation, Density, FlowConfig, FlowSpec, from_f64};
    use burn::optim::{AdamWConfig, GradientsParams};

    fn flow_config(layers: usize, hidden: usize) -> FlowConfig {
        FlowSpec::RealNvp {
            layers,
            hidden: vec![hidden],
            activation: Activation::default(),
            lu: false,
            trainable_base: true,
            base_std: 1.0,
        }
        .build(&crate::flow::BuildContext {
            dim: 3,
            seed: 7,
            base_dir: std::path::Path::new("."),
            molecule: None,
        })
        .map(|built| match built {
            crate::flow::BuiltFlow::Coupling(config) => config,
            crate::flow::BuiltFlow::Continuous(_) => panic!("RealNvp is a coupling flow"),
        })
        .unwrap()
    }

    /// Id, shape, type and values of every float parameter.
    struct Everything(Vec<(ParamId, Vec<usize>, DType, Vec<f64>)>);

    impl<B: FlowBackend> ModuleVisitor<B> for Everything {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let value = param.val();
            self.0.push((
                param.id,
                value.dims().to_vec(),
                value.dtype(),
                values_of(value),
            ));
        }
    }

    fn values_of<B: FlowBackend, const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
        crate::flow::to_host(t)
    }

    fn parameters<B: FlowBackend, M: Module<B>>(
        model: &M,
    ) -> Vec<(ParamId, Vec<usize>, DType, Vec<f64>)> {
        let mut everything = Everything(Vec::new());
        model.visit(&mut everything);
        everything.0
    }

    /// Step count, type and both moments of one parameter's AdamW state.
    fn moments<B: FlowBackend>(
        record: AdaptorRecordV1<AdamW, B>,
    ) -> (usize, DType, Vec<f64>, Vec<f64>) {
        fn of<B: FlowBackend, const D: usize>(
            s: AdamWState<B, D>,
        ) -> (usize, DType, Vec<f64>, Vec<f64>) {
            let m = s.momentum;
            let dtype = m.moment_1.dtype();
            (m.time, dtype, values_of(m.moment_1), values_of(m.moment_2))
        }
        match record {
            AdaptorRecordV1::Rank1(s) => of(s),
            AdaptorRecordV1::Rank2(s) => of(s),
            _ => panic!("flow parameters are of rank 1 or 2"),
        }
    }

    fn save(
        dir: &Path,
        config: &FlowConfig,
        model: &crate::flow::Flow<TestAutodiff>,
        optimizer: &OptimizerAdaptor<AdamW, crate::flow::Flow<TestAutodiff>, TestAutodiff>,
    ) -> Checkpoint {
        let checkpoint = Checkpoint::of_run(dir);
        let state = TrainState {
            step: 2,
            ..TrainState::default()
        };
        checkpoint
            .save(config, model, optimizer, &state, |temp| {
                std::fs::write(temp.join("extra.txt"), "more").map_err(|source| Error::Io {
                    path: temp.to_owned(),
                    source,
                })
            })
            .unwrap();
        checkpoint
    }

    /// f64 parameters come back bit for bit, in f64, with their ids, also on a backend without
    /// autodiff; the configuration, state and extra files come back too.
    #[test]
    fn parameters_round_trip_exactly_in_f64() {
        let device = device();
        let config = flow_config(2, 8);
        let model = seeded(config.init::<TestAutodiff>(&device).unwrap(), 0.3, 5);
        let saved = parameters(&model);
        assert!(
            saved
                .iter()
                .flat_map(|p| &p.3)
                .any(|v| (*v as f32) as f64 != *v),
            "the test values are not all f32 values"
        );
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = save(dir.path(), &config, &model, &AdamWConfig::new().init());
        assert!(!dir.path().join("checkpoint.partial").exists());
        assert_eq!(
            std::fs::read_to_string(checkpoint.dir().join("extra.txt")).unwrap(),
            "more"
        );
        assert_eq!(checkpoint.state().unwrap().step, 2);

        let config_back: FlowConfig = checkpoint.model_config().unwrap();
        assert_eq!(config_back, config);
        let fresh = config_back.init::<TestBackend>(&device).unwrap();
        let loaded = checkpoint.load_model(fresh, &device).unwrap();
        let back = parameters(&loaded);
        assert_eq!(back.len(), saved.len());
        for (a, b) in saved.iter().zip(&back) {
            assert_eq!(b.2, DType::F64);
            assert_eq!((a.0, &a.1, &a.3), (b.0, &b.1, &b.3));
        }
        let fresh = config.init::<TestAutodiff>(&device).unwrap();
        let loaded = checkpoint.load_model(fresh, &device).unwrap();
        assert_eq!(parameters(&loaded), saved);

        // Killed between the two renames of a save: the old checkpoint is put back.
        std::fs::rename(checkpoint.dir(), dir.path().join("checkpoint.old")).unwrap();
        let recovered = Checkpoint::of_run(dir.path());
        assert!(recovered.exists());
        assert_eq!(recovered.state().unwrap().step, 2);
    }

    /// AdamW's step counts and moments come back bit for bit, in f64, under the same ids.
    #[test]
    fn optimizer_moments_round_trip_exactly() {
        let device = device();
        let config = flow_config(2, 8);
        let mut model = seeded(config.init::<TestAutodiff>(&device).unwrap(), 0.3, 6);
        let mut optimizer = AdamWConfig::new().init();
        for step in 0..2 {
            let x = from_f64(points(16, 3, 1.0, 10 + step), [16, 3], &device);
            let loss = model.log_prob(x).mean().neg();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-2, model, grads);
        }
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = save(dir.path(), &config, &model, &optimizer);
        let loaded = checkpoint
            .load_optimizer(AdamWConfig::new().init(), &device)
            .unwrap();
        let sorted = |o: &OptimizerAdaptor<AdamW, _, TestAutodiff>| {
            let mut records: Vec<_> = o
                .to_record()
                .into_iter()
                .map(|(id, AdaptorRecord::V1(r))| (id, moments(r)))
                .collect();
            records.sort_by_key(|(id, _)| *id);
            records
        };
        let (before, after) = (sorted(&optimizer), sorted(&loaded));
        assert_eq!(before.len(), parameters(&model).len());
        assert!(before.iter().all(|(_, m)| m.0 == 2 && m.1 == DType::F64));
        assert_eq!(before, after);
    }

    /// A checkpoint of another architecture is refused with a message that says so.
    #[test]
    fn another_architecture_is_refused() {
        let device = device();
        let config = flow_config(2, 8);
        let model = config.init::<TestAutodiff>(&device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = save(dir.path(), &config, &model, &AdamWConfig::new().init());
        for (other, expected) in [
            (flow_config(2, 6), "shape"),
            (flow_config(3, 8), "float parameters"),
            (flow_config(1, 8), "float parameters"),
        ] {
            let Err(err) =
                checkpoint.load_model(other.init::<TestBackend>(&device).unwrap(), &device)
            else {
                panic!("a checkpoint of another architecture must be refused");
            };
            let message = err.to_string();
            assert!(
                message.contains(expected) && message.contains("another model"),
                "{message}"
            );
        }
    }
}
