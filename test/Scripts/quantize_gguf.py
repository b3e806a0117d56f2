#!/usr/bin/env python3
"""Rewrites an f32 GGUF file with its weight matrices in another format.

The metadata is copied as is; the matrices (not norms or biases) whose rows
fill whole blocks of 32 are stored as q8_0, q4_0, f16 or bf16 by the gguf
package's own encoder, the others stay f32, as llama.cpp's quantizer keeps
tensors a format cannot hold. For tests of quantized models against the f32
original; the result is written outside the source tree.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import write_test_model as models  # noqa: E402


def main():
    import gguf
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--quant", choices=models.QUANT_TYPES, required=True)
    args = ap.parse_args()
    reader = gguf.GGUFReader(args.input)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(args.output, arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name == "general.architecture":
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub)
    counts = {}
    for t in reader.tensors:
        if t.tensor_type != gguf.GGMLQuantizationType.F32:
            sys.exit(f"{args.input}: tensor {t.name} is not f32")
        value = np.array(t.data, dtype=np.float32)
        if models.quantizable(t.name, value, args.quant):
            data, qtype = models.stored(t.name, value, args.quant)
            writer.add_tensor(t.name, data, raw_dtype=qtype)
            counts[args.quant] = counts.get(args.quant, 0) + 1
        else:
            writer.add_tensor(t.name, value)
            counts["f32"] = counts.get("f32", 0) + 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())))


if __name__ == "__main__":
    main()
