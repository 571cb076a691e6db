"""Text batches, fast: tokenise each split once, pad each batch only to its longest sequence, and
draw batches of similar lengths in an order that is a pure function of (seed, epoch).

:class:`EncodedSplit` keeps all token ids of a split in one flat array plus offsets, so a split of
tens of thousands of texts costs a few MB and a batch is assembled with numpy slicing.
:class:`LengthBucketSampler` makes an epoch's batches deterministically from ``(seed, epoch)``, so
a run resumed at ``(epoch, position)`` sees exactly the batches the uninterrupted run would have.
Under data-parallel training the batches stay global: :func:`shard` gives each process its slice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

PAD_MULTIPLE = 8  # padded lengths rounded up to a multiple of 8 keep matmul shapes friendly


@dataclass(frozen=True)
class EncodedSplit:
    """Token ids of every example of a split (no padding), with optional segment ids and labels;
    ``features``, where a task computed them once, replace the tokens in batches."""

    ids: np.ndarray  # int64, all sequences concatenated
    offsets: np.ndarray  # int64, len n+1; sequence i is ids[offsets[i]:offsets[i+1]]
    type_ids: np.ndarray | None  # same layout as ids; None when no example is a pair
    labels: np.ndarray | None  # shape (n,) or (n, ...) as the task defines
    features: np.ndarray | None = None  # float32 (n, d): a frozen encoder's pooled output

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        import numpy as np

        return np.diff(self.offsets)


def text_digest(texts: Sequence[str | tuple[str, str | None]], *extra: Any) -> str:
    """A content key for a list of texts (and settings), used to tokenise each split only once."""
    h = hashlib.sha1(repr(extra).encode())
    for t in texts:
        h.update(repr(t).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def encode_texts(
    tokenizer: Any,
    texts: Sequence[str],
    max_seq_len: int,
    *,
    texts_b: Sequence[str | None] | None = None,
    labels: np.ndarray | None = None,
    chunk: int = 4096,
) -> EncodedSplit:
    """Tokenise (with special tokens, truncated to ``max_seq_len``) into an :class:`EncodedSplit`."""
    import numpy as np

    pairs = texts_b is not None and any(b is not None for b in texts_b)
    ids: list[list[int]] = []
    types: list[list[int]] = []
    for start in range(0, len(texts), chunk):
        a = list(texts[start : start + chunk])
        if pairs:
            b = [x or "" for x in texts_b[start : start + chunk]]  # type: ignore[index]
            enc = tokenizer(a, b, truncation="longest_first", max_length=max_seq_len)
            types.extend(enc["token_type_ids"])
        else:
            enc = tokenizer(a, truncation=True, max_length=max_seq_len)
        ids.extend(enc["input_ids"])
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ids], out=offsets[1:])
    flat = np.fromiter((t for seq in ids for t in seq), dtype=np.int64, count=int(offsets[-1]))
    type_flat = (
        np.fromiter((t for seq in types for t in seq), dtype=np.int64, count=int(offsets[-1]))
        if pairs
        else None
    )
    return EncodedSplit(flat, offsets, type_flat, labels)


def collate(split: EncodedSplit, indices: Sequence[int] | np.ndarray, pad_id: int) -> dict[str, torch.Tensor]:
    """A padded batch: ``input_ids``, ``attention_mask``, ``token_type_ids`` (pairs only), ``labels``;
    or ``features`` and ``labels`` where the split carries features."""
    import numpy as np
    import torch

    indices = np.asarray(indices, dtype=np.int64)
    if split.features is not None:
        batch = {"features": torch.from_numpy(split.features[indices])}
        if split.labels is not None:
            batch["labels"] = torch.from_numpy(np.ascontiguousarray(split.labels[indices]))
        return batch
    starts, ends = split.offsets[indices], split.offsets[indices + 1]
    lengths = ends - starts
    width = int(-(-lengths.max() // PAD_MULTIPLE) * PAD_MULTIPLE)
    mask = np.arange(width)[None, :] < lengths[:, None]
    # positions inside the flat array for every real token, row by row
    gather = (starts[:, None] + np.arange(width)[None, :])[mask]
    input_ids = np.full((len(indices), width), pad_id, dtype=np.int64)
    input_ids[mask] = split.ids[gather]
    batch = {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(mask.astype(np.int64)),
    }
    if split.type_ids is not None:
        type_ids = np.zeros((len(indices), width), dtype=np.int64)
        type_ids[mask] = split.type_ids[gather]
        batch["token_type_ids"] = torch.from_numpy(type_ids)
    if split.labels is not None:
        batch["labels"] = torch.from_numpy(np.ascontiguousarray(split.labels[indices]))
    return batch


class LengthBucketSampler:
    """Batches of similar lengths, reproducible and resumable.

    Training order for epoch ``e``: shuffle all indices with a generator seeded by ``(seed, e)``,
    cut them into pools of ``pool_batches`` batches, sort each pool by length, cut it into
    batches, and shuffle the order of all batches. Every epoch has ``len(self)`` batches, so a
    global step maps to ``(epoch, position) = divmod(step, len(self))``. Without ``shuffle``
    (evaluation), batches run from the longest sequences to the shortest.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        *,
        seed: int = 0,
        shuffle: bool = True,
        pool_batches: int = 50,
    ) -> None:
        import numpy as np

        self.lengths = np.asarray(lengths)
        self.batch_size, self.seed, self.shuffle, self.pool_batches = batch_size, seed, shuffle, pool_batches

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def epoch_batches(self, epoch: int) -> list[np.ndarray]:
        import numpy as np

        bs = self.batch_size
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable")
            return [order[i : i + bs] for i in range(0, len(order), bs)]
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(len(self.lengths))
        pool = bs * self.pool_batches
        batches: list[np.ndarray] = []
        for start in range(0, len(perm), pool):
            chunk = perm[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches.extend(chunk[i : i + bs] for i in range(0, len(chunk), bs))
        return [batches[i] for i in rng.permutation(len(batches))]

    def iter_from(self, epoch: int, position: int = 0) -> Iterator[np.ndarray]:
        """The batches of ``epoch`` from index ``position`` on (resume)."""
        yield from self.epoch_batches(epoch)[position:]


def shard(indices: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous slice of a global batch (sizes differ by at most one), so that
    ``world_size`` processes together see exactly the batch one process would."""
    import numpy as np

    return np.array_split(indices, world_size)[rank]
