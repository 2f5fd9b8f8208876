//! Mixed precision on CUDA: which reduced type autocast uses.
//!
//! `tch::autocast` switches libtorch's CUDA autocast on, with libtorch's default type (fp16). The
//! official recipe trains in bf16, which needs no loss scaling; the autocast type is a separate
//! libtorch setting that `tch` does not wrap, so it is set here through its C++ symbol and read
//! back to prove it took.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Autocast mode of a training run (CUDA only; CPU runs stay in f32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Amp {
    #[default]
    Off,
    /// bfloat16, as the official recipe.
    Bf16,
    /// float16 (no loss scaling: prefer bf16).
    Fp16,
}

/// `c10::DeviceType::CUDA` (an `int8_t` enum).
const CUDA: i8 = 1;
/// `c10::ScalarType::Half` and `BFloat16` (an `int8_t` enum).
const HALF: i8 = 5;
const BFLOAT16: i8 = 15;

#[link(name = "torch_cpu")]
extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn set_autocast_dtype(device: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn get_autocast_dtype(device: i8) -> i8;
}

impl Amp {
    /// Whether autocast is on.
    pub fn enabled(self) -> bool {
        self != Amp::Off
    }

    /// Sets the CUDA autocast type of the calling thread (libtorch keeps it per thread) and
    /// checks that it took.
    pub fn apply(self) -> Result<()> {
        let dtype = match self {
            Amp::Off => return Ok(()),
            Amp::Bf16 => BFLOAT16,
            Amp::Fp16 => HALF,
        };
        // SAFETY: both are plain non-member C++ functions of libtorch_cpu (linked by torch-sys)
        // taking and returning `int8_t`-based enums, which the x86-64 and AArch64 C ABIs pass
        // like `i8`; they only read and write libtorch's thread-local autocast settings.
        let got = unsafe {
            set_autocast_dtype(CUDA, dtype);
            get_autocast_dtype(CUDA)
        };
        if got == dtype {
            Ok(())
        } else {
            Err(Error::Config(format!(
                "libtorch kept CUDA autocast type {got} after setting {dtype}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_autocast_type_is_set_and_read_back() {
        Amp::Fp16.apply().unwrap();
        // SAFETY: as in `apply`.
        assert_eq!(unsafe { get_autocast_dtype(CUDA) }, HALF);
        Amp::Bf16.apply().unwrap();
        // SAFETY: as in `apply`.
        assert_eq!(unsafe { get_autocast_dtype(CUDA) }, BFLOAT16);
        Amp::Off.apply().unwrap();
    }
}
