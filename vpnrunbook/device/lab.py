"""A strongSwan lab: two real charon daemons in network namespaces, one as Azure, one as the device.

Each lab pair is two network namespaces created here (``vpnrb-<pid>-<n>-az`` / ``-dev``) joined by a
veth pair, with addresses from 192.0.2.0/24 (TEST-NET-1) only inside them: the veth link is
192.0.2.0/26, Azure's tunnel network 192.0.2.64/28 and the device's 192.0.2.80/28 (hosts on ``lo``).
Per case both daemons get configs written by :func:`render_swanctl` — the Azure side with only Azure's
proposals (:func:`strongswan_proposals`), the device with the proposals under test — then the initiator
brings the tunnel up, optionally pings through it, and one side forces a CHILD_SA rekey (a PFS mismatch
only shows there). The observed outcome is compared with :func:`check_compatibility`.

Notes (shared/reference/strongswan-lab-notes.md): the kernel has no ESP, so CHILD_SAs use
``kernel-libipsec`` (userspace ESP over a TUN device); ``openssl`` and ``gcm`` come from
``libstrongswan-standard-plugins``; ``charon-systemd`` writes no pid file, each instance has its own
``strongswan.conf`` (via ``STRONGSWAN_CONF``), vici socket and log, and an explicit plugin list.
"""

from __future__ import annotations

import os
import queue
import re
import secrets as pysecrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vpnrunbook.azure.secrets import GENERATED_ALPHABET, secrets_dir
from vpnrunbook.device.negotiate import NO_PROPOSAL_CHOSEN, CompatibilityResult, Side, check_compatibility
from vpnrunbook.device.proposals import split_proposals, strongswan_proposals
from vpnrunbook.device.render import render_swanctl, write_swanctl_secret
from vpnrunbook.policy.model import IpsecIkePolicy
from vpnrunbook.policy.presets import get_preset

CHARON = "/usr/sbin/charon-systemd"
SWANCTL = "/usr/sbin/swanctl"
PLUGIN_DIR = Path("/usr/lib/ipsec/plugins")
REQUIRED_PLUGINS = ("kernel-libipsec", "openssl", "gcm", "vici", "socket-default", "gmp")
LOAD = ("random nonce openssl gmp aes sha1 sha2 md5 hmac gcm kdf pem pkcs1 x509 pubkey "
        "kernel-libipsec kernel-netlink socket-default vici")
DEBIAN_PACKAGES = ("charon-systemd", "strongswan-swanctl", "libcharon-extra-plugins",
                   "libstrongswan-extra-plugins", "libstrongswan-standard-plugins", "iproute2", "iputils-ping")

ADDRESSES = {"azure": "192.0.2.1", "device": "192.0.2.2"}
TUNNEL_NETS = {"azure": "192.0.2.64/28", "device": "192.0.2.80/28"}
TUNNEL_HOSTS = {"azure": "192.0.2.65", "device": "192.0.2.81"}
CONN = "lab"
CHILD = "lab-net"


class LabError(RuntimeError):
    """The lab itself failed (a daemon did not start, a config did not load) — not a negotiation result."""


def lab_available() -> tuple[bool, str]:
    """Whether this machine can run the lab, and if not, why (used for the skip reason)."""
    if os.geteuid() != 0:
        return False, "needs root (network namespaces and a TUN device)"
    for tool in (CHARON, SWANCTL):
        if not Path(tool).exists():
            return False, f"{tool} is missing (apt-get install {' '.join(DEBIAN_PACKAGES)})"
    if not shutil.which("ip"):
        return False, "the ip command is missing (apt-get install iproute2)"
    missing = [p for p in REQUIRED_PLUGINS if not (PLUGIN_DIR / f"libstrongswan-{p}.so").exists()]
    if missing:
        return False, f"strongSwan plugins missing: {', '.join(missing)} (libcharon-extra-plugins, " \
                      "libstrongswan-standard-plugins)"
    if not Path("/dev/net/tun").exists():
        return False, "/dev/net/tun is missing (kernel-libipsec needs it)"
    return True, "ok"


