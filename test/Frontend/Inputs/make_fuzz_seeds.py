#!/usr/bin/env python3
# ===- make_fuzz_seeds.py - seed corpora of the reader fuzzers -------------===#
#
# Part of Loom, an MLIR-based compiler for transformer models.
#
# Writes small valid model files into <out>/gguf, <out>/llama2c and
# <out>/safetensors, one folder per fuzzer, so that libFuzzer starts from
# inputs that reach deep into each reader: a tiny llama in GGUF v2 and v3
# (every metadata type, F32/F16/Q8_0/Q4_0, Q4_1, Q5_1, IQ4_NL and K-quant
# tensors, a chat template), llama2.c versions 0 and 2 and a tokenizer.bin, a safetensors file, a config.json and a
# tokenizer.json.
#
# ===----------------------------------------------------------------------===#

import json
import os
import struct
import sys

DIM, HIDDEN, LAYERS, HEADS, KV, VOCAB, CTX = 8, 16, 1, 2, 1, 4, 8


def tensors(DIM=DIM, HIDDEN=HIDDEN):
    """The tiny llama's tensors: GGUF name, outermost-first shape."""
    out = [("token_embd.weight", [VOCAB, DIM]), ("output_norm.weight", [DIM])]
    hd = DIM // HEADS
    for l in range(LAYERS):
        p = "blk.%d." % l
        out += [
            (p + "attn_norm.weight", [DIM]),
            (p + "attn_q.weight", [HEADS * hd, DIM]),
            (p + "attn_k.weight", [KV * hd, DIM]),
            (p + "attn_v.weight", [KV * hd, DIM]),
            (p + "attn_output.weight", [DIM, HEADS * hd]),
            (p + "ffn_norm.weight", [DIM]),
            (p + "ffn_gate.weight", [HIDDEN, DIM]),
            (p + "ffn_down.weight", [DIM, HIDDEN]),
            (p + "ffn_up.weight", [HIDDEN, DIM]),
        ]
    return out


def count(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def f32(n, start=0.0):
    return struct.pack("<%df" % n, *[start + 0.01 * i for i in range(n)])


# ----------------------------------------------------------------------------
# GGUF
# ----------------------------------------------------------------------------


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, type_id, payload):
    return gstr(key) + struct.pack("<I", type_id) + payload


# GGML block types beyond q8_0/q4_0: (bytes, values) per block and the
# offsets of their f16 fields (set to 1.0 so that the blocks are valid).
BLOCKS = {3: (20, 32, [0, 2]), 7: (24, 32, [0, 2]), 20: (18, 32, [0]),
          10: (84, 256, [80, 82]), 11: (110, 256, [108]),
          12: (144, 256, [0, 2]), 14: (210, 256, [208])}


