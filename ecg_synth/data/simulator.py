"""Offline default dataset: an ECGSYN-based simulator that writes a WFDB database.

Model: McSharry PE, Clifford GD, Tarassenko L, Smith LA. "A dynamical model for generating
synthetic electrocardiogram signals". IEEE Trans Biomed Eng 50(3):289-294 (2003) (ECGSYN).
The ECG is the z coordinate of a trajectory whose phase theta turns once per beat, pushed by
one Gaussian event per wave i in {P, Q, R, S, T}:

    dz/dt = -sum_i a_i * dtheta_i * exp(-dtheta_i**2 / (2 b_i**2)) - (z - z0),
    dtheta_i = theta - theta_i,

with the paper's Table 1:  theta_i = (-pi/3, -pi/12, 0, pi/12, pi/2),
a_i = (1.2, -5, 30, -7.5, 0.75),  b_i = (0.25, 0.1, 0.1, 0.1, 0.4), and its heart-rate
scaling b_i *= sqrt(HR/60), theta_i *= (h**0.5, h, 1, h, h**0.5) with h = sqrt(HR/60).

How this implementation differs, and why:
- Phase. Given theta(t) the z equation is linear and first order, so the (x, y) limit
  cycle is not integrated. Each beat k owns its waves through a local phase
  ``omega_k * (t - t_k)`` that is 0 at its R peak time ``t_k``, with ``omega_k = 2 pi /
  RR_k`` the sinus cycle length at that beat. The forcing is the sum of the beats' own
  Gaussian sets, so every beat can have its own morphology (an 'A' beat has an abnormal P,
  a 'V' beat its own wide Gaussian set, an 'F' beat a weighted mix of N and V: z is linear in
  the forcing), and R peaks sit at known times, which gives the annotation samples.
- Integration. Exact discretisation of dz/dt = F - z (time constant 1 s, as in ECGSYN) for
  F held at its mid-step value, one ``scipy.signal.lfilter`` pass at ``q * fs`` (q >= 4),
  then every q-th sample is kept (the clean z has no content near the output Nyquist).
- RR process. ECGSYN's bimodal LF/HF spectrum (Gaussians at 0.1 Hz and at the respiration
  rate, widths 0.01 Hz, power ratio LF/HF), random phases, inverse FFT, scaled to the RR
  standard deviation; it is indexed by beat number (sampled every mean RR) rather than
  resampled in time, which is the same to first order in RR std / RR mean (a few %).
- Amplitude. ECGSYN rescales z to [-0.4, 1.2] mV; here z is scaled so that the median
  normal R peak equals the subject's R amplitude, and baseline wander (respiration-rate
  sinusoid plus a slow drift), mains and white noise are added afterwards in mV.
- Ectopy. Per beat the type is drawn with the subject's S / V / F rates (no two ectopic beats
  in a row). 'A' beats come early (coupling 0.60-0.85 RR) and reset the sinus node; 'V' beats
  come early (0.55-0.80 RR) with a fully compensatory pause, no P wave, a wide main
  deflection of either sign and a discordant T; 'F' beats come at the sinus time (0.92-1.0
  RR) and mix N and V.
Annotations are placed at the largest |z| of the noise-free signal within +-20 ms of each
beat's phase zero (a V beat's secondary lobe can pull its peak by about a sample).
"""

from __future__ import annotations

import fcntl
import json
import numbers
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import wfdb
from scipy.signal import lfilter

SIM_VERSION = 1
LEAD = "MLII"
_WARMUP_S = 2.0  # integrate from -2 s so z has settled when the record starts
_MIN_FS, _MIN_DURATION_S = 50.0, 10.0

# ECGSYN Table 1, rows P Q R S T.
_THETA = np.array([-np.pi / 3, -np.pi / 12, 0.0, np.pi / 12, np.pi / 2])
_A = np.array([1.2, -5.0, 30.0, -7.5, 0.75])
_B = np.array([0.25, 0.1, 0.1, 0.1, 0.4])

