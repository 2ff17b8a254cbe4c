"""The policy picker: one dropdown per policy field (only Azure's allowed values), the two lifetimes,
presets, live validation and lint, the proposal strings, and a Save button writing ``parameters/policies/``.

In JupyterLab the picker is an ipywidgets form; headless (the runner, papermill, plain Python) it shows the
same information as static HTML and never waits for anyone. See docs/contracts.md, section UI.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vpnrunbook.policy import rules
from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file, save_policy_file
from vpnrunbook.policy.presets import PRESETS
from vpnrunbook.policy.strength import Finding, lint
from vpnrunbook.ui import html
from vpnrunbook.ui.env import is_interactive

CUSTOM = "(custom)"
AZURE_DEFAULTS = "Azure's default proposals"  # no custom policy on the connection (policy: null)
DEFAULT_PRESET = "strong-modern"
NON_GCM_INTEGRITY = "SHA256"  # what the picker switches IPsec integrity to when GCM encryption is left
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
NAME_ALLOWED = "1-64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit (no folders)"


def find_policy_dir(start: str | Path | None = None) -> Path:
    """``parameters/policies`` of the project: searched upwards from ``start`` (default: the current folder, which
    is ``notebooks/`` in a JupyterLab kernel), else ``./parameters/policies``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "parameters" / "policies"
        if candidate.is_dir():
            return candidate
    return Path("parameters") / "policies"


def _find_upwards(path: Path) -> Path:
    """A relative path as given, or — when it is not there — relative to a parent folder (a kernel started by
    JupyterLab runs in ``notebooks/`` while parameters name files from the project root)."""
    if path.is_absolute() or path.exists():
        return path
    for folder in Path.cwd().resolve().parents:
        if (folder / path).exists():
            return folder / path
    return path


def resolve_policy(initial: IpsecIkePolicy | str | Path | Mapping[str, Any] | None) -> IpsecIkePolicy:
    """The starting policy: a policy, a preset name, a YAML file path, a mapping of fields, or None (default preset)."""
    if initial is None:
        return PRESETS[DEFAULT_PRESET].policy
    if isinstance(initial, IpsecIkePolicy):
        return initial
    if isinstance(initial, Mapping):
        return IpsecIkePolicy.from_mapping(initial, source="initial policy")
    if isinstance(initial, str) and initial in PRESETS:
        return PRESETS[initial].policy
    path = _find_upwards(Path(initial))
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_policy_file(path)
    raise rules.PolicyValidationError(
        [rules.Problem("initial", str(initial), "is neither a preset name nor a policy file",
                       "a preset (" + ", ".join(PRESETS) + ") or a path to a .yaml policy file", "UnknownPolicy")],
        subject="policy picker")


def preset_matching(values: Mapping[str, Any]) -> str | None:
    for name, preset in PRESETS.items():
        if preset.policy.as_python_dict() == dict(values):
            return name
    return None


