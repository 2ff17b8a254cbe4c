"""Benchmark: the ledger as history grows — one append at 100,000 lines over one at 10 lines, and ``vpnrunbook
evidence verify`` of 100,000 lines, full and from the last signed checkpoint.

The history is a fleet team's: 1,000-connection rollouts, each an intent and an outcome per connection (shaped as
the apply path writes them: the PUT body, the planned changes, the after-state's ETag and verify result) and the
rollout's run line with its run folder (manifest.json, outcomes.csv). Every line is chained and signed with this
run's key, exactly as ``ledger.append`` writes it; the 100,000 lines are written in one go (100,000 fsyncs would
only measure the disk), then sealed as appends seal a ledger (``ledger.seal``: every line but the last into
gzip-compressed segments of 1 MiB, ``ledger.sealed/``), then every measured append goes through
``ledger.append`` (lock, tail, sign, fsync; the seal when the active file reaches 1 MiB).

Before: the same append as it was (the whole ledger read under the lock to find the head and the signer's
anchor), measured on the same two ledgers in the same run, before the big one is sealed (one file, as then).
Statement v2's before and after, in the same run: the bytes of an intent and an outcome line in format v1 (a
copy of the line in its statement) and v2, and the CPU per line of one in-process reading (``ledger.scan``) of
2,000 lines of each.

Prints, each on its own line, last::

    ratio ledger append at 100000 lines / at 10 lines: X
    verify 100000 lines: full X s, incremental Y s

Run: ``python -m benchmarks ledger_growth`` or ``python -m benchmarks.ledger_growth [lines]``.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import fresh_state, timed

SUB = "00000000-0000-0000-0000-000000000000"
PER_ROLLOUT = 1000  # connections per rollout: 2 lines each, then the run line
POLICY = {"dhGroup": "ECP384", "ikeEncryption": "GCMAES256", "ikeIntegrity": "SHA384", "ipsecEncryption": "GCMAES256",
          "ipsecIntegrity": "GCMAES256", "pfsGroup": "ECP384", "saDataSizeKilobytes": 102400000,
          "saLifeTimeSeconds": 27000}


def _ids(i: int) -> tuple[str, str]:
    rg = f"fleet-rg-{i % 100:03d}"
    name = f"gw-{i % 100:03d}-to-site-{i:06d}"
    return (f"/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Network/connections/{name}",
            f"{rg}/connections/{name}")


def intent(i: int, run_id: str) -> dict[str, Any]:
    rid, label = _ids(i)
    gateway = rid.replace("/connections/", "/virtualNetworkGateways/").rsplit("-to-site-", 1)[0]
    body = {"id": rid, "location": "eastus", "name": label.rsplit("/", 1)[1], "type": "Microsoft.Network/connections",
            "properties": {"connectionMode": "Default", "connectionProtocol": "IKEv2", "connectionType": "IPsec",
                           "dpdTimeoutSeconds": 45, "enableBgp": False, "expressRouteGatewayBypass": False,
                           "ipsecPolicies": [POLICY], "routingWeight": 0, "trafficSelectorPolicies": [],
                           "useLocalAzureIpAddress": False, "usePolicyBasedTrafficSelectors": False,
                           "localNetworkGateway2": {"id": rid.replace("/connections/", "/localNetworkGateways/"),
                                                    "properties": {}},
                           "virtualNetworkGateway1": {"id": gateway, "properties": {}}}}
    changes = [{"action": "update", "current": "(default proposals)", "desired": v,
                "field": f"ipsecPolicies[0].{k}", "resource": label} for k, v in POLICY.items()]
    return {"kind": "intent", "intent_id": uuid.uuid4().hex, "run_id": run_id, "step": f"update connection {label}",
            "time": "2026-12-06T22:55:25.107Z", "operator": {"host": "ops-1", "user": "alice"}, "target": "emulator",
            "subscription_id": SUB, "endpoint": "https://management.azure.com",
            "plan_created_at": "2026-12-06T22:55:24+00:00",
            "writes": [{"action": "update", "body": body, "changes": changes, "etag": f'W/"{uuid.uuid4()}"',
                        "kind": "connection", "label": label, "name": body["name"], "resource_group": label.split("/")[0],
                        "resource_id": rid, "shared_key": None}],
            "warnings": ["INFO ike_integrity=SHA384: with GCM IKE encryption the IKE integrity value acts as the PRF"],
            "tunnel_warnings": []}


def outcome(i: int, run_id: str, intent_id: str) -> dict[str, Any]:
    rid, label = _ids(i)
    return {"kind": "outcome", "intent_id": intent_id, "run_id": run_id, "step": f"update connection {label}",
            "time": "2026-12-06T22:55:25.345Z", "status": "applied", "target": "emulator", "subscription_id": SUB,
            "endpoint": "https://management.azure.com",
            "written": [{"resource_id": rid, "label": label, "etag": f'W/"{uuid.uuid4()}"',
                         "provisioning_state": "Succeeded"}],
            "verify": {label: {"status": "Connected", "reason": "no emulated device on the local network gateway "
                                                                "(no vpnrunbook-device-* tags): the status is Azure's own"}}}


def run_folder(root: Path, run_id: str, n: int) -> str:
    """A rollout's run folder (outcomes.csv, manifest.json); returns the manifest's SHA-256."""
    from vpnrunbook.evidence import ledger

    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "outcomes.csv").write_text("connection,outcome\n" + "".join(f"c{i},applied\n" for i in range(n)))
    manifest = {"run_id": run_id, "step": "fleet-rollout", "outcome": "succeeded",
                "files": {"outcomes.csv": ledger.sha256_file(folder / "outcomes.csv")}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return ledger.sha256_file(folder / "manifest.json")


def run_line(run_id: str, digest: str) -> dict[str, Any]:
    return {"kind": "run", "run_id": run_id, "step": "fleet-rollout", "outcome": "succeeded", "apply": True,
            "target": "emulator", "started": "2026-12-06T22:55:24.000Z", "ended": "2026-12-06T22:57:24.000Z",
            "operator": "alice", "manifest_sha256": digest}


def v1_line(entry: dict[str, Any], signer: Any) -> bytes:
    """The line as statement v1 wrote it (the "before": ledgers written until statement v2): the statement's
    predicate holds a copy of the entry, the envelope sorted among the line's keys."""
    from vpnrunbook.evidence import ledger, signing

    statement = {"_type": signing.STATEMENT_TYPE, "subject": signing.subjects(entry),
                 "predicateType": signing.PREDICATE_TYPE_V1,
                 "predicate": {"entry": entry, "target": signing.target_of(entry), "signer": signer.signer_info()}}
    return ledger._dumps({**entry, ledger.ENVELOPE: signer.sign_statement(statement)}).encode("ascii")


