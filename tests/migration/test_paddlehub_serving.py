"""PaddleHub's documented client requests, unchanged apart from the module name, against the
served modules; PaddleHub's result shapes checked against MIGRATING.md's examples."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from migration.conftest import documented_examples
from PIL import Image
from skimage import data

from finehub.serving.app import create_app


def jpeg_b64(array: np.ndarray) -> str:
    """What PaddleHub's ``cv2_to_base64(cv2.imread(path))`` sends: a JPEG, base64-encoded."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return base64.b64encode(buffer.getvalue()).decode("utf8")


def same_shape(actual: object, documented: object, where: str = "result") -> None:
    """``actual`` has the documented structure: the same keys and JSON types, recursively (lists
    compared by their first item)."""
    if isinstance(documented, dict):
        assert isinstance(actual, dict) and set(actual) == set(documented), (where, actual, documented)
        for key, value in documented.items():
            same_shape(actual[key], value, f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(actual, list), (where, actual)
        if documented and actual:
            same_shape(actual[0], documented[0], f"{where}[0]")
    elif documented is None:
        assert actual is None or isinstance(actual, str), (where, actual)
    elif isinstance(documented, float):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), (where, actual)
    else:
        assert type(actual) is type(documented), (where, actual, documented)


@pytest.fixture(scope="module")
def client(sentiment):
    from finehub.modules.face_detection_mtcnn import FaceDetectionMTCNN
    from finehub.modules.minilm_l6 import MiniLML6
    from finehub.modules.ocr_ppocrv4.module import OCRPPOCRv4

    modules = {
        "face-detection-mtcnn": FaceDetectionMTCNN(),
        "ocr-ppocrv4": OCRPPOCRv4(),
        "minilm-l6": MiniLML6(device="cpu"),
        "sentiment-zh": sentiment,
    }
    with TestClient(create_app(modules)) as c:
        yield c


def ok(response) -> object:
    body = response.json()
    assert response.status_code == 200 and body["status"] == "000" and body["msg"] == "", body
    return body["results"]


def test_face_detection_client_with_paddlehub_arguments(client: TestClient) -> None:
    image = jpeg_b64(data.astronaut())
    body = {"images": [image], "use_gpu": False, "visualization": False}
    [faces] = ok(client.post("/predict/face-detection-mtcnn", json=body))
    assert len(faces) == 1 and set(faces[0]) == {"box", "score", "landmarks"}  # finehub's own shape
    results = ok(client.post("/v1/modules/face-detection-mtcnn/face_detection", json=body))
    same_shape(results, documented_examples()["face_detection"])
    [entry] = results
    assert entry["path"] is None and entry["data"][0]["left"] == faces[0]["box"][0]


