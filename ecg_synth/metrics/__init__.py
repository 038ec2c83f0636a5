"""Signal, distribution and clinical metrics for real vs generated ECG segments."""

import ecg_synth.numerics  # noqa: F401  (warms up MKL VML: see the module)
