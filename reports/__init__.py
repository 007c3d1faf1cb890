"""ichbench.reports."""
