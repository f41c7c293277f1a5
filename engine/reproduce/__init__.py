"""Reproduce anything: bundles, notebooks and re-runs.

- ``bundle``: a zip of a trial, job, goal or conversation: parameters, seeds, data
  slices (or provenance), the lock file, dynamic actions' code, ``reproduce.py``.
- ``archive``: opening an untrusted bundle safely; ``manifest``: its schema.
- ``replay`` / ``command``: ``python -m engine reproduce BUNDLE`` re-runs it in a fresh
  data directory; ``compare``: every number, and why it moved.
- ``notebook`` / ``workspace`` / ``figures``: the same as a Jupyter notebook.
- ``rerun``: the Re-run button of the Trials and Jobs pages.
- ``actions``: ``export_bundle`` and ``export_notebook`` in the action registry.
"""
