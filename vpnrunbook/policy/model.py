"""IpsecIkePolicy: the eight fields, conversion to and from the SDK model, YAML files and a one-row table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

from vpnrunbook.policy import rules

# YAML and dict keys accepted for each field: the Python name, the REST name, and PowerShell's name.
ALIASES: dict[str, str] = {}
for _spec in rules.FIELDS:
    ALIASES[_spec.name] = _spec.name
    ALIASES[_spec.wire] = _spec.name
ALIASES.update({
    "IkeEncryption": "ike_encryption", "IkeIntegrity": "ike_integrity", "DhGroup": "dh_group",
    "IpsecEncryption": "ipsec_encryption", "IpsecIntegrity": "ipsec_integrity", "PfsGroup": "pfs_group",
    "SALifeTimeSeconds": "sa_life_time_seconds", "SADataSizeKilobytes": "sa_data_size_kilobytes",
})
METADATA_KEYS = ("name", "description")


@dataclass(frozen=True)
class IpsecIkePolicy:
    """A custom IPsec/IKE policy, spelled as Azure's REST API spells its values.

    Construct with keywords; ``validate()`` raises :class:`PolicyValidationError` listing every problem.
    """

    ike_encryption: str
    ike_integrity: str
    dh_group: str
    ipsec_encryption: str
    ipsec_integrity: str
    pfs_group: str
    sa_life_time_seconds: int = rules.SA_LIFETIME_SECONDS.default
    sa_data_size_kilobytes: int = rules.SA_DATA_SIZE_KILOBYTES.default

    # ---- validation -------------------------------------------------------------------
    def problems(self) -> list[rules.Problem]:
        return rules.check_policy(self.as_python_dict())

    def validate(self) -> IpsecIkePolicy:
        problems = self.problems()
        if problems:
            raise rules.PolicyValidationError(problems)
        return self

    # ---- conversions ---------------------------------------------------------------
    def as_python_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_wire_dict(self) -> dict[str, Any]:
        """REST property names, as in ``properties.ipsecPolicies[]``."""
        return {rules.FIELDS_BY_NAME[k].wire: v for k, v in asdict(self).items()}

    def to_sdk(self) -> Any:
        from azure.mgmt.network.models import IpsecPolicy

        return IpsecPolicy(**self.as_python_dict())

    @classmethod
    def from_sdk(cls, policy: Any) -> IpsecIkePolicy:
        """From an SDK ``IpsecPolicy`` (or any mapping with wire keys, as ``as_dict()`` returns)."""
        data = policy.as_dict() if hasattr(policy, "as_dict") else dict(policy)
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "policy", validate: bool = True) -> IpsecIkePolicy:
        """From a mapping with Python, REST or PowerShell keys. Unknown keys and bad values raise, all at once."""
        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        problems: list[rules.Problem] = []
        for key, value in data.items():
            canonical = ALIASES.get(str(key))
            if canonical is None:
                if key in METADATA_KEYS:
                    continue
                problems.append(rules.Problem(str(key), value, "is not a policy field",
                                              ", ".join(s.name for s in rules.FIELDS), "UnknownField"))
                continue
            values[canonical] = value.value if isinstance(value, Enum) else value
            names[canonical] = str(key)
        if validate:
            problems += rules.check_policy(values, names=names)
        if problems:
            raise rules.PolicyValidationError(problems, subject=source)
        return cls(**{f.name: values.get(f.name) for f in fields(cls)})

    def to_table(self, *, name: str | None = None) -> Any:
        """A one-row pandas DataFrame with Azure's labels as columns."""
        import pandas as pd

        row = {spec.label: getattr(self, spec.name) for spec in rules.FIELDS}
        return pd.DataFrame([row], index=[name or "policy"])

    def summary(self) -> str:
        """One line: ``IKE AES256/SHA384/DHGroup24 · IPsec AES256/SHA256/PFS None · 14400 s / 102400000 KB``."""
        return (f"IKE {self.ike_encryption}/{self.ike_integrity}/{self.dh_group} · IPsec {self.ipsec_encryption}/"
                f"{self.ipsec_integrity}/PFS {self.pfs_group} · {self.sa_life_time_seconds} s / "
                f"{self.sa_data_size_kilobytes} KB")

    def differences(self, other: IpsecIkePolicy | None) -> list[str]:
        """Python names of the fields that differ from ``other`` (all of them when other is None)."""
        if other is None:
            return [s.name for s in rules.FIELDS]
        return [s.name for s in rules.FIELDS if getattr(self, s.name) != getattr(other, s.name)]

    # ---- files -----------------------------------------------------------------------
    def to_yaml(self, *, name: str | None = None, description: str | None = None) -> str:
        import yaml

        doc: dict[str, Any] = {}
        if name:
            doc["name"] = name
        if description:
            doc["description"] = description
        doc.update(self.as_python_dict())
        return yaml.safe_dump(doc, sort_keys=False)


def has_recursive_alias(value: Any, within: frozenset[int] = frozenset()) -> bool:
    """Whether loaded YAML contains itself (a recursive alias such as ``&a [*a]``), which no setting can hold."""
    if not isinstance(value, list | Mapping):
        return False
    if id(value) in within:
        return True
    inner = within | {id(value)}
    return any(has_recursive_alias(v, inner) for v in (value.values() if isinstance(value, Mapping) else value))


def load_policy_file(path: str | Path) -> IpsecIkePolicy:
    """Load a policy YAML file; malformed YAML, unknown keys, wrong types and bad values raise with the file name."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise rules.PolicyValidationError([rules.Problem("file", str(path), f"cannot be read ({exc.strerror})",
                                                         "a readable YAML file", "FileNotReadable")],
                                          subject=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise rules.PolicyValidationError([rules.Problem("file", str(path), f"is not UTF-8 text (byte {exc.start})",
                                                         "a UTF-8 YAML file", "FileNotReadable")],
                                          subject=str(path)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise rules.PolicyValidationError([rules.Problem("file", str(path), f"is not valid YAML{where}",
                                                         "a YAML mapping of the eight policy fields", "InvalidYaml")],
                                          subject=str(path)) from exc
    if has_recursive_alias(data):
        raise rules.PolicyValidationError([rules.Problem("file", str(path), "holds an alias that refers to itself "
                                                         "(e.g. &a [*a])", "a YAML mapping of the eight policy fields",
                                                         "InvalidYaml")], subject=str(path))
    if isinstance(data, Mapping) and "policy" in data and isinstance(data["policy"], Mapping):
        data = data["policy"]
    if not isinstance(data, Mapping):
        raise rules.PolicyValidationError([rules.Problem("file", str(path), f"holds a {type(data).__name__}, not a mapping",
                                                         "a YAML mapping of the eight policy fields", "InvalidYaml")],
                                          subject=str(path))
    return IpsecIkePolicy.from_mapping(data, source=str(path))


def save_policy_file(policy: IpsecIkePolicy, path: str | Path, *, name: str | None = None,
                     description: str | None = None) -> Path:
    policy.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(policy.to_yaml(name=name or path.stem, description=description), encoding="utf-8")
    return path


def policies_table(policies: Mapping[str, IpsecIkePolicy | None]) -> Any:
    """Several policies side by side (one row each); ``None`` shows as Azure's default proposals."""
    import pandas as pd

    rows = {}
    for name, pol in policies.items():
        if pol is None:
            rows[name] = {spec.label: "(default)" for spec in rules.FIELDS}
        else:
            rows[name] = {spec.label: getattr(pol, spec.name) for spec in rules.FIELDS}
    return pd.DataFrame.from_dict(rows, orient="index")