# Ectopy profiles cycled over subjects (sim01 takes the first): (S, V, F) per-beat rate ranges.
# The order makes any run with >= 4 subjects contain N, S and V; rates imbalance the classes
# roughly as in MIT-BIH DS1 (N ~ 90 %, V ~ 6 %, S ~ 3 %, F < 1 %).
_PROFILES: tuple[tuple[tuple[float, float], ...], ...] = (
    ((0.01, 0.03), (0.03, 0.08), (0.0, 0.005)),  # mixed
    ((0.06, 0.12), (0.0, 0.005), (0.0, 0.0)),  # frequent atrial premature beats
    ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),  # normal sinus rhythm only
    ((0.0, 0.01), (0.12, 0.22), (0.01, 0.03)),  # frequent PVCs, some fusion
    ((0.002, 0.01), (0.002, 0.01), (0.0, 0.0)),  # rare ectopy
    ((0.0, 0.0), (0.0, 0.0), (0.0, 0.0)),  # normal
    ((0.0, 0.005), (0.04, 0.10), (0.0, 0.01)),  # moderate PVCs
    ((0.02, 0.05), (0.0, 0.01), (0.0, 0.0)),  # moderate APBs
)
_SYMBOLS = np.array(["N", "A", "V", "F"])


@dataclass(frozen=True)
class SimParams:
    """Tunable ranges; each subject draws uniformly inside every (low, high) range."""

    hr_bpm: tuple[float, float] = (55.0, 100.0)
    hr_std_bpm: tuple[float, float] = (1.0, 4.0)  # HRV: std of instantaneous heart rate
    lf_hf_ratio: tuple[float, float] = (0.5, 2.0)
    resp_hz: tuple[float, float] = (0.15, 0.35)
    r_amp_mv: tuple[float, float] = (0.8, 1.6)
    morph_jitter: float = 0.12  # log-normal sigma of per-subject Gaussian (a, b) perturbation
    wander_mv: tuple[float, float] = (0.03, 0.2)
    mains_mv: tuple[float, float] = (0.0, 0.02)
    white_mv: tuple[float, float] = (0.005, 0.025)
    mains_hz: float = 60.0  # MIT-BIH was recorded in the USA
    ectopic_scale: float = 1.0  # multiplies every profile's S/V/F rate; 0 gives only N
    adc_gain: float = 200.0  # ADC units per mV, as MIT-BIH

    @classmethod
    def from_overrides(cls, params: dict) -> SimParams:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ValueError(f"unknown simulator parameter(s) {unknown}; known: {sorted(names)}")
        kw = {}
        for name, value in params.items():
            try:
                if isinstance(getattr(cls, name), tuple):
                    lo, hi = (float(v) for v in value)
                    kw[name] = (lo, hi)
                    ok = np.isfinite([lo, hi]).all() and 0 <= lo <= hi
                else:
                    kw[name] = float(value)
                    ok = np.isfinite(kw[name]) and kw[name] >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                is_range = isinstance(getattr(cls, name), tuple)
                need = "(low, high) with 0 <= low <= high" if is_range else "a number >= 0"
                raise ValueError(f"simulator parameter {name}={value!r}: need {need}")
        p = cls(**kw)
        if p.hr_bpm[0] < 20 or p.hr_bpm[1] > 200:
            raise ValueError(
                f"simulator parameter hr_bpm={p.hr_bpm}: need 20 <= low <= high <= 200"
            )
        if p.adc_gain <= 0:
            raise ValueError(f"simulator parameter adc_gain={p.adc_gain}: need > 0")
        return p


@dataclass
class SubjectSignal:
    """One simulated subject. clean/signal: [n_samples] mV; samples/symbols: beat annotations."""

    clean: np.ndarray
    signal: np.ndarray
    samples: np.ndarray
    symbols: np.ndarray
    info: dict


def _u(rng: np.random.Generator, r: Sequence[float], size=None):
    return rng.uniform(r[0], r[1], size)


def _rr_process(rng, n_beats: int, rr_mean: float, rr_std: float, lf_hf: float, f_hf: float):
    """ECGSYN RR spectrum (LF 0.1 Hz, HF at respiration), one value per beat: [n_beats] s."""
    n = max(1024, 2 * n_beats)
    f = np.fft.rfftfreq(n, d=rr_mean)
    spec = lf_hf * np.exp(-0.5 * ((f - 0.1) / 0.01) ** 2) + np.exp(-0.5 * ((f - f_hf) / 0.01) ** 2)
    x = np.fft.irfft(np.sqrt(spec) * np.exp(2j * np.pi * rng.random(len(f))), n)
    return rr_mean + rr_std * x[:n_beats] / x.std()


