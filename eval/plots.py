"""The run's plots as PNG files (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt
from matplotlib.text import Text

from eval.metrics import KS, OUTCOMES, outcome

# One colour per outcome, the good ones green, so a glance finds the problems.
_OUTCOME_COLOURS = {
    "correct": "#2e7d32",
    "abstained": "#81c784",
    "wrong": "#c62828",
    "invented": "#ef6c00",
    "missed": "#9e9e9e",
}
_STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    # Tags, set names and titles are text, never math: "costs $$" must not reach mathtext (or TeX).
    "text.parse_math": False,
    "text.usetex": False,
}


def write_plots(out: Path, metrics: dict, records: list[dict], title: str) -> list[Path]:
    with plt.rc_context(_STYLE):
        paths = [_retrieval_at_k(out / "retrieval_at_k.png", metrics, title)]
        paths.append(_latency(out / "latency.png", metrics, records, title))
        paths.append(_outcomes_by_tag(out / "outcomes_by_tag.png", metrics, records, title))
    return [p for p in paths if p]


def _retrieval_at_k(path: Path, metrics: dict, title: str) -> Path | None:
    if metrics.get(f"hit@{KS[0]}") is None:  # nothing answerable: no retrieval to show
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for name, label, marker in (("hit", "hit@k", "o"), ("recall", "evidence recall@k", "s"), ("ndcg", "nDCG@k", "^")):
        values = [metrics[f"{name}@{k}"] for k in KS]
        ax.plot(KS, values, marker=marker, label=label)
    for k in KS:
        ax.annotate(
            f"{metrics[f'hit@{k}']:.2f}",
            (k, metrics[f"hit@{k}"]),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize=8,
        )
    ax.set(xticks=KS, ylim=(0, 1.08), xlabel="k (passages retrieved)", ylabel="share of answerable questions")
    ax.set_title(f"Retrieval by k — {title}", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _latency(path: Path, metrics: dict, records: list[dict], title: str) -> Path | None:
    latencies = [r["scores"]["latency_ms"] for r in records]
    if not latencies:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    ax.hist(latencies, bins=min(30, max(5, len(latencies) // 3)), color="#5c6bc0", edgecolor="white")
    for name, style in (("p50", "-"), ("p95", "--")):
        value = metrics[f"latency_ms_{name}"]
        ax.axvline(value, color="#212121", linestyle=style, linewidth=1, label=f"{name} {value:.0f} ms")
    ax.set(xlabel="time to answer (ms, excluding process start)", ylabel="questions")
    ax.set_title(f"Answer latency — {title}", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def _outcomes_by_tag(path: Path, metrics: dict, records: list[dict], title: str) -> Path | None:
    groups = {"all": records} | {tag: [r for r in records if tag in r["tags"]] for tag in metrics.get("by_tag", {})}
    names = list(groups)[::-1]  # "all" on top
    fig, ax = plt.subplots(figsize=(7.2, 1.2 + 0.38 * len(names)), dpi=120)
    left = [0] * len(names)
    for key, label in OUTCOMES.items():
        counts = [sum(outcome(r["scores"]) == key for r in groups[n]) for n in names]
        if any(counts):
            ax.barh(names, counts, left=left, color=_OUTCOME_COLOURS[key], label=label, edgecolor="white")
            left = [a + b for a, b in zip(left, counts)]
    ax.set(xlabel="questions")
    ax.grid(axis="y", visible=False)
    ax.set_title(f"What happened to each question — {title}", fontsize=10)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.5 / max(1, len(names) ** 0.5)), ncol=3)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    _plain(fig)
    fig.tight_layout()
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _plain(fig) -> None:
    """Every text of the figure drawn as written: no mathtext, no TeX. The style says so for the
    texts made under it (tick labels are made while drawing); this covers any made otherwise."""
    for text in fig.findobj(Text):
        text.set_parse_math(False)
        text.set_usetex(False)
