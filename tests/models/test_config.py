"""conf/model/*.yaml build their models; invalid settings fail naming the field."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from ecg_synth.models import model_class
from ecg_synth.models.ema import make_ema
from tests.models.conftest import SMALL, SineData, make_info, trainer

CONF = Path(__file__).resolve().parents[2] / "conf" / "model"


def instantiate(name: str, info: dict, **overrides):
    cfg = OmegaConf.merge(OmegaConf.load(CONF / f"{name}.yaml"), overrides)
    return hydra.utils.instantiate(cfg, data_info=info, _convert_="all")


@pytest.fixture(scope="module")
def ae_ckpt_256(tmp_path_factory) -> str:
    """A stage-one checkpoint of the default autoencoder config at length 256."""
    model = instantiate("autoencoder", make_info(256))
    t = trainer(max_steps=1, limit_val_batches=0)
    t.fit(model, datamodule=SineData(n_train=16, length=256))
    path = tmp_path_factory.mktemp("ae256") / "ae.ckpt"
    t.save_checkpoint(path)
    return str(path)


@pytest.mark.parametrize("name", ["gan", "wgan_gp", "autoencoder", "latent_cgan"])
def test_model_configs_build_their_models(name, ae_ckpt_256):
    info = make_info(256)
    extra = {"autoencoder_ckpt": ae_ckpt_256} if name == "latent_cgan" else {}
    model = instantiate(name, info, **extra)
    assert model.model_kind == name and model.hparams["model_kind"] == name
    yaml_keys = set(OmegaConf.load(CONF / f"{name}.yaml")) - {"_target_"}
    assert yaml_keys <= set(model.hparams)  # every config value is a saved hyperparameter
    if name != "autoencoder":
        assert model.sample(3, seed=0).shape == (3, 1, 256)


def test_latent_cgan_config_requires_the_checkpoint():
    from omegaconf.errors import MissingMandatoryValue

    with pytest.raises(MissingMandatoryValue, match="autoencoder_ckpt"):
        instantiate("latent_cgan", make_info(256))


def test_wgan_gp_config_defaults():
    model = instantiate("wgan_gp", make_info(256))
    assert model.use_class and not model.use_subject and model.n_critic == 2
    opt_g, opt_d = model.configure_optimizers()
    for opt in (opt_g, opt_d):
        assert opt.param_groups[0]["lr"] == 2e-4 and opt.param_groups[0]["betas"] == (0.0, 0.9)


@pytest.mark.parametrize(
    ("kind", "overrides", "message"),
    [
        ("wgan_gp", {"n_critic": 0}, r"n_critic=0 must be an integer >= 1"),
        ("wgan_gp", {"n_critic": 2.5}, r"n_critic=2.5"),
        ("wgan_gp", {"condition": "age"}, r"condition='age' is not one of"),
        ("gan", {"condition": "classes"}, r"condition='classes' is not one of"),
        ("wgan_gp", {"critic_conditioning": "film"}, r"critic_conditioning='film'"),
        ("wgan_gp", {"d_norm": "batch"}, r"critic norm='batch' is not allowed"),
        ("wgan_gp", {"g_norm": "instance"}, r"norm='instance' is not one of"),
        (
            "wgan_gp",
            {"g_cond_norm": True, "g_norm": "none"},
            r"g_cond_norm=true .* needs g_norm=batch or g_norm=layer, got g_norm=none",
        ),
        ("wgan_gp", {"gp_weight": -1.0}, r"gp_weight=-1.0"),
        ("wgan_gp", {"aux_class_weight": -1.0}, r"aux_class_weight=-1.0 must be >= 0"),
        (
            "wgan_gp",
            {"aux_class_weight": 1.0, "condition": "subject"},
            r"aux_class_weight=1.0 needs a class-conditioned model \(condition='subject'\)",
        ),
        (
            "wgan_gp",
            {"aux_class_weight": 1.0, "critic_conditioning": "concat"},
            r"class head on the critic needs critic_conditioning='projection'",
        ),
        ("wgan_gp", {"generate_rr": "yes"}, r"generate_rr must be true or false, got 'yes'"),
        ("wgan_gp", {"d_minibatch_std": 1}, r"d_minibatch_std=1 must be 0 \(off\) or a group"),
        ("wgan_gp", {"d_minibatch_std": -2}, r"d_minibatch_std=-2 must be 0 \(off\)"),
        ("wgan_gp", {"d_minibatch_std": 2.5}, r"d_minibatch_std=2.5 must be 0 \(off\)"),
        ("wgan_gp", {"lecam_weight": -0.1}, r"lecam_weight=-0.1 must be >= 0"),
        ("wgan_gp", {"lecam_decay": 1.0}, r"lecam_decay=1.0 must be in \[0, 1\)"),
        ("wgan_gp", {"mode_seeking_weight": -1.0}, r"mode_seeking_weight=-1.0 must be >= 0"),
        (
            "wgan_gp",
            {"mode_seeking_weight": 0.2, "measurement_noise": True, "output_lowpass_hz": 40.0},
            r"mode_seeking_weight=0.2 with measurement_noise=true: the noise draws would",
        ),
        ("gan", {"real_target": 1.5}, r"real_target=1.5"),
        ("gan", {"output": "sigmoid"}, r"output='sigmoid'"),
        ("gan", {"ema": {"enabled": True, "decay": 1.5}}, r"ema.decay=1.5"),
        ("gan", {"ema": {"enable": True}}, r"ema has unknown keys \['enable'\]"),
        ("gan", {"grad_clip": 0.0}, r"grad_clip=0.0"),
        ("gan", {"val_samples": 1}, r"val_samples=1"),
        ("gan", {"z_dim": 0}, r"z_dim=0"),
        ("autoencoder", {"latent_dim": 0}, r"latent_dim=0"),
    ],
)
def test_invalid_settings_name_the_field(build, kind, overrides, message):
    with pytest.raises(ValueError, match=message):
        build(kind, **overrides)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"optimizer_g": {"lr": 1e-4, "momentum": 0.9}}, r"optimizer_g=.*needs 'lr' and only keys"),
        ({"optimizer_d": {"betas": [0.0, 0.9]}}, r"optimizer_d=.*needs 'lr'"),
        ({"scheduler": {"name": "warmup"}}, r"scheduler.name='warmup'"),
        (
            {"scheduler": {"name": "step", "step_size": 1, "interval": "batch"}},
            r"scheduler.interval",
        ),
    ],
)
def test_invalid_optimizer_settings_name_the_field(build, overrides, message):
    model = build("wgan_gp", **overrides)
    with pytest.raises(ValueError, match=message):
        trainer(fast_dev_run=True).fit(model, datamodule=SineData())


def test_length_the_generator_cannot_produce():
    with pytest.raises(ValueError, match=r"length=100 .* multiple of 2\^3 = 8, e.g. 96 or 104"):
        model_class("wgan_gp")(make_info(100))
    with pytest.raises(ValueError, match=r"length=100 .* multiple of 2\^3 = 8"):
        model_class("autoencoder")(make_info(100))
    # through Hydra the message survives inside InstantiationException
    with pytest.raises(InstantiationException, match=r"length=100 .* multiple of 2\^3"):
        instantiate("wgan_gp", make_info(100))
    # the critic takes any length; the vanilla GAN any length
    assert model_class("gan")(make_info(100), **SMALL["gan"]).sample(2).shape == (2, 1, 100)


def test_data_info_must_be_complete():
    info = make_info()
    del info["normalizer"], info["class_counts"]
    with pytest.raises(ValueError, match=r"data_info lacks \['normalizer', 'class_counts'\]"):
        model_class("gan")(info)


def test_class_counts_as_a_dict_are_read_in_class_order(build):
    info = make_info()
    info["class_counts"] = {"N": 1, "S": 0, "V": 3, "F": 0, "Q": 0}
    assert build("gan", info=info).class_probs.tolist() == [0.25, 0.0, 0.75, 0.0, 0.0]


def test_ema_warm_up_arithmetic():
    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = make_ema(net, decay=0.999)
    ema.update_parameters(net)  # first update copies: 0
    torch.nn.init.ones_(net.weight)
    ema.update_parameters(net)  # n = 1: d = min(0.999, 2 / 11)
    assert ema.module.weight.item() == pytest.approx(1 - 2 / 11)
