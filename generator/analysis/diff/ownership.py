"""Which capability owns a resource of a synthesis: the capability in its construct path (`<stack>/<capability>/<id>`),
else its `capability` label, else 'other'; a report groups its changes by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tierstack.generator.analysis.diff.model import METADATA_KEY


def _capability(body: Mapping[str, Any]) -> str:
    """The capability that made a resource: its construct path, its `capability` label, else 'other'."""
    metadata = body.get(METADATA_KEY)
    path = metadata.get("metadata", {}).get("path") if isinstance(metadata, Mapping) else None
    if isinstance(path, str) and path.count("/") >= 2:  # <stack>/<capability>/<construct id>
        return path.split("/")[1]
    labels = body.get("labels")
    if isinstance(labels, Mapping) and isinstance(labels.get("capability"), str):
        return str(labels["capability"])
    return "other"
