"""Each method trains under the Trainer: fast_dev_run, one step, overfitting, guards, bf16."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import CSVLogger

from ecg_synth.models.wgan_gp import _first_half_twice
from tests.models.conftest import SineData, sine_batch, trainer

KINDS = ["gan", "wgan_gp", "autoencoder", "latent_cgan"]


def networks(model) -> dict[str, torch.nn.Module]:
    if model.model_kind == "autoencoder":
        return {"encoder": model.net.encoder, "decoder": model.net.decoder}
    d = model.critic if model.model_kind == "wgan_gp" else model.discriminator
    return {"generator": model.generator, "discriminator": d}


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


@pytest.mark.parametrize("kind", KINDS)
def test_one_batch_logs_the_contract_names(build, kind, tmp_path):
    model = build(kind)
    t = trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        log_every_n_steps=1,
        logger=CSVLogger(tmp_path),
    )
    t.fit(model, datamodule=SineData())
    with open(Path(t.logger.log_dir) / "metrics.csv") as f:
        logged = set(next(csv.reader(f)))  # the columns that reached the logger's file
    assert {"val/fd", "val/fd_sd", "val/mmd"} <= logged
    if kind == "autoencoder":
        assert {"train/recon_rmse", "val/rmse", "val/prd"} <= logged
    else:
        assert {
            "train/loss_d",
            "train/d_real",
            "train/d_fake",
            "train/grad_norm_d",
            "train/lr_d",
        } <= logged
    if kind in ("gan", "latent_cgan"):  # one D and one G step per batch
        assert {"train/loss_g", "train/grad_norm_g", "train/lr_g"} <= logged
        assert (model.d_steps, model.g_steps) == (1, 1)
    if kind == "wgan_gp":
        assert {"train/wdist", "train/gp"} <= logged


@pytest.mark.parametrize("kind", KINDS)
def test_one_step_changes_both_networks_and_stays_finite(build, kind):
    model = build(kind)
    before = {name: snapshot(net) for name, net in networks(model).items()}
    # WGAN-GP with n_critic=2: batch 1 is a critic step, batch 2 a critic and a generator step.
    steps = 2 if kind == "wgan_gp" else 1
    trainer(max_steps=-1, max_epochs=1, limit_train_batches=steps, limit_val_batches=0).fit(
        model, datamodule=SineData()
    )
    for name, net in networks(model).items():
        after = snapshot(net)
        assert all(torch.isfinite(v).all() for v in after.values()), name
        changed = [k for k in after if not torch.equal(after[k], before[name][k])]
        assert changed, f"{kind}: no parameter of the {name} changed"
    if kind == "wgan_gp":
        assert (model.d_steps, model.g_steps) == (2, 1)


def test_autoencoder_overfits_a_batch(build):
    model = build("autoencoder")
    dm = SineData(n_train=16, batch_size=16)
    x = dm.train["signal"]
    model.eval()
    with torch.no_grad():
        start = F.mse_loss(model(x), x).item()
    trainer(max_steps=150, limit_val_batches=0).fit(model, datamodule=dm)
    model.eval()
    with torch.no_grad():
        end = F.mse_loss(model(x), x).item()
    assert end < start / 10, (start, end)


def test_gan_discriminator_learns_to_separate(build):
    """With the generator frozen (learning rate 0) the BCE discriminator's loss on a fixed
    batch falls from ~2 log 2: the loop really optimises D on logits."""
    from ecg_synth.models.losses import gan_d_loss

    model = build("gan", optimizer_g={"lr": 0.0}, optimizer_d={"lr": 1e-3}, d_dropout=0.0)
    batch, z = sine_batch(16), torch.randn(16, model.z_dim)
    y = batch["label"]

    def d_loss() -> float:
        with torch.no_grad():
            fake = model.generator(z, y, None)
            return gan_d_loss(
                model.discriminator(batch["signal"], y, None), model.discriminator(fake, y, None)
            ).item()

    start = d_loss()
    trainer(max_steps=2 * 60, limit_val_batches=0, overfit_batches=1).fit(
        model, datamodule=SineData(n_train=16, batch_size=16)
    )
    assert start > 1.2 and d_loss() < start / 3


def test_wgan_scheduler_and_grad_clip_paths(build):
    model = build(
        "wgan_gp",
        n_critic=1,
        grad_clip=0.5,
        scheduler={"name": "step", "step_size": 1, "gamma": 0.5, "interval": "epoch"},
    )
    t = trainer(max_epochs=2, limit_train_batches=2, limit_val_batches=0)
    t.fit(model, datamodule=SineData())
    opt_g, opt_d = (o.optimizer for o in model.optimizers())
    assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.25)
    assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.25)
    assert (model.d_steps, model.g_steps) == (4, 4)
    assert t.global_step == 8  # Lightning counts optimizer steps


@pytest.mark.parametrize("kind", ["gan", "wgan_gp"])
def test_non_finite_loss_raises_before_any_step(build, kind):
    model = build(kind)
    dm = SineData()
    dm.train["signal"][:] = float("nan")  # corrupt data -> NaN discriminator loss
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(FloatingPointError, match=r"train/loss_d .*last checkpoint was left intact"):
        trainer(max_steps=2, limit_val_batches=0).fit(model, datamodule=dm)
    after = model.state_dict()
    params = {k for k, _ in model.named_parameters()}
    for k in params:
        assert torch.equal(before[k], after[k]), k


def test_non_finite_gradient_raises_before_the_step(build):
    """A finite loss whose gradient is NaN (a hook poisons one critic gradient) is caught by
    the gradient-norm check, before the optimizer step."""
    model = build("wgan_gp")
    model.critic.head.weight.register_hook(lambda g: torch.full_like(g, float("nan")))
    before = snapshot(model.critic)
    with pytest.raises(FloatingPointError, match="gradient norm of train/loss_d is nan"):
        trainer(max_steps=1, limit_val_batches=0).fit(model, datamodule=SineData())
    assert all(torch.equal(v, before[k]) for k, v in snapshot(model.critic).items())
    assert all(p.requires_grad for p in model.generator.parameters())  # untoggled


@pytest.mark.parametrize("kind", ["gan", "wgan_gp", "wgan_gp+rr", "latent_cgan"])
def test_bf16_mixed_cpu_step(build, kind):
    if kind.startswith("wgan_gp"):  # RR, its penalty, LeCam, cond. norms, mode seeking
        extra = kind.endswith("+rr")
        model = build(
            "wgan_gp",
            n_critic=1,
            generate_rr=extra,
            lecam_weight=0.1 * extra,
            g_cond_norm=extra,
            mode_seeking_weight=0.1 * extra,
        )
    else:
        model = build(kind)
    before = snapshot(model.generator)
    trainer(max_steps=2, limit_val_batches=1, precision="bf16-mixed").fit(
        model, datamodule=SineData()
    )
    after = snapshot(model.generator)
    assert all(torch.isfinite(v).all() for v in after.values())
    assert any(not torch.equal(v, before[k]) for k, v in after.items())
    assert all(v.dtype == torch.float32 for v in after.values())  # master weights stay fp32
    if kind == "wgan_gp+rr":
        anchors = model.lecam_anchors
        assert anchors.dtype == torch.float32 and torch.isfinite(anchors).all()


def test_gradient_penalty_runs_in_float32_under_autocast(build):
    model = build("wgan_gp")
    real, fake = sine_batch(4)["signal"], torch.rand(4, 1, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert model.critic.trunk(real).dtype == torch.bfloat16  # autocast is on
        gp = model.penalty(real, fake, torch.zeros(4, dtype=torch.long), None)
    assert gp.dtype == torch.float32


def test_subject_conditioning_with_concat_critic_trains(build):
    model = build("wgan_gp", condition="class+subject", critic_conditioning="concat")
    trainer(fast_dev_run=True).fit(model, datamodule=SineData())  # val subjects are -1
    x = model.sample(6, labels=[0, 1, 2, 0, 1, 2], subjects=[0, 1, 2, 2, 1, 0], seed=0)
    assert x.shape == (6, 1, 64) and torch.isfinite(x).all()


def test_prd_golden():
    from ecg_synth.models.autoencoder import prd

    x = torch.tensor([[[3.0, 4.0]], [[1.0, 0.0]]])
    x_hat = torch.tensor([[[3.0, 3.0]], [[1.0, 0.0]]])
    assert prd(x, x_hat).tolist() == pytest.approx([20.0, 0.0])  # 100 * sqrt(1 / 25)


def test_autoencoder_validation_metrics_are_in_millivolts(build):
    from ecg_synth.models.autoencoder import prd
    from tests.models.conftest import make_info

    model = build("autoencoder", info=make_info(offset=5.0, scale=0.5))
    dm = SineData(n_val=48)
    metrics = trainer().validate(model, datamodule=dm, verbose=False)[0]
    x = dm.val["signal"]
    with torch.no_grad():
        x_hat = model.eval()(x)
    x_mv, x_hat_mv = x * 0.5 + 5.0, x_hat * 0.5 + 5.0
    assert metrics["val/prd"] == pytest.approx(prd(x_mv, x_hat_mv).mean().item(), rel=1e-4)
    rmse = (x_mv - x_hat_mv).square().mean().sqrt().item()
    assert metrics["val/rmse"] == pytest.approx(rmse, rel=1e-4)
    assert {"val/fd", "val/mmd"} <= set(metrics)


def test_validation_metric_budget_is_spread_over_the_set(build):
    """val_samples=12 real rows from 3 batches of 16: every 4th row of every batch (so every
    part of the validation set counts), and 12 generated rows."""
    model = build("wgan_gp", val_samples=12)
    fed = {True: [], False: []}
    update = model._val_update
    model._val_update = lambda x, real: (fed[real].append(x.clone()), update(x, real))
    dm = SineData(n_val=48, batch_size=16)
    metrics = trainer().validate(model, datamodule=dm, verbose=False)[0]
    assert [len(x) for x in fed[True]] == [4, 4, 4]
    assert torch.equal(torch.cat(fed[True]), dm.val["signal"][::4])
    assert sum(len(x) for x in fed[False]) == 12
    assert metrics["val/fd"] >= 0 and "val/mmd" in metrics


def test_wgan_class_head_learns_the_real_classes(build, tmp_path):
    """AC-GAN head: trained on real beats only, it learns their classes (the sine classes
    differ in frequency); both class losses are logged."""
    torch.manual_seed(0)
    model = build("wgan_gp", aux_class_weight=1.0, n_critic=1, optimizer_d={"lr": 1e-3})
    t = trainer(max_epochs=60, limit_val_batches=0, log_every_n_steps=1, logger=CSVLogger(tmp_path))
    t.fit(model, datamodule=SineData(n_train=64))
    held = sine_batch(64, seed=5)
    with torch.no_grad():
        logits = model.critic.classify(model.critic.features(held["signal"]))
    assert (logits.argmax(1) == held["label"]).float().mean() > 0.9  # 0.95-1.0 over seeds 0-3
    with open(Path(t.logger.log_dir) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    real = [float(r["train/aux_real"]) for r in rows if r.get("train/aux_real")]
    fake = [float(r["train/aux_fake"]) for r in rows if r.get("train/aux_fake")]
    assert len(fake) == len(real) > 0  # n_critic=1: every critic step has a generator step
    assert sum(real[-10:]) < sum(real[:10]) / 2  # ~log 4 at the start
    assert build("wgan_gp").critic.classify is None  # no head unless asked for


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_wgan_class_head_is_a_generator_signal(build, weight):
    """With a critic whose score is 0 everywhere (head and projection zeroed, learning rate 0)
    the Wasserstein term gives the generator no gradient: it moves only through the class
    head, i.e. only when ``aux_class_weight > 0``."""
    model = build("wgan_gp", aux_class_weight=weight, n_critic=1, optimizer_d={"lr": 0.0})
    with torch.no_grad():
        for p in [*model.critic.head.parameters(), *model.critic.projection.parameters()]:
            p.zero_()
    before = snapshot(model.generator)
    trainer(max_steps=-1, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
        model, datamodule=SineData()
    )
    after = snapshot(model.generator)
    moved = any(not torch.equal(after[k], before[k]) for k in after)
    assert moved == (weight > 0)


def test_wgan_generates_each_class_with_its_own_rr(build):
    """generate_rr: the sine classes carry their own prematurity (previous RR 1.0, 0.6, 0.65,
    0.9 x the local mean); the critic sees each beat with its RR, so the generated RR of each
    requested class has to carry that class's prematurity. (Seeds 0-3: N 0.98-1.04, S
    0.59-0.67, V 0.69-0.86 after 60 epochs; F has too few beats to pin down.)"""
    from tests.models.conftest import PREMATURITY

    torch.manual_seed(0)
    model = build("wgan_gp", generate_rr=True, n_critic=1, optimizer_d={"lr": 1e-3})
    t = trainer(max_epochs=60, limit_val_batches=2, check_val_every_n_epoch=30)
    t.fit(model, datamodule=SineData(n_train=128))
    assert 0 <= t.callback_metrics["val/rr_w1"] < 0.5  # logged for TensorBoard, in sds of log RR
    ratio = {}
    for c in range(3):  # N, S, V
        x, rr = model.sample(200, labels=c, seed=c, with_rr=True)
        assert x.shape == (200, 1, 64) and rr.shape == (200, 3) and (rr > 0).all()
        ratio[c] = (rr[:, 0] / rr[:, 2]).median().item()
    assert abs(ratio[0] - PREMATURITY[0].item()) < 0.1, ratio
    assert abs(ratio[1] - PREMATURITY[1].item()) < 0.1, ratio
    assert ratio[0] - ratio[2] > 0.15, ratio  # V generated premature


def test_wgan_gradient_penalty_covers_the_rr(build):
    """One critic sample is the beat and its RR: a critic blind to the beat (trunk zeroed)
    still has a gradient through the RR, so the penalty is not (0 - 1)^2 = 1; and the critic
    refuses a beat without its RR."""
    model = build("wgan_gp", generate_rr=True)
    with torch.no_grad():
        for p in model.critic.trunk.parameters():
            p.zero_()
    batch = sine_batch(16)
    real_rr = model.rr_scaler.transform(batch["rr"])
    z = torch.randn(16, model.z_dim)
    fake, fake_rr = model.generator(z, batch["label"], None)
    gp = model.penalty(batch["signal"], fake.detach(), batch["label"], None, real_rr, fake_rr)
    assert abs(gp.item() - 1.0) > 1e-3  # a penalty on the beat alone would give exactly 1
    with pytest.raises(ValueError, match="rr=None"):
        model.critic(batch["signal"], batch["label"])
    plain = build("wgan_gp")
    with pytest.raises(ValueError, match="does not generate RR"):
        plain.sample(4, with_rr=True)
    info = {k: v for k, v in plain.data_info.items() if k != "rr_scaler"}
    with pytest.raises(ValueError, match=r"generate_rr needs data_info\['rr_scaler'\]"):
        build("wgan_gp", info=info, generate_rr=True)


def test_wgan_minibatch_std_critic_scores_a_beat_by_its_group(build):
    """With ``d_minibatch_std=4`` a beat's score depends on the other beats of its group of
    4 and on no others; without it, on none. It trains one critic and generator step."""
    batch = sine_batch(16)
    x, y = batch["signal"], batch["label"]
    for group, coupled in ((0, False), (4, True)):
        critic = build("wgan_gp", d_minibatch_std=group).critic.eval()
        moved = x.clone()
        moved[1] = moved[1] * 3.0  # beat 1 only; its group is beats 1, 5, 9, 13
        before, after = critic(x, y), critic(moved, y)
        in_group = [5, 9, 13]
        others = [i for i in range(16) if i % 4 != 1]
        assert torch.equal(before[others], after[others])
        assert (not torch.allclose(before[in_group], after[in_group])) == coupled
    model = build("wgan_gp", d_minibatch_std=4)
    trainer(max_steps=-1, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
        model, datamodule=SineData()
    )
    assert (model.d_steps, model.g_steps) == (2, 1)


def test_wgan_lecam_holds_the_critic_scores_together(build):
    """With the generator frozen, the critic alone separates real from generated beats; the
    LeCam regulariser (a strong weight here) keeps that gap much smaller, its anchors follow
    the critic's mean scores, and they are part of the checkpointed state."""
    batch = sine_batch(16)
    y = batch["label"]
    gaps, anchors = {}, None
    for weight in (0.0, 2.0):
        torch.manual_seed(0)
        model = build(
            "wgan_gp",
            optimizer_g={"lr": 0.0},
            optimizer_d={"lr": 1e-3},
            lecam_weight=weight,
            lecam_decay=0.5,
        )
        trainer(max_steps=2 * 30, limit_val_batches=0, overfit_batches=1).fit(
            model, datamodule=SineData(n_train=16, batch_size=16)
        )
        with torch.no_grad():
            d_real = model.critic(batch["signal"], y).mean().item()
            z = torch.randn(16, model.latent_dim, generator=torch.Generator().manual_seed(1))
            d_fake = model.critic(model.generator(z, y, None), y).mean().item()
        gaps[weight] = d_real - d_fake
        if weight > 0:
            anchors = model.state_dict()["lecam_anchors"]
    assert gaps[0.0] > 0 and gaps[2.0] < gaps[0.0] / 2
    assert anchors[0] > anchors[1]
    assert anchors.tolist() == pytest.approx([d_real, d_fake], abs=0.1)  # measured: 0.03 off


