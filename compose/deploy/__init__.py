"""Orchestration: turns a ``Project`` and what the engine holds into engine calls.

It plans (desired against actual), converges and reports progress. It reaches
Linux only through ``engine``'s public API and never reads argv or prints
except through ``progress``.
"""
