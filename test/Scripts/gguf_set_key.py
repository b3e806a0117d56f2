#!/usr/bin/env python3
"""Copies a GGUF file with one more (or one changed) integer metadata key,
for tests of what a key does: `gguf_set_key.py IN OUT KEY VALUE` (VALUE an
unsigned 32-bit integer, as llama.cpp's converter writes e.g.
`bert.pooling_type`). Written with the gguf package, outside the source
tree."""

import sys

import numpy as np


def main():
    import gguf
    src, dst, key, value = sys.argv[1:5]
    reader = gguf.GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(dst, arch)
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or field.name in (
                "general.architecture", key):
            continue
        sub = field.types[-1] if field.types[0] == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), field.types[0], sub)
    writer.add_uint32(key, int(value))
    for t in reader.tensors:
        writer.add_tensor(t.name, np.array(t.data),
                          raw_shape=list(reversed([int(d) for d in t.shape])),
                          raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
