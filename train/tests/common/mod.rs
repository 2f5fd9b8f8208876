//! Models shared by the tests that compare the trainer with its peers.

use sdt_train::{Sdt, SdtConfig};
use tch::{nn::VarStore, Device, Kind, Tensor};

/// The digits32 model with random weights (from `seed`) and BatchNorm statistics of random
/// inputs, so spike layers fire at realistic rates in eval mode (fresh statistics would make
/// most of them silent or saturated, which would test little).
pub fn random_digits32(seed: i64) -> (VarStore, Sdt) {
    tch::manual_seed(seed);
    let vs = VarStore::new(Device::Cpu);
    let model = Sdt::new(&vs.root(), SdtConfig::digits32()).expect("build digits32");
    model
        .calibrate_batchnorm(40, || {
            Tensor::randn([32, 1, 32, 32], (Kind::Float, Device::Cpu))
        })
        .expect("calibration passes");
    (vs, model)
}
