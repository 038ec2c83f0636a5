"""Real Lightning checkpoints: weights_only loading, rebuilding, ``load_model`` errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from ecg_synth.models import load_model, model_class
from tests.models.conftest import SineData, trainer

KINDS = ["gan", "wgan_gp", "autoencoder", "latent_cgan"]


def fit_and_save(model, tmp_path: Path, name: str = "model.ckpt") -> Path:
    """A few steps with a ModelCheckpoint (its state goes into the file too), then save."""
    ckpt = ModelCheckpoint(dirpath=tmp_path, monitor=model.monitor, mode="min")
    t = trainer(
        tmp_path,
        max_steps=4,
        limit_val_batches=1,
        val_check_interval=2,
        enable_checkpointing=True,
        callbacks=[ckpt],
    )
    t.fit(model, datamodule=SineData())
    path = tmp_path / name
    t.save_checkpoint(path)
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_with_weights_only(build, tmp_path, kind):
    model = (
        build(kind, ema={"enabled": True, "decay": 0.9}) if kind != "autoencoder" else build(kind)
    )
    path = fit_and_save(model, tmp_path)

    raw = torch.load(path, map_location="cpu", weights_only=True)  # no pickled objects inside
    assert raw["hyper_parameters"]["model_kind"] == kind
    assert raw["ecg_synth_counters"]["g_steps"] == model.g_steps > 0

    loaded = load_model(path, expected=kind)
    again = model_class(kind).load_from_checkpoint(path, weights_only=True)
    assert type(loaded) is type(model) and loaded.g_steps == model.g_steps
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    if kind == "autoencoder":
        x = SineData().val["signal"][:8]
        assert torch.equal(model.reconstruct(x), loaded.reconstruct(x))
    else:
        ref = model.sample(16, seed=7)
        assert torch.equal(ref, loaded.sample(16, seed=7))
        assert torch.equal(ref, again.sample(16, seed=7))
        assert torch.equal(model.generate_fixed()[0], loaded.generate_fixed()[0])


def test_latent_cgan_checkpoint_samples_without_the_autoencoder_file(build, tmp_path):
    from tests.models.conftest import SMALL, make_info

    ae_dir = tmp_path / "ae"
    ae = build("autoencoder")
    ae_path = fit_and_save(ae, ae_dir, "stage1.ckpt")
    latent = model_class("latent_cgan")(
        make_info(), autoencoder_ckpt=str(ae_path), **SMALL["latent_cgan"]
    )
    # the frozen decoder is the stage-one decoder
    for k, v in ae.net.state_dict().items():
        assert torch.equal(v, latent.autoencoder.state_dict()[k]), k
    path = fit_and_save(latent, tmp_path / "latent")
    for k, v in ae.net.state_dict().items():  # stage two never trains the autoencoder
        assert torch.equal(v, latent.autoencoder.state_dict()[k]), k
    ae_path.unlink()
    loaded = load_model(path, expected="latent_cgan")
    assert torch.equal(latent.sample(8, seed=1), loaded.sample(8, seed=1))


def test_latent_cgan_needs_an_autoencoder_checkpoint(build, tmp_path, autoencoder_ckpt):
    from tests.models.conftest import SMALL, make_info

    cls = model_class("latent_cgan")
    with pytest.raises(ValueError, match="autoencoder_ckpt is required"):
        cls(make_info(), **SMALL["latent_cgan"])
    with pytest.raises(FileNotFoundError, match="autoencoder_ckpt: .*nope.ckpt: no such file"):
        cls(make_info(), autoencoder_ckpt=str(tmp_path / "nope.ckpt"), **SMALL["latent_cgan"])
    gan_path = fit_and_save(build("gan"), tmp_path)
    with pytest.raises(ValueError, match="holds a 'gan' model, expected 'autoencoder'"):
        cls(make_info(), autoencoder_ckpt=str(gan_path), **SMALL["latent_cgan"])
    with pytest.raises(ValueError, match="length=64, this dataset has length=128"):
        cls(make_info(length=128), autoencoder_ckpt=autoencoder_ckpt, **SMALL["latent_cgan"])


def test_load_model_errors_name_the_file(build, tmp_path):
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(FileNotFoundError, match="missing.ckpt: no such file"):
        load_model(missing)

    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt could not be read"):
        load_model(junk)

    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(3)}, plain)
    with pytest.raises(ValueError, match="plain.pt is not a Lightning checkpoint"):
        load_model(plain)

    path = fit_and_save(build("gan"), tmp_path, "gan.ckpt")
    with pytest.raises(ValueError, match=r"gan.ckpt holds a 'gan' model, expected 'wgan_gp'"):
        load_model(path, expected="wgan_gp")

    ckpt = torch.load(path, weights_only=True)
    ckpt["hyper_parameters"]["model_kind"] = "diffusion"
    torch.save(ckpt, tmp_path / "odd.ckpt")
    with pytest.raises(ValueError, match="odd.ckpt holds an unknown model kind 'diffusion'"):
        load_model(tmp_path / "odd.ckpt")
    del ckpt["hyper_parameters"]["model_kind"]
    torch.save(ckpt, tmp_path / "foreign.ckpt")
    with pytest.raises(ValueError, match="foreign.ckpt is not an ecg_synth model checkpoint"):
        load_model(tmp_path / "foreign.ckpt")


def test_resume_restores_counters_and_continues(build, tmp_path):
    model = build("wgan_gp")
    path = fit_and_save(model, tmp_path)  # 4 optimizer steps: 3 critic + 1 generator
    assert (model.d_steps, model.g_steps) == (3, 1)
    resumed = build("wgan_gp")
    t = trainer(tmp_path, max_steps=7, limit_val_batches=0)
    t.fit(resumed, datamodule=SineData(), ckpt_path=path)
    assert (resumed.d_steps, resumed.g_steps) == (5, 2) and t.global_step == 7


@pytest.mark.parametrize(
    ("kind", "options"), [("gan", {}), ("wgan_gp", {}), ("wgan_gp", {"lecam_weight": 0.1})]
)
def test_interrupted_and_resumed_training_matches_straight_training(build, tmp_path, kind, options):
    """Weights, EMA, Adam state, step counters (and LeCam's anchors) all travel in the
    checkpoint: 1 epoch + resume ends bit-identical to 2 straight epochs (global RNG carried
    by RNGState)."""
    import lightning.pytorch as pl

    from ecg_synth.callbacks import RNGState

    def run(folder: str, epochs: int, ckpt_path=None):
        pl.seed_everything(0)
        dm = SineData()
        dm.train_dataloader = lambda: torch.utils.data.DataLoader(  # fixed order each epoch
            torch.utils.data.StackDataset(**dm.train), batch_size=16
        )
        model = build(kind, ema={"enabled": True, "decay": 0.9}, **options)  # GAN: D dropout RNG
        cb = [ModelCheckpoint(dirpath=tmp_path / folder, save_last=True), RNGState()]
        trainer(
            tmp_path,
            max_epochs=epochs,
            limit_val_batches=1,
            enable_checkpointing=True,
            callbacks=cb,
        ).fit(model, datamodule=dm, ckpt_path=ckpt_path)
        return model

    straight = run("straight", 2)
    run("first", 1)
    resumed = run("resumed", 2, ckpt_path=tmp_path / "first" / "last.ckpt")
    assert (resumed.d_steps, resumed.g_steps) == (straight.d_steps, straight.g_steps)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
