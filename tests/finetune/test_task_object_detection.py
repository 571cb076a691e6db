"""ObjectDetectionTask on the pretrained NanoDet: NanoDet's loss and assignment, post-processing,
batches whose boxes follow the letterbox, COCO metrics, and real fine-tuning that must beat an
untrained head clearly, then export, ONNX and loading by name."""

from __future__ import annotations

import base64
import functools
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from data.test_detection_data import coco_json, write_coco, write_voc, write_yolo
from finetune.tasks_support import finetune
from PIL import Image
from serving.serving_support import live_server

import finehub as hub
from finehub.data.dataset import Dataset, TextExample
from finehub.data.detection import DetectionDataset, DetectionExample
from finehub.errors import ConfigError
from finehub.finetune.kinds import get_kind
from finehub.finetune.metrics import detection_metrics
from finehub.finetune.tasks.object_detection import ObjectDetectionTask
from finehub.finetune.yaml_config import load_job
from finehub.imaging.images import load_image
from finehub.nn.gfl import GFLLoss, aligned_iou_giou, atss_assign
from finehub.nn.nanodet_io import REG_MAX, anchor_points, decode, level_shapes, nms, select
from finehub.serving.app import create_app

pytestmark = pytest.mark.usefixtures("human_models")  # the pretrained NanoDet's weights


@functools.cache
def nanodet():
    return hub.Module("object-detection-nanodet")


def points_and_sizes(size: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    return torch.from_numpy(anchor_points(size, size)), tuple(h * w for h, w in level_shapes(size, size))


def test_atss_assigns_points_inside_each_object() -> None:
    points, sizes = points_and_sizes(256)
    gt = torch.tensor([[20.0, 30.0, 100.0, 120.0], [150.0, 140.0, 250.0, 250.0]])
    assigned = atss_assign(points, sizes, gt)
    for k, box in enumerate(gt):
        mine = points[assigned == k, :2]
        assert len(mine) >= 3  # a few points per object, over the levels its size suits
        assert ((mine > box[:2]) & (mine < box[2:])).all()
    assert (assigned == -1).sum() > len(points) - 60  # everything else is background
    assert (atss_assign(points, sizes, torch.zeros((0, 4))) == -1).all()


def test_gfl_loss_trains_raw_outputs_onto_the_objects() -> None:
    """Optimising the raw head outputs directly must drive the loss down and the decoded boxes of
    the assigned points onto their objects (IoU), with the right class scoring highest."""
    size, classes = 128, 2
    points, sizes = points_and_sizes(size)
    targets = torch.tensor(
        [[[0, 10, 12, 60, 70], [1, 70, 40, 120, 110]], [[1, 30, 30, 90, 100], [-1, 0, 0, 0, 0]]]
    )
    loss_fn = GFLLoss(classes, REG_MAX, sizes)
    raw = torch.nn.Parameter(torch.randn(2, len(points), classes + 4 * (REG_MAX + 1)) * 0.1)
    opt = torch.optim.Adam([raw], lr=0.05)
    first = float(loss_fn(raw, targets, points).detach())
    for _ in range(150):
        opt.zero_grad()
        loss = loss_fn(raw, targets, points)
        loss.backward()
        opt.step()
    assert float(loss) < 0.3 * first
    scores, boxes = decode(raw.detach().numpy(), classes, points.numpy())
    found = select(scores[0], boxes[0], score_thresh=0.3, nms_iou=0.6)
    assert sorted(found.classes.tolist()) == [0, 1]
    for box, cls in zip(found.boxes, found.classes, strict=True):
        truth = targets[0, int(cls), 1:][None]
        assert float(aligned_iou_giou(torch.from_numpy(box)[None], truth)[0]) > 0.8


def test_nms_and_select_are_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.6], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, classes, 0.5).tolist() == [0, 2, 3]  # box 1 overlaps box 0, same class
    per_class = np.zeros((4, 2), np.float32)
    per_class[np.arange(4), classes] = scores
    found = select(per_class, boxes, score_thresh=0.65, nms_iou=0.5)
    assert found.scores.tolist() == pytest.approx([0.9, 0.7]) and found.classes.tolist() == [0, 1]


def test_detection_metrics_follow_cocoeval() -> None:
    truth = [(np.array([[10, 10, 50, 50], [60, 60, 100, 120]], float), np.array([0, 1]))]
    found = [
        (np.array([[10, 10, 50, 50], [60, 60, 100, 100]], float), np.array([0.9, 0.8]), np.array([0, 1]))
    ]
    m = detection_metrics(found, truth, ["a", "b"])
    # class a: exact (AP 1 at every IoU); class b: IoU 2/3, matched at thresholds .50-.65 (4 of 10)
    assert (
        m["map50"] == pytest.approx(1.0)
        and m["map"] == pytest.approx(0.7)
        and m["map75"] == pytest.approx(0.5)
    )
    assert m["per_class"]["b"] == pytest.approx({"ap": 0.4, "recall": 0.4})
    nothing = detection_metrics([(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))], truth, ["a", "b"])
    assert nothing["map"] == 0.0 and nothing["per_class"]["a"]["ap"] == 0.0


