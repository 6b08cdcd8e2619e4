"""A price in the words of the person reading the estimate: a table entry's label ("cloud storage standard"),
what it prices ("n1-standard-4 training nodes"), and missing prices named together for the short reason
shown beside a line that is not priced.
"""

from __future__ import annotations

from collections.abc import Mapping


def price_label(item: str, key: str) -> str:
    """A price table entry in words: item, then key unless the item's name already ends with it.

    The table names an item by what it is and keys it by a unit or a type, so `cloud_storage_standard`
    keyed `standard` and `feature_store_optimized_node` keyed `node` would read "standard standard" and
    "node node" joined as they are.
    """
    words = item.replace("_", " ").split()
    if words and words[-1].lower() == key.lower():
        return " ".join(words)
    return " ".join([*words, key])


# what a price is for, as a user names it: "n1-standard-4 prediction nodes", "Standard storage"
THINGS = {
    "vertex_training_machine": "{key} training nodes",
    "vertex_training_accelerator": "{key} training GPUs",
    "vertex_prediction_machine": "{key} prediction nodes",
    "vertex_prediction_accelerator": "{key} prediction GPUs",
    "feature_store_optimized_node": "Optimized feature serving nodes",
    "feature_store_bigtable_node": "Bigtable feature serving nodes",
    "cloud_scheduler_job": "Cloud Scheduler jobs",
    "vertex_pipelines_run": "pipeline runs",
}


def thing(item: str, key: str) -> str:
    """A price table entry as the person reading the estimate names what it prices."""
    if item in THINGS:
        return THINGS[item].format(key=key)
    if item.startswith("cloud_storage_"):
        return f"{key.capitalize()} storage"
    return price_label(item, key)


def things(prices: Mapping[str, str]) -> str:
    """Missing prices ({item: key}) in words; a node's machine and GPUs as one: "g2-standard-8 + NVIDIA_L4
    training nodes" (the line names them already: the reason stays short)."""
    for use in ("training", "prediction"):
        machine, accelerator = prices.get(f"vertex_{use}_machine"), prices.get(f"vertex_{use}_accelerator")
        if machine and accelerator:
            rest = {k: v for k, v in prices.items() if not k.startswith(f"vertex_{use}_")}
            return " and ".join([f"{machine} + {accelerator} {use} nodes", *(thing(i, k) for i, k in rest.items())])
    return " and ".join(thing(item, key) for item, key in prices.items())
