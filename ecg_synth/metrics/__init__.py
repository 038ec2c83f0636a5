"""Signal, distribution and clinical metrics for real vs generated ECG segments."""
