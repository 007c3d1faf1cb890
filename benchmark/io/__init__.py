"""Files and volumes: the lowest wing of the root package.

NIfTI and MetaImage reading and writing, the format-neutral geometry, atomic writes,
bounded JSON, and how many cores this process may use.

It imports nothing of ichbench but ``ichbench``'s version, so every other part (scoring,
data, harness, methods) may use it.
"""