def tiny_dataset(n: int = 6, size: int = 96) -> DetectionDataset:
    rng = np.random.default_rng(0)

    def example(i: int) -> DetectionExample:
        image = rng.integers(0, 60, (size, size + 32, 3), dtype=np.uint8)
        image[20:60, 30:80] = (230, 40, 40)
        return DetectionExample(image, np.array([[30, 20, 80, 60]], np.float32), np.array([i % 2]))

    return DetectionDataset(
        "tiny", {s: [example(i) for i in range(n)] for s in ("train", "dev")}, ["red", "blue"]
    )


def test_batches_follow_the_letterbox_and_repeat() -> None:
    ds = tiny_dataset()
    task = ObjectDetectionTask(nanodet(), num_classes=2, image_size=64)
    task.bind(ds)
    assert task.label_names == ["red", "blue"]
    dev = task.encode(ds.dev, split="dev")
    batch = task.collate(dev, np.arange(3))
    assert batch["pixel_values"].shape == (3, 3, 64, 64) and batch["labels"].shape == (3, 1, 5)
    # 128×96 scaled by 0.5 into 64×64, centred: 8 px of padding above and below
    assert batch["labels"][0].tolist() == [[0, 15, 18, 40, 38]]
    assert dev.labels[0][0].tolist() == [[15, 18, 40, 38]]
    train = task.encode(ds.train, split="train")
    torch.manual_seed(0)
    a = task.collate(train, np.arange(6))
    torch.manual_seed(0)
    b = task.collate(train, np.arange(6))
    assert torch.equal(a["pixel_values"], b["pixel_values"]) and torch.equal(a["labels"], b["labels"])
    outputs = task.model(a["pixel_values"])
    anchors = sum(h * w for h, w in level_shapes(64, 64))
    assert outputs.shape == (6, anchors, 2 + 4 * (REG_MAX + 1)) and torch.isfinite(
        task.loss(outputs, a["labels"])
    )


def test_the_new_head_keeps_the_pretrained_box_branch() -> None:
    task = ObjectDetectionTask(nanodet(), num_classes=3, image_size=64, seed=1)
    pretrained = nanodet().net
    for new, old in zip(task.model.head, pretrained.head, strict=True):
        assert torch.equal(new.pred.weight[3:], old.pred.weight[80:])  # distance rows kept
        assert new.pred.weight.shape[0] == 3 + 44 and float(new.pred.bias[0]) == pytest.approx(
            -4.595, abs=1e-3
        )
    first = next(task.model.encoder.parameters())
    assert torch.equal(first, next(pretrained.backbone.parameters())) and first is not next(
        pretrained.parameters()
    )
    scratch = ObjectDetectionTask(nanodet(), num_classes=3, image_size=64, pretrained=False)
    assert not torch.equal(next(scratch.model.encoder.parameters()), first)


def test_bad_settings_and_data_are_refused() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        ObjectDetectionTask(nanodet(), num_classes=2, image_size=100)
    with pytest.raises(ConfigError, match="not a detector"):
        ObjectDetectionTask(hub.Module("minilm-l6"), num_classes=2)
    task = ObjectDetectionTask(nanodet(), num_classes=2, image_size=64)
    with pytest.raises(ConfigError, match="DetectionExample"):
        task.bind(Dataset("text", {"train": [TextExample("x", 0)]}, ["a", "b"]))
    with pytest.raises(ConfigError, match="3 classes|has 3"):
        ObjectDetectionTask(nanodet(), num_classes=3, image_size=64).bind(tiny_dataset())
    bad = DetectionExample(
        np.zeros((32, 32, 3), np.uint8), np.array([[1, 1, 9, 9]], np.float32), np.array([5])
    )
    with pytest.raises(ConfigError, match=r"dev\[0\].labels"):
        task.encode([bad], split="dev")


def test_the_kind_is_registered_under_its_names() -> None:
    kind = get_kind("object-detection")
    assert kind.task is ObjectDetectionTask and get_kind("DetectionTask") is kind
    assert hub.ObjectDetectionTask is ObjectDetectionTask


