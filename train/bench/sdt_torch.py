"""SDT-V3 (`Spiking_vit_MetaFormer_Spike_SepConv`) in plain PyTorch eager.

Written from this repository's Rust definition (train/src/model.rs, blocks.rs, layers.rs,
spike.rs), with the same module and parameter names, so the trainer's `.safetensors` weights load
with `load_state_dict(strict=True)`. It is the "same model in PyTorch" side of the training
benchmark and of the parity test (train/tests/torch_parity.rs).

Needs only torch (no numpy, no safetensors package). Commands:

  python3 sdt_torch.py parity --preset digits32 --weights W --inputs I --out O
  python3 sdt_torch.py bench --preset m --size 224 --batch 8 --threads 1 [--weights W]
"""

import argparse
import ctypes
import json
import resource
import struct
import sys
import time
import warnings

# torch warns when numpy is missing; nothing here needs numpy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

# embed_dims, in_channels, image_size, num_classes (8 heads, D = 4 for all), as in model.rs.
PRESETS = {
    "t": ([24, 48, 96, 128], 3, 224, 1000),
    "s": ([32, 64, 128, 192], 3, 224, 1000),
    "m": ([48, 96, 192, 240], 3, 224, 1000),
    "l": ([64, 128, 256, 360], 3, 224, 1000),
    "digits32": ([16, 32, 64, 96], 1, 32, 10),
}


# --- spikes -----------------------------------------------------------------------------------


class Quant(torch.autograd.Function):
    """round(clamp(x, 0, D)) forward; gradient passed through inside [0, D], zero outside."""

    @staticmethod
    def forward(ctx, x, max_value):
        ctx.save_for_backward(x)
        ctx.max_value = max_value
        return torch.round(torch.clamp(x, 0, max_value))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        inside = (x >= 0) & (x <= ctx.max_value)
        return grad * inside.to(grad.dtype), None


class MultiSpike(nn.Module):
    """Integer spike counts 0..D divided by `norm` (D unless given)."""

    def __init__(self, max_value=4, norm=None):
        super().__init__()
        self.max_value = float(max_value)
        self.norm = float(max_value if norm is None else norm)

    def forward(self, x):
        return Quant.apply(x, self.max_value) / self.norm


# --- stochastic depth -------------------------------------------------------------------------


def drop_path(x, rate, training):
    """Per-sample residual-branch drop with rescaling, as Ctx::drop_path."""
    if not training or rate <= 0.0:
        return x
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)
    keep = (torch.rand(shape, dtype=x.dtype, device=x.device) < 1.0 - rate).to(x.dtype)
    return x * keep / (1.0 - rate)


