"""Public conformance suite for backbone plugins (scikit-learn's check_estimator idea)."""

from tlkeras.testing.backbone_checks import ALL_CHECKS
from tlkeras.testing.backbone_checks import BackboneCheckError
from tlkeras.testing.backbone_checks import backbone_checks
from tlkeras.testing.backbone_checks import check_backbone

__all__ = ["ALL_CHECKS", "BackboneCheckError", "backbone_checks", "check_backbone"]
