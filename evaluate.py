"""Evaluate synthetic ECG against real data and baselines:
`python evaluate.py generated=<folder>` or `python evaluate.py checkpoint=<model>`.

Options: conf/evaluate.yaml. Output: metrics.json, report.md and figures/ in the run folder."""

from ecg_synth.cli import evaluate

if __name__ == "__main__":
    evaluate()
