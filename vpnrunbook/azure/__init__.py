"""Reaching Azure Resource Manager: the real one, or the embedded emulator (``connect()``)."""

from vpnrunbook.azure.connect import EMULATOR_SUBSCRIPTION, Session, TargetConfigurationError, connect

__all__ = ["EMULATOR_SUBSCRIPTION", "Session", "TargetConfigurationError", "connect"]
