"""``sample`` / ``generate_fixed``: seeds, shapes, mV units, labels, EMA, train mode."""

from __future__ import annotations

import pytest
import torch

from tests.models.conftest import SineData, make_info, trainer

GENERATORS = ["gan", "wgan_gp", "latent_cgan"]


@pytest.mark.parametrize("kind", GENERATORS)
def test_sample_is_seeded_shaped_and_in_millivolts(build, kind):
    # offset 5 mV, 0.5 mV per model unit: tanh outputs land in [4.5, 5.5] mV. (The latent
    # GAN must use its autoencoder's normaliser: offset 0.2, scale 1.5.)
    offset, scale = (0.2, 1.5) if kind == "latent_cgan" else (5.0, 0.5)
    model = build(kind, info=make_info(offset=offset, scale=scale))
    a = model.sample(37, seed=3, batch_size=16)
    assert a.shape == (37, 1, 64) and a.dtype == torch.float32 and a.device.type == "cpu"
    assert torch.equal(a, model.sample(37, seed=3, batch_size=16))
    assert not torch.equal(a, model.sample(37, seed=4, batch_size=16))
    units, _, _ = model._sample_model_units(37, None, None, 3, 16, None)
    assert torch.allclose(a, units * scale + offset)
    if kind != "latent_cgan":  # tanh output: the data range maps into [offset +- scale]
        assert a.min() >= 4.5 - 1e-6 and a.max() <= 5.5 + 1e-6 and a.std() > 0
    assert model.sample(0).shape == (0, 1, 64)


@pytest.mark.parametrize("kind", GENERATORS)
def test_labels_are_honoured(build, kind):
    model = build(kind)
    subj = {"subjects": [0, 0, 0, 0]} if model.use_subject else {}
    mixed = model.sample(4, labels=[0, 1, 2, 3], seed=1, **subj)
    same = model.sample(4, labels=[0, 0, 0, 0], seed=1, **subj)
    assert torch.equal(mixed[0], same[0])  # same noise, same label
    assert all(not torch.equal(mixed[i], same[i]) for i in (1, 2, 3))  # other labels
    if model.use_subject:  # so are subjects
        other = model.sample(4, labels=[0, 1, 2, 3], subjects=[0, 1, 2, 0], seed=1)
        assert torch.equal(other[[0, 3]], mixed[[0, 3]]) and not torch.equal(other[1], mixed[1])
    assert torch.equal(model.sample(3, labels=2, seed=1), model.sample(3, labels=[2, 2, 2], seed=1))


def test_drawn_labels_follow_the_training_class_distribution(build):
    model = build("wgan_gp")  # class_counts [60, 20, 15, 5, 0]
    labels, _ = model._draw_conditions(20000, None, None, torch.Generator().manual_seed(0))
    freq = torch.bincount(labels, minlength=5).float() / 20000
    assert torch.allclose(freq, torch.tensor([0.6, 0.2, 0.15, 0.05, 0.0]), atol=0.015)


def test_bad_labels_are_refused(build):
    with pytest.raises(ValueError, match="not class-conditional"):
        build("gan", condition="none").sample(2, labels=[0, 1])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 5\)"):
        build("wgan_gp").sample(2, labels=[0, 5])
    with pytest.raises(ValueError, match="3 entries for n=2"):
        build("wgan_gp").sample(2, labels=[0, 1, 2])
    with pytest.raises(ValueError, match="not subject-conditional"):
        build("wgan_gp").sample(2, subjects=[0, 1])


@pytest.mark.parametrize("mode", [True, False])
def test_sample_restores_the_mode(build, mode):
    model = build("wgan_gp").train(mode)
    model.sample(4, seed=0)
    model.generate_fixed()
    assert model.training is mode
    assert model.generator.training is mode


def test_generate_fixed_uses_checkpointed_buffers(build):
    model = build("wgan_gp", fixed_samples=10)
    x, labels = model.generate_fixed()
    assert x.shape == (10, 1, 64)
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]  # classes with training data
    assert {"fixed_z", "fixed_labels", "fixed_subjects"} <= set(model.state_dict())
    assert torch.equal(x, model.generate_fixed()[0])
    x_u, labels_u = build("gan", condition="none").generate_fixed()
    assert (labels_u == -1).all()


@pytest.mark.parametrize("kind", GENERATORS)
def test_ema_weights_differ_and_are_sampled_by_default(build, kind):
    kw = {"n_critic": 1} if kind == "wgan_gp" else {}
    model = build(kind, ema={"enabled": True, "decay": 0.9}, **kw)
    trainer(max_steps=2 * 3, limit_val_batches=0).fit(model, datamodule=SineData())
    raw = dict(model.generator.named_parameters())
    ema = dict(model.ema.module.named_parameters())
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    assert int(model.ema.n_averaged) == model.g_steps == 3
    default = model.sample(8, seed=0)
    assert torch.equal(default, model.sample(8, seed=0, use_ema=True))
    assert not torch.equal(default, model.sample(8, seed=0, use_ema=False))
    assert any(k.startswith("ema.module.") for k in model.state_dict())


def test_use_ema_without_ema_is_refused(build):
    with pytest.raises(ValueError, match="without ema.enabled"):
        build("gan").sample(2, use_ema=True)


def test_subject_minus_one_has_its_own_embedding(build):
    model = build("latent_cgan", condition="subject")
    emb = model.generator.embed
    out = emb(None, torch.tensor([-1, 2]))
    assert torch.equal(out[0], emb.subject_emb.weight[3])  # 3 training subjects -> row 3
    assert torch.equal(out[1], emb.subject_emb.weight[2])
