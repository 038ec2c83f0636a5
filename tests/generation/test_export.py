"""Exported generators: same signals as the checkpoint, no Lightning/pickle, tamper checks."""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from ecg_synth.generation import (
    GenerationError,
    export_generator,
    generate_arrays,
    load_exported,
    load_generator,
)
from ecg_synth.generation.export import main as export_main

EXPORTED = [
    "wgan_gp-simulated",
    "wgan_gp-rr",
    "wgan_gp-noise",
    "gan-subject",
    "gan-uncond",
    "latent_cgan-simulated",
]


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("exported")
    return {name: export_generator(runs[name], root / name) for name in EXPORTED}


@pytest.mark.parametrize("name", EXPORTED)
def test_exported_model_gives_the_checkpoints_signals(runs, exported, name):
    ckpt = load_generator(runs[name])
    exp = load_generator(exported[name])
    assert exp.describe() == ckpt.describe()
    a, pa, rr_a = generate_arrays(ckpt, 37, seed=5, batch_size=16)
    b, pb, rr_b = generate_arrays(exp, 37, seed=5, batch_size=16)
    np.testing.assert_array_equal(pa.labels, pb.labels)
    assert torch.equal(torch.from_numpy(a), torch.from_numpy(b)), f"{name}: signals differ"
    assert (rr_a is None) == (rr_b is None) == (name != "wgan_gp-rr")
    if rr_a is not None:
        np.testing.assert_array_equal(rr_a, rr_b)
    # The raw ``sample`` API matches too, labels drawn by the model itself.
    torch.testing.assert_close(
        ckpt.model.sample(5, seed=9), exp.model.sample(5, seed=9), rtol=0, atol=0
    )
    assert exp.makes_rr == ckpt.makes_rr == (name == "wgan_gp-rr")
    if exp.makes_rr:  # the RR generated with each beat is the same too
        x_ckpt, rr_ckpt = ckpt.model.sample(5, seed=9, with_rr=True)
        x_exp, rr_exp = exp.model.sample(5, seed=9, with_rr=True)
        assert torch.equal(x_ckpt, x_exp) and torch.equal(rr_ckpt, rr_exp)
        assert rr_exp.shape == (5, 3) and (rr_exp > 0).all()


def test_export_folder_contents_and_model_card(exported, runs):
    folder = exported["wgan_gp-simulated"]
    config = json.loads((folder / "generator.json").read_text())
    assert config["kind"] == "wgan_gp" and config["fs"] == 360.0 and config["units"] == "mV"
    assert config["class_map"] == {"N": 0, "S": 1, "V": 2, "F": 3, "Q": 4}
    assert config["subject_map"]["101"] == 1
    assert config["normalizer"]["mode"] == "global" and config["network"]["hparams"]["z_dim"] == 16
    card = (folder / "MODEL_CARD.md").read_text()
    for text in ("test/fd", "12.5", "random_records", "abc123", "Not a medical device"):
        assert text in card, text
    # the training data's resolved root (run_info), not the config's interpolation
    assert "| root | /data/resolved/simulated |" in card and "${" not in card
    training, evaluation = card.split("## Training metrics")[1].split("## Evaluation")
    assert "test/fd" in training and "eval/" not in training
    assert "| eval/fd | 7.25 |" in evaluation and "| eval/nn_ratio | 0.97 |" in evaluation
    assert "| RR with each beat | no |" in card
    rr_card = (exported["wgan_gp-rr"] / "MODEL_CARD.md").read_text()
    assert "| RR with each beat | previous, next, local mean RR (s), in rr.npy |" in rr_card


