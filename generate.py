"""Generate synthetic ECG from a trained model: `python generate.py model_path=<...> [n=...]`.

Options: conf/generate.yaml. Output folder contract: ecg_synth/generation/writers.py."""

from ecg_synth.cli import generate

if __name__ == "__main__":
    generate()
