"""ecg_synth: generative models of the electrocardiogram, trained on real recordings."""

__version__ = "0.1.0"