def test_loading_an_export_unpickles_nothing(exported, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("loading an exported model must not unpickle")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    handle = load_exported(exported["latent_cgan-simulated"])
    assert handle.model.sample(2, seed=0).shape == (2, 1, 256)


def test_loading_an_export_does_not_use_lightning(exported, monkeypatch):
    import lightning.pytorch as pl

    import ecg_synth.models

    def refuse(*args, **kwargs):
        raise AssertionError("loading an exported model must not use Lightning checkpoints")

    monkeypatch.setattr(pl.LightningModule, "load_from_checkpoint", refuse)
    monkeypatch.setattr(ecg_synth.models, "load_model", refuse)
    handle = load_generator(exported["gan-subject"])
    assert type(handle.model).__name__ == "ExportedGenerator"
    assert not isinstance(handle.model, torch.nn.Module)  # no LightningModule inside
    assert all(not isinstance(m, pl.LightningModule) for m in handle.model.net.modules())
    assert handle.model.sample(3, seed=1).shape == (3, 1, 256)


def test_an_export_loads_and_samples_without_importing_lightning(exported):
    # A fresh interpreter: torch, safetensors and our plain nn.Modules only.
    code = (
        "import sys; from ecg_synth.generation.export import load_exported; "
        f"m = load_exported({str(exported['wgan_gp-simulated'])!r}); m.model.sample(2, seed=0); "
        "print(sorted(k for k in sys.modules "
        "if k.split('.')[0] in ('lightning', 'pytorch_lightning')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_tampered_or_mismatched_files_are_refused(exported, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(exported["wgan_gp-simulated"], folder)
    # Weights of another model under this config.
    shutil.copy(exported["gan-uncond"] / "model.safetensors", folder / "model.safetensors")
    with pytest.raises(GenerationError, match="does not belong to.*another model"):
        load_exported(folder)
    # A flipped byte in the weights.
    shutil.copy(exported["wgan_gp-simulated"] / "model.safetensors", folder / "model.safetensors")
    data = bytearray((folder / "model.safetensors").read_bytes())
    data[-3] ^= 0xFF
    (folder / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(GenerationError, match="sha256"):
        load_exported(folder)
    # An edited config (here the mV scale of the normaliser).
    shutil.copy(exported["wgan_gp-simulated"] / "model.safetensors", folder / "model.safetensors")
    config = json.loads((folder / "generator.json").read_text())
    config["normalizer"]["scale"] = [9.9]
    (folder / "generator.json").write_text(json.dumps(config))
    with pytest.raises(GenerationError, match="modified after export"):
        load_exported(folder)
    (folder / "generator.json").write_text('{"format": "something else"}')
    with pytest.raises(GenerationError, match="not an ecg_synth exported generator"):
        load_exported(folder)


def test_generate_py_export_true_writes_a_loadable_export(runs, tmp_path):
    from ecg_synth.generation import tasks
    from tests.helpers import compose_train

    cfg = compose_train(
        tmp_path / "run",
        [f"model_path={runs['wgan_gp-simulated']}", "export=true"],
        data_root=tmp_path,
        config_name="generate",
    )
    out = tasks.generate(cfg)
    assert out == tmp_path / "outputs" / "export" / "wgan_gp-simulated"  # paths.log_dir/export
    assert load_exported(out).kind == "wgan_gp"


def test_export_command_line_and_its_errors(runs, tmp_path, capsys):
    export_main([str(runs["gan-uncond"]), str(tmp_path / "exp"), "--name", "mine"])
    assert "Exported to" in capsys.readouterr().out
    assert load_exported(tmp_path / "exp").name == "mine"
    with pytest.raises(SystemExit) as e:
        export_main([str(runs["autoencoder-simulated"]), str(tmp_path / "ae")])
    assert e.value.code == 2 and "does not generate" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        export_main([str(tmp_path / "exp"), str(tmp_path / "again")])  # already exported
    assert "already an exported model" in capsys.readouterr().err


def test_an_export_goes_into_an_empty_folder_or_over_an_export(runs, tmp_path, caplog):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(GenerationError, match="non-empty folder that holds no export"):
        export_generator(runs["gan-uncond"], busy)
    assert sorted(p.name for p in busy.iterdir()) == ["notes.txt"]  # nothing written

    out = tmp_path / "exp"
    export_generator(runs["gan-uncond"], out, name="first")
    with caplog.at_level("WARNING", logger="ecg_synth.generation.export"):
        export_generator(runs["gan-uncond"], out, name="first")  # the same model again: quiet
        assert not caplog.records
        export_generator(runs["wgan_gp-simulated"], out)
    assert "held the export of first" in caplog.text and "replaced by wgan_gp-simulated" in (
        caplog.text
    )
    assert load_exported(out).kind == "wgan_gp"
