"""ichbench.submissions."""
