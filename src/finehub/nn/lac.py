"""Baidu LAC's network (Chinese segmentation, part-of-speech and entity tags) in PyTorch.

Characters -> embedding (128) -> two bidirectional GRU layers (128 per direction) -> one linear
layer to the tag scores -> a CRF. :class:`LacEncoder` is everything up to the GRU states, as a
``transformers`` model (type ``"finehub-lac"``) so the text tasks can fine-tune it like any
encoder and an exported tagger reloads through ``AutoModel``; :class:`LacTagger` adds the
pretrained linear layer and CRF. :func:`from_onnx` reads PaddleHub's weights from the ONNX export
(its GRU gates are ordered z, r, h; PyTorch's r, z, n).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from finehub.errors import DataFormatError
from finehub.nn.crf import CRF

MODEL_TYPE = "finehub-lac"


class LacConfig(PretrainedConfig):
    model_type = MODEL_TYPE

    def __init__(
        self,
        vocab_size: int = 58224,
        embedding_size: int = 128,
        gru_size: int = 128,
        num_layers: int = 2,
        pad_token_id: int = 58223,
        **kwargs: Any,
    ) -> None:
        super().__init__(pad_token_id=pad_token_id, **kwargs)
        self.vocab_size, self.embedding_size = vocab_size, embedding_size
        self.gru_size, self.num_layers = gru_size, num_layers
        self.hidden_size = 2 * gru_size  # what a head on top reads


class LacEncoder(PreTrainedModel):
    """Character ids (B×T) -> ``last_hidden_state`` (B×T×256); ``attention_mask`` gives each row's
    length (rows are left-aligned), so padding never reaches the backward direction."""

    config_class = LacConfig
    base_model_prefix = "lac"

    def __init__(self, config: LacConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        self.gru = nn.GRU(
            config.embedding_size,
            config.gru_size,
            num_layers=config.num_layers,
            bidirectional=True,
            batch_first=True,
        )
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **_: Any,
    ) -> BaseModelOutput:
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        width = input_ids.shape[1]
        x = self.embedding(input_ids)
        if attention_mask is None:
            return BaseModelOutput(last_hidden_state=self.gru(x)[0])
        lengths = attention_mask.sum(1).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=width)
        return BaseModelOutput(last_hidden_state=out)


class LacTagger(nn.Module):
    """The pretrained LAC: encoder, linear tag scores and CRF (``decode`` gives tag ids)."""

    def __init__(self, config: LacConfig, num_tags: int) -> None:
        super().__init__()
        self.encoder = LacEncoder(config)
        self.head = nn.Linear(config.hidden_size, num_tags)
        self.crf = CRF(num_tags)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Tag scores (emissions), B×T×num_tags."""
        return self.head(self.encoder(input_ids, attention_mask).last_hidden_state)

    @torch.no_grad()
    def decode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[list[int]]:
        return self.crf.decode(self(input_ids, attention_mask), attention_mask.bool())


def register_with_transformers() -> None:
    """Let ``AutoConfig``/``AutoModel`` load folders of model type ``"finehub-lac"`` (idempotent)."""
    try:
        AutoConfig.register(MODEL_TYPE, LacConfig)
        AutoModel.register(LacConfig, LacEncoder)
    except ValueError:  # already registered
        pass


def from_onnx(onnx_path: Path, transitions: torch.Tensor) -> LacTagger:
    """The tagger with the weights of LAC's ONNX export and its CRF transition matrix (T×T)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in graph.initializer}
    grus = [n for n in graph.node if n.op_type == "GRU"]
    embedding = _find(weights, "embedding_0.w_0", onnx_path)
    head_w, head_b = _find(weights, "linear_0.w_0", onnx_path), _find(weights, "linear_0.b_0", onnx_path)
    gru_size = int(_find(weights, grus[0].input[2], onnx_path).shape[-1]) if grus else 0
    if len(grus) != 2 or transitions.shape != (head_w.shape[1], head_w.shape[1]):
        raise DataFormatError(str(onnx_path), "expected 2 GRU layers and a square CRF matrix over the tags")
    config = LacConfig(vocab_size=embedding.shape[0], embedding_size=embedding.shape[1], gru_size=gru_size)
    model = LacTagger(config, num_tags=head_w.shape[1])
    state = {"encoder.embedding.weight": embedding, "head.weight": head_w.T, "head.bias": head_b}
    for layer, node in enumerate(grus):
        w, r, b = (_find(weights, name, onnx_path) for name in node.input[1:4])
        for d, suffix in enumerate(("", "_reverse")):
            state[f"encoder.gru.weight_ih_l{layer}{suffix}"] = _rzn(w[d])
            state[f"encoder.gru.weight_hh_l{layer}{suffix}"] = _rzn(r[d])
            state[f"encoder.gru.bias_ih_l{layer}{suffix}"] = _rzn(b[d][: 3 * gru_size])
            state[f"encoder.gru.bias_hh_l{layer}{suffix}"] = _rzn(b[d][3 * gru_size :])
    state["crf.transitions"] = transitions
    state["crf.start"] = torch.zeros(head_w.shape[1])
    state["crf.end"] = torch.zeros(head_w.shape[1])
    model.load_state_dict({k: v.contiguous() for k, v in state.items()})
    return model.eval()


def _rzn(zrh: torch.Tensor) -> torch.Tensor:
    """ONNX's gate blocks (z, r, h) in PyTorch's order (r, z, n)."""
    z, r, h = zrh.chunk(3, dim=0)
    return torch.cat([r, z, h])


def _find(weights: dict[str, torch.Tensor], name: str, path: Path) -> torch.Tensor:
    if name not in weights:
        raise DataFormatError(str(path), f"no initializer {name!r}; is this LAC's ONNX export?")
    return weights[name]