def _templates(rng, p: SimParams, hr: float) -> np.ndarray:
    """Per-subject Gaussian sets [3 (N, A, V), 3 (theta, a, b), 5 waves], HR-scaled as ECGSYN."""
    h = np.sqrt(hr / 60.0)
    j = p.morph_jitter
    theta = _THETA + rng.normal(0, 0.03, 5) * np.array([1, 1, 0, 1, 1])
    a = _A * np.exp(rng.normal(0, j, 5) * np.array([2, 1, 0.5, 1, 2]))  # P, T vary most
    b = _B * np.exp(rng.normal(0, j / 2, 5))
    normal = np.stack([theta, a, b])
    atrial = normal.copy()  # ectopic focus: same QRS-T, abnormal P (inverted/flat/odd shape)
    atrial[:, 0] = (
        theta[0] * rng.uniform(0.8, 1.15),
        a[0] * rng.uniform(-1.0, 0.5),
        b[0] * rng.uniform(0.7, 1.3),
    )
    # V: main lobe at phase 0, sign by focus; amplitude in z of a Gaussian event is ~ a b^2.
    sign = rng.choice([-1.0, 1.0])
    b_main = rng.uniform(0.22, 0.32)
    main = sign * rng.uniform(1.2, 2.2) * a[2] * b[2] ** 2
    ventricular = np.array(
        [
            [0.0, -rng.uniform(0.3, 0.4), 0.0, rng.uniform(0.35, 0.5), rng.uniform(1.3, 1.6)],
            [0.0, -0.15, 1.0, -rng.uniform(0.25, 0.45), -rng.uniform(0.35, 0.6)],  # x main
            [0.1, rng.uniform(0.12, 0.15), b_main, rng.uniform(0.15, 0.22), rng.uniform(0.4, 0.55)],
        ]
    )
    ventricular[1] *= main / ventricular[2] ** 2  # z amplitudes -> ECGSYN a_i
    sets = np.stack([normal, atrial, ventricular])
    sets[:, 0, :] *= np.array([h**0.5, h, 1, h, h**0.5])
    sets[:, 2, :] *= h
    return sets


def _beats(rng, rates, hr: float, duration_s: float, info: dict):
    """Beat times [K] s, types [K] (0 N, 1 A, 2 V, 3 F), sinus RR [K] s."""
    rr_mean = 60.0 / hr
    n = int(np.ceil((duration_s + _WARMUP_S + 2.0) / (0.6 * rr_mean))) + 4
    rr_std = 60.0 * info["hr_std_bpm"] / hr**2
    rr_sinus = _rr_process(rng, n, rr_mean, rr_std, info["lf_hf_ratio"], info["resp_hz"])
    probs = np.array([0.0, *rates])
    probs[0] = 1.0 - probs[1:].sum()
    kind = rng.choice(4, size=n, p=probs)
    kind[1:][kind[:-1] > 0] = 0  # no two ectopic beats in a row: keeps the RR rules simple
    kind[:2] = kind[-2:] = 0
    coupling = np.select(
        [kind == 1, kind == 2, kind == 3],
        [rng.uniform(0.60, 0.85, n), rng.uniform(0.55, 0.80, n), rng.uniform(0.92, 1.0, n)],
        1.0,
    )
    rr = rr_sinus * coupling
    after = np.flatnonzero(kind[:-1] > 0) + 1  # beat following an ectopic one
    vf = kind[after - 1] >= 2  # V, F: sinus node not reset -> fully compensatory pause
    rr[after] = np.where(
        vf,
        rr_sinus[after - 1] * (2 - coupling[after - 1]) + rr_sinus[after] - rr_sinus[after - 1],
        rr_sinus[after] * rng.uniform(1.0, 1.1, len(after)),
    )
    t = -_WARMUP_S - rng.uniform(0, rr_mean) + np.cumsum(rr)
    keep = t < duration_s + 1.0
    if keep.all():  # cannot happen with the 0.6 safety factor; guard the invariant anyway
        raise RuntimeError("simulator generated too few beats")
    return t[keep], kind[keep], rr_sinus[keep]


def _forcing(t0: float, h: float, n: int, beat_t, kind, rr_sinus, sets, gain, rng) -> np.ndarray:
    """ECGSYN forcing at the mid-step times ``t0 + (i + 1/2) h``, i < n: [n].

    Each Gaussian event of each beat is evaluated only within +-5 b of its centre (its tail
    beyond is < 1e-5 of the peak), one vectorised block per (Gaussian set, wave).
    """
    weights = np.zeros((len(kind), 3))  # per beat: weight of the N, A, V Gaussian sets
    for s in range(3):
        weights[kind == s, s] = 1
    mix = rng.uniform(0.35, 0.65, len(kind))  # F: z is linear in the forcing, so mix N and V
    weights[kind == 3, 0], weights[kind == 3, 2] = mix[kind == 3], 1 - mix[kind == 3]
    weights *= gain[:, None]
    omega = 2 * np.pi / rr_sinus
    out = np.zeros(n)
    for s in range(3):
        sel = np.flatnonzero(weights[:, s])
        for theta, a, b in sets[s].T:
            if sel.size == 0 or a == 0:
                continue
            om, tb = omega[sel, None], beat_t[sel, None]
            half = int(np.ceil(5 * b / om.min() / h))
            centre = np.round((tb + theta / om - t0) / h - 0.5).astype(np.int64)
            idx = centre + np.arange(-half, half + 1)  # [beats, window] sample indices
            d = om * (t0 + (idx + 0.5) * h - tb) - theta
            val = -weights[sel, s, None] * a * d * np.exp(-0.5 * (d / b) ** 2)
            ok = (idx >= 0) & (idx < n)
            out += np.bincount(idx[ok], val[ok], minlength=n)
    return out


