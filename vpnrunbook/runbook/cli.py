"""``vpnrunbook run``, ``vpnrunbook evidence list|verify|show|key|head``, ``vpnrunbook notebooks strip|check`` and ``vpnrunbook demo``."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_FAILED, EXIT_OK, EXIT_USAGE

EXIT_UNANCHORED = 5  # (vpnrunbook.gate) verify --key could not check the key's anchor

RUN_EPILOG = """exit codes:
  0    succeeded (a plan-only run: the plan is one `--apply` would make)
  1    failed: a cell raised or Azure refused during the run — also a resource changed by someone else after
       the plan (ConcurrentChangeError: nothing overwritten; run the step again to plan from the current state)
  2    refused before any change, nothing written: bad parameters, a pre-check, or a change that would break
       the tunnel to the device / VNet-to-VNet peer without --allow-breaking. A plan-only run exits 2 too when
       `--apply` would be refused, whichever the reason (it prints them under "WOULD BE REFUSED")
  3    timed out: the kernel did not start, or a cell or the whole run exceeded its bound
  4    (vpnrunbook evidence verify) the evidence was tampered with (or is incomplete: a run cut off). A run still
       in progress is not a problem: verify says so ("in progress: not checked") and exits 0 when everything
       complete verifies
  130  interrupted (Ctrl-C or SIGTERM); the run's evidence is still written, marked failed
  141  the reader of the output went away (`vpnrunbook ... | head`): output stopped, no traceback (any command)
"""


VERIFY_EPILOG = """exit codes:
  0    verified (see docs/security.md, "What it guarantees", for what that proves without --key)
  2    bad arguments (--head, --key not readable)
  4    tampering or an incomplete change found (each problem is listed)
  5    (--key) every signature verifies, but the key's anchor could not be checked (a fingerprint or a copy of
       the public key was given): pass --accept-unanchored to accept that, or the signer's own key file
