#!/usr/bin/env python3
"""Attention as a real exporter writes it, for loom-fuse-attention's tests.

Writes ONNX graphs of attention spelled as torch.onnx exports
scaled_dot_product_attention (sqrt of the scale on Q and on Kᵀ, a causal
mask from Trilu of ones) and as Hugging Face's eager Llama attention
(repeat_kv by Unsqueeze/Expand/Reshape, a division by sqrt(d), an additive
mask input), imports them with torch-mlir's ONNX importer and lowers them
to linalg with its TorchToLinalg conversions, as IREE runs them
(`iree-import-onnx`, `iree-compile --compile-to=input`), and prints each
as a func.func over tensors (IREE's buffer-view ABI wrapper removed) for
loom-opt. test/Dialect/Loom/fuse-attention/exporter-torch-mlir.mlir holds
its output (with near misses made from it by hand).

Needs (not in the test venv): pip install iree-base-compiler onnx numpy.

  python test/Scripts/export_attention_onnx.py --out /tmp/exported
"""

import argparse
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

B, H, KV, S, D = 1, 4, 2, 16, 8


def tensor(name, shape):
    return h.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def const(name, value):
    return h.make_node("Constant", [], [name], value=nh.from_array(value))


def graphs():
    """(name, nodes, inputs) of each spelling."""
    qkv = [tensor("q", [B, H, S, D]), tensor("k", [B, H, S, D]),
           tensor("v", [B, H, S, D])]
    root_scale = np.array(np.sqrt(1 / np.sqrt(D)), np.float32)
    yield "plain", [
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q", "kt"], ["qk"]),
        h.make_node("Softmax", ["qk"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v"], ["o"])], qkv
    scaled = [
        const("s", root_scale),
        h.make_node("Mul", ["q", "s"], ["qs"]),
        h.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("Mul", ["kt", "s"], ["kts"]),
        h.make_node("MatMul", ["qs", "kts"], ["qk"])]
    yield "sdpa_scaled", scaled + [
        h.make_node("Softmax", ["qk"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v"], ["o"])], qkv
    yield "sdpa_causal", scaled + [
        const("ones", np.ones((S, S), np.float32)),
        h.make_node("Trilu", ["ones"], ["tri"], upper=0),
        const("zero", np.array(0, np.float32)),
        h.make_node("Equal", ["tri", "zero"], ["hidden"]),
        const("ninf", np.array(-np.inf, np.float32)),
        h.make_node("Where", ["hidden", "ninf", "zero"], ["mask"]),
        h.make_node("Add", ["qk", "mask"], ["qkm"]),
        h.make_node("Softmax", ["qkm"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "v"], ["o"])], qkv
    repeat = [
        const("ax", np.array([2], np.int64)),
        const("s5", np.array([B, KV, H // KV, S, D], np.int64)),
        const("s4", np.array([B, H, S, D], np.int64))]
    for x in "kv":
        repeat += [h.make_node("Unsqueeze", [x, "ax"], [x + "5"]),
                   h.make_node("Expand", [x + "5", "s5"], [x + "e"]),
                   h.make_node("Reshape", [x + "e", "s4"], [x + "r"])]
    yield "hf_llama_eager", repeat + [
        h.make_node("Transpose", ["kr"], ["kt"], perm=[0, 1, 3, 2]),
        h.make_node("MatMul", ["q", "kt"], ["qk"]),
        const("sd", np.array(np.sqrt(D), np.float32)),
        h.make_node("Div", ["qk", "sd"], ["qkd"]),
        h.make_node("Add", ["qkd", "mask"], ["qkm"]),
        h.make_node("Softmax", ["qkm"], ["p"], axis=-1),
        h.make_node("MatMul", ["p", "vr"], ["o"])], [
        tensor("q", [B, H, S, D]), tensor("k", [B, KV, S, D]),
        tensor("v", [B, KV, S, D]), tensor("mask", [B, 1, S, S])]


def as_func(text):
    """The $async function of iree-compile's input-level output as a
    func.func over tensors: hal imports become the arguments (a
    tensor.cast each), the barrier the result."""
    name = re.search(r"util\.func public @(\w+)\$async", text).group(1)
    body = text.split("util.func public @" + name + "$async", 1)[1]
    body = body.split("\n", 1)[1].split("\n  util.func public", 1)[0]
    lines, args, result = [], [], None
    for line in body.splitlines():
        m = re.match(r"\s*(%\w+) = hal\.tensor\.import wait\(%\w+\) => "
                     r"(%\w+) : !hal\.buffer_view -> (\S+)", line)
        if m:
            args.append((m.group(2), m.group(3)))
            lines.append(f"    {m.group(1)} = tensor.cast {m.group(2)} : "
                         f"{m.group(3)} to {m.group(3)}")
            continue
        m = re.match(r"\s*%\w+ = hal\.tensor\.barrier join\((%\w+) : (\S+)\)",
                     line)
        if m:
            result = m.groups()
            lines.append(f"    return {result[0]} : {result[1]}")
            continue
        if "hal.tensor.export" in line or "util.return" in line:
            continue
        lines.append(line)
    signature = ", ".join(f"{a}: {t}" for a, t in args)
    body = "\n".join(lines).rstrip().rstrip("}").rstrip()
    return f"func.func @{name}({signature}) -> {result[1]} {{\n{body}\n}}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="a scratch folder")
    ap.add_argument("--bin", default=os.path.dirname(sys.executable),
                    help="where iree-import-onnx and iree-compile are")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name, nodes, inputs in graphs():
        graph = h.make_graph(nodes, name, inputs, [tensor("o", [B, H, S, D])])
        path = os.path.join(args.out, name)
        onnx.save(h.make_model(graph, opset_imports=[h.make_opsetid("", 17)]),
                  path + ".onnx")
        subprocess.run([os.path.join(args.bin, "iree-import-onnx"),
                        path + ".onnx", "-o", path + ".torch.mlir"], check=True)
        subprocess.run([os.path.join(args.bin, "iree-compile"),
                        "--iree-input-type=onnx", "--compile-to=input",
                        path + ".torch.mlir", "-o", path + ".input.mlir"],
                       check=True)
        with open(path + ".input.mlir") as f:
            print(as_func(f.read()))
        print("// -----\n")


if __name__ == "__main__":
    main()
