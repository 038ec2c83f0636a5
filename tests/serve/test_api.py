"""The HTTP API over a real uvicorn server: answers equal generate.py's, errors are 4xx."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

from ecg_synth.generation import tasks
from ecg_synth.generation.core import GenerationError
from ecg_synth.run_info import REPO_ROOT
from ecg_synth.serve import ServeSettings, create_app
from tests.helpers import compose_train
from tests.serve.conftest import MAX_N, httpx


def post(client, **body):
    return client.post("/generate", json=body)


def test_health_and_models(client):
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["models"] == ["gan-subject", "gan-uncond", "wgan_gp-rr", "wgan_gp-simulated"]
    assert health["limits"]["max_n"] == MAX_N
    (why,) = [v for k, v in health["skipped"].items() if k.endswith("autoencoder")]
    assert "does not generate" in why
    (why,) = [v for k, v in health["skipped"].items() if k.endswith("multirun")]
    assert why.startswith("not a model: no generator.json, checkpoints/ or run folders")
    models = {m["name"]: m for m in client.get("/models").json()}
    wgan = models["wgan_gp-simulated"]
    assert (wgan["kind"], wgan["fs"], wgan["length"], wgan["leads"]) == (
        "wgan_gp",
        360.0,
        256,
        ["MLII"],
    )
    assert wgan["classes"] == ["N", "S", "V", "F", "Q"]
    assert wgan["window_s"] == pytest.approx(256 / 360)
    assert models["gan-subject"]["conditions"] == {"class": True, "subject": True}
    assert models["gan-subject"]["subjects"] == ["100", "101", "103", "105"]
    assert [m["makes_rr"] for m in models.values()] == [n == "wgan_gp-rr" for n in models]


@pytest.fixture(scope="module")
def cli_output(runs, tmp_path_factory):
    """generate.py's folder for the wgan run (the server holds its exported copy)."""
    out = tmp_path_factory.mktemp("cli")
    cfg = compose_train(
        out,
        [
            f"model_path={runs['wgan_gp-simulated']}",
            "n=30",
            "classes=[N,V]",
            "seed=7",
            "csv=true",
            "wfdb=true",
            f"out_dir={out}",
            "progress=false",
        ],
        config_name="generate",
    )
    tasks.generate(cfg)
    return out