# --------------------------------------------------------------------------------------------
# Cases and observations
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LabCase:
    """One negotiation to run: Azure's side (a policy or None for its defaults) against device proposals."""

    name: str
    azure_policy: IpsecIkePolicy | None
    device_ike: tuple[str, ...]
    device_esp: tuple[str, ...]
    initiator: Side = "device"
    rekey_by: Side | None = None          # default: the initiator
    ping: bool = False
    description: str = ""

    @property
    def rekey_side(self) -> Side:
        return self.rekey_by or self.initiator

    @property
    def rekey_sides(self) -> tuple[Side, ...]:
        """Who forces a rekey, in order. With a custom policy Azure's proposals are the same in both roles,
        so both sides rekey; Azure's default lists depend on its role, so only the configured side does."""
        other: Side = "azure" if self.rekey_side == "device" else "device"
        return (self.rekey_side, other) if self.azure_policy is not None else (self.rekey_side,)

    def predict(self) -> CompatibilityResult:
        return check_compatibility(self.azure_policy, list(self.device_ike), list(self.device_esp),
                                   initiator=self.initiator)


@dataclass
class RekeyObserved:
    """A forced CREATE_CHILD_SA rekey: did a new CHILD_SA replace the old one, with which algorithms."""

    established: bool
    algorithms: str | None = None
    notify: str | None = None

    @property
    def text(self) -> str:
        return f"ok {self.algorithms}" if self.established else f"refused ({self.notify})"


@dataclass
class Observed:
    """What the daemons did, read from ``swanctl --list-sas --raw`` and the charon logs."""

    ike_established: bool = False
    ike_algorithms: str | None = None
    child_established: bool = False
    child_algorithms: str | None = None
    ike_notify: str | None = None
    child_notify: str | None = None
    invalid_ke: bool = False                 # an INVALID_KE_PAYLOAD round trip happened in IKE_SA_INIT
    rekeys: dict[str, RekeyObserved] = field(default_factory=dict)   # side that forced it → outcome, in order
    ping_ok: bool | None = None
    seconds: float = 0.0
    log: list[str] = field(default_factory=list)

    @property
    def first_rekey(self) -> RekeyObserved | None:
        return next(iter(self.rekeys.values()), None)

    @property
    def rekey_established(self) -> bool | None:
        first = self.first_rekey
        return None if first is None else first.established

    @property
    def rekey_algorithms(self) -> str | None:
        first = self.first_rekey
        return None if first is None else first.algorithms


@dataclass
class CaseResult:
    case: LabCase
    predicted: CompatibilityResult
    observed: Observed

    @property
    def differences(self) -> list[str]:
        """Where prediction and observation disagree (empty when they match)."""
        p, o, out = self.predicted, self.observed, []

        def cmp(what: str, want: Any, got: Any) -> None:
            if want != got:
                out.append(f"{what}: predicted {want!r}, observed {got!r}")

        cmp("IKE_SA established", p.ike.established, o.ike_established)
        if p.ike.established:
            cmp("IKE algorithms", p.ike.algorithms, o.ike_algorithms)
            cmp("INVALID_KE_PAYLOAD round trip", any("INVALID_KE_PAYLOAD" in n for n in p.notes), o.invalid_ke)
        else:
            cmp("IKE_SA_INIT notify", NO_PROPOSAL_CHOSEN, o.ike_notify)
        cmp("CHILD_SA established", p.child.established, o.child_established)
        if p.child.established:
            cmp("CHILD_SA algorithms", p.child.algorithms, o.child_algorithms)
            for side in self.case.rekey_sides:
                want, got = p.rekey[side], o.rekeys.get(side)
                cmp(f"rekey by {side}", want.established, got.established if got else None)
                if got is None:
                    continue
                if want.established:
                    cmp(f"rekey by {side} algorithms", want.algorithms, got.algorithms)
                else:
                    cmp(f"rekey by {side} notify", NO_PROPOSAL_CHOSEN, got.notify)
            if self.case.ping:
                cmp("ping through the tunnel", True, o.ping_ok)
        elif p.ike.established:
            cmp("IKE_AUTH notify", NO_PROPOSAL_CHOSEN, o.child_notify)
        return out

    @property
    def matches(self) -> bool:
        return not self.differences

    def row(self) -> dict[str, Any]:
        o, p = self.observed, self.predicted
        rekey = "; ".join(f"{side}: {r.text}" for side, r in o.rekeys.items()) or "—"
        return {
            "case": self.case.name, "initiator": self.case.initiator,
            "predicted": p.outcome,
            "observed IKE_SA": o.ike_algorithms if o.ike_established else f"refused ({o.ike_notify})",
            "observed CHILD_SA": o.child_algorithms if o.child_established else
            ("—" if not o.ike_established else f"refused ({o.child_notify})"),
            "observed rekey": rekey, "ping": {None: "—", True: "ok", False: "FAILED"}[o.ping_ok],
            "match": self.matches, "seconds": round(o.seconds, 2),
        }


