"""The human-readable outputs of a run: ``curves.png`` and ``report.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finehub._utils.fs import atomic_path
from finehub.finetune.state import TrainerState


def plot_curves(records: Sequence[Mapping[str, Any]], path: Path, main_metric: str) -> None:
    """Training loss (left axis) and the dev main metric (right axis) against the step."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    train = [
        (r["step"], r["loss"]) for r in records if r.get("event") == "train" and r.get("loss") is not None
    ]
    dev = [(r["step"], r[main_metric]) for r in records if r.get("event") == "eval" and main_metric in r]
    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.add_subplot()
    if train:
        ax.plot(*zip(*train, strict=True), color="tab:blue", linewidth=1, label="train loss")
    ax.set_xlabel("step")
    ax.set_ylabel("train loss", color="tab:blue")
    if dev:
        ax2 = ax.twinx()
        ax2.plot(*zip(*dev, strict=True), color="tab:orange", marker="o", label=f"dev {main_metric}")
        ax2.set_ylabel(f"dev {main_metric}", color="tab:orange")
    ax.set_title("fine-tuning")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _metrics_table(columns: Mapping[str, Mapping[str, Any] | None]) -> str:
    names = [k for m in columns.values() if m for k, v in m.items() if isinstance(v, (int, float))]
    names = list(dict.fromkeys(names))
    rows = [[n, *(_fmt(m.get(n, "")) if m else "" for m in columns.values())] for n in names]
    return _table(["metric", *columns], rows)


def _confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    names = list(labels) if len(labels) == len(matrix) else [str(i) for i in range(len(matrix))]
    rows = [[f"**{names[i]}**", *row] for i, row in enumerate(matrix)]
    return "rows: true label, columns: predicted label\n\n" + _table(["", *names], rows)


def render_report(state: TrainerState) -> str:
    info, cfg = state.run_info, state.config
    parts = [f"# Fine-tuning report: {info.get('dataset', '')}", ""]
    parts += [
        "## Run",
        "",
        _table(["", ""], [[k, v] for k, v in info.items()] + [["run folder", state.run_dir]]),
        "",
        "## Results",
        "",
        f"Main metric: **{state.main_metric}**; best dev value "
        f"{_fmt(state.best_metric)} at step {state.best_step}. Test uses the best model.",
        "",
        _metrics_table({"best dev": state.best_metrics, "test": state.test_metrics}),
        "",
    ]
    matrix = (state.test_metrics or {}).get("confusion_matrix") or (state.best_metrics or {}).get(
        "confusion_matrix"
    )
    if matrix:
        split = "test" if (state.test_metrics or {}).get("confusion_matrix") else "dev"
        parts += [f"### Confusion matrix ({split})", "", _confusion(matrix, state.label_names), ""]
    if state.report_section:
        parts += [state.report_section, ""]
    speed = state.samples_seen / state.train_seconds if state.train_seconds else 0.0
    parts += [
        "## Timing",
        "",
        _table(
            ["", ""],
            [
                [
                    "steps",
                    f"{state.step} / {state.total_steps}"
                    + (" (stopped early)" if state.stopped_early else ""),
                ],
                ["training time", f"{state.train_seconds:.1f} s"],
                ["samples trained", state.samples_seen],
                ["training speed", f"{speed:.1f} samples/s"],
            ],
        ),
        "",
        "## Configuration",
        "",
        _table(["field", "value"], [[k, v] for k, v in cfg.items()]),
        "",
    ]
    return "\n".join(parts)
