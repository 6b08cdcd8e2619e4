"""One CDK-for-Terraform construct per capability (see DESIGN.md, 'Capabilities').

Importing a module loads the cdktn bindings (seconds, not milliseconds), so
only `tierstack generate` imports this package; `registry()` maps capability
ids to construct classes in catalog order.
"""

from __future__ import annotations

from importlib import import_module

from tierstack.generator import jsii_env

jsii_env.prepare()  # before any cdktn import: our Node, and no version banner

MODULES = {
    "foundation": "Foundation",
    "cost_controls": "CostControls",
    "experimentation": "Experimentation",
    "data_processing": "DataProcessing",
    "model_training": "ModelTraining",
    "model_evaluation": "ModelEvaluation",
    "model_serving": "ModelServing",
    "online_experimentation": "OnlineExperimentation",
    "model_monitoring": "ModelMonitoring",
    "ml_pipelines": "MlPipelines",
    "model_registry": "ModelRegistry",
    "feature_repository": "FeatureRepository",
    "metadata_tracking": "MetadataTracking",
}


def construct_class(capability: str) -> type:
    cls: type = getattr(import_module(f"tierstack.modules.{capability}"), MODULES[capability])
    return cls