def test_visualization_over_http_returns_the_drawing_and_writes_nothing(
    client: TestClient, tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    body = {"images": [jpeg_b64(data.astronaut())], "visualization": True, "batch_size": 1}
    [entry] = ok(client.post("/v1/modules/face-detection-mtcnn/face_detection", json=body))
    drawn = Image.open(io.BytesIO(base64.b64decode(entry["image_base64"])))
    assert drawn.format == "PNG" and drawn.size == (512, 512) and "save_path" not in entry
    assert list(tmp_path.iterdir()) == []  # no detection_result/ on the server
    refused = client.post("/predict/face-detection-mtcnn", json=body)  # detect_faces has no place for it
    assert refused.status_code == 422 and "face_detection" in refused.json()["msg"]


@pytest.mark.parametrize("path", ["/predict/face-detection-mtcnn", "/v1/modules/ocr-ppocrv4/recognize_text"])
def test_paths_and_output_dir_are_refused_over_http_by_name(client: TestClient, path: str, tmp_path) -> None:
    for name, value in (("paths", [str(tmp_path / "x.jpg")]), ("output_dir", str(tmp_path))):
        r = client.post(path, json={"images": [jpeg_b64(data.astronaut())], name: value})
        body = r.json()
        assert r.status_code == 422 and body["status"] == "113", body
        assert body["msg"].startswith(f"{name}: not accepted over HTTP"), body
    assert list(tmp_path.iterdir()) == []


def test_unknown_arguments_are_still_refused(client: TestClient) -> None:
    for path, body in (
        ("/predict/face-detection-mtcnn", {"images": [], "use_gpus": False}),
        ("/predict/sentiment-zh", {"texts": ["好"], "visualization": False}),  # not a text argument
        ("/predict/minilm-l6", {"texts": ["a"], "shrink": 0.5}),
    ):
        r = client.post(path, json=body)
        assert r.status_code == 422 and r.json()["status"] == "113"
        assert r.json()["msg"].endswith("unknown argument"), r.json()


def test_ocr_client(client: TestClient) -> None:
    page = np.full((64, 200, 3), 255, np.uint8)
    canvas = Image.fromarray(page)
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).text((10, 20), "HELLO 123", fill=(0, 0, 0))
    image = jpeg_b64(np.asarray(canvas.resize((600, 192))))
    [lines] = ok(client.post("/predict/ocr-ppocrv4", json={"images": [image], "use_gpu": False}))
    results = ok(client.post("/v1/modules/ocr-ppocrv4/recognize_text", json={"images": [image]}))
    same_shape(results, documented_examples()["recognize_text"])
    assert [d["text"] for d in results[0]["data"]] == [line["text"] for line in lines]
    assert results[0]["save_path"] == "" and len(results[0]["data"][0]["text_box_position"]) == 4


def test_sentiment_client(client: TestClient) -> None:
    texts = ["这家餐厅很好吃", "这部电影真的很差劲"]
    classified = ok(client.post("/predict/sentiment-zh", json={"texts": texts, "use_gpu": False}))
    assert [set(r) for r in classified] == [{"label", "score", "probabilities"}] * 2  # finehub's own
    body = {"texts": texts, "batch_size": 1, "use_gpu": False}
    results = ok(client.post("/v1/modules/sentiment-zh/sentiment_classify", json=body))
    same_shape(results, documented_examples()["sentiment_classify"])
    for senta, own in zip(results, classified, strict=True):
        assert senta["sentiment_key"] == own["label"] and senta["sentiment_label"] == int(
            own["label"] == "positive"
        )
        assert senta["positive_probs"] == pytest.approx(own["probabilities"]["positive"], abs=1e-4)
        assert senta["positive_probs"] + senta["negative_probs"] == pytest.approx(1, abs=2e-4)


def test_text_embedding_clients(client: TestClient) -> None:
    texts = ["today is a good day", "the forecast says it will rain"]
    plain = np.array(ok(client.post("/predict/minilm-l6", json={"texts": texts})))
    with_args = ok(
        client.post("/predict/minilm-l6", json={"texts": texts, "batch_size": 1, "use_gpu": False})
    )
    ernie_style = ok(
        client.post("/predict/minilm-l6", json={"data": [[t] for t in texts]})
    )  # get_embedding's
    senta_style = ok(client.post("/predict/minilm-l6", json={"data": {"text": texts}}))  # 1.x data=
    assert plain.shape == (2, 384)
    for other in (with_args, ernie_style, senta_style):
        np.testing.assert_allclose(np.array(other), plain, atol=1e-4)
    both = client.post("/predict/minilm-l6", json={"texts": texts, "data": {"text": texts}})
    assert both.status_code == 422 and both.json()["msg"].startswith("data:")


def test_docs_describe_the_common_arguments(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    request = next(v for k, v in schemas.items() if k.startswith("face_detection_mtcnn__face_detection__Req"))
    props = request["properties"]
    assert "GPU" in props["use_gpu"]["description"] and "base64" in props["visualization"]["description"]
    assert "paths" not in props and "output_dir" not in props
