"""pycompose's engine: Linux-facing parts (images, runtime, cgroups, state).

It imports nothing from ``compose``; the compose layer uses it through the
public names of its modules. Raw syscalls live in ``engine.sys`` only.
"""
