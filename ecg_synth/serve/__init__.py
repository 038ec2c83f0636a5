"""HTTP API and web page over trained generators: ``python -m ecg_synth.serve``.

``create_app(settings)`` builds the FastAPI app; ``conf/serve.yaml`` holds host, port, the
model folder and the limits (see ``ecg_synth.serve.app``).
"""

from ecg_synth.serve.app import create_app
from ecg_synth.serve.schemas import GenerateRequest, ServeSettings

__all__ = ["GenerateRequest", "ServeSettings", "create_app"]