"""


def register(sub: argparse._SubParsersAction) -> None:
    from vpnrunbook.runbook.steps import STEPS

    run = sub.add_parser("run", help="execute a runbook notebook headless (papermill) and record evidence",
                         description="Execute one step's notebook headless and record its evidence. Steps: "
                                     + ", ".join(STEPS) + ". It prints the plan (field: current → desired), every "
                                     "warning, the outcome and the verify status (--quiet: only the outcome, "
                                     "evidence folder and ledger head).",
                         epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("step", metavar="STEP", help="step name, number or short name (04_connect, 04, connect)")
    run.add_argument("-p", "--parameters", metavar="FILE.yaml", help="YAML parameter file")
    run.add_argument("-P", "--set", metavar="NAME=VALUE", action="append", default=[], dest="overrides",
                     help="one parameter (the value read as YAML: 45, true, null, [a, b]); overrides the file; "
                          "repeatable")
    run.add_argument("--apply", action="store_true", help="make the change (default: only show the plan)")
    run.add_argument("--allow-breaking", action="store_true",
                     help="with --apply: make a change the on-premises device or the VNet-to-VNet peer would reject "
                          "(the tunnel goes down until the other end is changed too); without it such a change is "
                          "refused (exit 2, nothing written). Recorded in the evidence (manifest allow_breaking)")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="for schedulers: print only the outcome, the evidence folder and the ledger head (errors "
                          "still go to stderr)")
    run.add_argument("--target", choices=("emulator", "azure"), help="default: $VPNRUNBOOK_TARGET or emulator")
    run.add_argument("--describe", action="store_true", help="print the step's parameters (type, default, help) and exit")
    run.add_argument("--job", metavar="FILE.json",
                     help="a scheduler's job (JSON object: apply, allow_breaking, parameters, timeout_seconds, "
                          "start_timeout_seconds, cell_timeout_seconds), checked by the entry gate "
                          "(vpnrunbook.gate): a boolean must be a boolean, a timeout a finite number; evidence_dir "
                          "is refused (the evidence root is the project's). Bad values: exit 2 and a refused run")
    run.add_argument("--job-task", metavar="TASK", help=argparse.SUPPRESS)   # the DAG: parameters per task
    run.add_argument("--job-label", metavar="LABEL", default="job", help=argparse.SUPPRESS)  # e.g. dag_run.conf
    run.add_argument("--result", metavar="FILE.json",
                     help="write the run's result (step, outcome, exit_code, run_id, evidence, ledger_head, error, "
                          "retry) as JSON to FILE: what schedulers read instead of parsing the output")
    _evidence_arg(run)
    _timeout_args(run)
    run.set_defaults(handler=cmd_run)

    ev = sub.add_parser("evidence", help="list or verify recorded runs")
    esub = ev.add_subparsers(dest="evidence_command", metavar="ACTION")
    e_list = esub.add_parser("list", help="one line per recorded run, newest first: when, who, connection, from → "
                                          "to, verify, weakened/broke (from the ledger); also writes "
                                          "<evidence>/index.html")
    _evidence_arg(e_list)
    e_list.add_argument("--wide", action="store_true", help="do not cut long cells (the change, the verify result)")
    e_list.set_defaults(handler=cmd_evidence_list)
    e_verify = esub.add_parser("verify", help="check the ledger chain, manifests and file hashes, and that every change "
                                              "has its outcome (exit 4 on tampering or an incomplete change)",
                               epilog=VERIFY_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _evidence_arg(e_verify)
    e_verify.add_argument("--head", metavar="SEQ:SHA256", action="append", default=[],
                          help="a ledger head kept from an earlier run (printed by `vpnrunbook run`); the ledger must "
                               "still hold that line, unchanged — catches removed newest runs. Repeatable")
    e_verify.add_argument("--key", metavar="PUBKEY", action="append", default=[],
                          help="the public key file (`vpnrunbook evidence key` prints it) or its fingerprint "
                               "SHA256:<64 hex>: every line must be signed by it, an empty or absent ledger fails, "
                               "and the last head this key signed here must still be in the ledger. Repeatable: a "
                               "keyring taken as a whole (every line signed by one of the keys)")
    e_verify.add_argument("--accept-unanchored", action="store_true",
                          help="with --key: accept a check without the key's anchor (the head it last signed "
                               "here, kept beside the private key) — a fingerprint or a copy of the public key "
                               "cannot show that the newest signed lines are still there; without this flag such "
                               "a check exits 5")
    e_verify.add_argument("--target", choices=("emulator", "azure"),
                          help="every signed record must name this target (azure: emulator runs are refused)")
    e_verify.add_argument("--subscription", metavar="ID", help="every signed record must name this subscription")
    e_verify.add_argument("--since-checkpoint", action="store_true",
                          help="read only the lines after the newest signed checkpoint (written by each clean verify, "
                               "signed by this host's key or --key's) — it must still be in the ledger and be the last "
                               "the key signed; without one, the full verify")
    e_verify.set_defaults(handler=cmd_evidence_verify)
    e_rec = esub.add_parser("reconcile", help="for every change left without an outcome (a run killed, a full disk), "
                                              "read the resources and append what actually happened; close cut-off "
                                              "run folders (never rewrites the ledger)")
    _evidence_arg(e_rec)
    e_rec.set_defaults(handler=cmd_evidence_reconcile)
    from vpnrunbook.runbook import crosscheck_cli

    crosscheck_cli.add_parser(esub, _evidence_arg)
    e_head = esub.add_parser("head", help="print the ledger head (SEQ:SHA256 of the last line) to keep elsewhere")
    _evidence_arg(e_head)
    e_head.set_defaults(handler=cmd_evidence_head)
    e_show = esub.add_parser("show", help="print a run's change record (who, when, target, outcome, plan, "
                                          "warnings, verify, ledger line, signer)")
    _evidence_arg(e_show)
    e_show.add_argument("run", metavar="RUN", help="run id (a unique part of it is enough, e.g. 05_update)")
    e_show.set_defaults(handler=cmd_evidence_show)
    e_discard = esub.add_parser("discard", help="delete an evidence folder deliberately (the demo's, `make "
                                                "clean-state`) and forget the head this host's key last signed there, "
                                                "so the next run does not record the deletion as a lost history")
    _evidence_arg(e_discard)
    e_discard.add_argument("--yes", action="store_true", help="required: the folder and its ledger are deleted")
    e_discard.set_defaults(handler=cmd_evidence_discard)
    e_key = esub.add_parser("key", help="print the signing key's public key path and fingerprint (created on "
                                        "first use)")
    e_key.set_defaults(handler=cmd_evidence_key)
    ev.set_defaults(handler=lambda a: (ev.print_help(), EXIT_USAGE)[1])

    nb = sub.add_parser("notebooks", help="strip outputs from the runbook notebooks, or check they are stripped")
    nsub = nb.add_subparsers(dest="notebooks_command", metavar="ACTION")
    n_strip = nsub.add_parser("strip", help="remove outputs and execution counts in place")
    n_strip.add_argument("files", nargs="*", metavar="NOTEBOOK", help="default: notebooks/*.ipynb")
    n_strip.set_defaults(handler=cmd_notebooks_strip)
    n_check = nsub.add_parser("check", help="exit 1 if any notebook holds outputs")
    n_check.add_argument("files", nargs="*", metavar="NOTEBOOK", help="default: notebooks/*.ipynb")
    n_check.set_defaults(handler=cmd_notebooks_check)
    nb.set_defaults(handler=lambda a: (nb.print_help(), EXIT_USAGE)[1])

    demo = sub.add_parser("demo", help="run the seed workflow headless against the emulator (the two gateways "
                                       "in parallel), then print a summary and the evidence path")
    _evidence_arg(demo)
    demo.add_argument("--seed-dir", default=None, help="folder of the seed parameter files (default: parameters/seed)")
    demo.add_argument("--graph", action="store_true",
                      help="print the seed workflow's dependency graph as JSON (step, params, needs, resource_groups) "
                           "and exit; schedulers build their task graph from it (integrations/airflow)")
    demo.add_argument("--groups-exist", nargs="+", metavar="NAME",
                      help="exit 0 when every named resource group exists in the target ($VPNRUNBOOK_TARGET, the "
                           "emulator by default), 1 naming the missing ones: what a scheduler's sensor asks where "
                           "the demo waits for a resource group (integrations/airflow)")
    demo.add_argument("--wait", type=float, default=0.0, metavar="S",
                      help="with --groups-exist: look again every 0.25 s for up to S seconds (default 0: once)")
    _timeout_args(demo)
    demo.set_defaults(handler=cmd_demo)


def _evidence_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--evidence-dir", metavar="DIR", help="evidence root (default: $VPNRUNBOOK_EVIDENCE_DIR or ./evidence)")


def _timeout_args(p: argparse.ArgumentParser) -> None:
    from vpnrunbook.runbook.runner import DEFAULT_CELL_TIMEOUT, DEFAULT_RUN_TIMEOUT, DEFAULT_START_TIMEOUT

    p.add_argument("--start-timeout", type=float, default=DEFAULT_START_TIMEOUT, metavar="S",
                   help=f"kernel start bound (default {DEFAULT_START_TIMEOUT:g} s)")
    p.add_argument("--cell-timeout", type=float, default=DEFAULT_CELL_TIMEOUT, metavar="S",
                   help=f"bound on each cell (default {DEFAULT_CELL_TIMEOUT:g} s)")
    p.add_argument("--timeout", type=float, default=DEFAULT_RUN_TIMEOUT, metavar="S",
                   help=f"bound on the whole run (default {DEFAULT_RUN_TIMEOUT:g} s)")


def _timeouts(args: argparse.Namespace, *, checked: bool = True):
    """The timeouts given; ``checked``: refused here (SystemExit 2) when not finite and positive (the gate's rule).
    ``vpnrunbook run`` leaves the check to the gate, which refuses with a refused evidence folder."""
    from vpnrunbook.gate import timeout_problem
    from vpnrunbook.runbook.runner import Timeouts

    if checked:
        for name in ("start_timeout", "cell_timeout", "timeout"):
            problem = timeout_problem(f"--{name.replace('_', '-')}", getattr(args, name))
            if problem:
                print(f"vpnrunbook: {problem}", file=sys.stderr)
                raise SystemExit(EXIT_USAGE)
    return Timeouts(start=args.start_timeout, cell=args.cell_timeout, run=args.timeout)


def _interrupt_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so the run in progress still writes its evidence (marked failed)."""
    import signal
    import threading

    def _raise(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise)


def cmd_run(args: argparse.Namespace) -> int:
    from vpnrunbook.runbook.steps import get_step

    try:
        step = get_step(args.step)
    except KeyError as exc:
        print(f"vpnrunbook run: {exc.args[0]}", file=sys.stderr)
        if args.describe:
            return EXIT_USAGE
        step = None   # the gate refuses it: exit 2 and a refused evidence folder, as for any refusal
    if args.describe and step is not None:
        print(f"{step.name}: {step.title}\nnotebook: {step.path}\nchanges: {step.changes or 'nothing (read-only)'}\n")
        for p in step.params:
            note = " (set with --apply)" if p.name == "apply" else ""
            print(f"  {p.name}: {p.type} = {p.default!r}{note}\n      {p.help}")
        return EXIT_OK
    try:
        overrides = _overrides(args.overrides)
    except ValueError as exc:
        print(f"vpnrunbook run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from vpnrunbook.evidence.rundir import evidence_root

    root = evidence_root(args.evidence_dir)
    try:  # before anything runs: a run whose evidence cannot be written must not start
        root.mkdir(parents=True, exist_ok=True)
        usable = os.access(root, os.W_OK | os.X_OK)
        reason = "not writable"
    except OSError as exc:
        usable, reason = False, exc.strerror or str(exc)
    if not usable:
        print(f"vpnrunbook run: evidence folder {root} cannot be used ({reason}); allowed: a writable folder "
              "(--evidence-dir or VPNRUNBOOK_EVIDENCE_DIR)", file=sys.stderr)
        return EXIT_USAGE
    problem = _signing_ready(root)
    if problem:
        print(f"vpnrunbook run: {problem}", file=sys.stderr)
        return EXIT_USAGE
    from vpnrunbook import gate

    job = gate.Job()
    if args.job:
        job = _read_job(args)
    request = {"apply": job.apply if job.apply_given else args.apply,
               "allow_breaking": job.allow_breaking if job.allow_breaking_given else args.allow_breaking,
               "parameters": {**job.parameters, **overrides}, "timeouts": _timeouts(args, checked=False),
               "problems": job.problems}
    for part, value in job.timeouts.items():
        setattr(request["timeouts"], part, value)
    if not args.quiet and step is not None:
        print(f"running {step.name} ({'read-only' if step.read_only else 'apply' if request['apply'] else 'plan only'}"
              f"{', breaking changes allowed' if request['allow_breaking'] is True else ''}) ...", file=sys.stderr)
    from vpnrunbook.runbook.demo import seed_key_from_demo

    seed_key_from_demo()  # the seed files' env:VPNRUNBOOK_SEED_KEY after `vpnrunbook demo`, nothing exported
    _interrupt_on_sigterm()
    result = _run_with_progress(step.name if step is not None else args.step, args, request)
    if args.result:
        _write_result(Path(args.result), gate.result_dict(result, root))
    if not args.quiet:
        from vpnrunbook.render import terminal
        from vpnrunbook.runbook.terminal import report_lines

        for line in report_lines(result.manifest, allow_breaking=request["allow_breaking"] is True):
            print(terminal(line))   # names, tags and descriptions from Azure: one escaped line each
    print(f"{result.step}: {result.outcome} (exit {result.exit_code})")
    if result.error:
        print(result.error, file=sys.stderr)
    print(f"evidence: {result.run_dir}")
    from vpnrunbook.evidence import index
    from vpnrunbook.evidence.ledger import head

    index.refresh(root)  # the auditor's index.html (derived from the ledger; not evidence)

    print(f"ledger head: {head(root)}  (keep it, e.g. in the change ticket: `vpnrunbook evidence verify --head` "
          "proves later that no newer run was removed)")
    print(f"signed by: {_signer_line()}")
    return result.exit_code


def _signer_line() -> str:
    from vpnrunbook.evidence.signing import load_signer

    signer = load_signer()
    return f"{signer.fingerprint} (public key {signer.pub_path}; `vpnrunbook evidence verify --key {signer.pub_path}`)"


def _signing_ready(root: Path) -> str | None:
    """Why the ledger cannot be signed (None when it can): checked before a run starts."""
    from vpnrunbook.evidence.ledger import _refuse_key_inside
    from vpnrunbook.evidence.signing import SigningError, load_signer

    try:
        _refuse_key_inside(root, load_signer())
    except SigningError as exc:
        return str(exc)
    return None


CLI_LABELS = {"timeout": "--timeout", "cell_timeout": "--cell-timeout", "start_timeout": "--start-timeout",
              "target": "--target"}


def _read_job(args: argparse.Namespace) -> Any:
    """``--job FILE``: the scheduler's job, read and checked by the gate (its problems become a refusal)."""
    from vpnrunbook import gate
    from vpnrunbook.policy.rules import Problem

    label = args.job_label or "job"
    try:
        text = Path(args.job).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        job = gate.Job()
        job.problems.append(Problem("--job", args.job, f"cannot be read ({getattr(exc, 'strerror', None) or exc})",
                                    "a readable JSON file", "FileNotReadable"))
        return job
    tasks: list[str] = []
    if args.job_task:
        from vpnrunbook.runbook.demo import task_ids

        tasks = task_ids()
    return gate.read_job(text, label=label, task=args.job_task, tasks=tasks,
                         scheduler_keys=gate.SCHEDULER_KEYS if args.job_task else ())


def _write_result(path: Path, result: dict[str, Any]) -> None:
    import json

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _run_with_progress(step: str, args: argparse.Namespace, request: dict[str, Any]) -> Any:
    """The run (through the entry gate), with the progress lines of long operations (gateway creation:
    percentage, about … left) relayed to stderr while it goes on (not with --quiet)."""
    import tempfile

    from vpnrunbook import gate
    from vpnrunbook.runbook.terminal import PROGRESS_FILE_ENV, ProgressRelay

    def run() -> Any:
        return gate.start(step, params_file=args.parameters, target=args.target, evidence_dir=args.evidence_dir,
                          progress=sys.stderr.isatty(), labels=CLI_LABELS, **request)

    if args.quiet:
        return run()
    with tempfile.TemporaryDirectory(prefix="vpnrunbook-progress-") as tmp:
        path = Path(tmp) / "progress.txt"
        previous = os.environ.get(PROGRESS_FILE_ENV)
        os.environ[PROGRESS_FILE_ENV] = str(path)  # the kernel inherits it (runner: env = os.environ + ...)
        try:
            with ProgressRelay(path, lambda line: print(f"  {line}", file=sys.stderr, flush=True)):
                return run()
        finally:
            if previous is None:
                os.environ.pop(PROGRESS_FILE_ENV, None)
            else:
                os.environ[PROGRESS_FILE_ENV] = previous


def _overrides(items: list[str]) -> dict[str, Any]:
    """``-P NAME=VALUE`` options → parameters; each value is read as YAML by the bounded plain-data loader.

    A value that is not valid YAML becomes a marker the parameter check refuses by name (exit 2, a refused
    evidence folder), like any other bad value; only an option without ``=`` is a usage error (ValueError)."""
    import yaml

    from vpnrunbook import plaindata

    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            # the text is not echoed unless it is a bare name: it could be a key typed by mistake
            shown = f" {item!r}" if re.fullmatch(r"[A-Za-z_]\w*", item) else ""
            raise ValueError(f"-P{shown}: allowed is NAME=VALUE, e.g. -P connection_name=VNet1toSite6")
        try:
            out[name.strip()] = plaindata.load_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            _, reason = plaindata.yaml_error_text(exc)
            out[name.strip()] = plaindata.NotPlain(f"not valid YAML ({reason})")
    return out


def cmd_evidence_list(args: argparse.Namespace) -> int:
    """Per run, newest first: when, who, connection, from → to, verify, weakened/broke, outcome, run id — and
    the same as an offline page, <evidence>/index.html (rewritten now)."""
    from vpnrunbook.evidence import index
    from vpnrunbook.evidence.rundir import evidence_root

    root = evidence_root(args.evidence_dir)
    found = index.rows(root)
    if not found:
        print(f"no runs recorded under {root}")
        return EXIT_OK
    print(index.to_text(found, width=10_000 if args.wide else 60))
    try:
        page = index.write(root)
    except OSError as exc:
        print(f"(the index page could not be written: {exc.strerror or exc})", file=sys.stderr)
    else:
        print(f"\n{len(found)} run(s), newest first; the same as a page: {page}")
    return EXIT_OK


def cmd_evidence_verify(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence.ledger import check, check_head, parse_head
    from vpnrunbook.evidence.rundir import evidence_root
    from vpnrunbook.evidence.signing import load_public_key

    try:
        for kept in args.head:
            parse_head(kept)
        ring = [load_public_key(k) for k in args.key]
    except ValueError as exc:
        print(f"vpnrunbook evidence verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    root = evidence_root(args.evidence_dir)
    key = ring[0] if len(ring) == 1 else ring or None
    if getattr(args, "since_checkpoint", False):
        from vpnrunbook.evidence.checkpoint import check_since

        result = check_since(root, key=key, target=args.target, subscription=args.subscription,
                             checks=_checks(key, args.target, args.subscription))
    else:
        result = check(root, key=key, target=args.target, subscription=args.subscription)  # (signatures: signing.py)
    findings = result.findings
    for kept in args.head:
        findings += check_head(root, kept)
    from vpnrunbook.evidence.index import terminal_text

    for n in result.notices:  # runs in progress, identical Jupyter checkpoints (ledger.CHECKPOINT_RULE)
        print(f"note: {terminal_text(n)}")
    if findings:
        print(f"evidence under {root}: {len(findings)} problem(s) found", file=sys.stderr)
        for f in findings:
            print(f"  - {terminal_text(f)}", file=sys.stderr)  # (file names in a run folder are anyone's)
        print(f"valid signatures by: {_signers(result)}", file=sys.stderr)
        return EXIT_EVIDENCE
    print(_signature_summary(result, key, args.target))
    kept = f"; the kept head(s) {', '.join(args.head)} still in it" if args.head else ""
    since = (f" (lines after the signed checkpoint of line {result.since}; the full verify re-reads all)"
             if result.since is not None else "")
    busy = sum(1 for n in result.notices if "in progress" in n.problem)
    later = f"; {busy} run(s) in progress, not checked yet (verify again when they end)" if busy else ""
    print(f"evidence under {root}: {result.runs} run(s) and {result.changes} change(s), none incomplete (each has its "
          f"outcome or reconcile record); ledger chain and all file hashes verified{since}{kept}{later}")
    _quarantine_note(root)
    unanchored = [k for k in ring if not _anchored(k, root)]
    if unanchored:
        print(f"anchor check skipped: {'; '.join(_why_unanchored(k) for k in unanchored)} — the signatures "
              "verify, but nothing shows that the newest lines this key signed are still there (a ledger cut back "
              "to an older head would pass)", file=sys.stderr)
        if not args.accept_unanchored:
            print("vpnrunbook evidence verify: exit 5 (unanchored); pass --accept-unanchored to accept a check "
                  "without the anchor, or give the signer's own public key file (`vpnrunbook evidence key`)",
                  file=sys.stderr)
            return EXIT_UNANCHORED
    from vpnrunbook.evidence.checkpoint import record

    # a checkpoint records what this verify proved (signed by this host's key, when it has one)
    record(root, result, checks=_checks(key, args.target, args.subscription))
    return EXIT_OK


def _anchored(key: Any, root: Path) -> bool:
    from vpnrunbook.evidence import signing

    folder = signing.anchor_dir_for(key)
    return folder is not None and signing.read_anchor(signing.anchor_file(folder, root)) is not None


def _why_unanchored(key: Any) -> str:
    if key.path is None:
        return f"--key gave a fingerprint ({key.fingerprint[:23]}…), not the signer's key file"
    return (f"no anchor for this evidence folder beside {key.path} (a copy of the public key, or a key that never "
            "signed here)")


def _quarantine_note(root: Path) -> None:
    from vpnrunbook.evidence.reconcile import QUARANTINE_DIR

    folder = root / QUARANTINE_DIR
    items = sorted(folder.iterdir()) if folder.is_dir() else []
    if items:
        print(f"note: {len(items)} item(s) in {folder} were quarantined by `vpnrunbook evidence reconcile` (not "
              "written by this project; never signed, not evidence) — inspect, then delete them", file=sys.stderr)



def _checks(key: Any, target: str | None, subscription: str | None) -> dict[str, Any]:
    """The options a verify ran with: a checkpoint serves only a verify with the same ones."""
    ring = [] if key is None else [key] if not isinstance(key, list | tuple) else list(key)
    return {"key": ",".join(sorted(k.fingerprint for k in ring)) or None, "target": target,
            "subscription": subscription}


def cmd_evidence_reconcile(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence.index import terminal_text
    from vpnrunbook.evidence.reconcile import reconcile
    from vpnrunbook.evidence.rundir import evidence_root
    from vpnrunbook.operations.arm import read_resource
    from vpnrunbook.runbook.crosscheck_cli import activity_of

    root = evidence_root(args.evidence_dir)
    report = reconcile(root, read=read_resource, activity=activity_of)
    from vpnrunbook.render import terminal

    for e in report.reconciled:
        e = {k: terminal(v) if isinstance(v, str) else v for k, v in e.items()}
        states = ", ".join(f"{r.get('label') or r['resource_id']}: {r['state']}" for r in e["resources"])
        log = "; Activity Log: " + ", ".join(f"{rid.rsplit('/', 1)[-1]} {status}" for rid, status in
                                              e["activity_log"].items()) if "activity_log" in e else ""
        print(terminal_text(f"run {e['run_id']} step {e['step']}: {e['conclusion']} ({states}{log}) — reconcile "
                            f"record, ledger line {e['seq']}"))
    for run_id in report.closed:
        print(f"run {terminal(run_id)}: closed (manifest written, outcome interrupted)")
    for run_id in report.removed_staging:
        print(f"run {terminal(run_id)}: left-over work files removed")
    for line in report.quarantined:
        print(f"quarantined: {terminal(line)}")
    for err in report.errors:
        print(f"vpnrunbook evidence reconcile: {terminal(err)}", file=sys.stderr)
    if not (report.reconciled or report.closed or report.removed_staging or report.errors or report.quarantined):
        print(f"evidence under {root}: nothing to reconcile (every change has its outcome)")
    return EXIT_FAILED if report.errors else EXIT_OK


def cmd_evidence_head(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence.ledger import head
    from vpnrunbook.evidence.rundir import evidence_root

    current = head(evidence_root(args.evidence_dir))
    if current is None:
        print("vpnrunbook evidence head: the ledger is empty", file=sys.stderr)
        return EXIT_FAILED
    print(current)
    return EXIT_OK


def _signers(result: Any) -> str:
    from vpnrunbook.evidence.signing import local_public_key

    local = local_public_key()
    mine = "; this host's key"
    return ", ".join(f"{fp} ({n} line(s){mine if local and fp == local.fingerprint else ''})"
                     for fp, n in result.signers.items()) or "no key"


def _signature_summary(result: Any, key: Any, target: str | None) -> str:
    if isinstance(key, list):
        how = f"every line signed by one of the {len(key)} keys given ({', '.join(k.fingerprint for k in key)})"
    elif key is not None:
        how = f"every line signed by the key given ({key.fingerprint})"
        if result.anchor:
            how += f", the head it last signed here ({result.anchor.split(':')[0]}:…) still in the ledger"
    else:
        how = f"valid, signed by {_signers(result)} — pass --key to require a key"
    if getattr(result, "since", None) is not None:  # (only the lines after the checkpoint were read)
        how = (f"{how}; for the lines after the signed checkpoint of line {result.since}" if result.signers
               else f"no line since the signed checkpoint of line {result.since}")
    scope = f"; every record names target {target}" if target else ""
    return f"signatures: {how}{scope}"


def cmd_evidence_show(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence import record
    from vpnrunbook.evidence.rundir import evidence_root

    root = evidence_root(args.evidence_dir)
    try:
        built = record.for_run(root, args.run)
    except LookupError as exc:
        print(f"vpnrunbook evidence show: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from vpnrunbook.evidence.index import terminal_text  # control characters in evidence text shown escaped

    # to_text escapes every field (a newline, CR, U+2028 inside one is shown, never starts a line); split on the
    # layout's own line breaks only — str.splitlines() would also split on U+2028, U+0085, \x1c..\x1e
    print("\n".join(terminal_text(line) for line in record.to_text(built).split("\n")))
    return EXIT_OK


def cmd_evidence_discard(args: argparse.Namespace) -> int:
    """Deleting evidence by hand is what the signer's anchor catches (the next line records a ``ledger_gap``, and
    every later verify reports it); this is the declared way, for throw-away evidence such as the demo's."""
    import shutil

    from vpnrunbook.evidence.rundir import evidence_root
    from vpnrunbook.evidence.signing import anchor_file, key_paths

    root = evidence_root(args.evidence_dir)
    if not args.yes:
        print(f"vpnrunbook evidence discard: this deletes {root} and its ledger; allowed: add --yes", file=sys.stderr)
        return EXIT_USAGE
    if root.is_dir() and not (root / "ledger.jsonl").is_file() and not (root / "ledger.sealed").is_dir() \
            and any(root.iterdir()):
        print(f"vpnrunbook evidence discard: {root} holds no ledger.jsonl, so it is not an evidence folder; nothing "
              "deleted", file=sys.stderr)
        return EXIT_USAGE
    from vpnrunbook.evidence.checkpoint import forget

    anchor = anchor_file(key_paths()[0].parent, root)
    shutil.rmtree(root, ignore_errors=True)
    anchor.unlink(missing_ok=True)
    forget(key_paths()[0].parent, root)  # and the last checkpoint it signed there
    print(f"deleted {root}; forgot the head this host's key last signed there ({anchor})")
    return EXIT_OK


def cmd_evidence_key(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence.signing import SigningError, key_paths, load_signer

    existed = key_paths()[0].exists()
    try:
        signer = load_signer()
    except SigningError as exc:
        print(f"vpnrunbook evidence key: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"public key:  {signer.pub_path}")
    print(f"fingerprint: {signer.fingerprint}  (SHA-256 of the raw 32-byte Ed25519 public key, hex)")
    print(f"private key: {signer.key_path}  ({'existing' if existed else 'created now'}, mode 0600; keep it "
          "outside the evidence folder)")
    return EXIT_OK


def _notebook_files(files: list[str]) -> list[Path]:
    from vpnrunbook.runbook.steps import NOTEBOOK_DIR

    return [Path(f) for f in files] if files else sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def cmd_notebooks_strip(args: argparse.Namespace) -> int:
    from vpnrunbook.runbook.strip import strip_file

    for f in _notebook_files(args.files):
        changed = strip_file(f)
        print(f"{f}: {'stripped' if changed else 'already clean'}")
    return EXIT_OK


def cmd_notebooks_check(args: argparse.Namespace) -> int:
    from vpnrunbook.runbook.strip import dirty_cells

    bad = 0
    for f in _notebook_files(args.files):
        cells = dirty_cells(f)
        if cells:
            bad += 1
            print(f"{f}: outputs or execution counts in cells {cells}; run `vpnrunbook notebooks strip`")
    return 1 if bad else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from vpnrunbook.runbook.demo import graph_json, run_demo

    if args.graph:
        print(graph_json())
        return EXIT_OK
    if args.groups_exist:
        from vpnrunbook.runbook.demo import missing_groups

        if not 0 <= args.wait <= 3600:
            print(f"vpnrunbook demo: --wait {args.wait}: allowed is 0 .. 3600 seconds", file=sys.stderr)
            return EXIT_USAGE
        missing = missing_groups(args.groups_exist, wait=args.wait)
        if missing:
            print(f"resource group(s) not there (yet): {', '.join(missing)}")
            return EXIT_FAILED
        print(f"resource group(s) exist: {', '.join(args.groups_exist)}")
        return EXIT_OK
    _interrupt_on_sigterm()
    return run_demo(evidence_dir=args.evidence_dir, seed_dir=args.seed_dir, timeouts=_timeouts(args))
