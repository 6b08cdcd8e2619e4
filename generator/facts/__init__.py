"""Facts: Google Cloud and tierstack knowledge as sourced data.

The capability catalog (catalog.py), the one resource-type table (resource_types.py) with what each type
holds (stateful.py), monitoring's metric types (monitoring.py) and the pinned provider version
(providers.py). It may import core only.
"""