def conv_bn(cin, cout, kernel=1, padding=0, groups=1):
    """`nn.Sequential(Conv2d, BatchNorm2d)`: parameters named `0.*` and `1.*`."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, 1, padding, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    )


# --- blocks -----------------------------------------------------------------------------------


class DownSampling(nn.Module):
    def __init__(self, cin, cout, kernel, stride, first_layer, spike_max):
        super().__init__()
        self.encode_conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=True)
        self.encode_bn = nn.BatchNorm2d(cout)
        self.encode_spike = None if first_layer else MultiSpike(spike_max)

    def forward(self, x):
        if self.encode_spike is not None:
            x = self.encode_spike(x)
        return self.encode_bn(self.encode_conv(x))


class SepConvSpike(nn.Module):
    def __init__(self, dim, kernel, spike_max):
        super().__init__()
        med = 2 * dim
        self.spike1 = MultiSpike(spike_max)
        self.pwconv1 = conv_bn(dim, med)
        self.spike2 = MultiSpike(spike_max)
        self.dwconv = conv_bn(med, med, kernel, kernel // 2, groups=med)
        self.spike3 = MultiSpike(spike_max)
        self.pwconv2 = conv_bn(med, dim)

    def forward(self, x):
        x = self.pwconv1(self.spike1(x))
        x = self.dwconv(self.spike2(x))
        return self.pwconv2(self.spike3(x))


class ConvBlock(nn.Module):
    def __init__(self, dim, spike_max):
        super().__init__()
        hidden = 4 * dim
        self.Conv = SepConvSpike(dim, 7, spike_max)
        self.spike1 = MultiSpike(spike_max)
        self.conv1 = nn.Conv2d(dim, hidden, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.spike2 = MultiSpike(spike_max)
        self.conv2 = nn.Conv2d(hidden, dim, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim)
        self.drop_rate = 0.0

    def forward(self, x):
        x = x + drop_path(self.Conv(x), self.drop_rate, self.training)
        y = self.bn1(self.conv1(self.spike1(x)))
        y = self.bn2(self.conv2(self.spike2(y)))
        return x + drop_path(y, self.drop_rate, self.training)


class Attention(nn.Module):
    """Softmax-free spiking attention, value width 4×dim."""

    def __init__(self, dim, num_heads, spike_max):
        super().__init__()
        dv = 4 * dim
        self.num_heads = num_heads
        self.scale = 2.0 * (dim // num_heads) ** -0.5
        self.head_spike = MultiSpike(spike_max)
        self.q_conv = conv_bn(dim, dim)
        self.q_spike = MultiSpike(spike_max)
        self.k_conv = conv_bn(dim, dim)
        self.k_spike = MultiSpike(spike_max)
        self.v_conv = conv_bn(dim, dv)
        self.v_spike = MultiSpike(spike_max)
        self.attn_spike = MultiSpike(spike_max)
        self.proj_conv = conv_bn(dv, dim)

    def split_heads(self, x):
        b, c, h, w = x.shape
        x = x.reshape(b, c, h * w).transpose(1, 2)
        return x.reshape(b, h * w, self.num_heads, c // self.num_heads).permute(0, 2, 1, 3)

    def forward(self, x):
        b, _, h, w = x.shape
        n = h * w
        x = self.head_spike(x)
        q = self.split_heads(self.q_spike(self.q_conv(x)))
        k = self.split_heads(self.k_spike(self.k_conv(x)))
        v = self.split_heads(self.v_spike(self.v_conv(x)))
        d, dv = q.shape[3], v.shape[3]
        kt = k.transpose(2, 3)
        # No softmax: both products give the same values, take the cheaper order.
        if 2 * d * dv < n * (d + dv):
            y = q @ (kt @ v)
        else:
            y = (q @ kt) @ v
        y = y * self.scale
        cv = self.num_heads * dv
        y = y.transpose(2, 3).reshape(b, cv, n)
        y = self.attn_spike(y).reshape(b, cv, h, w)
        return self.proj_conv(y)


class Mlp(nn.Module):
    def __init__(self, dim, spike_max):
        super().__init__()
        hidden = 4 * dim
        self.fc1_spike = MultiSpike(spike_max)
        self.fc1_conv = nn.Conv1d(dim, hidden, 1)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_spike = MultiSpike(spike_max)
        self.fc2_conv = nn.Conv1d(hidden, dim, 1)
        self.fc2_bn = nn.BatchNorm1d(dim)

    def forward(self, x):
        b, c, h, w = x.shape
        y = self.fc1_bn(self.fc1_conv(self.fc1_spike(x.reshape(b, c, h * w))))
        y = self.fc2_bn(self.fc2_conv(self.fc2_spike(y)))
        return y.reshape(b, c, h, w)


class FormerBlock(nn.Module):
    def __init__(self, dim, num_heads, spike_max):
        super().__init__()
        self.conv = SepConvSpike(dim, 3, spike_max)
        self.attn = Attention(dim, num_heads, spike_max)
        self.mlp = Mlp(dim, spike_max)
        self.drop_rate = 0.0

    def forward(self, x):
        x = x + drop_path(self.conv(x), self.drop_rate, self.training)
        x = x + drop_path(self.attn(x), self.drop_rate, self.training)
        return x + drop_path(self.mlp(x), self.drop_rate, self.training)


class Sdt(nn.Module):
    """The classification network (official module names)."""

    def __init__(
        self,
        embed_dims,
        in_channels=3,
        num_classes=1000,
        num_heads=8,
        spike_max=4,
        drop_path_rate=0.0,
    ):
        super().__init__()
        c0, c1, c2, c3 = embed_dims
        self.downsample1_1 = DownSampling(in_channels, c0 // 2, 7, 2, True, spike_max)
        self.ConvBlock1_1 = nn.ModuleList([ConvBlock(c0 // 2, spike_max)])
        self.downsample1_2 = DownSampling(c0 // 2, c0, 3, 2, False, spike_max)
        self.ConvBlock1_2 = nn.ModuleList([ConvBlock(c0, spike_max)])
        self.downsample2 = DownSampling(c0, c1, 3, 2, False, spike_max)
        self.ConvBlock2_1 = nn.ModuleList([ConvBlock(c1, spike_max)])
        self.ConvBlock2_2 = nn.ModuleList([ConvBlock(c1, spike_max)])
        self.downsample3 = DownSampling(c1, c2, 3, 2, False, spike_max)
        self.block3 = nn.ModuleList([FormerBlock(c2, num_heads, spike_max) for _ in range(6)])
        self.downsample4 = DownSampling(c2, c3, 3, 1, False, spike_max)
        self.block4 = nn.ModuleList([FormerBlock(c3, num_heads, spike_max) for _ in range(2)])
        self.spike = MultiSpike(spike_max, norm=1)
        self.head = nn.Linear(c3, num_classes)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        # Drop rate grows linearly over the residual blocks, from 0 to drop_path_rate.
        blocks = self.residual_blocks()
        for i, block in enumerate(blocks):
            block.drop_rate = drop_path_rate * i / max(len(blocks) - 1, 1)

    def residual_blocks(self):
        return [
            *self.ConvBlock1_1,
            *self.ConvBlock1_2,
            *self.ConvBlock2_1,
            *self.ConvBlock2_2,
            *self.block3,
            *self.block4,
        ]

    def forward_features(self, x):
        x = self.downsample1_1(x)
        for blk in self.ConvBlock1_1:
            x = blk(x)
        x = self.downsample1_2(x)
        for blk in self.ConvBlock1_2:
            x = blk(x)
        x = self.downsample2(x)
        for blk in self.ConvBlock2_1:
            x = blk(x)
        for blk in self.ConvBlock2_2:
            x = blk(x)
        x = self.downsample3(x)
        for blk in self.block3:
            x = blk(x)
        x = self.downsample4(x)
        for blk in self.block4:
            x = blk(x)
        return x

    def forward(self, x):
        x = self.forward_features(x)
        x = x.flatten(2).mean(2)
        return self.head(self.spike(x))


def build(preset, **kwargs):
    embed_dims, in_channels, _size, classes = PRESETS[preset]
    return Sdt(embed_dims, in_channels=in_channels, num_classes=classes, **kwargs)


# --- safetensors without the safetensors package ------------------------------------------------

DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "U8": torch.uint8,
    "I8": torch.int8,
    "BOOL": torch.bool,
}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    body = bytearray(data[8 + header_len :])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = DTYPES[info["dtype"]]
        if end == start:
            t = torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(body, dtype=dtype, offset=start, count=(end - start) // dtype.itemsize)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        blob = ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())
        header[name] = {
            "dtype": NAMES[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        chunks.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in chunks:
            f.write(blob)


# --- commands ---------------------------------------------------------------------------------


def cmd_parity(args):
    """Eval logits, and a train-mode loss with every gradient, on the Rust side's inputs."""
    torch.set_num_threads(args.threads)
    model = build(args.preset)
    model.load_state_dict(read_safetensors(args.weights), strict=True)
    io = read_safetensors(args.inputs)
    x, labels = io["input"], io["label"]
    out = {}
    model.eval()
    with torch.no_grad():
        out["eval_logits"] = model(x)
    model.train()
    model.zero_grad()
    loss = F.cross_entropy(model(x), labels)
    loss.backward()
    out["train_loss"] = loss.detach().reshape(1)
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad
    write_safetensors(args.out, out)


