"""Encoders of GGML block formats the `gguf` package can only decode.

`gguf.quants` decodes every GGML format but encodes only some (q8_0, q4_0,
q4_1, q5_0, q5_1 among those Loom reads). The K-quants (q2_K ... q6_K) and
iq4_nl are written here from the formats' definitions in ggml-common.h,
with plain round-to-nearest choices of scales (not llama.cpp's searches:
the tests need valid blocks, not the best ones). Every encoder is checked
against gguf.quants' decoder by `python3 ggml_blocks.py` (the lit test
Scripts/ggml-blocks.test runs it): decoding what is written here must give
back the input within the format's step.

Each encoder takes float32 rows [..., n] with n a multiple of the block
size and returns uint8 [..., n / block * bytes], as gguf.quants.quantize
does.
"""

import numpy as np

QK_K = 256

# ggml's kvalues_iq4nl: the values iq4_nl's nibbles index.
IQ4_NL_TABLE = np.array([-127, -104, -83, -65, -49, -35, -22, -10,
                         1, 13, 25, 38, 53, 69, 89, 113], dtype=np.float32)


def _f16_bytes(x):
    """[...,] float -> [..., 2] uint8 (little-endian f16)."""
    return np.ascontiguousarray(x.astype("<f2")).view(np.uint8).reshape(
        *x.shape, 2)


def _f16(x):
    """x rounded to f16, as float32."""
    return x.astype(np.float16).astype(np.float32)


def _safe_div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b == 0, 0.0, a / np.where(b == 0, 1.0, b))


def _blocks(x, size):
    x = np.asarray(x, dtype=np.float32)
    assert x.shape[-1] % size == 0, f"rows must be whole blocks of {size}"
    return x.reshape(-1, size), x.shape[:-1], x.shape[-1] // size


def _out(parts, lead, per_row):
    data = np.concatenate(parts, axis=-1).astype(np.uint8)
    return data.reshape(*lead, per_row * data.shape[-1])


def _scale_min_subblocks(x, levels):
    """Sub-blocks x [..., sub, size] as scale * q - min with q in
    0..levels: per sub-block, scale (>= 0) and min (>= 0)."""
    lo = np.minimum(x.min(-1), 0.0)
    hi = np.maximum(x.max(-1), 0.0)
    return (hi - lo) / levels, -lo


