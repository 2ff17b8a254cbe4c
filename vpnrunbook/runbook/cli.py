"""``vpnrunbook run``, ``vpnrunbook evidence list|verify|show|key|head``, ``vpnrunbook notebooks strip|check`` and ``vpnrunbook demo``."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any

from vpnrunbook.cli import EXIT_EVIDENCE, EXIT_FAILED, EXIT_OK, EXIT_USAGE

RUN_EPILOG = """exit codes:
  0    succeeded (a plan-only run too — even one whose apply would be refused: it changed nothing, and
       prints those reasons under "WOULD BE REFUSED")
  1    failed: a cell raised or Azure refused during the run — also a resource changed by someone else after
       the plan (ConcurrentChangeError: nothing overwritten; run the step again to plan from the current state)
  2    refused before any change, nothing written: bad parameters, a pre-check, or a change that would break
       the tunnel to the device / VNet-to-VNet peer without --allow-breaking
  3    timed out: the kernel did not start, or a cell or the whole run exceeded its bound
  4    (vpnrunbook evidence verify) the evidence was tampered with (or is incomplete: a run cut off). A run still
       in progress is not a problem: verify says so ("in progress: not checked") and exits 0 when everything
       complete verifies
  130  interrupted (Ctrl-C or SIGTERM); the run's evidence is still written, marked failed
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
                                              "has its outcome (exit 4 on tampering or an incomplete change)")
    _evidence_arg(e_verify)
    e_verify.add_argument("--head", metavar="SEQ:SHA256", action="append", default=[],
                          help="a ledger head kept from an earlier run (printed by `vpnrunbook run`); the ledger must "
                               "still hold that line, unchanged — catches removed newest runs. Repeatable")
    e_verify.add_argument("--key", metavar="PUBKEY", action="append", default=[],
                          help="the public key file (`vpnrunbook evidence key` prints it) or its fingerprint "
                               "SHA256:<64 hex>: every line must be signed by it, an empty or absent ledger fails, "
                               "and the last head this key signed here must still be in the ledger. Repeatable: a "
                               "keyring taken as a whole (every line signed by one of the keys)")
    e_verify.add_argument("--target", choices=("emulator", "azure"),
                          help="every signed record must name this target (azure: emulator runs are refused)")
    e_verify.add_argument("--subscription", metavar="ID", help="every signed record must name this subscription")
    e_verify.set_defaults(handler=cmd_evidence_verify)
    e_rec = esub.add_parser("reconcile", help="for every change left without an outcome (a run killed, a full disk), "
                                              "read the resources and append what actually happened; close cut-off "
                                              "run folders (never rewrites the ledger)")
    _evidence_arg(e_rec)
    e_rec.set_defaults(handler=cmd_evidence_reconcile)
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


def _timeouts(args: argparse.Namespace):
    from vpnrunbook.runbook.runner import Timeouts

    for name in ("start_timeout", "cell_timeout", "timeout"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name.replace('_', '-')} must be a positive number of seconds, not {getattr(args, name)}")
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
        return EXIT_USAGE
    if args.describe:
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
    if not args.quiet:
        print(f"running {step.name} ({'read-only' if step.read_only else 'apply' if args.apply else 'plan only'}"
              f"{', breaking changes allowed' if args.allow_breaking else ''}) ...", file=sys.stderr)
    _interrupt_on_sigterm()
    result = _run_with_progress(step.name, args, overrides)
    if not args.quiet:
        from vpnrunbook.runbook.terminal import report_lines

        for line in report_lines(result.manifest, allow_breaking=args.allow_breaking):
            print(line)
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


def _run_with_progress(step: str, args: argparse.Namespace, overrides: dict[str, Any]) -> Any:
    """The run, with the progress lines of long operations (gateway creation: percentage, about … left) relayed
    to stderr while it goes on (not with --quiet)."""
    import tempfile

    from vpnrunbook.runbook.runner import run_step
    from vpnrunbook.runbook.terminal import PROGRESS_FILE_ENV, ProgressRelay

    def run() -> Any:
        return run_step(step, params_file=args.parameters, parameters=overrides, apply=args.apply,
                        target=args.target, evidence_dir=args.evidence_dir, timeouts=_timeouts(args),
                        progress=sys.stderr.isatty(), allow_breaking=args.allow_breaking)

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
    result = check(root, key=key, target=args.target, subscription=args.subscription)  # (signatures: signing.py)
    entries, findings = result.entries, result.findings
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
    from vpnrunbook.evidence.journal import INTENT, kind_of
    from vpnrunbook.evidence.ledger import read

    n_changes = sum(1 for _, _, e in read(root) if e is not None and kind_of(e) == INTENT)
    busy = sum(1 for n in result.notices if "in progress" in n.problem)
    later = f"; {busy} run(s) in progress, not checked yet (verify again when they end)" if busy else ""
    print(f"evidence under {root}: {len(entries)} run(s) and {n_changes} change(s), none incomplete (each has its "
          f"outcome or reconcile record); ledger chain and all file hashes verified{kept}{later}")
    return EXIT_OK



def cmd_evidence_reconcile(args: argparse.Namespace) -> int:
    from vpnrunbook.evidence.reconcile import reconcile
    from vpnrunbook.evidence.rundir import evidence_root
    from vpnrunbook.operations.arm import read_resource

    root = evidence_root(args.evidence_dir)
    report = reconcile(root, read=read_resource)
    for e in report.reconciled:
        states = ", ".join(f"{r.get('label') or r['resource_id']}: {r['state']}" for r in e["resources"])
        print(f"run {e['run_id']} step {e['step']}: {e['conclusion']} ({states}) — reconcile record, ledger line "
              f"{e['seq']}")
    for run_id in report.closed:
        print(f"run {run_id}: closed (manifest written, outcome interrupted)")
    for run_id in report.removed_staging:
        print(f"run {run_id}: left-over work files removed")
    for err in report.errors:
        print(f"vpnrunbook evidence reconcile: {err}", file=sys.stderr)
    if not (report.reconciled or report.closed or report.removed_staging or report.errors):
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

    print("\n".join(terminal_text(line) for line in record.to_text(built).splitlines()))
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
    if root.is_dir() and not (root / "ledger.jsonl").is_file() and any(root.iterdir()):
        print(f"vpnrunbook evidence discard: {root} holds no ledger.jsonl, so it is not an evidence folder; nothing "
              "deleted", file=sys.stderr)
        return EXIT_USAGE
    anchor = anchor_file(key_paths()[0].parent, root)
    shutil.rmtree(root, ignore_errors=True)
    anchor.unlink(missing_ok=True)
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
    _interrupt_on_sigterm()
    return run_demo(evidence_dir=args.evidence_dir, seed_dir=args.seed_dir, timeouts=_timeouts(args))