def simulate_subject(
    index: int, n_samples: int, fs: float, seed: int, p: SimParams
) -> SubjectSignal:
    """Simulate subject ``index`` (0-based): [n_samples] mV signal and beat annotations."""
    rng = np.random.default_rng([seed, index])
    s_r, v_r, f_r = _PROFILES[index % len(_PROFILES)]
    rates = np.array([_u(rng, s_r), _u(rng, v_r), _u(rng, f_r)]) * p.ectopic_scale
    rates *= min(1.0, 0.5 / max(rates.sum(), 1e-12))  # keep at least half the beats normal
    hr = float(_u(rng, p.hr_bpm))
    info = {
        "hr_bpm": hr,
        "hr_std_bpm": float(_u(rng, p.hr_std_bpm)),
        "lf_hf_ratio": float(_u(rng, p.lf_hf_ratio)),
        "resp_hz": float(_u(rng, p.resp_hz)),
        "r_amp_mv": float(_u(rng, p.r_amp_mv)),
        "rates_SVF": [float(r) for r in rates],
    }
    sets = _templates(rng, p, hr)
    duration_s = n_samples / fs
    beat_t, kind, rr_sinus = _beats(rng, rates, hr, duration_s, info)
    # Beat-to-beat amplitude: respiration modulates the electrical axis (~5 %), plus 2 % jitter.
    resp_phase = rng.uniform(0, 2 * np.pi)
    gain = 1 + rng.uniform(0.02, 0.08) * np.sin(2 * np.pi * info["resp_hz"] * beat_t + resp_phase)
    gain *= 1 + 0.02 * rng.standard_normal(len(beat_t))

    q = max(4, int(np.ceil(1440.0 / fs)))  # internal rate >= 4 fs and >= 1440 Hz
    warm = int(round(_WARMUP_S * fs))
    h = 1.0 / (fs * q)
    n_int = (warm + n_samples) * q
    force = _forcing(-warm / fs, h, n_int, beat_t, kind, rr_sinus, sets, gain, rng)
    decay = np.exp(-h)  # exact step of dz/dt = F - z for F constant over the step
    z = lfilter([1 - decay], [1, -decay], force)  # z[i] = z(t0 + (i + 1) h)
    z = z[(warm * q - 1) :: q][:n_samples]

    inside = (beat_t * fs > 1) & (beat_t * fs < n_samples - 2)
    nominal = np.round(beat_t[inside] * fs).astype(np.int64)
    w = max(1, int(round(0.02 * fs)))
    win = np.clip(nominal[:, None] + np.arange(-w, w + 1), 0, n_samples - 1)
    samples = win[np.arange(len(win)), np.abs(z[win]).argmax(1)]
    symbols = _SYMBOLS[kind[inside]]
    normal_r = z[samples[symbols == "N"]] if (symbols == "N").any() else np.abs(z[samples])
    clean = z * (info["r_amp_mv"] / np.median(normal_r))

    t = np.arange(n_samples) / fs
    wander_resp, wander_slow = _u(rng, p.wander_mv), 0.5 * _u(rng, p.wander_mv)
    slow_hz, slow_phase = rng.uniform(0.02, 0.08), rng.uniform(0, 2 * np.pi)
    noise = wander_resp * np.sin(2 * np.pi * info["resp_hz"] * t + resp_phase)
    noise += wander_slow * np.sin(2 * np.pi * slow_hz * t + slow_phase)
    if p.mains_hz < fs / 2:
        noise += _u(rng, p.mains_mv) * np.sin(2 * np.pi * p.mains_hz * t + rng.uniform(0, 7))
    noise += _u(rng, p.white_mv) * rng.standard_normal(n_samples)
    counts = {str(s): int((symbols == s).sum()) for s in _SYMBOLS}
    info["beats"] = counts
    return SubjectSignal(clean, clean + noise, samples, symbols, info)


