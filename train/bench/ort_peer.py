"""SDT-V3 as a dense int8 peer on ONNX Runtime: export, static int8 quantization, timing.

The model is `sdt_torch.py`'s, loaded from the trainer's `.safetensors` weights. It is exported
to ONNX (TorchScript exporter, opset 17), run in ONNX Runtime in fp32, and quantized with
`quantize_static`: QDQ format, per-channel int8 weights, uint8 activations calibrated (min/max)
on the given inputs. Every spike tensor (integer counts 0..D divided by a norm) is pinned to
scale 1/norm, zero point 0, so int8 holds its values exactly.

Prints one JSON object per line: `{"kind": "time", ...}` per (model, threads), then
`{"kind": "agreement", ...}` (int8 against fp32, each model free-running on its own
intermediates), and with `--profile` `{"kind": "profile", ...}` per model and thread count.

Needs torch, onnx, onnxruntime (`bash scripts/ort-env.sh` installs them into the project venv).

  python3 ort_peer.py bench --preset m --weights W --inputs I --workdir D --threads 1,2 --reps 9
  python3 ort_peer.py check --preset digits32 --weights W --inputs I --workdir D
"""

import argparse
import json
import os
import re
import sys
import time
import types
import warnings

warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
try:
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
except ImportError as e:  # the Rust side shows this line to the user
    sys.exit(f"ort_peer.py: {e}: run `bash scripts/ort-env.sh` (installs onnxruntime and onnx)")
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sdt_torch  # noqa: E402

OPSET = 17


def spike_forward(self, x):
    """MultiSpike's eval forward without the autograd function, so the exporter sees the ops."""
    return torch.round(torch.clamp(x, 0, self.max_value)) / self.norm


def load_model(preset, weights):
    model = sdt_torch.build(preset)
    model.load_state_dict(sdt_torch.read_safetensors(weights), strict=True)
    model.eval()
    for m in model.modules():
        if isinstance(m, sdt_torch.MultiSpike):
            m.forward = types.MethodType(spike_forward, m)
    return model


def export(model, x, path):
    with torch.no_grad():
        torch.onnx.export(
            model,
            (x,),
            path,
            input_names=["input"],
            output_names=["logits"],
            opset_version=OPSET,
            dynamo=False,
        )


# --- graph inspection -------------------------------------------------------------------------


def constant_value(graph, name):
    for init in graph.initializer:
        if init.name == name:
            return onnx.numpy_helper.to_array(init)
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return onnx.numpy_helper.to_array(node.attribute[0].t)
    return None


# Ops that move values without changing them: a spike stays a spike through them.
DATA_MOVEMENT = ("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze")


def spike_tensors(model):
    """(tensor name, norm, views) of every spike: the Round of a MultiSpike and its division by
    norm; `views` are the tensors it reaches through data movement only (reshaped heads), which
    the quantizer may quantize instead of the spike itself."""
    graph = model.graph
    consumers = {}
    for node in graph.node:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    out = []
    for node in graph.node:
        if node.op_type != "Round":
            continue
        name, norm = node.output[0], 1.0
        users = consumers.get(name, [])
        if len(users) == 1 and users[0].op_type == "Div":
            value = constant_value(graph, users[0].input[1])
            if value is not None and value.size == 1:
                name, norm = users[0].output[0], float(value)
        views, frontier = [], [name]
        while frontier:
            t = frontier.pop()
            for user in consumers.get(t, []):
                if user.op_type in DATA_MOVEMENT and user.input[0] == t:
                    views.append(user.output[0])
                    frontier.append(user.output[0])
        out.append((name, norm, views))
    return out


def with_outputs(model, names):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    for name in names:
        if name not in have:
            m.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    return m


