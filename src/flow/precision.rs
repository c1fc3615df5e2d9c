//! Choosing the float precision of flows (f32 or f64).

use burn::prelude::*;
use burn::tensor::DType;
use serde::{Deserialize, Serialize};

/// Float precision of a flow's parameters and computations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Precision {
    /// 32-bit floats: fast, the default.
    #[default]
    F32,
    /// 64-bit floats: for molecules (FAB's alanine dipeptide runs in f64) and exact tests.
    F64,
}

impl Precision {
    /// burn's data type for this precision.
    pub fn dtype(self) -> DType {
        match self {
            Precision::F32 => DType::F32,
            Precision::F64 => DType::F64,
        }
    }
}

/// Sets the default float type of `device` for the rest of the process.
///
/// burn fixes a device's default float type when the first tensor is created on it, so call this
/// first. Setting the precision that is already in force is not an error; asking for another
/// one after the first tensor is.
pub fn set_precision<B: Backend>(device: &B::Device, precision: Precision) -> crate::Result<()> {
    let wanted = precision.dtype();
    match burn::tensor::set_default_dtypes::<B>(device, wanted, DType::I64) {
        Ok(()) => Ok(()),
        Err(_) => {
            let current = burn::tensor::get_device_settings::<B>(device).float_dtype;
            if DType::from(current) == wanted {
                Ok(())
            } else {
                Err(crate::Error::InvalidArgument(format!(
                    "the float precision of this device is already {current:?}; {precision:?} must be chosen \
                     before the first tensor is created"
                )))
            }
        }
    }
}

/// A tensor of the device's float precision from f64 values (row-major) and a shape.
///
/// Use this rather than `Tensor::from_floats`, which rounds through f32 first.
pub fn from_f64<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::from_data(burn::tensor::TensorData::new(values, shape), device)
}