@pytest.mark.slow
def test_short_finetune_beats_the_untrained_head_and_exports(tmp_path: Path) -> None:
    ds = hub.datasets.load("pasted-objects").subset({"train": 64, "dev": 16, "test": 40})
    task = ObjectDetectionTask(nanodet(), num_classes=ds.num_classes, image_size=192)
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=4, batch_size=8, lr=2e-3)  # 32 steps
    untrained = ObjectDetectionTask(nanodet(), num_classes=ds.num_classes, image_size=192)
    before = hub.Trainer(untrained, hub.AdamWeightDecay(), hub.RunConfig(checkpoint_dir=str(tmp_path / "u")))
    baseline = before.evaluate(ds.test)
    assert baseline["map50"] < 0.05  # fresh class rows score every point at about 1 %
    assert result.test_metrics["map50"] >= baseline["map50"] + 0.3, result.test_metrics
    assert set(result.test_metrics["per_class"]) == {"cat", "cup", "face"}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "![held-out image 3](report/detections-3.png)" in report
    drawn = np.asarray(Image.open(tmp_path / "run" / "report" / "detections-0.png"))
    assert ((drawn == (0, 220, 0)).all(-1).any()) and ((drawn == (230, 30, 30)).all(-1).any())  # both kinds

    folder = trainer.export("tiny-detector", output_dir=tmp_path / "export", install_module=False)
    module = hub.Module(str(folder))
    images = [ex.image for ex in ds.test[:6]]
    found = module.object_detection(images=images, score_thresh=0.3)
    assert found == task.predict(images, score_thresh=0.3)
    assert sum(map(len, found)) >= 3 and {d["label"] for r in found for d in r} <= {"cat", "cup", "face"}
    assert module.backbone().labels == ("cat", "cup", "face")

    with live_server(create_app({"my-detector": module})) as (url, _):  # served, PaddleHub's route
        picture = io.BytesIO()
        Image.fromarray(np.asarray(load_image(images[0]))).save(picture, format="PNG")
        body = {"images": [base64.b64encode(picture.getvalue()).decode()], "score_thresh": 0.3}
        reply = httpx.post(f"{url}/predict/my-detector", json=body, timeout=60).json()
    assert reply["status"] == "000" and reply["results"] == found[:1]

    onnx = hub.export_onnx(folder, tmp_path / "onnx")
    assert (
        onnx.kind == "object-detection" and onnx.parity.max_abs_diff <= 1e-3 and onnx.parity.agreement == 1.0
    )
    assert hub.Module(str(onnx.folder)).predict(images, threshold=0.3) == found


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["coco", "voc", "yolo"])
def test_the_ten_lines_on_a_users_folder(tmp_path: Path, layout: str) -> None:
    """A small folder in each format a user brings trains, evaluates and exports (mechanics only:
    a handful of steps on synthetic pictures)."""
    if layout == "coco":
        ds = hub.datasets.from_coco(
            write_coco(tmp_path / "coco", coco_json(12)), split_ratio=(0.5, 0.25, 0.25)
        )
    elif layout == "voc":
        ds = hub.datasets.from_voc(write_voc(tmp_path / "voc", 8, image_sets=True))
    else:
        ds = hub.datasets.from_yolo(
            write_yolo(tmp_path / "yolo", n=5), ["ball", "box"], split_ratio=(0.5, 0.5)
        )
    task = hub.ObjectDetectionTask(
        nanodet(), num_classes=ds.num_classes, label_names=ds.label_names, image_size=64
    )
    trainer, result = finetune(task, ds, tmp_path / "run", epochs=2, batch_size=2)
    assert result.steps >= 2 and 0.0 <= result.best_dev_metrics["map"] <= 1.0
    assert set(result.best_dev_metrics["per_class"]) == set(ds.label_names)
    module = hub.Module(
        str(trainer.export(f"{layout}-detector", output_dir=tmp_path / "export", install_module=False))
    )
    assert (
        module.label_names == ds.label_names and len(module.object_detection(images=[ds.train[0].image])) == 1
    )


def test_a_yaml_job_reads_a_coco_folder(tmp_path: Path) -> None:
    annotations = write_coco(tmp_path / "coco", coco_json(10))
    job = tmp_path / "job.yaml"
    job.write_text(
        f"dataset: {{from: coco, options: {{annotations: {annotations}, split_ratio: [0.6, 0.4]}}}}\n"
        "module: object-detection-nanodet\n"
        "task: {type: object-detection, image_size: 64}\n"
        "strategy: {type: AdamWeightDecay, learning_rate: 1e-3}\n"
    )
    built = load_job(job)
    assert isinstance(built.task, ObjectDetectionTask) and built.task.label_names == ["dog", "cat"]
    assert built.dataset.num_classes == 2 and len(built.dataset.train) == 6
    job.write_text(job.read_text().replace("from: coco", "from: kitti"))
    with pytest.raises(ConfigError, match="coco, voc, yolo"):
        load_job(job)
    job.write_text(job.read_text().replace("from: kitti", "from: coco").replace("split_ratio", "split"))
    with pytest.raises(ConfigError, match="dataset.options.split"):
        load_job(job)


@pytest.mark.parametrize("strategy", [hub.AdamWeightDecay(), hub.L2SP(), hub.ULMFiT(), hub.DefaultStrategy()])
def test_every_strategy_builds_on_the_detector(strategy) -> None:
    task = ObjectDetectionTask(nanodet(), num_classes=2, image_size=64)
    opt = strategy.build(task.model, total_steps=4, steps_per_epoch=2)
    trained = {id(p) for group in opt.optimizer.param_groups for p in group["params"]}
    assert trained == {id(p) for p in task.model.parameters()}  # backbone, neck and head all train
    if isinstance(strategy, hub.ULMFiT):  # head, then the backbone's stages one by one, then the rest
        assert len(opt.optimizer.param_groups) >= 5