def test_every_format_equals_generate_py_output(client, cli_output):
    req = {"model": "wgan_gp-simulated", "n": 30, "class": ["N", "V"], "seed": 7}
    npy = post(client, **req, format="npy")
    assert npy.status_code == 200 and npy.headers["x-ecg-seed"] == "7"
    assert npy.content == (cli_output / "signals.npy").read_bytes()

    body = post(client, **req).json()
    signals = np.load(cli_output / "signals.npy")
    np.testing.assert_array_equal(np.asarray(body["signals"], np.float32), signals)
    assert body["labels"] == np.load(cli_output / "labels.npy").tolist()
    assert (body["units"], body["fs"], body["r_index"]) == ("mV", 360.0, 90)

    csv = post(client, **req, format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content == (cli_output / "signals.csv").read_bytes()

    z = zipfile.ZipFile(io.BytesIO(post(client, **req, format="wfdb-zip").content))
    for member in ("signals.npy", "labels.npy", "wfdb/segments_0000.dat", "wfdb/segments_0000.atr"):
        assert z.read(member) == (cli_output / member).read_bytes(), member
    meta = json.loads(z.read("meta.json"))
    assert meta["config_hash"] == json.loads((cli_output / "meta.json").read_text())["config_hash"]

    preview = post(client, **req, preview=3).json()
    assert len(preview["signals"]) == 3 and len(preview["labels"]) == 30
    np.testing.assert_array_equal(np.asarray(preview["signals"], np.float32), signals[:3])


def test_beats_come_with_the_rr_generated_with_them(client, runs, tmp_path):
    """json and wfdb-zip carry generate.py's rr.npy; a model without RR says so (null)."""
    cfg = compose_train(
        tmp_path,
        [
            f"model_path={runs['wgan_gp-rr']}",
            "n=12",
            "classes=[N,V]",
            "seed=3",
            f"out_dir={tmp_path}",
            "progress=false",
        ],
        config_name="generate",
    )
    tasks.generate(cfg)
    want = np.load(tmp_path / "rr.npy")
    req = {"model": "wgan_gp-rr", "n": 12, "class": ["N", "V"], "seed": 3}
    body = post(client, **req, preview=2).json()
    assert body["rr_columns"] == ["previous", "next", "local_mean"]
    np.testing.assert_array_equal(np.asarray(body["rr"], np.float32), want)  # all n rows
    assert len(body["signals"]) == 2
    z = zipfile.ZipFile(io.BytesIO(post(client, **req, format="wfdb-zip").content))
    np.testing.assert_array_equal(np.load(io.BytesIO(z.read("rr.npy"))), want)

    plain = post(client, model="wgan_gp-simulated", n=2, seed=3).json()
    assert plain["rr"] is None and plain["rr_columns"] is None


def test_subjects_and_random_seed(client):
    body = post(client, model="gan-subject", n=4, subject=[101, "105"], seed=1).json()
    assert sorted(set(body["subjects"])) == ["101", "105"]
    first = post(client, model="gan-uncond", n=3)  # no seed: a random one, reported
    seed = int(first.headers["x-ecg-seed"])
    assert first.json()["labels"] == [-1, -1, -1]
    again = post(client, model="gan-uncond", n=3, seed=seed).json()
    assert again["signals"] == first.json()["signals"]


def test_server_timing_reports_the_generation_part_of_a_request(client):
    """``Server-Timing: generate;dur=<ms>``: more segments take longer, and the part never
    exceeds the whole request as the client saw it."""

    def generation_ms(n):
        t0 = time.perf_counter()
        r = post(client, model="wgan_gp-simulated", n=n, seed=0, format="npy")
        total_ms = (time.perf_counter() - t0) * 1e3
        name, dur = r.headers["server-timing"].split(";dur=")
        assert name == "generate" and 0 < float(dur) < total_ms
        return float(dur)

    assert min(generation_ms(MAX_N) for _ in range(3)) > max(generation_ms(1) for _ in range(3))


@pytest.mark.parametrize(
    "body, status, where, match",
    [
        ({"model": "nope"}, 404, None, "unknown model 'nope'; available"),
        ({"n": 2}, 422, "model", "several models are loaded"),
        ({"model": "wgan_gp-simulated", "class": "X"}, 422, "class", "unknown class 'X'"),
        ({"model": "wgan_gp-simulated", "class": "Q"}, 422, "class", "no training segments"),
        ({"model": "wgan_gp-simulated", "class": []}, 422, "class", "selects nothing"),
        ({"model": "gan-subject", "subject": "999"}, 422, "subject", "unknown subject '999'"),
        ({"model": "wgan_gp-simulated", "subject": "100"}, 422, "subject", "not subject-cond"),
        ({"model": "gan-uncond", "class": "N"}, 422, "class", "not class-conditioned"),
        ({"model": "wgan_gp-simulated", "n": 1_000_000}, 422, "n", f"limit of {MAX_N}"),
        ({"model": "wgan_gp-simulated", "n": 0}, 422, "n", "greater than or equal to 1"),
        ({"model": "wgan_gp-simulated", "n": "5"}, 422, "n", "valid integer"),
        ({"model": "wgan_gp-simulated", "n": 2.5}, 422, "n", "valid integer"),
        ({"model": "wgan_gp-simulated", "seed": "abc"}, 422, "seed", "valid integer"),
        ({"model": "wgan_gp-simulated", "seed": 1.5}, 422, "seed", "valid integer"),
        ({"model": "wgan_gp-simulated", "seed": True}, 422, "seed", "valid integer"),
        ({"model": "wgan_gp-simulated", "seed": -1}, 422, "seed", "greater than or equal to 0"),
        ({"model": "wgan_gp-simulated", "seed": 2**64}, 422, "seed", "less than or equal"),
        ({"model": "wgan_gp-simulated", "format": "xml"}, 422, "format", "'json'"),
        ({"model": "wgan_gp-simulated", "colour": "red"}, 422, "colour", "Extra inputs"),
    ],
)
def test_bad_requests_get_clear_4xx(client, body, status, where, match):
    r = post(client, **body)
    assert r.status_code == status, r.text
    detail = r.json()["detail"]
    if where is None:
        assert match in detail
    else:
        (err,) = [d for d in detail if d["loc"][:2] == ["body", where]]
        assert match in err["msg"], err


def test_malformed_and_oversized_bodies(client):
    r = client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    r = client.post("/generate", json={"model": "wgan_gp-simulated", "class": ["N"] * 1000})
    assert r.status_code == 413 and "2048 bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(100):
            yield b" " * 100

    r = client.post("/generate", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert client.get("/generate").status_code == 405


def test_generation_does_not_block_the_event_loop(server, client):
    """A long request runs in a worker thread: /health is answered while it runs, and
    concurrent requests give exactly the sequential answers."""
    result = {}

    def long_request():
        with httpx.Client(base_url=server, timeout=120) as c:
            t0 = time.monotonic()
            r = c.post(
                "/generate",
                json={"model": "wgan_gp-simulated", "n": MAX_N, "seed": 0, "format": "wfdb-zip"},
            )
            result.update(status=r.status_code, done=time.monotonic(), took=time.monotonic() - t0)

    thread = threading.Thread(target=long_request)
    thread.start()
    time.sleep(0.05)
    health_at = []
    while thread.is_alive() and len(health_at) < 20:
        assert client.get("/health").status_code == 200
        health_at.append(time.monotonic())
        time.sleep(0.01)
    thread.join()
    assert result["status"] == 200
    assert health_at and health_at[0] < result["done"], (
        f"no /health answer while a {result['took']:.2f} s request ran"
    )

    async def many():
        async with httpx.AsyncClient(base_url=server, timeout=120) as c:
            import asyncio

            rs = await asyncio.gather(
                *[
                    c.post(
                        "/generate",
                        json={"model": "wgan_gp-simulated", "n": 50, "seed": i, "format": "npy"},
                    )
                    for i in range(8)
                ]
            )
            return [r.content for r in rs]

    import asyncio

    concurrent = asyncio.run(many())
    for i, content in enumerate(concurrent):
        assert (
            content == post(client, model="wgan_gp-simulated", n=50, seed=i, format="npy").content
        )


def test_startup_without_models_fails_clearly(tmp_path):
    app = create_app(ServeSettings(model_dir=str(tmp_path)))

    async def start():
        async with app.router.lifespan_context(app):
            pass

    import asyncio

    with pytest.raises(GenerationError, match="no loadable model"):
        asyncio.run(start())


def test_python_m_ecg_synth_serve(model_dir, runs, tmp_path):
    # A list of models on the command line is one ensemble model, served as generate.py
    # makes it (ecg_synth.generation.ensemble).
    pair = f"[{runs['wgan_gp-simulated']},{runs['wgan_gp-noise']}]"
    cfg = compose_train(
        tmp_path / "cli",
        [f"model_path={pair}", "n=5", "seed=1", f"out_dir={tmp_path / 'cli'}", "progress=false"],
        config_name="generate",
    )
    cli_signals = np.load(tasks.generate(cfg).out / "signals.npy")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ecg_synth.serve",
            f"model_dir={model_dir}",
            f"port={port}",
            "limits.max_n=7",
            "log_level=warning",
            f"+models.pair={pair}",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert health["limits"]["max_n"] == 7 and "wgan_gp-simulated" in health["models"]
        assert "pair" in health["models"], health["skipped"]
        body = {"model": "pair", "n": 5, "seed": 1, "format": "npy"}
        got = httpx.post(f"http://127.0.0.1:{port}/generate", json=body, timeout=60)
        assert got.status_code == 200, got.text
        np.testing.assert_array_equal(np.load(io.BytesIO(got.content)), cli_signals)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_heap_reserve_takes_on_glibc_and_zero_turns_it_off():
    import platform

    from ecg_synth.serve.server import reserve_heap_top

    assert reserve_heap_top(0) is False  # glibc's default kept
    if platform.libc_ver()[0] == "glibc":
        assert reserve_heap_top(64) is True


def test_bad_torch_threads_is_refused_before_the_server_starts():
    from omegaconf import OmegaConf

    from ecg_synth.serve.server import run

    with pytest.raises(ValueError, match=r"torch_threads=0 must be an integer >= 1, or null"):
        run(OmegaConf.create({"torch_threads": 0}))


def test_app_started_twice_loads_its_models_again_and_serves_the_same_signals(settings):
    from fastapi.testclient import TestClient

    app = create_app(settings)  # models load in the lifespan, on the generation threads
    bodies = []
    for _ in range(2):
        with TestClient(app) as c:
            r = c.post(
                "/generate", json={"model": "wgan_gp-simulated", "n": 3, "seed": 5, "format": "npy"}
            )
            assert r.status_code == 200, r.text
            bodies.append(r.content)
    assert bodies[0] == bodies[1]
