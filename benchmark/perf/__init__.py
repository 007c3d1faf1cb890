"""Measurements, not tests: how fast ichbench is against the references, and on a GPU.

Scoring speed against surface-distance and a plain script
(``python -m ichbench.perf.speed``), lesion-wise worst cases
(``python -m ichbench.perf.lesion_speed``) and the paper-scale GPU check
(``python -m ichbench.perf.gpucheck``).
"""
