"""Execute one runbook notebook headless with papermill and leave its evidence, whatever happens.

Bounds: ``start_timeout`` (kernel start), ``cell_timeout`` (each cell, nbclient) and ``run_timeout`` (the whole
run: a watchdog kills the kernel). The kernel is always this environment's Python (``sys.executable -m
ipykernel_launcher``), whatever kernelspecs the user has installed elsewhere.

Outcome → exit code (``vpnrunbook.cli``): succeeded → EXIT_OK, refused (bad parameters or a pre-check refused the
change before any write; a plan-only run whose ``--apply`` would be refused) → EXIT_USAGE, failed → EXIT_FAILED,
timed_out → EXIT_TIMEOUT.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpnrunbook import plaindata
from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, EXIT_USAGE
from vpnrunbook.evidence import ledger, rundir, scrub
from vpnrunbook.evidence.journal import STAGING_DIR, for_run, lock_run, unlock_run
from vpnrunbook.runbook import INTERACTIVE_ENV, RUN_DIR_ENV, RUN_ID_ENV, warm
from vpnrunbook.runbook.params import SECRET_REF_RE, ParameterError

DEFAULT_START_TIMEOUT = 60.0
DEFAULT_CELL_TIMEOUT = 3600.0      # a VPN gateway takes up to 45 minutes on Azure
DEFAULT_RUN_TIMEOUT = 2 * 3600.0
EXIT_CODES = {"succeeded": EXIT_OK, "refused": EXIT_USAGE, "failed": EXIT_FAILED, "timed_out": EXIT_TIMEOUT}
# Exceptions raised inside the notebook that mean "refused before any change": bad input, not a failure.
REFUSAL_ERRORS = frozenset({"ParameterError", "PolicyValidationError", "PrecheckError", "SecretReferenceError",
                            "TargetConfigurationError", "EvidenceUnavailableError"})
OUTCOME_TAG = "vpnrunbook-outcome"


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    step: str
    outcome: str
    exit_code: int
    error: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome == "succeeded"


@dataclass
class Timeouts:
    start: float = DEFAULT_START_TIMEOUT
    cell: float = DEFAULT_CELL_TIMEOUT
    run: float = DEFAULT_RUN_TIMEOUT


def default_target(target: str | None) -> str:
    return target or os.environ.get("VPNRUNBOOK_TARGET") or "emulator"


def default_subscription(target: str) -> str:
    if target == "emulator":
        try:
            from vpnrunbook.azure.connect import EMULATOR_SUBSCRIPTION
        except ImportError:
            EMULATOR_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # noqa: N806 - contracts.md
        return os.environ.get("AZURE_SUBSCRIPTION_ID") or EMULATOR_SUBSCRIPTION
    return os.environ.get("AZURE_SUBSCRIPTION_ID", "")


# ---- kernel --------------------------------------------------------------------------------------
WARM_ENV = "VPNRUNBOOK_KERNEL_WARM"  # "0": start kernels without vpnrunbook.runbook.warm


def _kernel_manager_class(env: dict[str, str], holder: list[Any], ipc_prefix: Path,
                          cwd: Path | None = None, *,
                          reap_later: bool = False, on_launch: Callable[[], None] | None = None) -> type:
    """The kernel manager for one run. ``cwd``: the kernel's working folder (never the process's). ``reap_later``:
    shutting the kernel down sends SIGKILL and returns; the
    caller reaps it (:func:`_reap_kernels`) before it reads what the kernel wrote — jupyter_client would poll for
    the process's end every 0.1 s, which costs a read-only step about 0.1 s for nothing. ``on_launch``: called
    once the kernel process is started (the runner's own work then runs while the kernel starts up, instead of
    delaying its launch)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if env.get(WARM_ENV, "1") != "0":  # heavy imports in a background thread while papermill starts up
        argv.append(f"--IPKernelApp.exec_lines={warm.EXEC_LINE}")
    spec = KernelSpec(argv=argv,
                      display_name="Python 3 (vpnrunbook)", language="python", name="python3")

    class RunKernelManager(AsyncKernelManager):
        """This environment's Python, with the run's environment variables."""

        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            # Unix sockets in the run's private temp folder (not loopback TCP; no clash between parallel runs)
            self.transport = "ipc"
            self.ip = str(ipc_prefix)
            holder.append(self)

        @property
        def kernel_spec(self) -> KernelSpec:  # type: ignore[override]
            return spec

        async def _async_pre_start_kernel(self, **kw: Any) -> Any:
            kw["env"] = env
            if cwd is not None:  # the kernel's own working folder (never the process's: see _papermill)
                kw["cwd"] = str(cwd)
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            await super()._async_launch_kernel(kernel_cmd, **kw)
            if on_launch is not None:
                on_launch()

        async def _async_kill_kernel(self, restart: bool = False) -> None:
            if not reap_later or restart:
                await super()._async_kill_kernel(restart=restart)
            elif self.has_kernel and self.provisioner is not None:
                await self.provisioner.kill(restart=restart)  # SIGKILL to the kernel's process group

    return RunKernelManager


