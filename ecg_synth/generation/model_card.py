"""``MODEL_CARD.md`` of an exported generator: data, config, metrics, intended use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ecg_synth.registry import EVALUATION_DIR, read_evaluation

INTENDED_USE = """\
## Intended use

- Research and engineering: augmenting ECG beat classifiers (especially rare AAMI classes),
  testing signal-processing pipelines, teaching, privacy-preserving prototyping.
- Output is single-beat windows (or rhythm strips joined from them) in millivolts at the
  sampling rate above; labels are the class the generator was *asked* for, not a diagnosis.

## Limitations

- Not a medical device. Synthetic ECG must not be used for clinical decisions, nor as the
  only evidence of a model's clinical performance; validate on real data.
- The generator reproduces its training data's population, leads, filtering and label
  noise. Classes with few training beats (often F and Q in MIT-BIH) are modelled poorly.
- With the default simulated dataset the model learned *simulated* ECG (ECGSYN), not real
  recordings.
- Subject-conditioned models can reproduce traits of training subjects: check the
  memorisation metrics before sharing generated data from private training sets.
"""


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _read_yaml(path: Path) -> dict | None:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _table(rows: dict[str, Any]) -> str:
    lines = ["| field | value |", "| --- | --- |"]
    lines += [
        f"| {k} | {json.dumps(v) if isinstance(v, (dict, list)) else v} |" for k, v in rows.items()
    ]
    return "\n".join(lines)


def write_model_card(path: Path, config: dict[str, Any], run_dir: Path | None) -> Path:
    """Markdown card from the export config and, when known, the run folder's
    ``.hydra/config.yaml``, ``run_info.json`` and ``metrics.json`` (evaluation results)."""
    info = config["data_info"]
    run_cfg = _read_yaml(run_dir / ".hydra" / "config.yaml") if run_dir else None
    run_info = _read_json(run_dir / "run_info.json") if run_dir else None
    metrics = _read_json(run_dir / "metrics.json") if run_dir else None
    parts = [
        f"# Model card: {config['name']}",
        "",
        f"`{config['kind']}` generator, version `{config['version']}`, exported by ecg_synth.",
        "",
        "## Output",
        "",
        _table(
            {
                "sampling rate (Hz)": info["fs"],
                "window (samples)": info["length"],
                "window (s)": round(config["window_s"], 4),
                "R peak index": info["r_index"],
                "leads": info["leads"],
                "units": "mV",
                "classes": info["classes"],
                "conditions": config["conditions"],
                "subjects": len(info["subjects"]),
                "RR with each beat": "previous, next, local mean RR (s), in rr.npy"
                if config["network"]["hparams"].get("generate_rr")
                else "no",
            }
        ),
        "",
        "## Training data",
        "",
    ]
    dataset = (run_cfg or {}).get("dataset") or {}
    source = dataset.get("source") or {}
    parts.append(
        _table(
            {
                "dataset": source.get("kind", "unknown"),
                # run_info's root is resolved; the config's may be an interpolation
                "root": ((run_info or {}).get("data") or {}).get("root")
                or source.get("root", "unknown"),
                "split": (dataset.get("split") or {}).get("mode", "unknown"),
                "training segments per class": info.get("class_counts"),
                "normalisation": info["normalizer"].get("mode"),
                "data fingerprint": (run_info or {}).get("data", "not recorded"),
            }
        )
    )
    parts += [
        "",
        "## Training configuration",
        "",
        _table(
            {
                "model hyperparameters": config["network"]["hparams"],
                "seed": (run_cfg or {}).get("seed", "unknown"),
                "code": (run_info or {}).get("code", "not recorded"),
                "source checkpoint": config["source"]["checkpoint"],
            }
        ),
        "",
        "## Training metrics",
        "",
        _table(metrics) if metrics else "No `metrics.json` in the run folder.",
        "",
        "## Evaluation",
        "",
    ]
    evaluation = read_evaluation(run_dir) if run_dir else {}
    if evaluation:
        parts.append(f"`evaluate.py` on the run's kept checkpoint (`{EVALUATION_DIR}/`):")
        parts += ["", _table(evaluation)]
    else:
        parts.append(
            f"No `{EVALUATION_DIR}/metrics.json` in the run folder: this model has not been "
            "evaluated (train with `evaluate_after=...`, or run evaluate.py into "
            f"`<run>/{EVALUATION_DIR}`, and re-export to record its results)."
        )
    parts += ["", INTENDED_USE]
    path.write_text("\n".join(parts))
    return path
