"""Train a generative ECG model: `python train.py [group=option ...] [key=value ...]`.

See README.md and `python train.py --help` for the config groups."""

from ecg_synth.cli import train

if __name__ == "__main__":
    train()