def _pack_k4_scales(sc, m):
    """q4_K / q5_K: 8 six-bit scales and mins [B, 8] -> [B, 12] bytes."""
    out = np.zeros((sc.shape[0], 12), dtype=np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def _quantize_k_scale_min(x, levels):
    """Super-blocks x [B, 256] in sub-blocks of 32 with 6-bit scales and
    mins: (d, dmin, sc [B, 8], m [B, 8], q [B, 256] in 0..levels)."""
    sub = x.reshape(-1, 8, 32)
    scale, mn = _scale_min_subblocks(sub, levels)
    d = _f16(scale.max(-1) / 63)
    dmin = _f16(mn.max(-1) / 63)
    sc = np.clip(np.rint(_safe_div(scale, d[:, None])), 0, 63).astype(np.uint8)
    m = np.clip(np.rint(_safe_div(mn, dmin[:, None])), 0, 63).astype(np.uint8)
    step = d[:, None] * sc
    q = np.rint(_safe_div(sub + (dmin[:, None] * m)[..., None], step[..., None]))
    q = np.clip(q, 0, levels).astype(np.uint8).reshape(-1, QK_K)
    return d, dmin, sc, m, q


def _nibbles_k(q):
    """q4_K / q5_K: values [B, 256] (low 4 bits) -> 128 bytes: chunk c of
    32 bytes holds values 64c..64c+31 (low nibbles) and 64c+32.. (high)."""
    q = (q & 15).reshape(-1, 4, 2, 32)
    return (q[:, :, 0, :] | (q[:, :, 1, :] << 4)).reshape(-1, 128)


def q4_k(x):
    b, lead, per_row = _blocks(x, QK_K)
    d, dmin, sc, m, q = _quantize_k_scale_min(b, 15)
    return _out([_f16_bytes(d), _f16_bytes(dmin), _pack_k4_scales(sc, m),
                 _nibbles_k(q)], lead, per_row)


def q5_k(x):
    b, lead, per_row = _blocks(x, QK_K)
    d, dmin, sc, m, q = _quantize_k_scale_min(b, 31)
    # qh[l] bit j: the fifth bit of value 32j + l.
    high = (q >> 4).reshape(-1, 8, 32)
    qh = np.zeros((b.shape[0], 32), dtype=np.uint8)
    for j in range(8):
        qh |= (high[:, j, :] << j).astype(np.uint8)
    return _out([_f16_bytes(d), _f16_bytes(dmin), _pack_k4_scales(sc, m), qh,
                 _nibbles_k(q)], lead, per_row)


def _value_index():
    """The K-quants with sub-blocks of 16: value v = 128 h + 32 k + l as
    (h, k, l) index arrays over [2, 4, 32]."""
    h, k, l = np.meshgrid(np.arange(2), np.arange(4), np.arange(32),
                          indexing="ij")
    return h, k, l, 128 * h + 32 * k + l


def q6_k(x):
    b, lead, per_row = _blocks(x, QK_K)
    sub = b.reshape(-1, 16, 16)
    # q in -32..31: scale = max|x| / 32 (signed, so the extreme maps to
    # -32, as ggml does).
    idx = np.abs(sub).argmax(-1)
    extreme = np.take_along_axis(sub, idx[..., None], -1)[..., 0]
    scale = extreme / -32.0
    d = _f16(np.abs(scale).max(-1) / 127)
    sc = np.clip(np.rint(_safe_div(scale, d[:, None])), -128, 127)
    step = d[:, None] * sc
    q = np.clip(np.rint(_safe_div(sub, step[..., None])), -32, 31)
    q = (q + 32).astype(np.uint8).reshape(-1, QK_K)
    h, k, l, v = _value_index()
    ql = np.zeros((b.shape[0], 128), dtype=np.uint8)
    qh = np.zeros((b.shape[0], 64), dtype=np.uint8)
    for hh in range(2):
        for kk in range(4):
            vals = q[:, 128 * hh + 32 * kk + np.arange(32)]
            at = 64 * hh + 32 * (kk % 2) + np.arange(32)
            ql[:, at] |= ((vals & 15) << (4 * (kk // 2))).astype(np.uint8)
            qh[:, 32 * hh + np.arange(32)] |= ((vals >> 4) << (2 * kk)).astype(
                np.uint8)
    return _out([ql, qh, sc.astype(np.int8).view(np.uint8), _f16_bytes(d)],
                lead, per_row)


def q2_k(x):
    b, lead, per_row = _blocks(x, QK_K)
    sub = b.reshape(-1, 16, 16)
    scale, mn = _scale_min_subblocks(sub, 3)
    d = _f16(scale.max(-1) / 15)
    dmin = _f16(mn.max(-1) / 15)
    sc = np.clip(np.rint(_safe_div(scale, d[:, None])), 0, 15).astype(np.uint8)
    m = np.clip(np.rint(_safe_div(mn, dmin[:, None])), 0, 15).astype(np.uint8)
    step = d[:, None] * sc
    q = np.rint(_safe_div(sub + (dmin[:, None] * m)[..., None], step[..., None]))
    q = np.clip(q, 0, 3).astype(np.uint8).reshape(-1, QK_K)
    qs = np.zeros((b.shape[0], 64), dtype=np.uint8)
    for hh in range(2):
        for kk in range(4):
            vals = q[:, 128 * hh + 32 * kk + np.arange(32)]
            qs[:, 32 * hh + np.arange(32)] |= (vals << (2 * kk)).astype(np.uint8)
    scales = (sc | (m << 4)).astype(np.uint8)
    return _out([scales, qs, _f16_bytes(d), _f16_bytes(dmin)], lead, per_row)


def q3_k(x):
    b, lead, per_row = _blocks(x, QK_K)
    sub = b.reshape(-1, 16, 16)
    # q in -4..3: scale = max|x| / 4 (signed, the extreme maps to -4).
    idx = np.abs(sub).argmax(-1)
    extreme = np.take_along_axis(sub, idx[..., None], -1)[..., 0]
    scale = extreme / -4.0
    d = _f16(np.abs(scale).max(-1) / 31)
    sc = np.clip(np.rint(_safe_div(scale, d[:, None])), -32, 31)
    step = d[:, None] * sc
    q = np.clip(np.rint(_safe_div(sub, step[..., None])), -4, 3)
    q = (q + 4).astype(np.uint8).reshape(-1, QK_K)  # low 2 bits | high << 2
    hmask = np.zeros((b.shape[0], 32), dtype=np.uint8)
    qs = np.zeros((b.shape[0], 64), dtype=np.uint8)
    for hh in range(2):
        for kk in range(4):
            vals = q[:, 128 * hh + 32 * kk + np.arange(32)]
            qs[:, 32 * hh + np.arange(32)] |= ((vals & 3) << (2 * kk)).astype(
                np.uint8)
            hmask |= ((vals >> 2) << (4 * hh + kk)).astype(np.uint8)
    stored = (sc + 32).astype(np.uint8)  # 16 six-bit scales
    scales = np.zeros((b.shape[0], 12), dtype=np.uint8)
    for s in range(16):
        scales[:, s % 8] |= ((stored[:, s] & 15) << (4 * (s // 8))).astype(
            np.uint8)
        scales[:, 8 + s % 4] |= ((stored[:, s] >> 4) << (2 * (s // 4))).astype(
            np.uint8)
    return _out([hmask, qs, scales, _f16_bytes(d)], lead, per_row)


def iq4_nl(x):
    b, lead, per_row = _blocks(x, 32)
    idx = np.abs(b).argmax(-1)
    extreme = np.take_along_axis(b, idx[:, None], -1)[:, 0]
    d = _f16(extreme / IQ4_NL_TABLE[0])
    scaled = _safe_div(b, d[:, None])
    q = np.abs(scaled[..., None] - IQ4_NL_TABLE).argmin(-1).astype(np.uint8)
    qs = q[:, :16] | (q[:, 16:] << 4)
    return _out([_f16_bytes(d), qs], lead, per_row)


ENCODERS = {"q2_k": q2_k, "q3_k": q3_k, "q4_k": q4_k, "q5_k": q5_k,
            "q6_k": q6_k, "iq4_nl": iq4_nl}

# The step of each format relative to a block's max |x|, for the check.
TOLERANCE = {"q2_k": 0.5, "q3_k": 0.3, "q4_k": 0.12, "q5_k": 0.06,
             "q6_k": 0.04, "iq4_nl": 0.12}


def main():
    import gguf
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 512)).astype(np.float32)
    x[1] = np.abs(x[1])           # all positive
    x[2] = -np.abs(x[2])          # all negative
    x[3, :256] = 0                # a zero super-block
    x[4] *= 1e-3                  # small values
    failed = False
    for name, encode in ENCODERS.items():
        qtype = getattr(gguf.GGMLQuantizationType, name.upper())
        data = encode(x)
        block, size = gguf.GGML_QUANT_SIZES[qtype]
        assert data.shape == (8, 512 // block * size), (name, data.shape)
        back = gguf.quants.dequantize(data, qtype)
        err = np.abs(back - x).max(-1) / np.maximum(np.abs(x).max(-1), 1e-30)
        ok = bool(np.all(np.isfinite(back))) and err.max() <= TOLERANCE[name]
        failed |= not ok
        print(f"{name}: max error / max |x| per row {err.max():.4f} "
              f"(bound {TOLERANCE[name]}) {'ok' if ok else 'FAILED'}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