def block_blob(ggml_type, n):
    size, values, halves = BLOCKS[ggml_type]
    block = bytearray((7 * i + 3) & 0x3F for i in range(size))
    for at in halves:
        block[at:at + 2] = b"\x00\x3c"
    return bytes(block) * (n // values)


def gguf(version, ggml_type=0, alignment=32, dim=DIM, hidden=HIDDEN):
    kvs = [
        kv("general.architecture", 8, gstr("llama")),
        kv("llama.embedding_length", 4, struct.pack("<I", dim)),
        kv("llama.feed_forward_length", 4, struct.pack("<I", hidden)),
        kv("llama.block_count", 10, struct.pack("<Q", LAYERS)),
        kv("llama.attention.head_count", 5, struct.pack("<i", HEADS)),
        kv("llama.attention.head_count_kv", 2, struct.pack("<H", KV)),
        kv("llama.context_length", 11, struct.pack("<q", CTX)),
        kv("llama.attention.layer_norm_rms_epsilon", 6, struct.pack("<f", 1e-5)),
        kv("llama.rope.freq_base", 12, struct.pack("<d", 10000.0)),
        kv("general.alignment", 4, struct.pack("<I", alignment)),
        kv("general.flag", 7, b"\x01"),
        kv("general.small", 0, b"\x07"),
        kv("general.signed", 1, b"\xff"),
        kv("general.short", 3, struct.pack("<h", -3)),
        kv("tokenizer.ggml.model", 8, gstr("llama")),
        kv("tokenizer.ggml.tokens", 9,
           struct.pack("<IQ", 8, VOCAB)
           + b"".join(gstr(t) for t in ["<unk>", "<s>", "</s>", "\u2581a"])),
        kv("tokenizer.ggml.scores", 9,
           struct.pack("<IQ", 6, VOCAB) + f32(VOCAB)),
        kv("tokenizer.ggml.token_type", 9,
           struct.pack("<IQ", 5, VOCAB) + struct.pack("<4i", 2, 3, 3, 1)),
        kv("tokenizer.ggml.bos_token_id", 4, struct.pack("<I", 1)),
        kv("tokenizer.ggml.eot_token_id", 4, struct.pack("<I", 2)),
        kv("tokenizer.chat_template", 8,
           gstr("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}"
                "\n{% endfor %}{% if add_generation_prompt %}assistant: "
                "{% endif %}")),
        kv("nested", 9, struct.pack("<IQ", 9, 1) + struct.pack("<IQ", 4, 1)
           + struct.pack("<I", 5)),
    ]
    infos, data = b"", b""
    values = BLOCKS[ggml_type][1] if ggml_type in BLOCKS else 32
    for name, shape in tensors(dim, hidden):
        n = count(shape)
        kind = ggml_type if len(shape) == 2 and shape[-1] % values == 0 else 0
        if kind in BLOCKS:
            blob = block_blob(kind, n)
        elif kind == 0:
            blob = f32(n)
        elif kind == 1:
            blob = b"\x00\x3c" * n
        elif kind == 8:
            blob = (b"\x00\x3c" + bytes(range(32))) * (n // 32)
        else:  # Q4_0
            blob = (b"\x00\x3c" + bytes(range(16))) * (n // 32)
        data += b"\0" * (-len(data) % alignment)
        dims = list(reversed(shape))
        infos += gstr(name) + struct.pack("<I", len(dims))
        infos += struct.pack("<%dQ" % len(dims), *dims)
        infos += struct.pack("<IQ", kind, len(data))
        data += blob
    head = b"GGUF" + struct.pack("<IQQ", version, len(tensors(dim, hidden)),
                                 len(kvs))
    head += b"".join(kvs) + infos
    head += b"\0" * (-len(head) % alignment)
    return head + data


# ----------------------------------------------------------------------------
# llama2.c
# ----------------------------------------------------------------------------


def llama2c_v0(tied):
    hd = DIM // HEADS
    out = struct.pack("<7i", DIM, HIDDEN, LAYERS, HEADS, KV,
                      VOCAB if tied else -VOCAB, CTX)
    for n in [VOCAB * DIM, LAYERS * DIM, LAYERS * DIM * DIM,
              LAYERS * KV * hd * DIM, LAYERS * KV * hd * DIM,
              LAYERS * DIM * DIM, LAYERS * DIM, LAYERS * HIDDEN * DIM,
              LAYERS * DIM * HIDDEN, LAYERS * HIDDEN * DIM, DIM,
              2 * CTX * (hd // 2)]:
        out += f32(n)
    if not tied:
        out += f32(VOCAB * DIM)
    return out


def llama2c_v2(group=8):
    hd = DIM // HEADS
    head = struct.pack("<Ii7iBi", 0x616B3432, 2, DIM, HIDDEN, LAYERS, HEADS,
                       KV, VOCAB, CTX, 1, group)
    out = head + b"\0" * (256 - len(head))
    out += f32(2 * LAYERS * DIM + DIM)
    sizes = [VOCAB * DIM]
    for n in [DIM * DIM, KV * hd * DIM, KV * hd * DIM, DIM * DIM,
              HIDDEN * DIM, DIM * HIDDEN, HIDDEN * DIM]:
        sizes += [n] * LAYERS
    for n in sizes:
        out += bytes((i * 7) % 256 for i in range(n)) + f32(n // group, 0.5)
    return out


def tokenizer_bin():
    out = struct.pack("<I", 5)
    for i, piece in enumerate([b"<unk>", b"\n<s>\n", b"\n</s>\n", b" a"]):
        out += struct.pack("<fI", -float(i), len(piece)) + piece
    return out


# ----------------------------------------------------------------------------
# safetensors
# ----------------------------------------------------------------------------

HF = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
      "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
      "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
      "ffn_gate": "mlp.gate_proj", "ffn_down": "mlp.down_proj",
      "ffn_up": "mlp.up_proj"}


def safetensors():
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for i, (name, shape) in enumerate(tensors()):
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        else:
            _, layer, what, _ = name.split(".")
            hf = "model.layers.%s.%s.weight" % (layer, HF[what])
        dtype, size = ("F16", 2) if i % 2 else ("F32", 4)
        blob = b"\x00\x3c" * count(shape) if size == 2 else f32(count(shape))
        header[hf] = {"dtype": dtype, "shape": shape,
                      "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
          "hidden_size": DIM, "intermediate_size": HIDDEN,
          "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
          "num_key_value_heads": KV, "max_position_embeddings": CTX,
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": VOCAB,
          "tie_word_embeddings": True, "sliding_window": None}

TOKENIZER = {"added_tokens": [{"id": 1, "content": "<s>", "special": True}],
             "model": {"type": "BPE", "byte_fallback": True,
                       "unk_token": "<unk>",
                       "vocab": {"<unk>": 0, "<s>": 1, "a": 2, "b": 3,
                                 "ab": 4, "<0x41>": 5},
                       "merges": ["a b", ["ab", "b"]]}}

# A WordPiece (BERT) tokenizer.json with its normalizer, pre-tokenizer and
# template.
WORDPIECE = {
    "added_tokens": [{"id": i, "content": t, "special": True}
                     for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]",
                                            "[SEP]", "[MASK]"])],
    "normalizer": {"type": "BertNormalizer", "clean_text": True,
                   "handle_chinese_chars": True, "strip_accents": None,
                   "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]"}},
                                  {"Sequence": {"id": "A"}},
                                  {"SpecialToken": {"id": "[SEP]"}}],
                       "special_tokens": {"[CLS]": {"ids": [2]},
                                          "[SEP]": {"ids": [3]}}},
    "model": {"type": "WordPiece", "unk_token": "[UNK]",
              "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3,
                        "[MASK]": 4, "hello": 5, "##s": 6, ",": 7}}}