def _warm_env(step: str) -> dict[str, str]:
    """The step's warm-up modules for its kernel (``Step.warm``); nothing for a notebook that is not a step."""
    from vpnrunbook.runbook import steps

    try:
        return {warm.MODULES_ENV: ",".join(steps.get_step(step).warm)}
    except KeyError:
        return {}


def _kill_kernels(holder: Iterable[Any]) -> None:
    """SIGKILL the kernels this run started that are still running (never a reaped PID)."""
    for km in holder:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                proc.kill()


KERNEL_REAP_TIMEOUT = 5.0  # as jupyter_client waits for a killed kernel


def _reap_kernels(holder: Iterable[Any]) -> None:
    """Kill (if still running) and wait for the end of every kernel this run started: once this returns, no
    kernel of the run writes anything more."""
    _kill_kernels(holder)
    for km in holder:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is None:
            continue
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(KERNEL_REAP_TIMEOUT)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


# ---- notebook helpers ----------------------------------------------------------------------------
def _outcome_cell(nb: Any, text: str) -> None:
    import nbformat

    nb.cells = [c for c in nb.cells if OUTCOME_TAG not in c.get("metadata", {}).get("tags", [])]
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = [OUTCOME_TAG]
    nb.cells.insert(0, cell)


def _headline(run_id: str, step: str, outcome: str, apply: bool, target: str, who: str,
              error: dict[str, Any] | None) -> str:
    """The outcome cell's markdown; every value in it is escaped (``mdtext``): none is markup or HTML."""
    from vpnrunbook.runbook import mdtext

    t = mdtext.text
    text = (f"**vpnrunbook run {t(run_id)}** — step {t(step)} — outcome **{t(outcome)}** — "
            f"apply={apply} — target {t(target)} — operator {t(who)}")
    if error:
        text += "\n\n" + mdtext.code_block(f"{error.get('type')}: {error.get('message')}")
    return text


def _error_from_notebook(nb: Any) -> dict[str, Any] | None:
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return {"type": out.get("ename"), "message": out.get("evalue"), "cell": i,
                        "execution_count": cell.get("execution_count")}
    return None