def dense_macs(path):
    """Multiply-accumulates of one image: Conv, MatMul and Gemm, from the inferred shapes."""
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    g = model.graph
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value for d in dims]
    for init in g.initializer:
        shapes[init.name] = list(init.dims)
    macs = 0
    for node in g.node:
        out = shapes.get(node.output[0])
        if not out:
            continue
        if node.op_type == "Conv":
            macs += int(np.prod(out)) * int(np.prod(shapes[node.input[1]][1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes[node.input[0]]
            transposed = any(at.name == "transA" and at.i for at in node.attribute)
            macs += int(np.prod(out)) * (a[-2] if transposed else a[-1])
    return macs


# --- models -----------------------------------------------------------------------------------


class Inputs(CalibrationDataReader):
    def __init__(self, images):
        self.it = iter([{"input": x[None]} for x in images])

    def get_next(self):
        return next(self.it, None)


def build_models(args, images):
    """fp32 and int8 ONNX files in `args.workdir`, the torch model, and the spike tensors."""
    os.makedirs(args.workdir, exist_ok=True)
    model = load_model(args.preset, args.weights)
    raw = os.path.join(args.workdir, f"{args.preset}_raw.onnx")
    fp32 = os.path.join(args.workdir, f"{args.preset}_fp32.onnx")
    int8 = os.path.join(args.workdir, f"{args.preset}_int8.onnx")
    export(model, torch.from_numpy(images[:1]), raw)
    # Shape inference and BatchNorm folding, as ORT's quantization guide asks before calibration.
    quant_pre_process(raw, fp32)
    spikes = spike_tensors(onnx.load(fp32))
    overrides = {
        t: [{"scale": np.array(1.0 / norm, dtype=np.float32), "zero_point": np.array(0, dtype=np.uint8)}]
        for name, norm, views in spikes
        for t in [name, *views]
    }
    quantize_static(
        fp32,
        int8,
        Inputs(images),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={"TensorQuantOverrides": overrides},
    )
    return model, fp32, int8, spikes


def session(model, threads, profile_prefix=None):
    opt = ort.SessionOptions()
    opt.intra_op_num_threads = threads
    opt.inter_op_num_threads = 1
    opt.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opt.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        opt.enable_profiling = True
        opt.profile_file_prefix = profile_prefix
    if isinstance(model, onnx.ModelProto):
        model = model.SerializeToString()
    return ort.InferenceSession(model, opt, providers=["CPUExecutionProvider"])


def run_all(sess, images, names=None):
    return [sess.run(names, {"input": x[None]}) for x in images]


# --- agreement --------------------------------------------------------------------------------


def pinned_dequantized(model, spikes):
    """Per spike: the first of its tensors (itself or a view) that the quantizer quantized, the
    output of the DequantizeLinear after that QuantizeLinear, and the scale and zero point."""
    g = model.graph
    by_input = {}
    for node in g.node:
        for i in node.input[:1]:
            by_input.setdefault(i, []).append(node)
    out = {}
    for name, _norm, views in spikes:
        out[name] = None
        for t in [name, *views]:
            q = [n for n in by_input.get(t, []) if n.op_type == "QuantizeLinear"]
            if not q:
                continue
            dq = [n for n in by_input.get(q[0].output[0], []) if n.op_type == "DequantizeLinear"]
            scale = float(constant_value(g, q[0].input[1]))
            zero = int(constant_value(g, q[0].input[2]))
            out[name] = (t, dq[0].output[0] if dq else None, scale, zero)
            break
    return out


def agreement(fp32, int8, spikes, images, logits_torch):
    """int8 against fp32 (each on its own intermediates) and fp32 against PyTorch."""
    names = [n for n, _, _ in spikes]
    m8 = onnx.load(int8)
    pinned = pinned_dequantized(m8, spikes)
    checked = [p for p in pinned.values() if p and p[1]]
    extra = [x for p in checked for x in (p[0], p[1])]
    r32 = run_all(session(with_outputs(onnx.load(fp32), names), 1), images, ["logits"] + names)
    r8 = run_all(session(with_outputs(m8, names + extra), 1), images, ["logits"] + names + extra)
    l32 = np.concatenate([r[0] for r in r32])
    l8 = np.concatenate([r[0] for r in r8])
    layers, equal, sites = [], 0, 0
    for i, name in enumerate(names):
        a = np.concatenate([r[1 + i].ravel() for r in r32])
        b = np.concatenate([r[1 + i].ravel() for r in r8])
        same = int(np.sum(a == b))
        equal, sites = equal + same, sites + a.size
        layers.append(
            {
                "name": name,
                "agree": same / a.size,
                "nonzero_fp32": float(np.mean(a != 0)),
                "nonzero_int8": float(np.mean(b != 0)),
            }
        )
    # Exact representation: every spike is quantized with scale 1/norm and zero point 0, and
    # its dequantized value equals the spike value at every site.
    unpinned, inexact = [], 0
    for name, norm, _ in spikes:
        p = pinned[name]
        if p is None or p[1] is None or p[2] != np.float32(1.0 / norm) or p[3] != 0:
            unpinned.append(name)
            continue
        k = 1 + len(names) + extra.index(p[0])
        for r in r8:
            inexact += int(np.sum(r[k] != r[k + 1]))
    return {
        "kind": "agreement",
        "spike_layers": len(spikes),
        "spike_sites_per_image": sites // len(images),
        "spike_agreement": equal / sites,
        "spike_agreement_min_layer": min(x["agree"] for x in layers),
        "unpinned_spikes": unpinned,
        "inexact_pinned_sites": inexact,
        "top1_int8_vs_fp32": float(np.mean(l32.argmax(1) == l8.argmax(1))),
        "max_dlogit_int8_vs_fp32": float(np.max(np.abs(l32 - l8))),
        "top1_fp32_vs_torch": float(np.mean(l32.argmax(1) == logits_torch.argmax(1))),
        "max_dlogit_fp32_vs_torch": float(np.max(np.abs(l32 - logits_torch))),
        "layers": layers,
    }


# --- profile ----------------------------------------------------------------------------------


def conv_kind(w, group=1):
    """conv kxk or depthwise from a weight shape [out, in/group, k...] (Conv1d: k = 1)."""
    k = "x".join(str(d) for d in (w[2:] if len(w) == 4 else [1, 1]))
    return f"conv depthwise {k}" if w[1] == 1 and group > 1 else f"conv {k}"


def conv_kinds(path):
    """Node name -> conv kind, from the graph before ORT's optimizations (int8 kernels carry
    prepacked weights whose shapes the profile leaves out; their names keep the node's)."""
    g = onnx.load(path).graph
    shapes = {i.name: list(i.dims) for i in g.initializer}
    kinds = {}
    for node in g.node:
        if node.op_type == "Conv" and node.input[1] in shapes:
            group = next((a.i for a in node.attribute if a.name == "group"), 1)
            kinds[node.name] = conv_kind(shapes[node.input[1]], group)
    return kinds


def layer_type(event, kinds):
    """conv 1x1 / 3x3 / depthwise, matmul, ... of a profiled kernel."""
    args = event.get("args", {})
    op = args.get("op_name", "")
    if "Conv" in op:
        node = re.sub(r"(_token_\d+)?_kernel_time$", "", event["name"])
        if node in kinds:
            return kinds[node]
        shapes = [next(iter(d.values()), []) for d in args.get("input_type_shape", [])]
        w = shapes[1] if len(shapes) > 1 else []
        if len(w) in (3, 4):
            x = shapes[0]
            return conv_kind(w, 2 if len(x) > 1 and x[1] == w[0] and w[1] == 1 else 1)
        return "conv (unknown kernel)"
    if "MatMul" in op or "Gemm" in op:
        return "matmul"
    if op in ("QuantizeLinear", "DequantizeLinear"):
        return "quantize/dequantize"
    if op in ("Round", "Div", "Clip"):
        return "spike (Clip, Round, Div)"
    if op in ("ReorderInput", "ReorderOutput", "Reshape", "Transpose"):
        return "layout (reorder, reshape, transpose)"
    return op


def profile(path, kinds, images, threads, reps, prefix):
    """ms per image of each layer type, from ORT's profiler over `reps` passes."""
    sess = session(path, threads, prefix)
    for _ in range(reps):
        run_all(sess, images)
    trace = sess.end_profiling()
    with open(trace) as f:
        events = json.load(f)
    os.remove(trace)
    per = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        key = layer_type(e, kinds)
        per[key] = per.get(key, 0.0) + e["dur"] / 1e3
    runs = reps * len(images)
    return {k: v / runs for k, v in sorted(per.items(), key=lambda kv: -kv[1])}


# --- commands ---------------------------------------------------------------------------------


def load_inputs(path):
    return sdt_torch.read_safetensors(path)["input"].float().numpy()


def fastest_ms(sess, images, reps):
    run_all(sess, images)  # warm-up
    best = float("inf")
    for _ in range(max(reps, 1)):
        start = time.perf_counter()
        run_all(sess, images)
        best = min(best, (time.perf_counter() - start) * 1e3 / len(images))
    return best


def prepare(args):
    """Inputs, the fp32 and int8 ONNX models, their spike tensors and PyTorch's logits."""
    torch.set_num_threads(1)
    images = load_inputs(args.inputs)
    model, fp32, int8, spikes = build_models(args, images)
    with torch.no_grad():
        logits_torch = model(torch.from_numpy(images)).numpy()
    return images, fp32, int8, spikes, logits_torch


def cmd_bench(args):
    images, fp32, int8, spikes, logits_torch = prepare(args)
    macs = dense_macs(fp32)
    threads = [int(t) for t in args.threads.split(",")]
    for label, path in (("fp32", fp32), ("int8", int8)):
        for t in threads:
            ms = fastest_ms(session(path, t), images, args.reps)
            line = {"kind": "time", "model": label, "threads": t, "ms": ms, "macs": macs}
            print(json.dumps(line), flush=True)
    if not args.no_agreement:
        report = agreement(fp32, int8, spikes, images, logits_torch)
        with open(os.path.join(args.workdir, f"{args.preset}_agreement.json"), "w") as f:
            json.dump(report, f, indent=1)
        print(json.dumps(report), flush=True)
    if args.profile:
        for label, path in (("fp32", fp32), ("int8", int8)):
            for t in threads:
                prefix = os.path.join(args.workdir, f"profile_{label}_{t}")
                per = profile(path, conv_kinds(fp32), images, t, 3, prefix)
                line = {"kind": "profile", "model": label, "threads": t, "ms_per_image": per}
                print(json.dumps(line), flush=True)
    print(json.dumps({"kind": "versions", "onnxruntime": ort.__version__, "onnx": onnx.__version__}))


def cmd_check(args):
    """The machinery on a small model: fp32 ONNX logits against PyTorch, exact spike pinning."""
    images, fp32, int8, spikes, logits_torch = prepare(args)
    report = agreement(fp32, int8, spikes, images, logits_torch)
    report["macs"] = dense_macs(fp32)
    print(json.dumps(report), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("bench", "check"):
        p = sub.add_parser(name)
        p.add_argument("--preset", default="m", choices=sdt_torch.PRESETS)
        p.add_argument("--weights", required=True, help="the trainer's .safetensors weights")
        p.add_argument("--inputs", required=True, help="safetensors with `input` [N, C, H, W]")
        p.add_argument("--workdir", required=True, help="where the .onnx files go")
        if name == "bench":
            p.add_argument("--threads", default="1,2")
            p.add_argument("--reps", type=int, default=9)
            p.add_argument("--no-agreement", action="store_true")
            p.add_argument("--profile", action="store_true", help="per-layer-type op times")
    args = parser.parse_args(argv)
    {"bench": cmd_bench, "check": cmd_check}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