# --------------------------------------------------------------------------------------------
# swanctl --raw output
# --------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s*(?:([\w.-]+)\s*\{|(\})|([\w.-]+)=\[([^\]]*)\]|([\w.-]+)=([^\s{}]*))")


def parse_raw(text: str) -> dict[str, Any]:
    """Parse ``swanctl --list-sas --raw`` event lines into nested dicts (one top-level key per IKE_SA)."""
    result: dict[str, Any] = {}
    for line in text.splitlines():
        if "{" not in line or not line.startswith("list-sa event"):
            continue
        body = line[line.index("{") + 1:line.rindex("}")]
        stack: list[dict[str, Any]] = [result]
        pos = 0
        while pos < len(body):
            m = _TOKEN.match(body, pos)
            if not m or m.end() == pos:
                break
            pos = m.end()
            if m.group(1):
                child: dict[str, Any] = {}
                stack[-1][m.group(1)] = child
                stack.append(child)
            elif m.group(2):
                stack.pop()
            elif m.group(3):
                stack[-1][m.group(3)] = m.group(4).split()
            elif m.group(5):
                stack[-1][m.group(5)] = m.group(6)
    return result


def raw_algorithms(sa: dict[str, Any]) -> str:
    parts = []
    if sa.get("encr-alg"):
        parts.append(sa["encr-alg"] + (f"-{sa['encr-keysize']}" if sa.get("encr-keysize") else ""))
    parts += [sa[k] for k in ("integ-alg", "prf-alg", "dh-group") if sa.get(k)]
    return "/".join(parts)


