"""The run harness: how a method's run is configured, executed, resumed and scored.

Typed method configs and presets, run folders, the stage graph and its executors (in
process, local workers, Slurm through submitit), scoring of a run's predictions through
the one scoring path, and ``run --status``.

Above data, scoring and reports; the methods (:mod:`ichbench.baselines`) plug into it.
"""
