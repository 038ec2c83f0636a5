"""Control sets: measured SNR, exact shift, class means, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_beats import FS

from ecg_synth.metrics.controls import add_noise, class_templates, make_controls, time_shift


def test_controls_do_what_they_say(beats):
    x, labels, _ = beats["heldout"]
    c = make_controls(x, labels, FS, snr_db=10.0, seed=3)
    assert set(c) == {"noise", "shift", "template", "template_noise"}
    assert all(v.shape == x.shape and v.dtype == np.float32 for v in c.values())
    noise = c["noise"].astype(np.float64) - x
    snr = 10 * np.log10(x.var(-1).mean() / noise.var(-1).mean())
    assert snr == pytest.approx(10.0, abs=0.3)
    shift = round(0.167 * FS)
    assert shift == 60
    np.testing.assert_array_equal(c["shift"][..., shift:], x[..., :-shift])
    for k in np.unique(labels):
        np.testing.assert_allclose(
            c["template"][labels == k],
            np.broadcast_to(x[labels == k].mean(0), c["template"][labels == k].shape),
            atol=1e-6,
        )
    again = make_controls(x, labels, FS, snr_db=10.0, seed=3)
    assert all(np.array_equal(again[k], c[k]) for k in c)
    assert not np.array_equal(make_controls(x, labels, FS, seed=4)["noise"], c["noise"])


def test_shift_modes_and_bad_arguments():
    x = np.arange(10, dtype=np.float32)[None, None]
    np.testing.assert_array_equal(time_shift(x, 3)[0, 0], [7, 8, 9, 0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(
        time_shift(x, 3, mode="edge")[0, 0], [0, 0, 0, 0, 1, 2, 3, 4, 5, 6]
    )
    np.testing.assert_array_equal(
        time_shift(x, -2, mode="edge")[0, 0], [2, 3, 4, 5, 6, 7, 8, 9, 9, 9]
    )
    with pytest.raises(ValueError, match="shift"):
        time_shift(x, 10)
    with pytest.raises(ValueError, match="mode"):
        time_shift(x, 1, mode="wrap")
    with pytest.raises(ValueError, match="snr_db"):
        add_noise(x, float("nan"), np.random.default_rng(0))
    with pytest.raises(ValueError, match="labels"):
        class_templates(x, np.array([0, 1]))