# Texts for TokenizerFuzzer: accents, CJK, controls, special tokens, bytes
# that are no UTF-8.
TEXTS = ["Hello, W\u00f6rld! [MASK] caf\u00e9 \u6771\u4eac\u306f \u20ac3.50",
         "a\u0000b\u0001c\tq\r\n\u200d\ud83d\ude00 <s>ab</s> \u0130",
         ]


# Chat templates (for ChatTemplateFuzzer): ChatML with a default system
# turn, and a Llama 2 style one with namespace, slicing, filters, tests and
# raise_exception.
CHATML = ("{% for message in messages %}{% if loop.first and "
          "messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou "
          "are helpful.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
          "message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
          "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ "
          "'<|im_start|>assistant\\n' }}{% endif %}")
LLAMA2 = """{%- set ns = namespace(sys='') -%}
{%- if messages[0].role == 'system' -%}{%- set ns.sys = messages[0].content | trim -%}
{%- set rest = messages[1:] -%}{%- else -%}{%- set rest = messages -%}{%- endif -%}
{%- for m in rest -%}
  {%- if (m['role'] == 'user') != (loop.index0 % 2 == 0) -%}
    {{ raise_exception('roles must alternate user/assistant') }}
  {%- endif -%}
  {%- if m.role == 'user' -%}{{ bos_token ~ '[INST] ' ~ (('<<SYS>>\n' ~ ns.sys ~ '\n<</SYS>>\n\n') if loop.first and ns.sys else '') ~ m.content | trim ~ ' [/INST]' }}
  {%- elif m.role is defined and m.content is string -%}{{ ' ' ~ m.content.strip() ~ ' ' ~ eos_token }}
  {%- endif -%}
{%- endfor -%}
{{ rest | length }} {{ rest | map(attribute='role') | join(',') | upper }}"""


def main():
    out = sys.argv[1]
    files = {
        "gguf/v3_f32.gguf": gguf(3),
        # Rows of 32 and 256 values, so that the matrices hold blocks.
        "gguf/v2_f16.gguf": gguf(2, ggml_type=1, alignment=64, dim=32,
                                 hidden=32),
        "gguf/v3_q8_0.gguf": gguf(3, ggml_type=8, dim=32, hidden=32),
        "gguf/v3_q4_0.gguf": gguf(3, ggml_type=2, alignment=16, dim=32,
                                  hidden=32),
        "gguf/v3_q4_1.gguf": gguf(3, ggml_type=3, dim=32, hidden=32),
        "gguf/v3_q5_1.gguf": gguf(3, ggml_type=7, dim=32, hidden=32),
        "gguf/v3_iq4_nl.gguf": gguf(3, ggml_type=20, dim=32, hidden=32),
        "gguf/v3_q4_k.gguf": gguf(3, ggml_type=12, dim=256, hidden=256),
        "gguf/v3_q6_k.gguf": gguf(3, ggml_type=14, dim=256, hidden=256),
        "llama2c/v0_tied.bin": llama2c_v0(True),
        "llama2c/v0_untied.bin": llama2c_v0(False),
        "llama2c/v2_q8.bin": llama2c_v2(),
        "llama2c/tokenizer.bin": tokenizer_bin(),
        "chat/chatml.jinja": CHATML.encode(),
        "chat/llama2.jinja": LLAMA2.encode(),
        "safetensors/model.safetensors": safetensors(),
        "safetensors/config.json": json.dumps(CONFIG).encode(),
        "safetensors/tokenizer.json": json.dumps(TOKENIZER).encode(),
        "safetensors/wordpiece.json": json.dumps(WORDPIECE).encode(),
        "text/0.txt": TEXTS[0].encode("utf-8", "surrogatepass"),
        "text/1.txt": TEXTS[1].encode("utf-8", "surrogatepass"),
        "text/2.txt": b"hello\xff\xfe\xc3(\xe2\x82 \xf0\x9f\x98",
    }
    for path, blob in files.items():
        full = os.path.join(out, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
