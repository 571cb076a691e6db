"""PaddleHub's lac client against the served ``lac`` module: the request unchanged, the result in
the shape MIGRATING.md documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from migration.conftest import documented_examples
from migration.test_paddlehub_serving import same_shape

from finehub.serving.app import create_app


def test_lac_client() -> None:
    from finehub.errors import AssetPackageMissingError

    lac_module = pytest.importorskip("finehub.modules.lac")
    try:
        lac = lac_module.LAC()
    except AssetPackageMissingError as e:
        pytest.skip(str(e))
    with TestClient(create_app({"lac": lac})) as client:
        body = {"texts": ["今天是个好日子", "天气预报说今天要下雨"], "batch_size": 1}
        response = client.post("/predict/lac", json=body).json()
        # PaddleHub 1.x's spelling: data={"text": [...]}, and use_gpu=True ignored without a GPU
        old = {"data": {"text": ["今天是个好日子"]}, "use_gpu": True}
        old_style = client.post("/v1/modules/lac/lexical_analysis", json=old).json()
    assert response["status"] == "000", response
    assert old_style["status"] == "000" and old_style["results"][0] == response["results"][0], old_style
    same_shape(response["results"], documented_examples()["lexical_analysis"])
    assert "".join(response["results"][0]["word"]) == "今天是个好日子"
