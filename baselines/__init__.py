"""ichbench.baselines."""
