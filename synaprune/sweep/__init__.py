"""Sweeps: many learning runs from one TOML spec on the Dask engine (``synaprune.engine``).

``spec`` expands a spec into points, ``policies`` holds the learning policies a point can use,
``point`` runs one point on a worker, ``report`` adds speed-ups, summarises and draws.
"""
