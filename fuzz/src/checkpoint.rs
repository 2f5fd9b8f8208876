//! Checkpoint readers: any bytes give a checkpoint or a typed error, never a panic or an
//! allocation out of proportion to the input; what loads is self-consistent.

use sdt_convert::checkpoint::{
    load_bytes, load_legacy_pth_bytes, load_pth_bytes, load_safetensors_bytes, Checkpoint,
    CheckpointError,
};

fn check(result: Result<Checkpoint, CheckpointError>) {
    let Ok(checkpoint) = result else { return };
    for (name, tensor) in &checkpoint.tensors {
        let numel = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        assert_eq!(numel, Some(tensor.data.len()), "shape and data of {name}");
    }
    assert!(checkpoint.origin.format.is_some());
}

/// `torch.save` files: the zip archive and the legacy stream readers both see every input,
/// and so does the format sniffing of `load_bytes`.
pub fn pth(data: &[u8]) {
    check(load_pth_bytes(data));
    check(load_legacy_pth_bytes(data));
    check(load_bytes(data));
}

/// `.safetensors` files.
pub fn safetensors(data: &[u8]) {
    check(load_safetensors_bytes(data));
}