def peak_rss_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cmd_bench(args):
    """Training throughput: forward + backward + AdamW step on a fixed random batch."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device)
    model = build(args.preset)
    if args.weights:
        model.load_state_dict(read_safetensors(args.weights), strict=True)
    model.to(device).train()
    _, in_channels, _, classes = PRESETS[args.preset]
    x = torch.randn(args.batch, in_channels, args.size, args.size, device=device)
    y = torch.randint(0, classes, (args.batch,), device=device)
    # Weight decay on tensors of 2+ dimensions only, as optim.rs.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr,
    )
    amp = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    # torch.compile traces forward and backward into fused kernels; the warm-up steps compile.
    forward = torch.compile(model) if args.compile else model

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    logits_dtype = []

    def step():
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = forward(x)
        logits_dtype[:] = [str(logits.dtype).removeprefix("torch.")]
        loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(args.iters):
        start = time.perf_counter()
        loss = step()
        sync()
        times.append(time.perf_counter() - start)
    result = {
        "impl": "pytorch-compile" if args.compile else "pytorch-eager",
        "threads": args.threads,
        "batch": args.batch,
        "size": args.size,
        "device": args.device,
        "amp": args.amp,
        "iter_s": times,
        "images_per_s": args.batch * len(times) / sum(times),
        "peak_rss_mib": peak_rss_mib(),
        "loss": float(loss.detach()),
        "logits_dtype": logits_dtype[0],
        "torch": torch.__version__,
    }
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_gpu_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20
    print(json.dumps(result), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("parity")
    p.add_argument("--preset", default="digits32", choices=PRESETS)
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True, help="safetensors with `input` and `label`")
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("bench")
    b.add_argument("--preset", default="m", choices=PRESETS)
    b.add_argument("--size", type=int, default=224)
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--iters", type=int, default=3)
    b.add_argument("--lr", type=float, default=1e-3)
    b.add_argument("--seed", type=int, default=1)
    b.add_argument("--weights", help="start from these weights (e.g. the Rust side's)")
    b.add_argument("--device", default="cpu")
    b.add_argument("--amp", default="none", choices=["none", "bf16", "fp16"])
    b.add_argument("--compile", action="store_true", help="torch.compile the model")
    args = parser.parse_args(argv)
    {"parity": cmd_parity, "bench": cmd_bench}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
