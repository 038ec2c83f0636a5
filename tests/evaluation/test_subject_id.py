"""LSTM-CNN subject identifier: far above chance on distinguishable subjects, at chance on noise."""

import numpy as np
import pytest
import torch

from ecg_synth.evaluation.subject_id import SubjectIdConfig, subject_identifier, time_split

N_SUBJECTS, PER_SUBJECT = 4, 120
QRS = np.array([0.7, 1.0, 1.4, 1.9])  # subject-specific QRS width and amplitude
AMP = np.array([0.6, 1.0, 1.4, 0.8])
CFG = SubjectIdConfig(epochs=8, batch_size=64, patience=3, num_threads=1)


@pytest.fixture(scope="module")
def subjects_beats(beats):
    """Beats of subjects ``subj [N]`` (0..3) with their own QRS width and amplitude."""

    def make(subj, seed):
        x, _ = beats(np.zeros(len(subj), int), seed=seed, qrs_scale=QRS[subj], amp_scale=AMP[subj])
        return x

    return make


@pytest.fixture(scope="module")
def real(subjects_beats):
    subj = np.repeat(np.arange(N_SUBJECTS), PER_SUBJECT)
    names = np.array(["s100", "s101", "s102", "s103"])[subj]
    return subjects_beats(subj, seed=3), names, subj


def test_identifies_distinguishable_subjects_in_real_and_generated(real, subjects_beats):
    x, names, _ = real
    gen_subj = np.repeat(np.arange(N_SUBJECTS), 30)
    gen = subjects_beats(gen_subj, seed=4)
    gen_names = np.array(["s100", "s101", "s102", "s103"])[gen_subj]
    threads, rng_state = torch.get_num_threads(), torch.get_rng_state()
    out = subject_identifier(x, names, gen, gen_names, config=CFG)
    assert torch.get_num_threads() == threads and torch.equal(torch.get_rng_state(), rng_state)
    assert out["chance"] == 0.25 and out["n_subjects"] == N_SUBJECTS
    assert out["accuracy_real"] > 0.85 and out["accuracy_generated"] > 0.85
    assert out["n_generated"] == len(gen)
    # A generator that ignores its subject condition is caught: wrong subject -> low accuracy.
    wrong = subject_identifier(x, names, gen, np.roll(gen_names, 30), config=CFG)
    assert wrong["accuracy_generated"] < 0.3


def test_shuffled_labels_stay_at_chance(real):
    x, names, _ = real
    shuffled = np.random.default_rng(0).permutation(names)
    out = subject_identifier(x, shuffled, config=CFG)
    assert abs(out["accuracy_real"] - out["chance"]) < 0.15 and out["accuracy_generated"] is None


def test_time_split_tests_on_the_latest_segments():
    codes = np.repeat([0, 1, 2], 20)
    order = np.random.default_rng(1).permutation(60)
    tr, va, te = time_split(codes, order, 0.2, 0.3)
    assert len(tr) + len(va) + len(te) == 60 and len(te) == 18 and len(va) == 12
    for c in range(3):
        t_tr, t_va, t_te = (order[i][codes[i] == c] for i in (tr, va, te))
        assert t_tr.max() < t_va.min() and t_va.max() < t_te.min()


def test_generated_subject_without_real_data_is_rejected(real):
    x, names, _ = real
    with pytest.raises(ValueError, match="generated_subjects"):
        subject_identifier(x, names, x[:5], np.array(["nobody"] * 5), config=CFG)
