"""The IPsec/IKE policy model: Azure's rules (``rules``), the policy type (``model``), strength and lint
(``strength``), and named presets (``presets``). The emulator validates with the same code."""

from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file, policies_table, save_policy_file
from vpnrunbook.policy.presets import PRESETS, get_preset
from vpnrunbook.policy.rules import FIELDS, PolicyValidationError, Problem
from vpnrunbook.policy.strength import Finding, Strength, lint, overall_strength

__all__ = [
    "FIELDS", "PRESETS", "Finding", "IpsecIkePolicy", "PolicyValidationError", "Problem", "Strength",
    "get_preset", "lint", "load_policy_file", "overall_strength", "policies_table", "save_policy_file",
]
