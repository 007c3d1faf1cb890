"""ichbench.metrics."""