def _check_args(n_subjects, duration_s, fs, seed) -> None:
    if (
        isinstance(n_subjects, bool)
        or not isinstance(n_subjects, (int, np.integer))
        or n_subjects < 1
    ):
        raise ValueError(f"n_subjects must be an integer >= 1, got {n_subjects!r}")
    if not (isinstance(fs, numbers.Real) and np.isfinite(fs) and fs >= _MIN_FS):
        raise ValueError(f"fs must be a sampling rate >= {_MIN_FS} Hz, got {fs!r}")
    if not (
        isinstance(duration_s, numbers.Real)
        and np.isfinite(duration_s)
        and duration_s >= _MIN_DURATION_S
    ):
        raise ValueError(f"duration_s must be >= {_MIN_DURATION_S} s, got {duration_s!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def _write(
    folder: Path, names: list[str], n_samples: int, fs: float, seed: int, p: SimParams, config: dict
) -> None:
    for i, name in enumerate(names):
        sub = simulate_subject(i, n_samples, fs, seed, p)
        comments = [
            f"ecg_synth simulator v{SIM_VERSION} (ECGSYN, McSharry et al. 2003)",
            json.dumps(sub.info),
        ]
        wfdb.wrsamp(
            name,
            fs=fs,
            units=["mV"],
            sig_name=[LEAD],
            p_signal=sub.signal[:, None],
            fmt=["16"],
            adc_gain=[p.adc_gain],
            baseline=[0],
            comments=comments,
            write_dir=str(folder),
        )
        # '+' '(N' at sample 0 opens the rhythm, as in MIT-BIH; readers must skip non-beats anyway.
        wfdb.wrann(
            name,
            "atr",
            np.concatenate([[0], sub.samples]),
            symbol=["+", *sub.symbols],
            aux_note=["(N", *[""] * len(sub.samples)],
            fs=fs,
            write_dir=str(folder),
        )
    (folder / "RECORDS").write_text("".join(f"{n}\n" for n in names))
    # simulator.json last: its presence marks a complete database
    (folder / "simulator.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _matches(root: Path, config: dict, names: list[str]) -> bool:
    try:
        stored = json.loads((root / "simulator.json").read_text())
    except (OSError, ValueError):
        return False
    return stored == config and all(
        (root / f"{n}.{e}").is_file() for n in names for e in ("hea", "dat", "atr")
    )


def ensure_database(
    root: Path,
    n_subjects: int = 8,
    duration_s: float = 180.0,
    fs: float = 360.0,
    seed: int = 0,
    **params,
) -> list[str]:
    """Write the simulated database into `root` unless an identical one is there; return names.

    Records ``sim01 .. simNN``: one lead "MLII" in mV (fmt 16, ``adc_gain`` units/mV), ``.atr``
    beat labels N / A / V / F at the R peaks, plus ``RECORDS`` and ``simulator.json`` (every
    parameter and SIM_VERSION). ``params`` override SimParams fields. A folder whose
    simulator.json matches is reused; one with a different simulator.json is rebuilt; a
    non-empty folder without one is refused (it is not ours to delete). Building goes into a
    temporary folder next to ``root`` that is renamed into place, under an fcntl lock on
    ``.<root>.lock`` so concurrent callers (DDP ranks) build once.
    """
    _check_args(n_subjects, duration_s, fs, seed)
    p = SimParams.from_overrides(params)
    root = Path(root)
    n_samples = int(round(duration_s * fs))
    names = [f"sim{i + 1:02d}" for i in range(n_subjects)]
    config = json.loads(
        json.dumps(
            {
                "version": SIM_VERSION,
                "n_subjects": int(n_subjects),
                "duration_s": float(duration_s),
                "fs": float(fs),
                "seed": int(seed),
                "params": asdict(p),
            }
        )
    )
    if _matches(root, config, names):
        return names
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _matches(root, config, names):  # another process built it while we waited
            return names
        if root.exists() and not root.is_dir():
            raise FileExistsError(f"{root} exists and is not a folder; refusing to replace it")
        if root.exists() and any(root.iterdir()) and not (root / "simulator.json").exists():
            raise FileExistsError(
                f"{root} is a non-empty folder without simulator.json; refusing to replace it"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            _write(tmp, names, n_samples, float(fs), int(seed), p, config)
            os.chmod(tmp, 0o755)
            old = None
            if root.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
                os.replace(root, old / "db")
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return names