class PolicyPicker:
    """Build with :func:`policy_picker`. ``.policy`` (validated), ``.values``, ``.errors``, ``.findings``,
    ``.widget`` (the ipywidgets form), ``.save(name)``; ``set(field=value, ...)`` drives it from code."""

    def __init__(self, initial: IpsecIkePolicy | str | Path | Mapping[str, Any] | None = None, *,
                 save_dir: str | Path | None = None, name: str | None = None,
                 interactive: bool | None = None, show_save: bool = True, allow_defaults: bool = False) -> None:
        """``allow_defaults``: offer "Azure's default proposals" (``.policy`` is then None); with it, ``initial``
        None starts there (without it, None starts at the default preset)."""
        import ipywidgets as w

        self.allow_defaults = allow_defaults
        self.defaults_selected = allow_defaults and initial is None
        start = resolve_policy(initial)
        self.save_dir = Path(save_dir) if save_dir is not None else find_policy_dir()
        self.interactive = is_interactive() if interactive is None else interactive
        self.findings: list[Finding] = []
        self.notes: list[str] = []
        self.saved_path: Path | None = None
        self._listeners: list[Callable[[PolicyPicker], None]] = []
        self._busy = False

        style = {"description_width": "150px"}
        layout = w.Layout(width="420px")
        start_preset = preset_matching(start.as_python_dict())
        options = [CUSTOM, *([AZURE_DEFAULTS] if allow_defaults else []), *PRESETS]
        self.preset = w.Dropdown(options=options, description="Preset", style=style, layout=layout,
                                 value=AZURE_DEFAULTS if self.defaults_selected else start_preset or CUSTOM)
        self.preset.add_class("vpnrunbook-preset")
        self.fields: dict[str, Any] = {}
        for spec in rules.FIELDS:
            value = getattr(start, spec.name)
            if spec.choices is not None:
                control = w.Dropdown(options=list(spec.choices), value=value, description=spec.label,
                                     style=style, layout=layout)
            else:
                assert spec.range is not None
                control = w.IntText(value=value, description=spec.label, style=style, layout=layout,
                                    tooltip=spec.range.describe())
            control.add_class(f"vpnrunbook-field-{spec.name}")
            control.observe(self._on_field, names="value")
            self.fields[spec.name] = control
        self.preset.observe(self._on_preset, names="value")

        self.status = w.HTML()
        self.status.add_class("vpnrunbook-findings")
        self.table = w.HTML()
        self.proposals = w.HTML()
        self.proposals.add_class("vpnrunbook-proposals-box")
        self.name = w.Text(value=name or start_preset or "custom-policy", description="File name",
                           style=style, layout=layout)
        self.name.add_class("vpnrunbook-save-name")
        self.name.observe(lambda _c: self._on_name(), names="value")
        self.overwrite = w.Checkbox(value=False, description="replace an existing file", indent=False)
        self.save_button = w.Button(description="Save policy", button_style="primary", icon="save")
        self.save_button.add_class("vpnrunbook-save")
        self.save_button.on_click(lambda _b: self._on_save())
        self.message = w.HTML()
        self.message.add_class("vpnrunbook-save-message")

        ike = w.VBox([w.HTML("<b>IKE (phase 1)</b>")] + [self.fields[n] for n in ("ike_encryption", "ike_integrity", "dh_group")])
        esp = w.VBox([w.HTML("<b>IPsec (phase 2)</b>")] + [self.fields[n] for n in ("ipsec_encryption", "ipsec_integrity", "pfs_group")])
        life = w.VBox([w.HTML("<b>IPsec SA lifetimes</b>")] + [self.fields[n] for n in ("sa_life_time_seconds", "sa_data_size_kilobytes")])
        left = w.VBox([ike, esp, life], layout=w.Layout(flex="0 0 auto", min_width="440px"))
        right = w.VBox([self.table, self.proposals], layout=w.Layout(flex="1 1 auto", margin="0 0 0 16px"))
        self.form = w.HBox([left, right])
        parts: list[Any] = [self.preset, self.form, self.status]
        if show_save:
            parts.append(w.HBox([self.name, self.overwrite, self.save_button]))
            parts.append(self.message)
        self.widget = w.VBox(parts)
        self.widget.add_class("vpnrunbook-policy-picker")
        self.refresh()

    # ---- state -------------------------------------------------------------------------------
    @property
    def values(self) -> dict[str, Any]:
        return {name: control.value for name, control in self.fields.items()}

    @property
    def uses_defaults(self) -> bool:
        """True when "Azure's default proposals" is chosen (no custom policy)."""
        return self.defaults_selected

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def policy(self) -> IpsecIkePolicy | None:
        """The chosen policy (None: Azure's default proposals); raises ``PolicyValidationError`` naming each bad
        field while there are errors."""
        if self.defaults_selected:
            return None
        return IpsecIkePolicy.from_mapping(self.values, source="policy picker")

    def on_change(self, callback: Callable[[PolicyPicker], None]) -> None:
        self._listeners.append(callback)

    def set(self, **values: Any) -> PolicyPicker:
        """Set fields from code as an operator would (the GCM rule applies); unknown fields or values raise."""
        for field, value in values.items():
            if field == "preset":
                self.preset.value = value
                continue
            if field not in self.fields:
                raise rules.PolicyValidationError([rules.Problem(field, value, "is not a policy field",
                                                                 ", ".join(self.fields), "UnknownField")],
                                                  subject="policy picker")
            control = self.fields[field]
            options = getattr(control, "options", None)
            if options is not None and value not in options:
                raise rules.PolicyValidationError([rules.Problem(field, value, "is not offered",
                                                                 "one of " + ", ".join(options))],
                                                  subject="policy picker")
            control.value = value
        return self

    # ---- reactions ---------------------------------------------------------------------------
    def _on_preset(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        if change["new"] in (CUSTOM, AZURE_DEFAULTS):
            self.defaults_selected = change["new"] == AZURE_DEFAULTS
            self.notes = ["Azure's default proposals: no custom policy on the connection"] \
                if self.defaults_selected else []
            self.refresh()
            return
        self.defaults_selected = False
        policy = PRESETS[change["new"]].policy
        self._busy = True
        try:
            for spec in rules.FIELDS:
                self.fields[spec.name].value = getattr(policy, spec.name)
            self.name.value = change["new"]
        finally:
            self._busy = False
        self.notes = [f"preset {change['new']}: {PRESETS[change['new']].description}"]
        self.refresh()

    def _on_field(self, change: Mapping[str, Any]) -> None:
        if self._busy:
            return
        self.notes = []
        self.defaults_selected = False  # a field changed: a custom policy
        owner = change.get("owner")
        if owner is self.fields["ipsec_encryption"]:
            integrity = rules.gcm_integrity_for(change["new"])
            current = self.fields["ipsec_integrity"].value
            if integrity is None and rules.gcm_integrity_for(current):  # GCM -> non-GCM: GCM integrity no longer fits
                integrity = NON_GCM_INTEGRITY
            if integrity and current != integrity:
                self._busy = True
                try:
                    self.fields["ipsec_integrity"].value = integrity
                finally:
                    self._busy = False
                why = ("GCM encryption needs the matching GCM integrity" if rules.gcm_integrity_for(integrity)
                       else f"{change['new']} cannot use a GCM integrity")
                self.notes.append(f"IPsec integrity set to {integrity}: {why}")
        self.refresh()

    def _on_name(self) -> None:
        """A new file name: an earlier "Saved …" message no longer describes what Save would do."""
        self.saved_path = None
        self.message.value = html.message_html("info", f"Not saved yet: Save writes {self._target_hint()}") \
            if self.message.value else ""
        if not self._busy:
            self.refresh()

    def refresh(self) -> None:
        if self.defaults_selected:
            self._refresh_defaults()
            return
        self.form.layout.display = None
        values = self.values
        self.findings = lint(values)
        matched = preset_matching(values)
        self._busy = True
        try:
            self.preset.value = matched or CUSTOM
            if matched is None and self.name.value in PRESETS:  # don't offer to overwrite a preset's file
                self.name.value = "custom-policy"
        finally:
            self._busy = False
        policy = None if self.errors else IpsecIkePolicy(**values)
        self.table.value = html.policy_table_html(values)
        self.proposals.value = html.proposals_html(policy)
        notes = "".join(html.message_html("info", n) for n in self.notes)
        self.status.value = notes + html.findings_html(self.findings)
        self.save_button.disabled = bool(self.errors)
        self.save_button.tooltip = ("fix the errors above first" if self.errors else f"write {self._target_hint()}")
        for callback in list(self._listeners):
            callback(self)

    def _refresh_defaults(self) -> None:
        self.findings = []
        self._busy = True
        try:
            self.preset.value = AZURE_DEFAULTS
        finally:
            self._busy = False
        self.form.layout.display = "none"
        self.table.value = self.proposals.value = ""
        notes = "".join(html.message_html("info", n) for n in self.notes) or html.message_html(
            "info", "Azure's default proposals: no custom policy on the connection")
        self.status.value = notes
        self.save_button.disabled = True
        self.save_button.tooltip = "Azure's default proposals are not saved as a policy file"
        for callback in list(self._listeners):
            callback(self)

    def _target_hint(self) -> str:
        return str(self.save_dir / f"{self.name.value.removesuffix('.yaml')}.yaml")

    # ---- saving ------------------------------------------------------------------------------
    def save(self, name: str | None = None, *, overwrite: bool | None = None, description: str | None = None) -> Path:
        """Write the policy YAML to ``save_dir/<name>.yaml``; refuses while there are errors, bad names, or an
        existing different file unless ``overwrite``."""
        name = (name if name is not None else self.name.value).strip().removesuffix(".yaml")
        if not NAME_PATTERN.match(name):
            raise rules.PolicyValidationError([rules.Problem("file name", name, "is not a valid policy file name",
                                                             NAME_ALLOWED, "InvalidName")], subject="policy picker")
        policy = self.policy  # raises with every problem
        if policy is None:
            raise rules.PolicyValidationError([rules.Problem("policy", AZURE_DEFAULTS, "is not a policy file's content",
                                                             "a custom policy (choose a preset or fields)",
                                                             "NoCustomPolicy")], subject="policy picker")
        path = self.save_dir / f"{name}.yaml"
        overwrite = self.overwrite.value if overwrite is None else overwrite
        if path.exists() and not overwrite:
            try:
                same = load_policy_file(path) == policy
            except rules.PolicyValidationError:
                same = False
            if not same:
                raise FileExistsError(f"{path} already exists with a different policy; choose another file name "
                                      "or tick 'replace an existing file'")
        if description is None:
            matched = preset_matching(policy.as_python_dict())
            description = PRESETS[matched].description if matched else policy.summary()
        self.saved_path = save_policy_file(policy, path, name=name, description=description)
        return self.saved_path

    def _on_save(self) -> None:
        try:
            path = self.save()
        except (rules.PolicyValidationError, FileExistsError, OSError) as exc:
            self.message.value = html.message_html("error", f"Not saved: {exc}")
            return
        self.message.value = html.message_html("ok", f"Saved {path}\n{self.policy.summary() if self.policy else ''}")

    # ---- display -----------------------------------------------------------------------------
    def static_html(self) -> str:
        if self.defaults_selected:
            return '<div class="vpnrunbook-policy-static">Azure\'s default proposals (no custom policy)</div>'
        policy = None if self.errors else self.policy
        return (f'<div class="vpnrunbook-policy-static">{html.policy_table_html(self.values)}'
                f"{html.proposals_html(policy)}{html.findings_html(self.findings)}</div>")

    def __repr__(self) -> str:
        if self.defaults_selected:
            return "PolicyPicker(Azure's default proposals)"
        state = "valid" if self.valid else f"{len(self.errors)} error(s)"
        return f"PolicyPicker({state}: {IpsecIkePolicy(**self.values).summary()})"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        if self.interactive:
            return self.widget._repr_mimebundle_(include=include, exclude=exclude)
        return {"text/plain": repr(self), "text/html": self.static_html()}


def policy_picker(initial: IpsecIkePolicy | str | Path | Mapping[str, Any] | None = None, *,
                  save_dir: str | Path | None = None, name: str | None = None,
                  interactive: bool | None = None, allow_defaults: bool = False) -> PolicyPicker:
    """A policy picker starting from ``initial`` (policy, preset name, YAML path, mapping; None = strong-modern).
    ``save_dir`` defaults to the project's ``parameters/policies`` (found upwards from the current folder).

    Put it last in a cell to show it: a form in JupyterLab, a static table headless.
    """
    return PolicyPicker(initial, save_dir=save_dir, name=name, interactive=interactive,
                        allow_defaults=allow_defaults)