def history(root: Path, lines: int, signer: Any, *, v1: bool = False) -> None:
    """Write ``lines`` chained, signed lines of rollouts in one go (as ``ledger.append`` would — the same
    ``Signer.sign_line`` — without a fsync per line); ``v1``: in the format before statement v2."""
    from vpnrunbook.evidence import ledger

    root.mkdir(parents=True, exist_ok=True)
    prev, seq = ledger.GENESIS, 0
    with open(root / ledger.LEDGER_NAME, "wb") as f:
        def put(entry: dict[str, Any]) -> None:
            nonlocal prev, seq
            seq += 1
            entry.update(seq=seq, prev=prev)
            data = v1_line(entry, signer) if v1 else signer.sign_line(entry)[0]
            f.write(data + b"\n")
            prev = ledger.sha256_bytes(data)

        r = 0
        while seq < lines:
            r += 1
            run_id = f"20261206T{r:06d}Z-fleet-rollout-{r:08x}"
            pairs = min(PER_ROLLOUT, (lines - seq - 1) // 2)
            for i in range(pairs):
                e = intent(r * PER_ROLLOUT + i, run_id)
                put(e)
                put(outcome(r * PER_ROLLOUT + i, run_id, e["intent_id"]))
            put(run_line(run_id, run_folder(root, run_id, pairs)))
        f.flush()


def old_append(root: Path, entry: dict[str, Any], *, signer: Any) -> None:
    """The append before: the whole ledger read under the lock (head, and the anchor looked up by line number)."""
    from vpnrunbook.evidence import ledger

    path = root / ledger.LEDGER_NAME
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0)
            lines = [ln for ln in f.read().split(b"\n") if ln.strip()]
            prev = ledger.sha256_bytes(lines[-1]) if lines else ledger.GENESIS
            line = {k: v for k, v in entry.items() if k != ledger.ENVELOPE}
            line.update({"seq": len(lines) + 1, "prev": prev})
            last = signer.last_signed_head(root)
            if last is not None:
                seq, digest = ledger.parse_head(last)
                _ = len(lines) >= seq and ledger.sha256_bytes(lines[seq - 1]).startswith(digest)
            data, line[ledger.ENVELOPE] = signer.sign_line(line)
            ledger._write_whole(f, data + b"\n")
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    signer.remember_head(root, f"{line['seq']}:{ledger.sha256_bytes(data)}")