def test_wgan_cond_norm_starts_as_the_plain_generator_and_carries_the_class(build):
    """``g_cond_norm``: with its gains and biases zero-initialised, the generator computes what
    the plain one with the same weights computes; one generator step moves them (the gradient
    passes the zero init), after which the class reaches the blocks through the norms alone,
    even with the first layer made blind to it."""
    plain = build("wgan_gp").generator.eval()
    model = build("wgan_gp", g_cond_norm=True)
    cond = model.generator.eval()
    missing, unexpected = cond.load_state_dict(plain.state_dict(), strict=False)
    assert missing and all(".style." in k for k in missing)
    assert unexpected and all(".norm.weight" in k or ".norm.bias" in k for k in unexpected)
    z, y = torch.randn(8, model.latent_dim), sine_batch(8)["label"]
    with torch.no_grad():
        torch.testing.assert_close(cond(z, y, None), plain(z, y, None), rtol=0, atol=0)
    cond.train()

    trainer(max_steps=-1, max_epochs=1, limit_train_batches=2, limit_val_batches=0).fit(
        model, datamodule=SineData()
    )
    styles = [b.style.weight for b in model.generator.net.blocks]
    assert all(torch.isfinite(w).all() and w.abs().sum() > 0 for w in styles)
    gen = model.generator.eval()
    with torch.no_grad():
        gen.net.fc.weight[:, model.latent_dim :] = 0.0  # the first layer ignores the class
        z = torch.randn(1, model.latent_dim).expand(4, -1)
        out = gen(z, torch.arange(4), None)
    assert all(not torch.equal(out[0], out[c]) for c in (1, 2, 3))
    with torch.no_grad():
        plain.net.fc.weight[:, model.latent_dim :] = 0.0
        flat = plain(z, torch.arange(4), None)
    assert all(torch.equal(flat[0], flat[c]) for c in (1, 2, 3))  # without it: no class left


