"""One module per ``ichbench`` sub-command."""