def collect_secret_refs(parameters: Mapping[str, Any]) -> list[str]:
    refs: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, str) and SECRET_REF_RE.match(v):
            refs.append(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(dict(parameters))
    return refs


# ---- the run -------------------------------------------------------------------------------------
def execute(notebook: str | Path, *, step: str, parameters: Mapping[str, Any], apply: bool | None = False,
            target: str | None = None, evidence_dir: str | Path | None = None,
            timeouts: Timeouts | None = None, refusal: ParameterError | None = None,
            parameters_file: str | Path | None = None, secret_params: Iterable[str] = (),
            extra_secrets: Iterable[str] = (), cwd: str | Path | None = None,
            title: str = "", changes: str = "", progress: bool = False,
            allow_breaking: bool | None = None) -> RunResult:
    """Run ``notebook`` with ``parameters`` (+ ``apply``) and write its runs. Never raises for a failed run."""
    import nbformat

    timeouts = timeouts or Timeouts()
    target = default_target(target)
    root = rundir.evidence_root(evidence_dir)
    started = rundir.utcnow()
    params = dict(parameters)
    subjects = [str(params[k]) for k in ("connection_name", "peer_connection_name") if isinstance(params.get(k), str)]
    run_dir = rundir.new_run_dir(root, rundir.run_name(step, subjects), started)
    notebook = Path(notebook)
    if refusal is None:  # only plain data ever reaches a notebook (vpnrunbook.plaindata), whoever calls
        problems = [p for k, v in params.items() for p in plaindata.check(v, str(k))]
        problems += [plaindata.Problem(plaindata.safe_text(str(k), 40), None, "is not a parameter name",
                                       "a Python identifier", "InvalidName")
                     for k in params if type(k) is not str or not k.isidentifier()]
        if problems:
            refusal = ParameterError(problems, subject="parameters")
    if refusal is not None:  # a refused run records what was given, bounded and described, never run
        params = {plaindata.safe_text(str(k), 200): plaindata.recordable(v) for k, v in params.items()}
    elif apply is not None:  # None: a read-only notebook without an `apply` parameter
        params["apply"] = bool(apply)
    secret_refs = {k: rundir.describe_ref(v) for k, v in params.items()
                   if k in set(secret_params) and isinstance(v, str) and SECRET_REF_RE.match(v)}
    rec = rundir.RunEvidence(root=root, run_dir=run_dir, step=step, started=started,
                             since=ledger.head(root))  # its records are read back from here, not from line 1
    rec.manifest = {
        "title": title, "changes_what": changes,
        "notebook": {"source": str(notebook), "sha256": _sha_or_none(notebook)},
        "parameters_file": ({"path": str(parameters_file), "sha256": _sha_or_none(Path(parameters_file))}
                            if parameters_file else None),
        "parameters": params, "secret_references": secret_refs, "apply": bool(apply),
        # --allow-breaking: the operator accepted a change the device/peer rejects (None: the step cannot break one)
        "allow_breaking": allow_breaking,
        "operator": rundir.operator(), "target": target, "subscription_id": default_subscription(target),
        "versions": None,  # filled in when the run ends (versions_thread)
        "timeouts_seconds": {"start": timeouts.start, "cell": timeouts.cell, "run": timeouts.run},
    }
    # The kernel's records and papermill's notebook are not scrubbed yet: kept under the evidence root (0700, removed
    # when the run ends; a killed run's are reported by verify and removed by reconcile), never in /tmp. The
    # kernel's sockets need a short path: a private temp folder, holding nothing else.
    staging = root / STAGING_DIR / run_dir.name
    staging.mkdir(parents=True, mode=0o700)
    lock = lock_run(root, run_dir.name)
    sockets = Path(tempfile.mkdtemp(prefix="vpnrunbook-kernel-"))
    records_dir = staging / "records"
    out_nb_path = staging / "notebook.ipynb"
    in_nb_path = staging / "input.ipynb"
    # Until the run returns, assume the worst: an interruption (Ctrl-C, SIGTERM) still leaves runs.
    outcome, error = "failed", {"type": "Interrupted", "message": "the run was interrupted before it finished",
                                "cell": None}
    # The installed versions (importlib.metadata scans sys.path: ~10 ms) are looked up while the kernel starts. What
    # the lookup imports lazily is imported here first: two threads importing one package tree at once can meet a
    # partially initialized module.
    import email.parser  # noqa: F401
    import platform  # noqa: F401

    versions: dict[str, Any] = {}
    versions_thread = threading.Thread(target=lambda: versions.update(rundir.versions()), name="vpnrunbook-versions",
                                       daemon=True)
    timed_out = threading.Event()
    kernels: list[Any] = []  # the run's kernel managers (killed when the notebook ends, reaped below)
    try:
        if refusal is not None:
            outcome, error = "refused", {"type": type(refusal).__name__, "message": str(refusal), "cell": None,
                                         "problems": [{"field": p.field, "value": p.value, "message": p.message,
                                                       "allowed": p.allowed, "code": p.code}
                                                      for p in refusal.problems]}
        else:
            env = {**os.environ, RUN_DIR_ENV: str(records_dir), RUN_ID_ENV: run_dir.name, "VPNRUNBOOK_STEP": step,
                   INTERACTIVE_ENV: "1", "VPNRUNBOOK_TARGET": target,
                   "VPNRUNBOOK_EVIDENCE_DIR": str(root.resolve()), "JUPYTER_PLATFORM_DIRS": "1",
                   "PYDEVD_DISABLE_FILE_VALIDATION": "1", **_warm_env(step)}
            from vpnrunbook.runbook.inject import write_parameterized

            write_parameterized(notebook, params, in_nb_path)  # our cell, from plain data; papermill adds none
            outcome, error = _papermill(in_nb_path, out_nb_path, env, timeouts, timed_out,
                                        cwd=Path(cwd) if cwd else Path.cwd(), progress=progress, sockets=sockets,
                                        holder=kernels, on_launch=versions_thread.start)
    finally:
        ended = rundir.utcnow()
        nb = _load_output(out_nb_path, notebook)
        if isinstance(nb.metadata.get("papermill"), dict):
            nb.metadata["papermill"]["input_path"] = str(notebook)
        if outcome == "failed" and error is not None and error.get("type") in REFUSAL_ERRORS:
            outcome = "refused"
        if outcome == "failed" and error is None:
            error = _error_from_notebook(nb)
        if outcome == "succeeded" and not apply:
            outcome, error = _plan_only_refusal(records_dir, params, error)
        if versions_thread.is_alive():
            versions_thread.join()
        rec.manifest["versions"] = versions or rundir.versions()  # the thread did not run (no kernel started)
        rec.manifest["outcome"] = outcome
        rec.manifest["exit_code"] = EXIT_CODES[outcome]
        rec.manifest["error"] = error
        headline = _headline(run_dir.name, step, outcome, bool(apply), target,
                             str(rundir.operator_label(rec.manifest["operator"])), error)
        _outcome_cell(nb, headline)
        nb.metadata["vpnrunbook"] = {"run_id": run_dir.name, "step": step, "outcome": outcome}
        scrubber = scrub.Scrubber(scrub.secrets_from_refs(collect_secret_refs(params))
                                  | scrub.secrets_in_state_dir() | set(extra_secrets))
        # (a lone surrogate — a non-UTF-8 file name from argv, say — is written as its escape by rundir.write_once)
        nb_text = scrubber.text(nbformat.writes(nb))
        try:
            from vpnrunbook.evidence.export import notebook_to_html

            html: str | None = notebook_to_html(nbformat.reads(nb_text, as_version=4))
        except Exception as exc:  # noqa: BLE001 - the run's evidence matters more than its HTML
            html = None
            rec.manifest["html_error"] = f"{type(exc).__name__}: {exc}"
        # The notebook, its HTML and the scrubbing above ran while the killed kernel went away; what it wrote is
        # read only once it is gone
        _reap_kernels(kernels)
        records = _load_records(records_dir)
        try:
            rec.manifest["journal"] = for_run(root, run_dir.name, since=rec.since)  # this run's intent/outcome records
            manifest = rec.write(notebook_text=nb_text, html=html, records=records, scrubber=scrubber, ended=ended)
        except OSError as exc:  # disk full, file too big: the change records stand in the ledger; say so plainly
            manifest = {}
            note = (f"the run's evidence could not be completed ({type(exc).__name__}: {exc.strerror or exc}); its "
                    f"change records (intent/outcome) are in {root / 'ledger.jsonl'} — `vpnrunbook evidence verify` "
                    "reports the run, `vpnrunbook evidence reconcile` closes it once the cause is fixed")
            outcome = "failed" if outcome == "succeeded" else outcome
            error = ({"type": "EvidenceIncomplete", "message": note} if error is None
                     else {**error, "message": f"{error.get('message')}\nAlso: {note}"})
        finally:
            shutil.rmtree(sockets, ignore_errors=True)
            unlock_run(root, run_dir.name, lock)  # removes the staging folder
    message = None if error is None else f"{error.get('type')}: {error.get('message')}"
    return RunResult(run_dir.name, run_dir, step, outcome, EXIT_CODES[outcome], scrubber.text(message or "") or None,
                     manifest)


def _plan_only_refusal(records_dir: Path, params: Mapping[str, Any],
                       error: dict[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """A plan-only run exits as its ``--apply`` would be refused: "refused" (exit 2) when the plan says `--apply`
    would refuse it — a pre-check note, or a tunnel break with ``refuse_breaking`` (headless unless
    --allow-breaking) — as a pre-check refusal of a plan-only run already does. Nothing was written either way.
    The notebook ran every cell, so its records are complete before its kernel is reaped."""
    from vpnrunbook.runbook.terminal import would_be_refused

    reasons = would_be_refused(_load_records(records_dir), apply=False,
                               allow_breaking=not params.get("refuse_breaking", False))
    if not reasons:
        return "succeeded", error
    return "refused", {"type": "WouldBeRefused", "cell": None,
                       "message": "plan only, nothing written: `--apply` would refuse this change — "
                                  + "; ".join(reasons)}


def _sha_or_none(path: Path) -> str | None:
    from vpnrunbook.evidence.ledger import sha256_file

    try:
        return sha256_file(path)
    except OSError:
        return None


def _papermill(notebook: Path, output: Path, env: dict[str, str], timeouts: Timeouts,
               timed_out: threading.Event, *, cwd: Path, progress: bool = False,
               sockets: Path | None = None, holder: list[Any] | None = None,
               on_launch: Callable[[], None] | None = None) -> tuple[str, dict[str, Any] | None]:
    """Execute the already parameterized ``notebook`` (``runbook.inject``): papermill gets no parameters.

    The kernel is killed when the notebook ends but not waited for: the caller reaps ``holder``'s kernels
    (:func:`_reap_kernels`) before it reads what they wrote."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    from vpnrunbook.evidence import export
    from vpnrunbook.runbook.engine import ENGINE_NAME

    # The HTML exporter (nbconvert import, template compile: ~0.4 s in a fresh process) gets ready in a thread
    # while the kernel starts and works — started once the kernel process is launched, so it does not delay the
    # launch, and only after papermill, nbclient and jupyter_client are imported by this thread: importing that
    # circular package tree from two threads at once fails ("partially initialized").
    launched = False

    def _launched() -> None:
        nonlocal launched
        if launched:
            return
        launched = True
        threading.Thread(target=export.prepare, name="vpnrunbook-html", daemon=True).start()
        if on_launch is not None:
            on_launch()

    logging.getLogger("papermill").setLevel(logging.ERROR)
    holder = [] if holder is None else holder

    def _watchdog() -> None:
        timed_out.set()
        _kill_kernels(holder)

    timer = threading.Timer(timeouts.run, _watchdog)
    timer.daemon = True
    timer.start()
    try:
        pm.execute_notebook(str(notebook), str(output), parameters=None, progress_bar=progress,
                            # no `cwd=`: papermill would os.chdir the whole process, and parallel runs (the demo,
                            # a scheduler) would see each other's folder; the kernel alone starts in `cwd`
                            start_timeout=timeouts.start, execution_timeout=timeouts.cell, cwd=None,
                            kernel_name="python3", engine_name=ENGINE_NAME,
                            kernel_manager_class=_kernel_manager_class(env, holder,
                                                                       (sockets or output.parent) / "kernel", cwd,
                                                                       reap_later=True, on_launch=_launched),
                            shutdown_kernel="immediate")
        return "succeeded", None
    except PapermillExecutionError as exc:
        if timed_out.is_set():
            return "timed_out", {"type": "RunTimeout", "message": f"the run exceeded {timeouts.run:g} s", "cell": None}
        return "failed", {"type": exc.ename, "message": exc.evalue, "cell": exc.cell_index,
                          "execution_count": exc.exec_count}
    except CellTimeoutError as exc:
        return "timed_out", {"type": "CellTimeout", "message": f"a cell exceeded {timeouts.cell:g} s "
                             f"({str(exc).splitlines()[0] if str(exc) else 'timed out'})", "cell": None}
    except DeadKernelError as exc:
        if timed_out.is_set():
            return "timed_out", {"type": "RunTimeout", "message": f"the run exceeded {timeouts.run:g} s", "cell": None}
        return "failed", {"type": "DeadKernelError", "cell": None,
                          "message": f"the notebook's kernel died during the run ({exc}); what it had written stays "
                                     "written and is in the runs. The step can simply be run again with the same "
                                     "parameters: it plans from the current state and writes only what still differs "
                                     "(ETag-guarded; a gateway being created is attached to, not created twice)"}
    except RuntimeError as exc:
        if timed_out.is_set():  # the watchdog killed the kernel while it started ("Kernel died before replying")
            return "timed_out", {"type": "RunTimeout", "message": f"the run exceeded {timeouts.run:g} s (the kernel "
                                 "was still starting)", "cell": None}
        if "didn't respond" in str(exc) or "timed out" in str(exc).lower():
            return "timed_out", {"type": "KernelStartTimeout",
                                 "message": f"the kernel did not start within {timeouts.start:g} s", "cell": None}
        return "failed", {"type": type(exc).__name__, "message": str(exc), "cell": None}
    except TimeoutError as exc:  # a kernel that never became ready (start_timeout)
        if timed_out.is_set():
            return "timed_out", {"type": "RunTimeout", "message": f"the run exceeded {timeouts.run:g} s", "cell": None}
        return "timed_out", {"type": "KernelStartTimeout", "cell": None,
                             "message": f"the kernel did not start within {timeouts.start:g} s ({exc})"}
    except Exception as exc:  # noqa: BLE001 - any failure must still leave evidence
        if timed_out.is_set():
            return "timed_out", {"type": "RunTimeout", "message": f"the run exceeded {timeouts.run:g} s", "cell": None}
        return "failed", {"type": type(exc).__name__, "message": str(exc), "cell": None}
    finally:
        timer.cancel()
        _kill_kernels(holder)


def _load_output(path: Path, source: Path) -> Any:
    import nbformat

    for candidate in (path, source):
        try:
            return nbformat.read(str(candidate), as_version=4)
        except (OSError, ValueError):
            continue
    return nbformat.v4.new_notebook()


def _load_records(folder: Path) -> list[dict[str, Any]]:
    out = []
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except ValueError as exc:
                data = {"name": f.stem, "unreadable": str(exc)}
            out.append(data if isinstance(data, dict) else {"name": f.stem, "value": data})
    return out


# ---- steps (validated parameters) -----------------------------------------------------------------
def run_step(step: str, *, params_file: str | Path | None = None, parameters: Mapping[str, Any] | None = None,
             apply: bool = False, target: str | None = None, evidence_dir: str | Path | None = None,
             timeouts: Timeouts | None = None, cwd: str | Path | None = None,
             extra_secrets: Iterable[str] = (), progress: bool = False, allow_breaking: bool = False) -> RunResult:
    """Validate the parameters for ``step`` (file, then overrides), then execute its notebook.

    Headless, a change the device or the peer would reject (``plan.breaks_tunnel``) is refused before any write
    (``refuse_breaking`` is set for the steps that have it) unless ``allow_breaking`` — recorded in the manifest."""
    from vpnrunbook.gate import request_problems
    from vpnrunbook.runbook import params as P
    from vpnrunbook.runbook.steps import get_step

    spec = get_step(step)
    data: dict[str, Any] = {}
    refusal: ParameterError | None = None
    # the gate's checks (strict booleans, finite positive timeouts, a known target), whoever calls: a refusal
    gate_problems = request_problems(apply=apply, allow_breaking=allow_breaking, target=target, timeouts=timeouts,
                                     parameters=parameters)
    if not isinstance(parameters, Mapping | None):
        parameters = {}
    try:
        if gate_problems:
            raise ParameterError(gate_problems, subject=f"parameters of {spec.name}")
        if params_file is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):  # load_file below reports these
                data.update(P.parse_yaml(Path(params_file).read_text(encoding="utf-8"), source=str(params_file)))
            data = {**P.load_file(spec.name, params_file)}
        overrides = dict(parameters or {})
        problems = P.check_mapping(spec.name, {**data, **overrides}, runner_owned_ok=False)
        data.update(overrides)
        if problems:
            raise ParameterError(problems, subject=f"parameters of {spec.name}")
        values = {p.name: copy.deepcopy(data.get(p.name, p.default)) for p in spec.params if p.name != "apply"}
        if "refuse_breaking" in values:  # headless: the safe default; only --allow-breaking lets a break through
            values["refuse_breaking"] = bool(values["refuse_breaking"]) or not allow_breaking
    except ParameterError as exc:
        refusal = exc
        data.update(parameters or {})
        values = {k: _redacted_if_secret(spec, k, v) for k, v in data.items()}
    has_apply = any(p.name == "apply" for p in spec.params)
    if gate_problems:  # what a refused run records: never a bad value read as true, nor a NaN timeout
        from vpnrunbook.gate import TARGETS, _safe_timeouts

        apply, allow_breaking = apply is True, allow_breaking is True
        target = target if target in TARGETS else None
        timeouts = _safe_timeouts(timeouts)
    return execute(spec.path, step=spec.name, parameters=values, apply=apply if has_apply else None, target=target,
                   evidence_dir=evidence_dir, timeouts=timeouts, refusal=refusal, parameters_file=params_file,
                   secret_params=[p.name for p in spec.params if p.secret], extra_secrets=extra_secrets, cwd=cwd,
                   title=spec.title, changes=spec.changes, progress=progress,
                   allow_breaking=allow_breaking if any(p.name == "refuse_breaking" for p in spec.params) else None)


def _redacted_if_secret(spec: Any, name: str, value: Any) -> Any:
    """A refused run still records what was given — except a secret parameter that is not a reference."""
    secret = any(p.name == name and p.secret for p in spec.params) or _looks_secret(name)
    if secret and not (isinstance(value, str) and SECRET_REF_RE.match(value)):
        return "<redacted: not a secret reference>"
    return value


def _looks_secret(name: str) -> bool:
    from vpnrunbook.runbook.params import _looks_secret as looks

    return looks(name)


def elapsed(since: dt.datetime) -> float:
    return (rundir.utcnow() - since).total_seconds()
