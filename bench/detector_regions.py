"""Which part of the window, and which band, gives generated beats away to the CNN detector?
(issue: quality, item 1)

    python bench/detector_regions.py <run> [<run> ...] [--split test] [--seed 0] \
        [--post-lowpass 30 ...] [--only raw "first 0.1 s" ...]

evaluate.py's CNN detector (``detectors.cnn_detector``, settings of conf/evaluate.yaml) is
trained and tested again with one transform applied to *both* the real and the other set:
a band (low-pass 15 Hz, or what is left above it), a normalisation (demeaned, z-scored), or a
part of the window (the QRS, the ends, the T-wave region). Real and generated sets are those
of evaluate.py: the held-out reference half against the real training segments (the floor,
patients differ) and each run's beats sampled with the held-out class mix. Where a run's AUC
is well above the floor's under a transform, the generator gets that part wrong; where it is
at the floor, that part is not what gives it away. ``--post-lowpass HZ`` adds each run once
more with its beats low-passed at HZ afterwards (4th-order Butterworth, zero phase): would a
stricter output filter help, without training anything?

Each cell is the mean of ``detectors.cnn.n_repeats`` fits (``--set detectors.cnn.n_repeats=1``
for one fit), with their sd when there are several: read differences within about two sds
as noise. The real data is cut in the first run's window.
"""

from __future__ import annotations

import argparse

import numpy as np
import scipy.signal
from _sets import add_run_arguments, load_sets

from ecg_synth.evaluation.detectors import DetectorConfig, cnn_detector
from ecg_synth.evaluation.scoring import _groups, split_like_generated


def lowpass(x: np.ndarray, hz: float, fs: float) -> np.ndarray:
    b, a = scipy.signal.butter(4, hz, fs=fs)
    return scipy.signal.filtfilt(b, a, x, axis=-1).astype(np.float32)


def zscore(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.maximum(x.std(-1, keepdims=True), 1e-6)


def q(fs: float) -> int:
    """0.1 s in samples: half a wide QRS."""
    return int(round(0.1 * fs))


# Name -> f(x, fs, r) of ``[N, C, L]`` mV segments, ``r`` the R peak's sample.
TRANSFORMS = {
    "raw": lambda x, fs, r: x,
    "low-pass 15 Hz": lambda x, fs, r: lowpass(x, 15.0, fs),
    "what is above 15 Hz": lambda x, fs, r: x - lowpass(x, 15.0, fs),
    "demeaned": lambda x, fs, r: x - x.mean(-1, keepdims=True),
    "z-scored": lambda x, fs, r: zscore(x),
    "QRS only (R ± 0.1 s)": lambda x, fs, r: x[..., r - q(fs) : r + q(fs)],
    "before the QRS": lambda x, fs, r: x[..., : r - q(fs)],
    "after the QRS": lambda x, fs, r: x[..., r + q(fs) :],
    "first 0.1 s": lambda x, fs, r: x[..., : q(fs)],
    "T-wave region (R + 0.1-0.3 s)": lambda x, fs, r: x[..., r + q(fs) : r + 3 * q(fs)],
    "last 0.1 s": lambda x, fs, r: x[..., -q(fs) :],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(ap)
    ap.add_argument("--post-lowpass", type=float, nargs="*", default=[], metavar="HZ")
    ap.add_argument("--only", nargs="*", choices=list(TRANSFORMS), help="transforms to run")
    args = ap.parse_args()
    loaded = load_sets(args)
    spec, heldout = loaded.spec, loaded.heldout
    if spec.r_index is None:
        raise SystemExit("beat windows expected (an R peak inside every window)")
    ref = heldout.signals[loaded.ref_index]
    ref_groups = heldout.records[loaded.ref_index].astype(str)
    floor = split_like_generated(loaded.floor, next(iter(loaded.generated.values())))
    sets = {"real train (floor)": (floor.signals, floor.groups)}
    for name, gen in loaded.generated.items():
        sets[name] = (gen.signals, gen.groups)
        for hz in args.post_lowpass:
            smooth = lowpass(gen.signals, hz, spec.fs)
            sets[f"{name}, low-passed {hz:g} Hz"] = (smooth, gen.groups)
    fs, r = spec.fs, int(spec.r_index)
    cfg = loaded.cfg
    det = DetectorConfig(**dict(cfg.detectors.cnn), seed=args.seed, num_threads=cfg.num_threads)
    print(f"CNN detector AUC, {args.split} patients, evaluation seed {args.seed}\n")
    print("| transform (both sets) | " + " | ".join(sets) + " |\n|---" + "|---" * len(sets) + "|")
    for name, f in TRANSFORMS.items():
        if args.only and name not in args.only:
            continue
        real = f(ref, fs, r)  # once per transform, scored against every set
        cells = [
            cnn_detector(
                real, f(x, fs, r), real_groups=ref_groups, fake_groups=_groups(g), config=det
            )
            for x, g in sets.values()
        ]
        print(f"| {name} | " + " | ".join(map(_cell, cells)) + " |", flush=True)


def _cell(d: dict) -> str:
    return f"{d['auc']:.3f}" + (f" ± {d['auc_std']:.3f}" if d["n_repeats"] > 1 else "")


if __name__ == "__main__":
    main()
