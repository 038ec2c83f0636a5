"""Generation throughput (CLI path) and HTTP API latency, on CPU.

    python bench/bench_serve.py [--model PATH] [--n-cli 20000] [--clients 8] [--requests 200]

Without ``--model`` it builds the default ``conf/model/wgan_gp.yaml`` network (untrained
weights: speed does not depend on training) for 1-lead, 256-sample beats and exports it.
Measured:

1. CLI path: ``generate_to_folder`` (what ``generate.py`` runs: chunks, memory-mapped
   ``signals.npy``, labels, meta; no figure) for ``--n-cli`` segments -> segments/s;
2. direct generation of n=1 and n=100 (``generate_arrays``, in process) -> ms;
3. the API (``python -m ecg_synth.serve`` in a subprocess, loopback, ``format=npy``):
   one client in sequence, with ``http.client`` (the service's own cost) and with httpx
   (overhead over 2.), and ``--clients`` concurrent clients (httpx async) -> p50 / p99
   latency and requests/s, for n=1 and n=100.

Targets: the API adds < 20 % over direct generation at n=100 (one client); p99 < 100 ms at
n=1 under 8 concurrent clients. The machine may be shared: rerun for stable numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_default_model(root: Path) -> Path:
    """Checkpoint of the default WGAN-GP config (1 training step on random beats)."""
    import lightning as L
    import torch
    from omegaconf import OmegaConf
    from torch.utils.data import DataLoader

    from ecg_synth.cli import compose_config
    from ecg_synth.data.types import AAMI_CLASSES
    from ecg_synth.models import model_class

    cfg = OmegaConf.to_container(compose_config("train", ["model=wgan_gp"]).model, resolve=True)
    cfg.pop("_target_")
    info = {
        "fs": 360.0,
        "length": 256,
        "leads": ["MLII"],
        "r_index": 90,
        "classes": list(AAMI_CLASSES),
        "subjects": [str(i) for i in range(100, 124)],
        "normalizer": {"mode": "global", "offset": [0.0], "scale": [1.5], "clip": True},
        "class_counts": {"N": 9000, "S": 300, "V": 700, "F": 80, "Q": 10},
    }
    model = model_class("wgan_gp")(data_info=info, **cfg)
    x = torch.rand(64, 1, 256) * 2 - 1
    data = [
        {
            "signal": x[i],
            "label": torch.tensor(i % 3),
            "subject": torch.tensor(0),
            "rr": torch.zeros(3),
        }
        for i in range(64)
    ]
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(model, DataLoader(data, batch_size=32))
    ckpt = root / "wgan_gp-bench" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    trainer.save_checkpoint(ckpt)
    return ckpt.parent.parent


def timed(fn, repeat: int, gap: float = 0.0) -> np.ndarray:
    """Seconds per call of ``fn``; ``gap``: idle seconds before each call (a request gap)."""
    out = []
    for _ in range(repeat):
        time.sleep(gap)
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return np.asarray(out)


def start_server(
    model_dir: Path, workers: int, threads: int | None
) -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecg_synth.serve",
            f"model_dir={model_dir}",
            f"port={port}",
            f"workers={workers}",
            f"torch_threads={'null' if threads is None else threads}",
            "log_level=warning",
        ],
        cwd=model_dir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
    )
    import httpx

    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=1)
            return proc, url
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("the server exited at start") from None
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("the server did not start in 120 s")


async def load(
    url: str, model: str, n: int, clients: int, requests: int
) -> tuple[np.ndarray, float]:
    """Per-request latencies (s) of ``requests`` requests from ``clients`` concurrent clients."""
    import httpx

    latencies: list[float] = []
    counter = iter(range(requests))

    async def client(c: httpx.AsyncClient) -> None:
        for i in counter:
            t0 = time.perf_counter()
            r = await c.post("/generate", json={"model": model, "n": n, "seed": i, "format": "npy"})
            r.raise_for_status()
            latencies.append(time.perf_counter() - t0)

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        await c.post("/generate", json={"model": model, "n": n, "seed": 0, "format": "npy"})
        t0 = time.perf_counter()
        await asyncio.gather(*[client(c) for _ in range(clients)])
        wall = time.perf_counter() - t0
    return np.asarray(latencies), wall


def sequential(url: str, model: str, n: int, requests: int) -> tuple[np.ndarray, np.ndarray]:
    """Latencies (s) of one keep-alive client in sequence with the standard library's
    ``http.client``: the service's own cost, with the least client-side work (httpx spends
    about 3 ms of its own reading a 100 kB answer on this machine); and, from each answer's
    ``Server-Timing`` header, the part spent generating and encoding on the service's thread."""
    import http.client
    import json
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=60)
    headers = {"Content-Type": "application/json"}
    out, job = [], []
    try:
        for i in range(requests + 1):  # the first one warms up
            body = json.dumps({"model": model, "n": n, "seed": i, "format": "npy"})
            t0 = time.perf_counter()
            conn.request("POST", "/generate", body, headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                raise RuntimeError(f"POST /generate answered {r.status}")
            out.append(time.perf_counter() - t0)
            job.append(float(r.getheader("Server-Timing").split("dur=")[1]) / 1e3)
    finally:
        conn.close()
    return np.asarray(out[1:]), np.asarray(job[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="checkpoint, run folder or exported folder")
    ap.add_argument("--n-cli", type=int, default=20_000)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2, help="server generation threads")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="server torch intra-op threads (0: torch's default)",
    )
    args = ap.parse_args()

    import torch

    from ecg_synth.generation import (
        Request,
        export_generator,
        generate_arrays,
        generate_to_folder,
        load_generator,
    )

    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    source = Path(args.model) if args.model else build_default_model(tmp / "runs")
    handle = load_generator(source)
    served = tmp / "served"
    served.mkdir()
    if (source / "generator.json").is_file():
        (served / handle.name).symlink_to(source.resolve())
    else:
        export_generator(handle, served / handle.name)
    handle = load_generator(served / handle.name)
    print(
        f"model {handle.name} ({handle.kind}), torch threads {torch.get_num_threads()}, "
        f"CPU cores {os.cpu_count()}"
    )

    rows = []
    t = timed(
        lambda: generate_to_folder(
            handle, tmp / "cli", Request(n=args.n_cli, seed=0, figure=False, progress=False)
        ),
        2,
    ).min()
    rows.append(
        (
            "CLI path (generate_to_folder)",
            f"n={args.n_cli}",
            f"{t:.2f} s",
            f"{args.n_cli / t:,.0f} seg/s",
        )
    )
    direct = {}
    for n in (1, 100):
        d = timed(lambda n=n: generate_arrays(handle, n, seed=1), 50)
        direct[n] = float(np.median(d))
        rows.append(
            (
                "direct generate_arrays",
                f"n={n}",
                f"p50 {direct[n] * 1e3:.2f} ms",
                f"{n / direct[n]:,.0f} seg/s",
            )
        )
    # Calls 1 ms apart, as requests arrive: OpenMP threads fall asleep and caches cool.
    apart = float(np.median(timed(lambda: generate_arrays(handle, 100, seed=1), 200, gap=1e-3)))
    rows.append(
        (
            "  the same, calls 1 ms apart",
            "n=100",
            f"p50 {apart * 1e3:.2f} ms",
            f"{(apart / direct[100] - 1) * 100:+.0f}% over direct",
        )
    )

    proc, url = start_server(served, args.workers, args.torch_threads or None)
    try:
        for n in (1, 100):
            stdlib, job_seconds = sequential(url, handle.name, n, 100)
            rows.append(
                (
                    "  service's generate+encode",
                    f"n={n}",
                    f"p50 {np.median(job_seconds) * 1e3:.2f} ms",
                    f"{(np.median(job_seconds) / direct[n] - 1) * 100:+.0f}% over direct",
                )
            )
            for client, lat in (
                ("http.client", stdlib),
                ("httpx", asyncio.run(load(url, handle.name, n, 1, 100))[0]),
            ):
                p50 = float(np.median(lat))
                rows.append(
                    (
                        f"API, 1 client ({client})",
                        f"n={n}",
                        f"p50 {p50 * 1e3:.2f} ms",
                        f"+{(p50 / direct[n] - 1) * 100:.0f}% over direct",
                    )
                )
        for n in (1, 100):
            lat, wall = asyncio.run(load(url, handle.name, n, args.clients, args.requests))
            p50, p99 = np.percentile(lat, [50, 99])
            rows.append(
                (
                    f"API, {args.clients} clients",
                    f"n={n}",
                    f"p50 {p50 * 1e3:.1f} ms, p99 {p99 * 1e3:.1f} ms",
                    f"{len(lat) / wall:,.0f} req/s, {n * len(lat) / wall:,.0f} seg/s",
                )
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    width = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, width, strict=True)))


if __name__ == "__main__":
    main()