def test_wgan_mode_seeking_keeps_the_latents_apart(build, tmp_path):
    """Against a fixed critic the generator drifts towards the beats it scores highest; with
    the mode-seeking term (a strong weight here) beats of one class drawn from different
    latents stay further apart. The term is logged, and the generator step pairs the
    conditions: rows i and i + n/2 share their class."""
    spread = {}
    for weight in (0.0, 5.0):
        torch.manual_seed(0)
        model = build(
            "wgan_gp",
            n_critic=1,
            optimizer_g={"lr": 2e-3},
            optimizer_d={"lr": 0.0},
            mode_seeking_weight=weight,
        )
        t = trainer(
            max_steps=40,
            limit_val_batches=0,
            log_every_n_steps=1,
            logger=CSVLogger(tmp_path, name=str(weight)),
        )
        t.fit(model, datamodule=SineData(n_train=64, batch_size=16))
        with torch.no_grad():
            x = model.sample(64, labels=0, seed=1, use_ema=False)
        spread[weight] = torch.pdist(x.flatten(1)).mean().item()
        with open(Path(t.logger.log_dir) / "metrics.csv") as f:
            logged = set(next(csv.reader(f)))
        assert ("train/mode_seeking" in logged) == (weight > 0)
    assert spread[5.0] > 1.5 * spread[0.0], spread  # measured: 2.1 -> 6.4
    assert _first_half_twice(torch.arange(7), 3).tolist() == [0, 1, 2, 0, 1, 2]
    assert _first_half_twice(None, 3) is None
