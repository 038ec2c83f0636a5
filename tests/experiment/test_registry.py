"""The model registry over real run folders (the 3-trial search's), and the model references
that generation, evaluation and serving accept instead of paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecg_synth import registry
from ecg_synth.evaluation.pipeline import check_request, checkpoint_source
from ecg_synth.generation import load_generator
from ecg_synth.serve.registry import discover as serve_discover
from tests.helpers import compose_train

NAME = "wgan_gp-simulated"
VERSIONS = ["2026-01-01_00-00-00", "2026-01-02_00-00-00", "2026-01-03_00-00-00"]


@pytest.fixture(scope="module")
def root(sweep, tmp_path_factory) -> Path:
    """``outputs/``: the sweep's 3 trials, and copies laid out as ``train.py`` runs
    (``train/<name>/<time>``) with known creation times; the last copy has no metrics.json
    (a run from before RunMetrics: the registry falls back to checkpoint names)."""
    sweep_dir, _ = sweep
    out = tmp_path_factory.mktemp("registry") / "outputs"
    shutil.copytree(sweep_dir, out / "train" / "hparams_search" / NAME / "sweep")
    trials = json.loads((sweep_dir / "trials.json").read_text())["trials"]
    for version, trial in zip(VERSIONS, trials, strict=True):
        run = out / "train" / NAME / version
        shutil.copytree(sweep_dir / trial["run"], run)
        info = json.loads((run / "run_info.json").read_text())
        info["created"] = version.replace("_", "T", 1)[:13] + ":00:00+00:00"
        info["tags"] = ["wgan_gp", version[:10]]
        (run / "run_info.json").write_text(json.dumps(info))
    (out / "train" / NAME / VERSIONS[-1] / "metrics.json").unlink()
    return out


def test_discover_reads_name_version_code_data_metrics_and_checkpoint(root):
    runs = registry.discover(root)
    assert len(runs) == 6 and {r.name for r in runs} == {NAME}
    assert [r.index for r in runs] == [1, 2, 3, 4, 5, 6]
    standard = {r.version: r for r in runs if r.path.parent.name == NAME}
    assert sorted(standard) == VERSIONS
    assert all(r.tags == ["wgan_gp", v[:10]] for v, r in standard.items())
    swept = sorted(r.version for r in runs if r.path.parent.name == "sweep")
    assert swept == ["sweep/0", "sweep/1", "sweep/2"]
    for r in runs:
        info = json.loads((r.path / "run_info.json").read_text())
        assert r.commit == info["code"]["commit"] and r.dirty == info["code"]["dirty"]
        assert r.data_key == info["data"]["cache_key"]
        assert r.checkpoint is not None and r.checkpoint.is_file()
        assert r.checkpoint.name.startswith("best-") and r.best is not None and r.best > 0
    with_metrics = standard[VERSIONS[0]]
    doc = json.loads((with_metrics.path / "metrics.json").read_text())
    assert with_metrics.best == pytest.approx(doc["best"]["value"])
    assert with_metrics.epochs == doc["epochs"] and with_metrics.status == doc["status"]
    # Without metrics.json: the value in the checkpoint's name (4 decimals), status unknown.
    legacy = standard[VERSIONS[-1]]
    trial_doc = json.loads(
        (
            root / "train/hparams_search" / NAME / "sweep/2-wgan_gp-simulated" / "metrics.json"
        ).read_text()
    )
    assert legacy.status == "unknown"
    assert legacy.best == pytest.approx(trial_doc["best"]["value"], abs=1e-4)


def test_resolve_by_version_index_latest_and_best(root):
    runs = {r.version: r for r in registry.discover(root)}
    v1 = runs[VERSIONS[1]]
    assert registry.resolve(f"{NAME}:{VERSIONS[1]}", root) == v1.checkpoint
    assert registry.resolve(f"{NAME}:sweep/1", root) == runs["sweep/1"].checkpoint
    newest = max(runs.values(), key=lambda r: r.created)
    assert registry.resolve(f"{NAME}:latest", root) == newest.checkpoint
    assert registry.resolve(f"{NAME}:1", root) == registry.discover(root)[0].checkpoint
    best = min(runs.values(), key=lambda r: r.best)
    assert registry.resolve(f"{NAME}:best", root).parent.parent.name in {
        r.path.name for r in runs.values() if r.best == best.best
    }
    # best by another metric: the run with the lowest final val/mmd
    by_mmd = min(
        (r for r in runs.values() if "val/mmd" in r.final), key=lambda r: r.final["val/mmd"]
    )
    assert registry.find(f"{NAME}:best@val/mmd", root).final["val/mmd"] == by_mmd.final["val/mmd"]


def test_unknown_name_or_version_is_a_clear_error_listing_what_exists(root):
    with pytest.raises(registry.RegistryError, match=f"no model named 'gan-mitdb'.*{NAME}"):
        registry.resolve("gan-mitdb:best", root)
    with pytest.raises(registry.RegistryError, match=f"'2030-01-01'.*{VERSIONS[0]}.*sweep/2"):
        registry.resolve(f"{NAME}:2030-01-01", root)
    with pytest.raises(registry.RegistryError, match="no run .* value of val/nothing"):
        registry.resolve(f"{NAME}:best@val/nothing", root)
    with pytest.raises(FileNotFoundError, match="not a model reference"):
        registry.locate("no/such/file.ckpt", root)


def test_cli_list_show_resolve(root, capsys):
    assert registry.main(["--root", str(root), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "#", "version"]
    assert len(lines) == 7
    row = next(line for line in lines if VERSIONS[0] in line)
    run = registry.find(f"{NAME}:{VERSIONS[0]}", root)
    assert run.commit[:8] in row and f"val/fd={run.best:.4g}" in row
    assert "train/wgan_gp-simulated/2026-01-01_00-00-00/checkpoints/best-" in row

    assert registry.main(["--root", str(root), "resolve", f"{NAME}:best"]) == 0
    assert Path(capsys.readouterr().out.strip()) == registry.resolve(f"{NAME}:best", root)
    assert registry.main(["--root", str(root), "show", f"{NAME}:latest"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["run_info"]["data"]["cache_key"] and shown["ref"].startswith(f"{NAME}:")
    assert registry.main(["--root", str(root), "resolve", "nope:best"]) == 2
    assert "no model named 'nope'" in capsys.readouterr().err


def test_generation_evaluation_and_serving_accept_references(root, monkeypatch):
    monkeypatch.setenv("ECG_SYNTH_ROOT", str(root.parent))  # registry root: <root>/outputs
    best = registry.resolve(f"{NAME}:best", root)

    handle = load_generator(f"{NAME}:best")
    assert handle.source == str(best) and handle.kind == "wgan_gp"
    assert handle.model.sample(4, seed=0).shape[0] == 4
    with pytest.raises(FileNotFoundError, match="no model named 'gan-x'"):
        load_generator("gan-x:latest")

    cfg = compose_train(
        root.parent / "eval",
        [f"checkpoint={NAME}:{VERSIONS[1]}"],
        data_root=root.parent,
        config_name="evaluate",
    )
    check_request(cfg)
    assert checkpoint_source(cfg) == registry.resolve(f"{NAME}:{VERSIONS[1]}", root)
    cfg = compose_train(
        root.parent / "eval",
        [f"checkpoint={NAME}:v9"],
        data_root=root.parent,
        config_name="evaluate",
    )
    with pytest.raises(FileNotFoundError, match="version 'v9'"):
        check_request(cfg)

    served = serve_discover(None, extra={"mine": f"{NAME}:latest"})
    assert served.models["mine"].source == str(registry.resolve(f"{NAME}:latest", root))


def test_a_run_with_several_kept_checkpoints_gives_its_best_not_its_newest(root, tmp_path):
    """``save_top_k`` above 1 keeps several best-*.ckpt files; the newest is not the best.
    Generation, evaluation and the registry all take metrics.json's best, else the lowest
    value in a file name."""
    run = tmp_path / "run"
    shutil.copytree(root / "train" / NAME / VERSIONS[0], run)
    best = registry.run_checkpoint(run)
    value = json.loads((run / "metrics.json").read_text())["best"]["value"]
    worse = run / "checkpoints" / f"best-epoch099-fd{value + 1:.4f}.ckpt"
    shutil.copy(best, worse)  # copied last, so the newest file
    assert worse.stat().st_mtime >= best.stat().st_mtime

    assert registry.run_checkpoint(run) == best
    assert load_generator(str(run)).source == str(best)
    assert registry.read_run(run).checkpoint == best
    # metrics.json names the best even when a file name claims a lower value (another run's)
    lower = run / "checkpoints" / "best-epoch000-fd0.0000.ckpt"
    shutil.copy(best, lower)
    assert registry.run_checkpoint(run) == best
    # without metrics.json: the lowest value in the names
    (run / "metrics.json").unlink()
    assert registry.run_checkpoint(run) == lower
    lower.unlink()
    assert registry.run_checkpoint(run) == best
    assert registry.read_run(run).best == pytest.approx(value, abs=1e-4)


def test_best_refuses_to_compare_runs_kept_by_different_metrics(root, tmp_path):
    """A run whose checkpoints were kept by val/mmd (1.5) would have beaten val/fd runs (3+)."""
    out = tmp_path / "outputs"
    shutil.copytree(root / "train" / NAME, out / "train" / NAME)
    odd = out / "train" / NAME / VERSIONS[1]
    doc = json.loads((odd / "metrics.json").read_text())
    doc["monitor"], doc["best"]["value"] = "val/mmd", 1e-6
    (odd / "metrics.json").write_text(json.dumps(doc))
    with pytest.raises(registry.RegistryError, match=r"different metrics .*'val/mmd': 1"):
        registry.resolve(f"{NAME}:best", out)
    fd_runs = [r for r in registry.discover(out) if r.monitor == "val/fd"]
    chosen = registry.find(f"{NAME}:best@val/fd", out)
    assert chosen.monitor == "val/fd" and chosen.best == min(r.best for r in fd_runs)


def test_a_sweep_jobs_model_is_named_as_the_registry_names_it(root):
    # Loaded from a sweep job's folder (<sweep>/<n>-<model>-<dataset>), the model was called
    # "0-wgan_gp-simulated" in evaluation reports, while the registry lists it as NAME.
    trial = root / "train" / "hparams_search" / NAME / "sweep" / f"0-{NAME}"
    record = registry.read_run(trial)
    assert record.name == NAME
    assert load_generator(record.checkpoint).name == NAME
    assert load_generator(trial).name == NAME
