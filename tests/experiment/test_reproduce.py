"""``python -m ecg_synth.reproduce`` end to end on tiny budgets: train, evaluate, table,
figures; plus its option parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ecg_synth import registry, reproduce


def test_reproduce_trains_evaluates_and_rebuilds_results(tmp_path, exp_data_root, monkeypatch):
    monkeypatch.setenv("ECG_SYNTH_ROOT", str(exp_data_root))
    monkeypatch.setenv("ECG_SYNTH_MITDB", str(tmp_path / "no_mitdb"))  # MIT-BIH: skipped
    out, runs = tmp_path / "results", tmp_path / "runs"
    readme = tmp_path / "README.md"
    readme.write_text(
        "# project\n\n<!-- reproduce:table -->\nold table\n<!-- /reproduce:table -->\n\nrest\n"
    )
    argv = [
        "budget=30s",
        "eval=quick",
        "methods=[wgan_gp,latent_cgan]",
        "datasets=[simulated,mitdb]",
        "train_overrides=[debug=tiny]",
        'eval_overrides=["baselines=[noise]"]',
        f"out={out}",
        f"runs={runs}",
        f"readme={readme}",
    ]
    assert reproduce.main(argv) == 0
    # The README's table block is this command's table (MIT-BIH skipped: the simulated one).
    text = readme.read_text()
    assert text.startswith("# project\n\n<!-- reproduce:table -->\nsimulated, rebuilt by `")
    assert "old table" not in text and text.endswith("<!-- /reproduce:table -->\n\nrest\n")
    assert "| wgan_gp |" in text and "| *baseline: noise* |" in text

    text = (out / "RESULTS.md").read_text()
    # Rows: the two methods and latent_cgan's stage-one autoencoder; the asked-for baseline
    # and the floor for scale.
    section = text.split("## simulated")[1].split("## Steps")[0]
    table = [line for line in section.splitlines() if line.startswith("| ")]
    assert [row.split("|")[1].strip() for row in table[1:]] == [
        "wgan_gp",
        "autoencoder",
        "latent_cgan",
        "*baseline: noise*",
        "*floor: real train vs held-out*",
    ]
    assert "MIT-BIH skipped" in text
    assert re.search(r"Hardware: .+, \d+ cores, [\d.]+ GiB RAM", text)
    assert "max_time=00:00:00:30" in text and "Total wall time" in text
    steps = registry.discover(runs)
    assert sorted(r.name for r in steps) == [
        "autoencoder-simulated",
        "latent_cgan-simulated",
        "wgan_gp-simulated",
    ]
    # The numbers in the table are those of the runs and their evaluations.
    wgan = next(r for r in steps if r.name == "wgan_gp-simulated")
    (eval_dir,) = (runs / "evaluate" / "wgan_gp-simulated").iterdir()
    fd = json.loads((eval_dir / "metrics.json").read_text())["generated"]["fd"]
    row = next(line for line in table if line.startswith("| wgan_gp "))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[3] == f"{wgan.best:.3g}" and cells[4] == f"{fd:.3g}"
    # The commands recorded replay the same runs from the command line.
    assert (
        f"python train.py experiment=wgan_gp_sim seed=42 ++trainer.max_time=00:00:00:30 "
        f"debug=tiny hydra.run.dir={wgan.path}" in text
    )
    ae_ckpt = registry.read_run(next(r.path for r in steps if r.name.startswith("autoenc")))
    assert f"model.autoencoder_ckpt={ae_ckpt.checkpoint}" in text
    # Figures: every image the markdown shows exists.
    shown = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "figures/simulated_val_fd.png" in shown
    assert "figures/simulated_wgan_gp_overlays.png" in shown
    for rel in shown:
        assert (out / rel).stat().st_size > 5_000, rel


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("1.5h", 5400), ("45", 45)]
)
def test_budget_parsing(text, seconds):
    assert reproduce.parse_budget(text) == seconds


def test_bad_options_are_one_line_errors(capsys):
    assert reproduce.main(["methods=[vae]"]) == 2
    assert "unknown methods/datasets ['vae']" in capsys.readouterr().err
    assert reproduce.main(["budget=soon"]) == 2
    assert "budget='soon'" in capsys.readouterr().err
    assert reproduce.max_time(3725) == "00:01:02:05"


def test_table_over_seeds_shows_mean_and_spread():
    def step(seed, fd, collapsed):
        doc = {
            "generated": {"fd": fd, "collapsed": collapsed},
            "baselines": {"noise": {"fd": 10.0 + seed}},
            "floor": {"fd": 1.0},
        }
        s = reproduce.Step("mitdb", "wgan_gp", seed, train_s=60.4, eval_doc=doc)
        s.train_metrics = {"best": {"value": 0.5}, "epochs": 3}
        return s

    lines = reproduce.results_table([step(0, 2.0, False), step(1, 4.0, True), step(2, 3.0, False)])
    cells = {
        row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in lines[2:]
    }
    fd = [t for _, t in reproduce.EVAL_COLUMNS].index("FD emb. ↓") + 3
    assert cells["wgan_gp"][fd] == "3 ± 1"  # mean 3, sample sd 1
    assert cells["wgan_gp"][-2] == "1/3"  # collapsed in one seed of three
    assert cells["wgan_gp"][:3] == ["3 ± 0", "60 ± 0", "0.5 ± 0"]
    assert cells["*baseline: noise*"][fd] == "11 ± 1"
    assert cells["*floor: real train vs held-out*"][fd] == "1 ± 0"


def test_a_method_on_other_windows_gets_its_own_floor_row():
    def step(method, fs, length, floor_fd):
        doc = {
            "meta": {"fs": fs, "length": length, "r_index": 90},
            "generated": {"fd": 5.0},
            "baselines": {"noise": {"fd": 100.0}},
            "floor": {"fd": floor_fd},
        }
        return reproduce.Step("mitdb", method, 0, eval_doc=doc)

    steps = [
        step("wgan_gp", 360.0, 256, 50.0),
        step("gan", 360.0, 256, 51.0),  # same windows: no row of its own
        step("wgan_gp_context", 128.0, 256, 70.0),
    ]
    lines = reproduce.results_table(steps)
    fd = [t for _, t in reproduce.EVAL_COLUMNS].index("FD emb. ↓") + 5
    rows = {row.split("|")[1].strip(): row.split("|")[fd].strip() for row in lines[2:]}
    assert list(rows) == [
        "wgan_gp",
        "gan",
        "wgan_gp_context",
        "*baseline: noise*",
        "*floor: real train vs held-out*",
        "*floor on wgan_gp_context's windows (256 samples at 128 Hz)*",
    ]
    assert rows["*floor: real train vs held-out*"] == "50"
    assert rows["*floor on wgan_gp_context's windows (256 samples at 128 Hz)*"] == "70"


def test_a_method_without_a_preset_for_the_dataset_is_skipped_and_noted(tmp_path):
    argv = ["methods=[wgan_gp_context]", "datasets=[simulated]", f"out={tmp_path / 'r'}"]
    assert reproduce.main([*argv, f"runs={tmp_path / 'runs'}", "readme="]) == 0
    text = (tmp_path / "r" / "RESULTS.md").read_text()
    assert "simulated: no experiment preset for ['wgan_gp_context'], skipped" in text
    assert not (tmp_path / "runs").exists()  # nothing was trained


def test_readme_can_be_left_alone():
    assert reproduce.load_config(["readme="]).readme is None


def test_only_a_complete_run_rewrites_the_readme_table_by_default():
    """A smoke run (the docstring's own example) once replaced the published MIT-BIH table."""
    mitdb = [reproduce.Step("mitdb", m) for m in reproduce.METHODS]
    complete = reproduce.load_config([])
    assert complete.readme == "auto"
    assert reproduce.readme_target(complete, mitdb) == Path("README.md")
    for argv, steps in (
        (["datasets=[simulated]"], [reproduce.Step("simulated", "gan")]),
        (["methods=[gan]"], mitdb[:1]),
        (["eval=quick"], mitdb),
        (["train_overrides=[debug=tiny]"], mitdb),
        (['eval_overrides=["baselines=[noise]"]'], mitdb),
    ):
        assert reproduce.readme_target(reproduce.load_config(argv), steps) is None, argv
    forced = reproduce.load_config(["methods=[gan]", "readme=docs/TABLE.md"])
    assert reproduce.readme_target(forced, mitdb[:1]) == Path("docs/TABLE.md")


def test_seeds_must_be_distinct(capsys):
    assert reproduce.main(["seeds=[1,1]"]) == 2
    assert "seeds=[1, 1]" in capsys.readouterr().err