def append_times(roots: dict[str, Path], append: Any, signer: Any, rounds: int) -> dict[str, float]:
    """Median seconds of one append (an intent, then its outcome) per root, the roots taken in turn."""
    from vpnrunbook.evidence import ledger

    times: dict[str, list[float]] = {name: [] for name in roots}
    for k in range(rounds):
        for name, root in roots.items():
            run_id = ledger.run_folders(root)[0]
            e = intent(10_000_000 + k, run_id)
            o = outcome(10_000_000 + k, run_id, e["intent_id"])
            for entry in (e, o):
                t, _ = timed(lambda r=root, entry=entry: append(r, entry, signer=signer))
                times[name].append(t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def disk_bytes(root: Path) -> int:
    """The ledger's bytes on disk: ledger.jsonl and its sealed segments."""
    from vpnrunbook.evidence import ledger

    return (root / ledger.LEDGER_NAME).stat().st_size + sum(
        p.stat().st_size for p in (root / ledger.SEALED_DIR).glob("*") if p.is_file())


def sealing_append(root: Path, signer: Any) -> float:
    """Seconds of the append that seals (appends until one does)."""
    from vpnrunbook.evidence import ledger

    run_id = ledger.run_folders(root)[0]
    count = len(list((root / ledger.SEALED_DIR).iterdir()))
    for k in range(100_000):  # an intent and its outcome (a change with no outcome would fail the verify)
        e = intent(30_000_000 + k, run_id)
        for entry in (e, outcome(30_000_000 + k, run_id, e["intent_id"])):
            t, _ = timed(lambda entry=entry: ledger.append(root, entry, signer=signer))
            if len(list((root / ledger.SEALED_DIR).iterdir())) > count:
                if entry is e:
                    ledger.append(root, outcome(30_000_000 + k, run_id, e["intent_id"]), signer=signer)
                return t
    return float("nan")


def cpu_seconds() -> float:
    """CPU time of this process and of the readers it forked (the machine is shared: wall time is not all ours)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def verify(root: Path, *extra: str) -> tuple[float, int, str, float]:
    """(wall seconds, exit code, output, CPU seconds) of `vpnrunbook evidence verify`."""
    from vpnrunbook.cli import main

    out, err = io.StringIO(), io.StringIO()
    cpu = cpu_seconds()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        seconds, code = timed(lambda: main(["evidence", "verify", "--evidence-dir", str(root), *extra]))
    return seconds, code, (out.getvalue() + err.getvalue()).strip(), cpu_seconds() - cpu


def line_sizes(signer: Any) -> str:
    """Bytes of an intent and of an outcome line of the fleet history, statement v1 (before) and v2 (now)."""
    e = {**intent(1, "20261206T000001Z-fleet-rollout-00000001"), "seq": 100, "prev": "0" * 64}
    o = {**outcome(1, e["run_id"], e["intent_id"]), "seq": 101, "prev": "0" * 64}
    sizes = [(len(v1_line(x, signer)), len(signer.sign_line(x)[0])) for x in (e, o)]
    return (f"bytes per line: intent {sizes[0][0]} (v1) -> {sizes[0][1]} (v2), outcome {sizes[1][0]} -> "
            f"{sizes[1][1]}")


def verify_cpu_per_line(base: Path, signer: Any, lines: int = 2000) -> str:
    """CPU microseconds per line of one in-process reading (``ledger.scan``, one process) of the same fleet
    history in format v1 and in v2."""
    from vpnrunbook.evidence import ledger

    out = []
    for name, v1 in (("v1", True), ("v2", False)):
        root = base / f"evidence-per-line-{name}"
        history(root, lines, signer, v1=v1)
        t = time.process_time()
        result = ledger.scan(root, key=signer.public_key)
        out.append(f"{name} {(time.process_time() - t) / lines * 1e6:.0f} us"
                   + (f" ({len(result.findings)} findings)" if result.findings else ""))
    return f"verify CPU per line, one process, {lines} lines: " + ", ".join(out)


def main(argv: list[str]) -> None:
    lines = int(argv[0]) if argv else 100_000
    base = fresh_state("ledger-growth")
    from vpnrunbook.evidence import ledger, signing

    signer = signing.load_signer()
    small, big = base / "evidence-10", base / f"evidence-{lines}"
    t, _ = timed(lambda: (history(small, 10, signer), history(big, lines, signer)))
    size = (big / ledger.LEDGER_NAME).stat().st_size
    print(f"history written: {lines} lines, {size / 1e6:.1f} MB, in {t:.1f} s")
    print(line_sizes(signer))
    print(verify_cpu_per_line(base, signer))
    # before first, on the one-file ledger it read whole (353 MB per append; 657 MB before statement v2)
    before = append_times({"10": small, "big": big}, old_append, signer, rounds=3)
    print(f"before (whole ledger read): append at 10 lines {before['10'] * 1e3:.2f} ms, at {lines} lines "
          f"{before['big'] * 1e3:.2f} ms, ratio {before['big'] / before['10']:.2f}")
    raw = disk_bytes(big)
    t, segments = timed(lambda: ledger.seal(big))
    print(f"sealed: {len(segments)} segments in {t:.1f} s; ledger on disk {raw / 1e6:.1f} MB -> "
          f"{disk_bytes(big) / 1e6:.1f} MB (ledger.sealed/*.jsonl.gz + ledger.jsonl)")
    after = append_times({"10": small, "big": big}, ledger.append, signer, rounds=25)
    print(f"after (tail read): append at 10 lines {after['10'] * 1e3:.2f} ms, at {lines} lines "
          f"{after['big'] * 1e3:.2f} ms")
    sealing = sealing_append(big, signer)
    print(f"the append that seals 1 MiB: {sealing * 1e3:.1f} ms (one append in ~{(1 << 20) // (size // lines)} "
          f"pays it: {sealing / ((1 << 20) // (size // lines)) * 1e3:.2f} ms per append)")
    full, code, text, full_cpu = verify(big)
    print(f"full verify: exit {code}, {full:.1f} s wall, {full_cpu:.1f} s CPU ({os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}): {text.splitlines()[-1] if text else ''}")
    # a day's work after the checkpoint the full verify signed: a change (intent + outcome)
    run_id = ledger.run_folders(big)[0]
    e = ledger.append(big, intent(20_000_000, run_id))
    ledger.append(big, outcome(20_000_000, run_id, e["intent_id"]))
    incremental, code2, text2, inc_cpu = verify(big, "--since-checkpoint")
    print(f"incremental verify: exit {code2}, {incremental:.2f} s wall, {inc_cpu:.2f} s CPU: "
          f"{text2.splitlines()[-1] if text2 else ''}")
    if code or code2:
        print(text + "\n" + text2, file=sys.stderr)
    print(f"ratio ledger append at {lines} lines / at 10 lines: {after['big'] / after['10']:.2f}")
    print(f"verify {lines} lines: full {full:.1f} s, incremental {incremental:.2f} s")


if __name__ == "__main__":
    t0 = time.perf_counter()
    main(sys.argv[1:])
