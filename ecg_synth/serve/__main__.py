"""``python -m ecg_synth.serve [model_dir=<folder>] [port=8000] [host=127.0.0.1] ...``"""

from ecg_synth.cli import serve

if __name__ == "__main__":
    serve()
