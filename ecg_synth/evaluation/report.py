"""The evaluation's outputs: ``metrics.json``, PNG figures (matplotlib, no pyplot state) and
a readable ``report.md`` whose summary table puts the real-vs-real floor and the baselines
beside every number of the generated set.

``metrics.json`` layout::

    {"meta": {...}, "flags": {set: {collapsed, memorizing}},
     "generated": {metric: value, ...}, "floor": {...},
     "controls": {"heldout"|"noise"|"shift"|"template"|"template_noise": {...}},
     "baselines": {"real_train"|"simulator"|"noise"|"class_mean_noise": {...}},
     "classifier": {"TRTR": {...}, "scored_classes": [...]},
     "timings": {stage: seconds, "total": seconds}, "notes": [...]}

Metric keys are the library's (``fd``, ``mmd``, ``dtw``, ``prd``, ``psd``, ...); model
results add ``svm_*_auc``, ``cnn_auc``, ``tstr_*``, ``trts_*``, ``aug_gain_*``,
``subject_acc_*`` plus their full results under ``svm``, ``cnn``, ``classifier``,
``subject_id``. Non-finite numbers are written as ``null`` (strict JSON).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from ecg_synth import __version__
from ecg_synth.data.types import AAMI_CLASSES

# (key, label, how to read it) in table order; a row is shown when some set has the key.
ROWS: list[tuple[str, str, str]] = [
    ("fd", "FD, learned embedding", "lower"),
    ("fd_sd", "FD sampling sd (bootstrap)", "noise"),
    ("mmd", "MMD², learned embedding", "lower"),
    ("precision", "precision (fidelity)", "higher"),
    ("recall", "recall (diversity)", "higher"),
    ("density", "density", "~1"),
    ("coverage", "coverage", "higher"),
    ("fd_wave", "FD, waveform features", "lower"),
    ("mmd_wave", "MMD², waveform features", "lower"),
    ("rmse", "RMSE to nearest real (mV)", "lower"),
    ("prd", "PRD to nearest real (%)", "lower"),
    ("dtw", "NN-DTW (mV)", "lower"),
    ("psd", "PSD distance (dB)", "lower"),
    ("hf_energy_ratio", "HF energy, gen/real", "~1"),
    ("tv_ratio", "total variation, gen/real", "~1"),
    ("pairwise_ratio", "pairwise distance, gen/real", "~1"),
    ("mode_coverage", "mode coverage", "higher"),
    ("modes_ratio", "effective modes, gen/real", "~1"),
    ("nn_ratio", "NN distance to train, gen/held-out", "~1"),
    ("copy_share", "copy share", "~0.01"),
    ("r_ok_gen", "R peak in place (share)", "higher"),
    ("qrs_ms_wd", "QRS width, Wasserstein (ms)", "lower"),
    ("pr_ms_wd", "PR, Wasserstein (ms)", "lower"),
    ("qt_ms_wd", "QT, Wasserstein (ms)", "lower"),
    ("r_amp_mv_wd", "R amplitude, Wasserstein (mV)", "lower"),
    ("hr_bpm_wd", "heart rate, Wasserstein (bpm)", "lower"),
    ("rr_ms_wd", "RR, Wasserstein (ms)", "lower"),
    ("svm_shape_auc", "SVM detector AUC, shape", "~0.5"),
    ("svm_amplitude_auc", "SVM detector AUC, amplitude", "~0.5"),
    ("cnn_auc", "CNN detector AUC", "~0.5"),
    ("tstr_macro_f1", "TSTR macro-F1 (floor: TRTR)", "higher"),
    ("tstr_balanced_accuracy", "TSTR balanced accuracy", "higher"),
    ("trts_macro_f1", "TRTS macro-F1 (floor: TRTR)", "higher"),
    ("aug_gain_macro_f1", "augmentation gain, macro-F1", "higher"),
    ("aug_gain_macro_f1_unweighted", "augmentation gain, macro-F1, over unweighted", "higher"),
    ("aug_gain_f1_s", "augmentation gain, S-class F1", "higher"),
    ("subject_acc_generated", "subject id accuracy", "higher"),
    ("collapsed", "**collapsed**", "flag"),
    ("memorizing", "**memorizing**", "flag"),
]


# ------------------------------------------------------------------------------ JSON
def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def rr_note(gen, borrowed_rr: str) -> str:
    """Where the classifiers' RR came from: the generated set's own, or lent."""
    lent = (
        "real training beats of the same class; the noise baseline shows what that RR alone gives"
        if borrowed_rr == "same_class"
        else "real training beats of any class, so RR tells nothing of the class they were "
        "asked for"
    )
    if gen.rr is not None:
        return f"The generated beats carry their own RR; sets without RR borrow it from {lent}."
    return f"The generated beats carry no RR: the classifiers borrow it from {lent}."


def assemble(cfg, sets, results, trtr, spec, r, dm, n_total: int, notes: list[str]) -> dict:
    """The ``metrics.json`` document (timings are added by the caller)."""
    by_kind: dict[str, dict] = {"controls": {}, "baselines": {}}
    for s in sets:
        if s.kind == "control":
            by_kind["controls"][s.name] = results[s.key]
        elif s.kind == "baseline":
            by_kind["baselines"][s.name] = results[s.key]
    gen = sets[0]
    if gen.labels is None:
        notes.append(
            "the generated set has no class labels (unconditional model): per-class "
            "metrics and the classifier protocols are skipped for it; baselines use "
            "the held-out class mix."
        )
    notes.append(rr_note(gen, cfg.classifier.borrowed_rr))
    notes.append(
        "Memorisation uses the held-out split (other records) as its baseline; the "
        "real_train baseline is flagged memorizing by construction (it is the training "
        "data)."
    )
    low = sorted(
        s.key
        for s in sets
        if any(
            (results[s.key].get(k) or 0.5) < 0.4
            for k in ("svm_shape_auc", "svm_amplitude_auc", "cnn_auc")
        )
    )
    if low:
        notes.append(
            f"detector AUCs well below 0.5 ({', '.join(low)}): the detector learned "
            "which records sit on which side of its group split, not real vs fake; read "
            "them as 'too few records to judge' (see ecg_synth/evaluation/detectors.py)."
        )
    cnn = results[gen.key].get("cnn") or {}
    if cnn.get("n_repeats", 1) > 1:
        floor = (results["floor"].get("cnn") or {}).get("auc_std")
        notes.append(
            f"CNN detector AUCs are the mean of {cnn['n_repeats']} fits, each with its own "
            f"records split and initialisation; their sd is {cnn['auc_std']:.3f} for the "
            f"generated set" + ("" if floor is None else f" and {floor:.3f} for the floor") + "."
        )
    if cfg.generated is not None:
        given = {"generated": str(cfg.generated)}
    elif cfg.checkpoint is not None:  # an ensemble's members as a list, else the one path
        source = cfg.checkpoint
        given = {
            "checkpoint": [str(v) for v in source] if OmegaConf.is_list(source) else str(source)
        }
    else:  # an in-memory generator (pipeline.run's generator=)
        given = {"generator": gen.description}
    meta = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ecg_synth": __version__,
        "input": given,
        "description": gen.description,
        "dataset": dm.fingerprint.get("root"),
        "data_cache_key": dm.fingerprint.get("cache_key"),
        "split": cfg.split,
        "seed": int(cfg.seed),
        "quick": bool(cfg.quick),
        "fs": spec.fs,
        "length": spec.length,
        "r_index": spec.r_index,
        "leads": list(spec.leads),
        "n_generated": n_total,
        "n_scored": len(gen),
        "n_reference": len(r.ref),
        "n_heldout": len(r.heldout),
        "n_train": len(r.train),
        "class_counts": {s.key: _counts(s.labels) for s in sets if s.labels is not None}
        | {"reference": _counts(r.ref.labels)},
        "baselines": [s.name for s in sets if s.kind == "baseline"],
    }
    flags = {s.key: {k: results[s.key].get(k) for k in ("collapsed", "memorizing")} for s in sets}
    doc = {
        "meta": meta,
        "flags": flags,
        "generated": results[gen.key],
        "floor": results["floor"],
        **by_kind,
        "classifier": {"TRTR": trtr, "scored_classes": r.scored},
        "notes": notes,
    }
    return jsonable(doc)


def _counts(labels: np.ndarray | None) -> dict[str, int]:
    if labels is None:
        return {}
    n = np.bincount(labels, minlength=len(AAMI_CLASSES))
    return {c: int(k) for c, k in zip(AAMI_CLASSES, n, strict=True) if k}


# ---------------------------------------------------------------------------- markdown
def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "**YES**" if v else "no"
    if isinstance(v, (int, float)):
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    return str(v)


def table(columns: dict[str, dict], rows=ROWS) -> str:
    """Markdown table: one row per metric any column has, one column per set."""
    present = [row for row in rows if any(c.get(row[0]) is not None for c in columns.values())]
    head = "| metric | read | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for key, label, how in present:
        lines.append(
            f"| {label} | {how} | " + " | ".join(fmt(c.get(key)) for c in columns.values()) + " |"
        )
    return "\n".join(lines)


def _flags_text(doc: dict) -> list[str]:
    g = doc["flags"]["generated"]
    lines = [
        f"- generated set **collapsed**: {fmt(g.get('collapsed'))} (diversity rule: pairwise, "
        "modes or mode coverage below half of real)",
        f"- generated set **memorizing**: {fmt(g.get('memorizing'))} (copy share above 5x "
        "what held-out real data shows)",
    ]
    others = [
        f"{k}: " + ", ".join(n for n in ("collapsed", "memorizing") if v.get(n))
        for k, v in doc["flags"].items()
        if k != "generated" and any(v.values())
    ]
    if others:
        lines.append(
            "- other sets flagged (expected for template, class-mean and real_train "
            "sets): " + "; ".join(others)
        )
    return lines


def _classifier_md(doc: dict) -> list[str]:
    trtr = doc["classifier"].get("TRTR")
    if not trtr:
        return []
    scored = ", ".join(doc["classifier"]["scored_classes"])
    out = [
        "## Arrhythmia classifier (TRTR / TSTR / TRTS / augmentation)",
        "",
        f"Scored classes: {scored}. Test set: the real held-out split. Macro-F1 CI: "
        f"bootstrap by test {(trtr.get('macro_f1_ci') or {}).get('unit', 'record')}.",
        "",
        "| protocol | set | macro-F1 | 95% CI | balanced acc. | "
        + " | ".join(f"{c} sens / PPV" for c in AAMI_CLASSES)
        + " |",
        "|" + "---|" * (5 + len(AAMI_CLASSES)),
    ]

    def row(proto: str, name: str, res: dict) -> str:
        ci = res.get("macro_f1_ci") or {}
        pc = res.get("per_class", {})
        cells = [
            f"{fmt(pc.get(c, {}).get('sensitivity'))} / {fmt(pc.get(c, {}).get('ppv'))}"
            for c in AAMI_CLASSES
        ]
        lo_hi = f"{fmt(ci.get('ci_low'))} – {fmt(ci.get('ci_high'))}" if ci else "–"
        return (
            f"| {proto} | {name} | {fmt(res.get('macro_f1'))} | {lo_hi} | "
            f"{fmt(res.get('balanced_accuracy'))} | " + " | ".join(cells) + " |"
        )

    out.append(row("TRTR", "real train", trtr))
    sets = {"generated": doc["generated"], **doc["baselines"]}
    for name, res in sets.items():
        detail = res.get("classifier") or {}
        for proto in ("TSTR", "TRTS"):
            if proto in detail:
                out.append(row(proto, name, detail[proto]))
    out += [
        "",
        "| set | ratio asked / used | added | gain in macro-F1 | 95% CI | P(no gain) |",
        "|---|---|---|---|---|---|",
    ]
    for name, res in sets.items():
        aug = (res.get("classifier") or {}).get("augmentation")
        if aug:
            g = aug["gain"]["macro_f1"]
            out.append(
                f"| {name} | {fmt(aug['ratio'])} / {fmt(aug['ratio_used'])} | "
                f"{aug['added']} | {fmt(g['gain'])} | {fmt(g['ci_low'])} – "
                f"{fmt(g['ci_high'])} | {fmt(g['p_not_better'])} |"
            )
    return out + [""]


def _value(v: str | list[str]) -> str:
    """A command-line value as the user would type it: ``a`` or ``[a,b]``."""
    return f"[{','.join(v)}]" if isinstance(v, list) else v


def markdown(doc: dict, figures: dict[str, str]) -> str:
    m = doc["meta"]
    src = next(iter(m["input"].items()))
    main = {
        "generated": doc["generated"],
        "floor (real train)": doc["floor"],
        "held-out real": doc["controls"].get("heldout", {}),
        **{f"{k} (baseline)": v for k, v in doc["baselines"].items()},
    }
    controls = {
        "floor (real train)": doc["floor"],
        **{f"{k} (control)": v for k, v in doc["controls"].items()},
    }
    lines = [
        "# Synthetic ECG evaluation",
        "",
        f"- input: `{src[0]}={_value(src[1])}` ({m['description']})",
        f"- real reference: held-out `{m['split']}` split of `{m['dataset']}` "
        f"({m['n_reference']} of {m['n_heldout']} segments; the rest make the controls); "
        f"training split: {m['n_train']} segments",
        f"- window: fs={m['fs']:g} Hz, length={m['length']}, r_index={m['r_index']}, "
        f"leads={m['leads']}",
        f"- generated: {m['n_generated']} segments, {m['n_scored']} scored; seed {m['seed']}; "
        f"{'QUICK mode' if m['quick'] else 'full mode'}",
        "",
        "## Flags",
        "",
        *_flags_text(doc),
        "",
        "## Summary",
        "",
        "Every number of the generated set beside the real-vs-real floor (real training "
        "segments scored as if generated), unseen real beats of the held-out records, and the "
        "baselines run through the same code. *read*: lower / higher is better, ~x: x is ideal.",
        "",
        table(main),
        "",
        "## Controls: what each metric can see",
        "",
        "Held-out real beats and corrupted copies of them. A metric that scores a corrupted "
        "control like the floor is blind to that failure.",
        "",
        table(controls),
        "",
    ]
    lines += _classifier_md(doc)
    sid = doc["generated"].get("subject_id")
    if sid:
        lines += [
            "## Subject identification",
            "",
            f"Accuracy on generated segments {fmt(sid['accuracy_generated'])}, on held-out "
            f"real segments {fmt(sid['accuracy_real'])}, chance {fmt(sid['chance'])} "
            f"({sid['n_subjects']} subjects).",
            "",
        ]
    captions = {
        "overlays": "Real (blue) and generated (red) segments, per class",
        "class_bands": "Per-class mean ± standard deviation, real vs generated",
        "embedding_pca": "Learned embedding, PCA of the real reference",
        "histograms": "Intervals and amplitudes, real vs generated",
        "confusion": "Confusion matrices (rows true, columns predicted)",
    }
    lines += ["## Figures", ""]
    for name, rel in figures.items():
        lines += [f"### {captions.get(name, name)}", "", f"![{name}]({rel})", ""]
    lines += ["## Time per stage", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in doc["timings"].items()]
    lines += ["", "## Notes", ""] + [f"- {n}" for n in doc["notes"]]
    errors = {k: v["errors"] for k, v in _all_sets(doc).items() if v.get("errors")}
    if errors:
        lines += ["", "## Errors (metric families that failed)", ""]
        lines += [f"- {k}: {e}" for k, e in errors.items()]
    return "\n".join(lines) + "\n"


def _all_sets(doc: dict) -> dict[str, dict]:
    return {
        "generated": doc["generated"],
        "floor": doc["floor"],
        **{f"controls/{k}": v for k, v in doc["controls"].items()},
        **{f"baselines/{k}": v for k, v in doc["baselines"].items()},
    }


def write(out_dir: Path, doc: dict, figures: dict[str, str]) -> tuple[Path, Path]:
    """Write ``metrics.json`` and ``report.md``; returns both paths."""
    doc["figures"] = figures
    metrics, rep = out_dir / "metrics.json", out_dir / "report.md"
    metrics.write_text(json.dumps(jsonable(doc), indent=2, allow_nan=False))
    rep.write_text(markdown(doc, figures))
    return metrics, rep
