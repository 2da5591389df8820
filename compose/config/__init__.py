"""The compose file format: from files on disk to a validated, typed ``Project``.

Pure: values in, values out. It reads only the inputs it records (files and
variables, see ``inputs``) and imports neither the engine nor ``compose.deploy``.
"""
