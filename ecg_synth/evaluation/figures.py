"""Figures of the evaluation report (PNG; ``matplotlib.figure.Figure`` without pyplot, so
no global backend or state is touched): real vs generated overlays and per-class mean ± std
bands, a PCA scatter of the learned embedding, histograms of intervals and amplitudes, and
confusion matrices. Signals are ``[N, C, L]`` mV; lead 0 is drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from ecg_synth.data.types import AAMI_CLASSES
from ecg_synth.metrics.clinical import measure_beats, measure_rhythm
from ecg_synth.metrics.embedding import embed

BLUE, RED, GREY = "#1f77b4", "#d62728", "#7f7f7f"


def _classes(*labels) -> list[int]:
    present = set()
    for lab in labels:
        if lab is not None:
            present |= set(np.unique(lab).tolist())
    return sorted(present) or [0]


def _by_class(s, c: int) -> np.ndarray:
    return s.signals if s.labels is None else s.signals[s.labels == c]


def _save(fig: Figure, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def fig_overlays(path: Path, ref, gen, spec, n: int = 20, seed: int = 0) -> None:
    """Per class, ``n`` real (blue) and ``n`` generated (red) segments of lead 0 overlaid."""
    classes = _classes(ref.labels, gen.labels) if gen.labels is not None else [None]
    fig = Figure(figsize=(3.2 * len(classes), 3.0))
    t = np.arange(spec.length) / spec.fs
    rng = np.random.default_rng(seed)
    for i, c in enumerate(classes):
        ax = fig.add_subplot(1, len(classes), i + 1)
        for s, color in ((ref, BLUE), (gen, RED)):
            x = s.signals if c is None else _by_class(s, c)
            for row in x[rng.permutation(len(x))[:n], 0]:
                ax.plot(t, row, color=color, lw=0.6, alpha=0.35)
        ax.set_title("all" if c is None else f"class {AAMI_CLASSES[c]}")
        ax.set_xlabel("s")
    fig.axes[0].set_ylabel("mV (blue real, red generated)")
    _save(fig, path)


def fig_bands(path: Path, ref, gen, spec) -> None:
    """Per class mean +- std of lead 0, real vs generated."""
    classes = _classes(ref.labels, gen.labels) if gen.labels is not None else [None]
    fig = Figure(figsize=(3.2 * len(classes), 3.0))
    t = np.arange(spec.length) / spec.fs
    for i, c in enumerate(classes):
        ax = fig.add_subplot(1, len(classes), i + 1)
        for s, color, name in ((ref, BLUE, "real"), (gen, RED, "generated")):
            x = (s.signals if c is None else _by_class(s, c))[:, 0]
            if len(x) == 0:
                continue
            m, sd = x.mean(0), x.std(0)
            ax.plot(t, m, color=color, lw=1.2, label=f"{name} (n={len(x)})")
            ax.fill_between(t, m - sd, m + sd, color=color, alpha=0.2)
        ax.set_title("all" if c is None else f"class {AAMI_CLASSES[c]}")
        ax.legend(fontsize=7)
        ax.set_xlabel("s")
    fig.axes[0].set_ylabel("mV, mean ± std")
    _save(fig, path)


def fig_embedding(path: Path, emb_train, emb_ref, emb_gen, seed: int = 0, n: int = 2000) -> None:
    """PCA (fitted on the real reference) of the learned embedding: 2-D scatter."""
    pca = PCA(2, random_state=seed).fit(emb_ref)
    rng = np.random.default_rng(seed)
    fig = Figure(figsize=(5.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    for e, color, name in (
        (emb_train, GREY, "real train"),
        (emb_ref, BLUE, "real held-out"),
        (emb_gen, RED, "generated"),
    ):
        p = pca.transform(e[rng.permutation(len(e))[:n]])
        ax.scatter(p[:, 0], p[:, 1], s=4, alpha=0.4, color=color, label=name)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(markerscale=3)
    ax.set_title("learned embedding, PCA of the held-out reference")
    _save(fig, path)


def _measures(s, spec, seed: int) -> dict[str, np.ndarray]:
    x = s.signals
    if spec.r_index is not None:
        m = measure_beats(x, spec.fs, spec.r_index)
        out = {k: m[k] for k in ("qrs_ms", "pr_ms", "qt_ms", "r_amp_mv")}
        if s.rr is not None:
            out["rr_ms"] = 1000 * s.rr[:, 0]
    else:
        idx = np.random.default_rng(seed).permutation(len(x))[:200]  # XQRS: a loop per window
        m = measure_rhythm(x[idx], spec.fs)
        out = {k: m[k] for k in ("hr_bpm", "rr_ms", "qrs_ms")}
    out["peak_to_peak_mv"] = np.ptp(x[:, 0], axis=-1)
    return out


def fig_histograms(path: Path, ref, gen, spec, seed: int = 0) -> list[str]:
    """Histograms of intervals and amplitudes, real vs generated; returns measures shown."""
    mr, mg = _measures(ref, spec, seed), _measures(gen, spec, seed)
    keys = [k for k in mr if k in mg]
    fig = Figure(figsize=(3.0 * len(keys), 2.8))
    for i, k in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        a, b = mr[k][np.isfinite(mr[k])], mg[k][np.isfinite(mg[k])]
        both = np.concatenate([a, b])
        if len(both) == 0:
            continue
        lo, hi = np.percentile(both, [0.5, 99.5])
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 40)
        ax.hist(a, bins, density=True, alpha=0.5, color=BLUE, label="real")
        ax.hist(b, bins, density=True, alpha=0.5, color=RED, label="generated")
        ax.set_title(k)
    fig.axes[0].legend(fontsize=7)
    _save(fig, path)
    return keys


def fig_confusions(path: Path, matrices: dict[str, list]) -> None:
    """Row-normalised confusion matrices (rows true, columns predicted, AAMI order)."""
    fig = Figure(figsize=(3.3 * len(matrices), 3.2))
    for i, (name, cm) in enumerate(matrices.items()):
        ax = fig.add_subplot(1, len(matrices), i + 1)
        cm = np.asarray(cm, dtype=float)
        norm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for (a, b), v in np.ndenumerate(cm):
            ax.text(
                b,
                a,
                f"{int(v)}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if norm[a, b] > 0.5 else "black",
            )
        ax.set_xticks(range(len(AAMI_CLASSES)), AAMI_CLASSES)
        ax.set_yticks(range(len(AAMI_CLASSES)), AAMI_CLASSES)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    _save(fig, path)


def make_figures(out_dir: Path, doc: dict, sets, r, seed: int) -> dict[str, str]:
    """Write every figure into ``out_dir/figures``; returns {name: path relative to out_dir}."""
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    gen, spec, files = sets[0], r.spec, {}

    def add(name: str, fn, *args) -> None:
        fn(fig_dir / f"{name}.png", *args)
        files[name] = f"figures/{name}.png"

    add("overlays", fig_overlays, r.ref, gen, spec, 20, seed)
    add("class_bands", fig_bands, r.ref, gen, spec)
    train_idx = np.random.default_rng(seed).permutation(len(r.train))[:2000]
    add(
        "embedding_pca",
        fig_embedding,
        embed(r.encoder, r.train.signals[train_idx]),
        r.emb_ref,
        embed(r.encoder, gen.signals),
        seed,
    )
    add("histograms", fig_histograms, r.ref, gen, spec, seed)
    matrices = {}
    if doc["classifier"].get("TRTR"):
        matrices["TRTR (real -> real)"] = doc["classifier"]["TRTR"]["confusion_matrix"]
    detail = doc["generated"].get("classifier") or {}
    for p, name in (("TSTR", "TSTR (gen -> real)"), ("TRTS", "TRTS (real -> gen)")):
        if p in detail:
            matrices[name] = detail[p]["confusion_matrix"]
    if matrices:
        add("confusion", fig_confusions, matrices)
    return files
