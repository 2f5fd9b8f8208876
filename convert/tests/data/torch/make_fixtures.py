"""Writes the small checkpoints of convert/tests/checkpoint_shapes.rs with real torch.

Run from this folder with a python that has torch (any version >= 1.6):
    python make_fixtures.py
A tiny model (conv, batch norm, linear) saved the ways other tools save checkpoints.
"""
import collections

import torch


def tiny():
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3, bias=False),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        torch.nn.Linear(3, 2),
    )
    model.eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].num_batches_tracked.fill_(7)
    return model


def save(obj, name, legacy=False):
    torch.save(obj, name, _use_new_zipfile_serialization=not legacy)


model = tiny()
plain = model.state_dict()
save(plain, "plain.pth")
# DistributedDataParallel needs a process group; DataParallel names parameters the same way.
save({"state_dict": torch.nn.DataParallel(model).state_dict(), "epoch": 3}, "ddp.pth")
save({"model_ema": torch.compile(model).state_dict(), "epoch": 3}, "compiled_ema.pth")
save({"model": plain, "epoch": 3}, "legacy.pth", legacy=True)
half = collections.OrderedDict(
    (k, v.half() if v.is_floating_point() else v) for k, v in plain.items()
)
save({"model": half}, "legacy_fp16.pth", legacy=True)
bf16 = collections.OrderedDict(
    (k, v.bfloat16() if v.is_floating_point() else v) for k, v in plain.items()
)
save(bf16, "bf16.pth")
save({"net": plain, "epoch": 3, "optimizer": {"lr": 0.1}}, "unknown_container.pth")
