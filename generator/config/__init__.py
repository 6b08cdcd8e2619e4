"""Config: what a person or a team wrote.

The tierstack.yaml model (spec.py), blueprints and their sandboxed rendering (blueprint/), git sources and
the lock (gitsource.py, lockfile.py), settings' field types (settings.py), guarantees, freezes, provenance,
the render cache and init's choices. It may import facts and core.
"""
