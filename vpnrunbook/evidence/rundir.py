"""Per-run evidence: ``<root>/<run id>/`` with notebook.ipynb, notebook.html and manifest.json, plus the ledger.

Everything is scrubbed before it is written (``scrub.Scrubber``), written once and atomically (the run folder is
created with ``exist_ok=False``; each file is written to a temporary name in the same folder, fsynced, then linked
to its name — which fails if it exists — and the folder fsynced), hashed into the manifest, and the manifest's
hash goes into the ledger. A file that cannot be written (disk full, EFBIG) is named in the manifest's
``file_errors`` instead; only the manifest itself is indispensable. ``list_runs`` and ``verify`` read it back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from vpnrunbook.evidence import ledger
from vpnrunbook.evidence.identity import label as operator_label
from vpnrunbook.evidence.identity import operator as operator  # (re-exported: rundir.operator())
from vpnrunbook.evidence.scrub import Scrubber

SCHEMA = "vpnrunbook.evidence/1"
NOTEBOOK_FILE = "notebook.ipynb"
HTML_FILE = "notebook.html"
MANIFEST_FILE = "manifest.json"
OUTCOMES = ("succeeded", "failed", "refused", "timed_out")


def evidence_root(root: str | Path | None = None) -> Path:
    return Path(root or os.environ.get("VPNRUNBOOK_EVIDENCE_DIR") or "evidence")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(t: dt.datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def run_name(step: str, subjects: list[str] | tuple[str, ...] = ()) -> str:
    """``step`` and the connection(s) it changes, for a run folder's name: ``05_update_policy-VNet1toSite6``
    (characters other than letters, digits, ``_.-`` become ``-``; the subjects cut to 40 characters)."""
    import re

    subject = re.sub(r"[^A-Za-z0-9_.-]+", "-", "+".join(s for s in subjects if s and s not in step)).strip("-.")[:40]
    return f"{step}-{subject}" if subject else step


def new_run_dir(root: Path, step: str, started: dt.datetime) -> Path:
    """A fresh folder ``<UTC time>-<step>-<random>``; never an existing one."""
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(10):
        run_id = f"{started.strftime('%Y%m%dT%H%M%S')}Z-{step}-{uuid.uuid4().hex[:8]}"
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise RuntimeError(f"could not create a new run folder under {root}")


def versions() -> dict[str, str]:
    import platform

    import vpnrunbook

    out = {"vpnrunbook": vpnrunbook.__version__, "python": platform.python_version(),
           "network_api_version": vpnrunbook.NETWORK_API_VERSION,
           "resources_api_version": vpnrunbook.RESOURCES_API_VERSION}
    for dist in ("azure-mgmt-network", "azure-mgmt-resource", "azure-core", "azure-identity", "papermill",
                 "nbconvert", "ipykernel"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def describe_ref(ref: str) -> str:
    """A safe text for a secret reference (never the value)."""
    try:
        from vpnrunbook.azure.secrets import describe_ref as _describe
    except ImportError:
        _describe = None
    if _describe is not None:
        try:
            return str(_describe(ref))
        except Exception:  # noqa: BLE001 - any failure falls back to the plain reference
            pass
    if ref.startswith("env:"):
        return f"{ref} (environment variable)"
    if ref.startswith("file:"):
        return f"{ref} (key file)"
    return ref


@dataclass
class RunEvidence:
    """What the runner collected; ``write`` scrubs it, writes the files, the manifest and the ledger line."""

    root: Path
    run_dir: Path
    step: str
    started: dt.datetime
    manifest: dict[str, Any] = field(default_factory=dict)
    since: str | None = None  # the ledger head before the run began: its records are read from there

    @property
    def run_id(self) -> str:
        return self.run_dir.name

    def write(self, *, notebook_text: str | None, html: str | None, records: list[dict[str, Any]],
              scrubber: Scrubber, ended: dt.datetime, extra_files: dict[str, str] | None = None,
              run_line: dict[str, Any] | None = None, keep_files: dict[str, str] | None = None) -> dict[str, Any]:
        from vpnrunbook.evidence import record

        journal = [e for _, e in record._run_entries(self.root, self.run_id, since=self.since)]
        html = self._with_change_record(html, records, ended, journal)  # (record.py) the auditor's page opens with it
        if html is not None:  # no control or bidi character from a name, tag or ledger field reaches the page raw
            from vpnrunbook.render import html_document

            html = html_document(html)
        files: dict[str, str] = dict(keep_files or {})  # files already in the folder (name -> SHA-256)
        errors: dict[str, str] = {}
        texts = {NOTEBOOK_FILE: notebook_text, HTML_FILE: html, **(extra_files or {})}
        for name, text in texts.items():
            if text is None:
                continue
            try:
                self._write_once(name, scrubber.text(text))
            except FileExistsError:
                raise
            except OSError as exc:  # disk full, file too big: the manifest says so; the change records stand
                errors[name] = f"{type(exc).__name__}: {exc.strerror or exc}"
                continue
            files[name] = ledger.sha256_file(self.run_dir / name)
        clean_records = scrubber.data(records)
        manifest = dict(self.manifest)
        manifest.update({
            "schema": SCHEMA,
            "run_id": self.run_id,
            "step": self.step,
            "started": iso(self.started),
            "ended": iso(ended),
            "duration_seconds": round((ended - self.started).total_seconds(), 3),
            "changes": [_change(r) for r in clean_records],
            "records": clean_records,
            # what the apply path recorded (the ledger's intent/outcome lines): the same whatever the door
            "change_record": record.applied(journal),
        })
        manifest = scrubber.data(manifest)
        manifest["scrubbed_occurrences"] = scrubber.count
        manifest["files"] = files
        if errors:
            manifest["file_errors"] = errors
        text = json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n"
        if scrubber.contains_secret(text):  # cannot happen after scrubbing; refuse rather than leak
            raise RuntimeError("secret value survived scrubbing; evidence not written")
        self._write_once(MANIFEST_FILE, text)
        ledger.fsync_dir(self.run_dir)
        digest = ledger.sha256_file(self.run_dir / MANIFEST_FILE)
        ledger.append(self.root, {
            "kind": "run", "run_id": self.run_id, "step": self.step, "outcome": manifest.get("outcome"),
            "apply": manifest.get("apply"), "target": manifest.get("target"),
            "subscription_id": manifest.get("subscription_id"),
            "started": manifest["started"], "ended": manifest["ended"],
            # the operator spelled as the intent lines and every view spell it (identity.label: user@host)
            "operator": operator_label(manifest.get("operator") or {}), "manifest_sha256": digest, **(run_line or {}),
        })
        return manifest

    def _with_change_record(self, html: str | None, records: list[dict[str, Any]], ended: dt.datetime,
                            journal: list[dict[str, Any]]) -> str | None:
        """The HTML opened by the run's change record (``changerecord``): the ledger as it stands now (this
        run's own line is written after the manifest, which hashes this HTML) and the signer's fingerprint.
        The page is scrubbed as a whole afterwards (the record shows plan rows, warnings and verify results,
        which hold no secret field)."""
        from vpnrunbook.evidence import record, signing

        if html is None:
            return None
        view = {**self.manifest, "run_id": self.run_id, "step": self.step, "started": iso(self.started),
                "ended": iso(ended), "duration_seconds": round((ended - self.started).total_seconds(), 3),
                "records": records}
        built = record.build(view, ledger_lines=record.run_lines(self.root, self.run_id, check=False),
                             head_before=ledger.head(self.root), signer=signing.load_signer().fingerprint,
                             journal_entries=journal)
        return record.insert_into(html, built)

    def _write_once(self, name: str, text: str) -> None:
        write_once(self.run_dir, name, text)


def write_once(folder: Path, name: str, text: str) -> Path:
    """Write ``folder/name`` atomically and only if it does not exist: a temporary file in the same folder,
    fsynced, then hard-linked to its name (FileExistsError if taken). Never leaves a partial file under ``name``."""
    final = folder / name
    tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        # a lone surrogate (a non-UTF-8 file name from argv, in any file of the run) is written as its escape
        with open(tmp, "x", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return final


def _change(record: dict[str, Any]) -> dict[str, Any]:
    """The manifest's view of one recorded result: what was planned, applied, before and after."""
    keys = ("name", "step", "applied", "changed", "plan", "before", "after", "warnings", "resources")
    return {k: record.get(k) for k in keys if k in record}


# ---- reading back ---------------------------------------------------------------------------------
def list_runs(root: Path) -> list[dict[str, Any]]:
    """The run lines of the ledger (the change journal's intent/outcome/reconcile lines left out)."""
    return [e for _, _, e in ledger.read(root) if e is not None and (e.get("kind") or "run") == "run"]


def verify(root: Path) -> list[ledger.Finding]:
    _, findings = ledger.verify(root)
    return findings


def load_manifest(root: Path, run_id: str) -> dict[str, Any]:
    return json.loads((root / run_id / MANIFEST_FILE).read_text(encoding="utf-8"))
