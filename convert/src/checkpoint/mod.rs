//! Reading checkpoints (.pth, .safetensors) into named f32 tensors.
