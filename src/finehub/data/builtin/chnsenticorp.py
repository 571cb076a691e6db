"""``chnsenticorp``: ChnSentiCorp, Chinese hotel/product/book reviews, negative or positive.

PaddleHub's release: ``train.tsv``, ``dev.tsv``, ``test.tsv`` (9,600 / 1,200 / 1,200 rows), each
with the header ``label<TAB>text_a`` and labels ``0`` (negative) or ``1`` (positive). Pass
``path=`` (the unpacked folder or the ``.tar.gz``), or let it download ``url`` into
``FINEHUB_HOME/datasets``. PaddleHub publishes no checksum, so nothing is pinned by default: the
first download logs the file's sha256, and ``sha256=`` pins it from then on.
"""

from __future__ import annotations

from pathlib import Path

from finehub.data.dataset import SPLITS, Dataset
from finehub.data.download import fetch
from finehub.data.readers import from_tsv
from finehub.data.registry import register_dataset
from finehub.errors import ConfigError, DataFormatError

DEFAULT_URL = "https://bj.bcebos.com/paddlehub-dataset/chnsenticorp.tar.gz"
LABEL_NAMES = ["negative", "positive"]


@register_dataset("chnsenticorp")
def chnsenticorp(
    *,
    path: str | Path | None = None,
    url: str = DEFAULT_URL,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> Dataset:
    if path is not None and url != DEFAULT_URL:
        raise ConfigError("path", f"conflicts with url={url!r}; pass one source")
    hint = (
        f"download {url} where you can and pass it: "
        "hub.datasets.load('chnsenticorp', path='chnsenticorp.tar.gz' or the unpacked folder)"
    )
    folder = fetch(path if path is not None else url, sha256=sha256, timeout=timeout, hint=hint)
    files = {split: folder / f"{split}.tsv" for split in SPLITS}
    missing = [f.name for f in files.values() if not f.is_file()]
    if missing:
        found = ", ".join(sorted(p.name for p in folder.iterdir())) if folder.is_dir() else "not a folder"
        raise DataFormatError(
            str(folder), f"missing {', '.join(missing)} (PaddleHub's ChnSentiCorp layout); found: {found}"
        )
    return from_tsv(
        files, text_column="text_a", label_column="label", label_names=LABEL_NAMES, name="chnsenticorp"
    )
