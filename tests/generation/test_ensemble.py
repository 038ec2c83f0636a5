"""Several trained generators sampled as one: the seed contract, the members' shares, the
front ends (generate.py, evaluate's sampling) and the refusal of members that differ."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ecg_synth.generation import GenerationError, tasks
from ecg_synth.generation.ensemble import EnsembleSampler, _seed
from ecg_synth.generation.export import export_generator
from ecg_synth.generation.loading import load_generator
from tests.generation.test_generate import compose


@pytest.fixture(scope="module")
def members(runs, tmp_path_factory):
    """Two class-conditioned WGAN-GPs on the same data: a checkpoint run and an exported
    folder (the members need not be of one form)."""
    exported = export_generator(runs["wgan_gp-noise"], tmp_path_factory.mktemp("export") / "n")
    return [runs["wgan_gp-simulated"], exported]


def test_each_segment_comes_from_one_member_in_equal_shares(members):
    handle = load_generator(members)
    assert isinstance(handle.model, EnsembleSampler)
    singles = [load_generator(m).model for m in members]
    labels = torch.tensor([0, 1, 2] * 13 + [0, 2])  # 41 segments, classes as asked
    x = handle.model.sample(41, labels=labels, seed=5)

    # The documented contract: a seeded permutation of equal shares says which member makes
    # each row, and member j samples its rows (with their labels) at its own seed.
    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(2,)))
    member_of = rng.permutation(np.resize(np.arange(2), 41))
    assert sorted(np.bincount(member_of).tolist()) == [20, 21]
    for j, single in enumerate(singles):
        rows = torch.from_numpy(np.flatnonzero(member_of == j))
        own = single.sample(len(rows), labels=labels[rows], seed=_seed(5, 3, j))
        torch.testing.assert_close(x[rows], own, rtol=0, atol=0)
    torch.testing.assert_close(handle.model.sample(41, labels=labels, seed=5), x, rtol=0, atol=0)
    assert not torch.equal(handle.model.sample(41, labels=labels, seed=6), x)


def test_generate_py_writes_an_ensembles_segments(tmp_path, members):
    models = "[" + ",".join(str(m) for m in members) + "]"
    overrides = [f"model_path={models}", "n=30", "classes=[N,V]", "seed=3"]
    result = tasks.generate(compose(tmp_path / "out", overrides))
    signals = np.load(result.out / "signals.npy")
    assert signals.shape == (30, 1, 256) and np.isfinite(signals).all()
    assert sorted(set(np.load(result.out / "labels.npy").tolist())) == [0, 2]
    meta = json.loads((result.out / "meta.json").read_text())
    # The folder says which models made it (the version names both members' files).
    assert all(str(m) in json.dumps(meta) for m in members)
    assert meta["model"]["version"].count("+") == 1
    again = tasks.generate(compose(tmp_path / "again", overrides))
    np.testing.assert_array_equal(np.load(again.out / "signals.npy"), signals)


@pytest.mark.parametrize(
    "other, field",
    [("wgan_gp-rr", "makes_rr"), ("gan-subject", "use_subject")],
    ids=["one-makes-rr", "one-takes-subjects"],
)
def test_members_that_make_other_segments_are_refused(runs, other, field):
    with pytest.raises(GenerationError, match=rf"ensemble members differ in {field}: .*{other}"):
        load_generator([runs["wgan_gp-simulated"], runs[other]])


def test_an_ensemble_is_not_exported_as_one_model(tmp_path, members):
    cfg = compose(tmp_path / "out", [f"model_path=[{members[0]},{members[0]}]", "export=true"])
    with pytest.raises(GenerationError, match="is an ensemble: export each member"):
        tasks.generate(cfg)


def test_a_missing_member_is_named(tmp_path, members):
    from omegaconf import OmegaConf

    from ecg_synth.evaluation.pipeline import checkpoint_source

    missing = tmp_path / "no_such_run"
    with pytest.raises(FileNotFoundError, match="no_such_run"):
        load_generator([members[0], missing])
    # evaluate.py checks every member before it loads any data
    cfg = OmegaConf.create(
        {"checkpoint": [str(members[0]), str(missing)], "paths": {"log_dir": str(tmp_path)}}
    )
    with pytest.raises(FileNotFoundError, match=rf"checkpoint='{missing}': no such file"):
        checkpoint_source(cfg)
    assert checkpoint_source(OmegaConf.merge(cfg, {"checkpoint": [str(m) for m in members]})) == [
        members[0],
        members[1],
    ]