# --------------------------------------------------------------------------------------------
# One lab pair: two namespaces, two daemons per case
# --------------------------------------------------------------------------------------------
def _run(cmd: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 20, check: bool = True) -> \
        subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed (rc={proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}")
    return proc


class Daemon:
    """One charon-systemd in a namespace with its own strongswan.conf, vici socket and log."""

    def __init__(self, ns: str, folder: Path) -> None:
        self.ns, self.folder = ns, folder
        self.conf = folder / "strongswan.conf"
        self.socket = folder / "run" / "charon.vici"
        self.logfile = folder / "charon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"STRONGSWAN_CONF": str(self.conf)}

    def write_conf(self) -> None:
        (self.folder / "run").mkdir(parents=True, exist_ok=True)
        self.conf.write_text(f"""charon {{
  load = {LOAD}
  port = 500
  port_nat_t = 4500
  retransmit_tries = 2
  retransmit_timeout = 1.0
  install_virtual_ip = no
  plugins {{
    vici {{
      socket = unix://{self.socket}
    }}
  }}
  filelog {{
    lab {{
      path = {self.logfile}
      default = 1
      cfg = 2
      time_format = %T
      flush_line = yes
    }}
  }}
  journal {{
    default = -1
  }}
}}
swanctl {{
  socket = unix://{self.socket}
}}
""", encoding="utf-8")

    def start(self) -> None:
        for stale in (self.socket, self.logfile):
            stale.unlink(missing_ok=True)
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "env", f"STRONGSWAN_CONF={self.conf}", CHARON],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise LabError(f"charon in {self.ns} exited with rc={self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise LabError(f"charon in {self.ns} did not open its vici socket: {self.log_tail()}")
            time.sleep(0.01)

    def swanctl(self, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        return _run([SWANCTL, *args], env=self.env, check=check, timeout=timeout)

    def load(self, swanctl_conf: Path) -> None:
        self.swanctl("--load-all", "--noprompt", "--file", str(swanctl_conf))

    def list_sas(self) -> dict[str, Any]:
        return parse_raw(self.swanctl("--list-sas", "--raw").stdout)

    def log_text(self) -> str:
        try:
            return self.logfile.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 8) -> str:
        return " | ".join(self.log_text().splitlines()[-n:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None


class LabPair:
    """Two namespaces joined by a veth pair; runs cases one after another with fresh daemons."""

    def __init__(self, workdir: Path, index: int) -> None:
        self.tag = f"vpnrb-{os.getpid()}-{index}"
        self.ns: dict[str, str] = {"azure": f"{self.tag}-az", "device": f"{self.tag}-dev"}
        self.workdir = workdir / f"pair{index}"
        self.key_ref = ""
        self.created: list[str] = []

    def up(self) -> None:
        for ns in self.ns.values():
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
        az, dev = self.ns["azure"], self.ns["device"]
        _run(["ip", "link", "add", "vpnrb-az", "netns", az, "type", "veth", "peer", "name", "vpnrb-dev", "netns", dev])
        for side, ifname in (("azure", "vpnrb-az"), ("device", "vpnrb-dev")):
            ns = self.ns[side]
            _run(["ip", "-n", ns, "addr", "add", f"{ADDRESSES[side]}/26", "dev", ifname])
            _run(["ip", "-n", ns, "link", "set", ifname, "up"])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{TUNNEL_HOSTS[side]}/32", "dev", "lo"])
        self.workdir.mkdir(parents=True, exist_ok=True)
        # the lab's throwaway key lives where keys may be referenced from (the secrets folder), removed by down()
        base = secrets_dir()
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key_dir = Path(tempfile.mkdtemp(prefix="lab-", dir=base))
        keyfile = self.key_dir / "psk.key"
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, "".join(pysecrets.choice(GENERATED_ALPHABET) for _ in range(32)).encode() + b"\n")
        finally:
            os.close(fd)
        self.key_ref = f"file:{keyfile}"

    def down(self) -> None:
        for ns in reversed(self.created):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        self.created.clear()
        key_dir = getattr(self, "key_dir", None)
        if key_dir is not None:
            shutil.rmtree(key_dir, ignore_errors=True)
            self.key_dir = None

    def _configure(self, case: LabCase) -> dict[str, Daemon]:
        azure_role = "responder" if case.initiator == "device" else "initiator"
        azure = strongswan_proposals(case.azure_policy, role=azure_role)
        proposals = {"azure": (azure.ike, azure.esp), "device": (case.device_ike, case.device_esp)}
        daemons: dict[str, Daemon] = {}
        for side, other in (("azure", "device"), ("device", "azure")):
            folder = self.workdir / side
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            config = render_swanctl(case.azure_policy, name=CONN, local_address=ADDRESSES[side],
                                    remote_address=ADDRESSES[other], local_prefixes=[TUNNEL_NETS[side]],
                                    remote_prefixes=[TUNNEL_NETS[other]], shared_key_ref=self.key_ref,
                                    ike_proposals=proposals[side][0], esp_proposals=proposals[side][1],
                                    start_action="none", secrets_file="secrets.d/lab.conf")
            (folder / "swanctl.conf").write_text(config.text, encoding="utf-8")
            write_swanctl_secret(self.key_ref, folder / "secrets.d" / "lab.conf", name=CONN,
                                 ids=(ADDRESSES[side], ADDRESSES[other]))
            daemons[side] = Daemon(self.ns[side], folder)
            daemons[side].write_conf()
        return daemons

    def run(self, case: LabCase) -> Observed:
        started = time.monotonic()
        obs = Observed()
        daemons = self._configure(case)
        try:
            for d in daemons.values():
                d.start()
            for side, d in daemons.items():
                d.load(self.workdir / side / "swanctl.conf")
            init = daemons[case.initiator]
            init.swanctl("--initiate", "--child", CHILD, "--ike", CONN, "--timeout", "10", check=False, timeout=30)
            sa = init.list_sas().get(CONN, {})
            obs.ike_established = sa.get("state") == "ESTABLISHED"
            log = init.log_text()
            if obs.ike_established:
                obs.ike_algorithms = raw_algorithms(sa)
                child = _installed(sa)
                obs.child_established = child is not None
                if child is not None:
                    obs.child_algorithms = f"ESP:{raw_algorithms(child)}"
                elif "received NO_PROPOSAL_CHOSEN notify" in log:
                    obs.child_notify = NO_PROPOSAL_CHOSEN
            elif "received NO_PROPOSAL_CHOSEN notify" in log:
                obs.ike_notify = NO_PROPOSAL_CHOSEN
            if obs.child_established and case.ping:
                obs.ping_ok = _run(["ip", "netns", "exec", self.ns["device"], "ping", "-c", "1", "-W", "2", "-I",
                                    TUNNEL_HOSTS["device"], TUNNEL_HOSTS["azure"]], check=False).returncode == 0
            obs.invalid_ke = "peer didn't accept DH group" in init.log_text()
            if obs.child_established:
                for side in case.rekey_sides:
                    obs.rekeys[side] = self._rekey(daemons[side])
            obs.log = [f"[{side}] {line}" for side, d in daemons.items() for line in d.log_text().splitlines()
                       if any(k in line for k in ("NO_PROPOSAL", "no acceptable", "selected proposal",
                                                  "established", "rekey", "INVALID_KE"))]
        finally:
            for d in daemons.values():
                d.stop()
        obs.seconds = time.monotonic() - started
        return obs

    @staticmethod
    def _rekey(starter: Daemon) -> RekeyObserved:
        sa = starter.list_sas().get(CONN, {})
        before = {c.get("uniqueid") for c in (sa.get("child-sas") or {}).values()}
        mark = len(starter.log_text())
        starter.swanctl("--rekey", "--child", CHILD, check=False)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            child = _installed(starter.list_sas().get(CONN, {}), exclude=before)
            if child is not None:
                return RekeyObserved(True, f"ESP:{raw_algorithms(child)}")
            new_log = starter.log_text()[mark:]
            if "CHILD_SA rekeying failed" in new_log or "received NO_PROPOSAL_CHOSEN notify" in new_log:
                return RekeyObserved(False, None, NO_PROPOSAL_CHOSEN if "NO_PROPOSAL_CHOSEN" in new_log else None)
            time.sleep(0.03)
        return RekeyObserved(False, None, "timeout")


def _installed(sa: dict[str, Any], exclude: Collection[Any] = ()) -> dict[str, Any] | None:
    """The first INSTALLED CHILD_SA whose unique id is not in ``exclude``."""
    for child in (sa.get("child-sas") or {}).values():
        if child.get("state") == "INSTALLED" and child.get("uniqueid") not in exclude:
            return child
    return None


# --------------------------------------------------------------------------------------------
# Running a matrix
# --------------------------------------------------------------------------------------------
@dataclass
class MatrixResult:
    results: list[CaseResult]
    wall_seconds: float
    parallel: int

    @property
    def all_match(self) -> bool:
        return all(r.matches for r in self.results)

    @property
    def mismatches(self) -> list[CaseResult]:
        return [r for r in self.results if not r.matches]

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame([r.row() for r in self.results]).set_index("case")

    @property
    def text(self) -> str:
        import pandas as pd

        with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 70):
            table = self.to_frame().to_string()
        summary = (f"{sum(r.matches for r in self.results)}/{len(self.results)} cases: prediction = observation; "
                   f"wall time {self.wall_seconds:.1f} s with {self.parallel} lab pair(s)")
        details = [f"MISMATCH {r.case.name}: " + "; ".join(r.differences) for r in self.mismatches]
        return "\n".join([table, summary, *details])


@contextmanager
def lab_pairs(count: int, workdir: str | Path | None = None) -> Iterator[list[LabPair]]:
    """Create ``count`` namespace pairs (removed again on exit, also on errors)."""
    ok, why = lab_available()
    if not ok:
        raise LabError(f"the strongSwan lab cannot run here: {why}")
    tmp = Path(tempfile.mkdtemp(prefix="vpnrb-lab-", dir=workdir))
    pairs = [LabPair(tmp, i) for i in range(count)]
    try:
        for p in pairs:
            p.up()
        yield pairs
    finally:
        for p in pairs:
            p.down()
        shutil.rmtree(tmp, ignore_errors=True)


def run_matrix(cases: Sequence[LabCase], *, parallel: int = 4, workdir: str | Path | None = None) -> MatrixResult:
    """Run every case against real daemons, ``parallel`` namespace pairs at a time."""
    parallel = max(1, min(parallel, len(cases)))
    started = time.monotonic()
    with lab_pairs(parallel, workdir) as pairs:
        free: queue.Queue[LabPair] = queue.Queue()
        for p in pairs:
            free.put(p)

        def one(case: LabCase) -> CaseResult:
            pair = free.get()
            try:
                return CaseResult(case, case.predict(), pair.run(case))
            finally:
                free.put(pair)

        with ThreadPoolExecutor(max_workers=parallel) as pool:
            results = list(pool.map(one, cases))
    return MatrixResult(results, time.monotonic() - started, parallel)


# --------------------------------------------------------------------------------------------
# The standard matrix
# --------------------------------------------------------------------------------------------
def _policy(base: str | IpsecIkePolicy, **changes: Any) -> IpsecIkePolicy:
    policy = get_preset(base) if isinstance(base, str) else base
    return replace(policy, **changes).validate()


def _case(name: str, policy: IpsecIkePolicy | None, ike: str, esp: str, **kw: Any) -> LabCase:
    return LabCase(name, policy, tuple(split_proposals(ike)), tuple(split_proposals(esp)), **kw)


# Azure DH group → (PFS group with the same key exchange, strongSwan keyword): every group both sides speak.
DH_GROUP_CASES: tuple[tuple[str, str, str], ...] = (
    ("DHGroup1", "PFS1", "modp768"), ("DHGroup2", "PFS2", "modp1024"), ("DHGroup14", "PFS2048", "modp2048"),
    ("DHGroup24", "PFS24", "modp2048s256"), ("ECP256", "ECP256", "ecp256"), ("ECP384", "ECP384", "ecp384"),
)


def default_matrix() -> list[LabCase]:
    """The standing matrix: matches and mismatches of every kind, GCM, every DH/PFS group, PFS on one
    side only (seen at rekey), and Azure's default proposals in both roles."""
    seed = get_preset("seed-s2s")                       # AES256/SHA384/DHGroup24 | AES256/SHA256, no PFS
    seed_pfs = _policy(seed, pfs_group="PFS24")
    modern = get_preset("strong-modern")                # GCMAES256/SHA384/ECP384 | GCMAES256, PFS ECP384
    cases = [
        _case("match-seed-s2s", seed, "aes256-sha384-modp2048s256", "aes256-sha256", ping=True,
              description="the seed policy, device configured to match"),
        _case("match-seed-s2s-azure-initiates", seed, "aes256-sha384-modp2048s256", "aes256-sha256",
              initiator="azure", description="same, Azure initiates and rekeys"),
        _case("ike-encryption-mismatch", seed, "aes128-sha384-modp2048s256", "aes256-sha256"),
        _case("ike-integrity-mismatch", seed, "aes256-sha256-modp2048s256", "aes256-sha256"),
        _case("dh-mismatch", seed, "aes256-sha384-modp2048", "aes256-sha256",
              description="DHGroup24 on Azure, group 14 on the device"),
        _case("dh-mismatch-azure-initiates", seed, "aes256-sha384-ecp384", "aes256-sha256", initiator="azure"),
        _case("esp-encryption-mismatch", seed, "aes256-sha384-modp2048s256", "aes128-sha256"),
        _case("esp-integrity-mismatch", seed, "aes256-sha384-modp2048s256", "aes256-sha1"),
        _case("esp-mismatch-azure-initiates", seed, "aes256-sha384-modp2048s256", "aes256-sha1", initiator="azure"),
        _case("device-offers-several", seed, "aes128-sha256-ecp256, aes256-sha384-modp2048s256",
              "aes128-sha1, aes256-sha256", description="a later proposal matches; INVALID_KE_PAYLOAD round trip"),
        _case("gcm-strong-modern", modern, "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384", ping=True,
              description="GCM IKE with explicit PRF, GCM ESP, PFS ECP384 seen at rekey"),
        _case("gcm-ike-prf-mismatch", modern, "aes256gcm16-prfsha256-ecp384", "aes256gcm16-ecp384"),
        _case("gcm-esp-vs-cbc", modern, "aes256gcm16-prfsha384-ecp384", "aes256-sha256-ecp384"),
        _case("gcm128-ike", _policy(modern, ike_encryption="GCMAES128", ike_integrity="SHA256", dh_group="ECP256",
                                    ipsec_encryption="GCMAES128", ipsec_integrity="GCMAES128", pfs_group="None"),
              "aes128gcm16-prfsha256-ecp256", "aes128gcm16"),
        _case("seed-vnet2vnet-gcm-pfs24", get_preset("seed-vnet2vnet"), "aes128-sha1-modp2048",
              "aes128gcm16-modp2048s256", initiator="azure"),
        _case("pfs-device-only", seed, "aes256-sha384-modp2048s256", "aes256-sha256-modp2048s256",
              description="device wants PFS, Azure's policy has none: fails at the device's rekey"),
        _case("pfs-azure-only", seed_pfs, "aes256-sha384-modp2048s256", "aes256-sha256", rekey_by="azure",
              description="Azure's policy has PFS24, the device none: fails at Azure's rekey"),
        _case("pfs-group-mismatch", seed_pfs, "aes256-sha384-modp2048s256", "aes256-sha256-ecp384"),
        _case("pfsmm", _policy(seed, dh_group="ECP256", pfs_group="PFSMM"), "aes256-sha384-ecp256",
              "aes256-sha256-ecp256", description="PFSMM reuses the IKE group"),
        _case("legacy-3des", _policy(seed, ike_encryption="DES3", ike_integrity="SHA1", dh_group="DHGroup2",
                                     ipsec_encryption="DES3", ipsec_integrity="SHA256"),
              "3des-sha1-modp1024", "3des-sha256"),
        _case("esp-null-encryption", _policy(seed, ipsec_encryption="None", ipsec_integrity="SHA256"),
              "aes256-sha384-modp2048s256", "null-sha256"),
        _case("default-policy-match", None, "aes256-sha256-modp1024", "aes256-sha256", ping=True),
        _case("default-policy-gcm-esp", None, "aes256-sha1-modp1024", "aes256gcm16"),
        _case("default-policy-strong-ike-refused", None, "aes256-sha384-ecp384", "aes256-sha256",
              description="a device set up for a custom policy meets Azure's defaults"),
        _case("default-policy-esp-refused", None, "aes256-sha256-modp1024", "aes192-sha256"),
        _case("default-policy-device-pfs", None, "aes256-sha256-modp1024", "aes256-sha1-modp2048",
              description="Azure as responder accepts PFS 14 on the device's rekey"),
        _case("default-policy-azure-initiates-pfs", None, "aes256-sha1-modp1024", "aes256-sha1-modp2048",
              initiator="azure", description="Azure as initiator offers no PFS: its rekey fails"),
        _case("default-policy-azure-initiates", None, "aes128-sha256-modp1024", "aes128-sha1", initiator="azure"),
    ]
    for dh, pfs, keyword in DH_GROUP_CASES:
        policy = _policy(seed, ike_integrity="SHA256", dh_group=dh, pfs_group=pfs)
        cases.append(_case(f"dh-{keyword}", policy, f"aes256-sha256-{keyword}", f"aes256-sha256-{keyword}",
                           description=f"{dh} for IKE and {pfs} at rekey"))
    return cases
