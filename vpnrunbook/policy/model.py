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
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "policy", validate: bool = True,
                     echo_unknown: bool = True) -> IpsecIkePolicy:
        """From a mapping with Python, REST or PowerShell keys. Unknown keys and bad values raise, all at once.

        The metadata keys (``name``, ``description``) must be strings. ``echo_unknown=False`` (a policy file a
        parameter points at): an unknown key is named (cut short), its value is not repeated."""
        from vpnrunbook.plaindata import safe_text, shown

        values: dict[str, Any] = {}
        names: dict[str, str] = {}
        problems: list[rules.Problem] = []
        for key, value in data.items():
            canonical = ALIASES.get(key) if isinstance(key, str) else None
            if canonical is None:
                if key in METADATA_KEYS:
                    problems += _check_metadata(str(key), value)
                    continue
                problems.append(rules.Problem(safe_text(str(key), 40), shown(value) if echo_unknown else None,
                                              "is not a policy field",
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


MAX_METADATA_CHARS = 1000
MAX_FILE_PROBLEMS = 10  # problems of a policy file shown at once (the rest summed up)


def _check_metadata(key: str, value: Any) -> list[rules.Problem]:
    """``name`` and ``description``: a string (or null), at most :data:`MAX_METADATA_CHARS` characters."""
    from vpnrunbook.plaindata import check, shown

    if value is None:
        return []
    if type(value) is not str:
        return [rules.Problem(key, shown(value), f"is {type(value).__name__}, not a string",
                              "a string (free text)", "InvalidType")]
    if len(value) > MAX_METADATA_CHARS:
        return [rules.Problem(key, shown(value), f"is {len(value)} characters long",
                              f"a string of at most {MAX_METADATA_CHARS} characters", "TooLong")]
    return check(value, key)


def _file_problem(path: Path, message: str, code: str = "InvalidYaml") -> rules.PolicyValidationError:
    return rules.PolicyValidationError([rules.Problem("file", str(path), message,
                                                      "a YAML mapping of the eight policy fields", code)],
                                       subject=str(path))


def load_policy_file(path: str | Path) -> IpsecIkePolicy:
    """Load a policy YAML file; malformed YAML, unknown keys, wrong types and bad values raise with the file name.

    Only plain data is read (``vpnrunbook.plaindata``), and the errors repeat no more of the file than needed:
    the first :data:`MAX_FILE_PROBLEMS` problems, unknown keys by name only, values cut short."""
    import yaml

    from vpnrunbook import plaindata

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
        data = plaindata.load_yaml(text)
    except yaml.YAMLError as exc:
        where, reason = plaindata.yaml_error_text(exc)
        raise _file_problem(path, f"is not valid YAML{where}: {reason}") from None
    plain = plaindata.check(data, "")
    if any(p.code == "TooDeep" for p in plain):
        raise _file_problem(path, "holds an alias that refers to itself (e.g. &a [*a]) or nests too deeply")
    if plain:
        raise rules.PolicyValidationError(_capped(plain), subject=str(path))
    if isinstance(data, Mapping) and "policy" in data and isinstance(data["policy"], Mapping):
        outer = [x for k, v in data.items() if k != "policy"
                 for x in (_check_metadata(k, v) if k in METADATA_KEYS else
                           [rules.Problem(plaindata.safe_text(str(k), 40), None, "is not a policy file key",
                                          "policy, name, description", "UnknownField")])]
        if outer:
            raise rules.PolicyValidationError(_capped(outer), subject=str(path))
        data = data["policy"]
    if not isinstance(data, Mapping):
        raise _file_problem(path, f"holds a {type(data).__name__}, not a mapping")
    short = {k: plaindata.shown(v, 40) if isinstance(v, str) and k not in METADATA_KEYS else v for k, v in data.items()}
    try:
        return IpsecIkePolicy.from_mapping(short, source=str(path), echo_unknown=False)
    except rules.PolicyValidationError as exc:
        raise rules.PolicyValidationError(_capped(exc.problems), subject=str(path)) from None


def _capped(problems: list[rules.Problem]) -> list[rules.Problem]:
    if len(problems) <= MAX_FILE_PROBLEMS:
        return problems
    rest = len(problems) - MAX_FILE_PROBLEMS
    return problems[:MAX_FILE_PROBLEMS] + [rules.Problem("file", None, f"has {rest} more problem(s), not shown",
                                                         "a YAML mapping of the eight policy fields", "MoreProblems")]


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
