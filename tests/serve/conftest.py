"""A real uvicorn server on a free loopback port, over real tiny trained models."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the HTTP API needs fastapi (pip install fastapi)")
uvicorn = pytest.importorskip("uvicorn", reason="the HTTP API needs uvicorn")
httpx = pytest.importorskip("httpx", reason="the API tests need httpx")

from ecg_synth.generation import export_generator  # noqa: E402
from ecg_synth.serve import ServeSettings, create_app  # noqa: E402
from tests.generation.trained import trained_runs  # noqa: E402

MAX_N = 2000


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    return trained_runs(tmp_path_factory.getbasetemp() / "models")


@pytest.fixture(scope="session")
def model_dir(runs, tmp_path_factory) -> Path:
    """A model folder as a deployment has it: exported models (one generates RR), a run
    folder, a folder of runs, and an entry that is not a model (reported, not fatal)."""
    root = tmp_path_factory.mktemp("served")
    export_generator(runs["wgan_gp-simulated"], root / "wgan_gp-simulated")
    export_generator(runs["wgan_gp-rr"], root / "wgan_gp-rr")  # beats with their RR
    shutil.copytree(runs["gan-subject"], root / "gan-subject")
    shutil.copytree(runs["gan-uncond"].parent, root / "gan-uncond")  # <model>-<dataset>/<time>/
    shutil.copytree(runs["autoencoder-simulated"], root / "autoencoder")  # does not generate
    # a sweep's folder: its runs sit one level deeper (multirun/<time>/<job>), so not a model
    shutil.copytree(runs["gan-uncond"], root / "multirun" / "2026-01-01_00-00-00" / "0-gan")
    return root


@pytest.fixture(scope="session")
def settings(model_dir) -> ServeSettings:
    return ServeSettings(model_dir=str(model_dir), max_n=MAX_N, max_body_bytes=2048, workers=2)


@pytest.fixture(scope="session")
def server(settings):
    """``http://127.0.0.1:<port>`` of a uvicorn server running the app in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the uvicorn test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def client(server):
    with httpx.Client(base_url=server, timeout=60) as c:
        yield c
