"""Ed25519 signatures on ledger lines: an in-toto Statement v1 in a DSSE envelope, made with ``cryptography``.

Every line ``ledger.append`` writes carries ``envelope``, as the line's LAST key::

    {...the entry, keys sorted...,"envelope":{"payloadType": "application/vnd.in-toto+json",
     "payload": base64(statement),
     "signatures": [{"keyid": "<64 hex: SHA-256 of the raw public key>", "sig": base64(Ed25519(PAE))}]}}

``PAE`` is DSSE's pre-authentication encoding, ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`` (LEN: the
byte length in ASCII decimal), so the signature covers the payload type too. The statement (format v2)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "<run id>/manifest.json", "digest": {"sha256": ...}}, {"name": "<resource>", ...}, ...,
                 {"name": "ledger-entry/<seq>", "digest": {"sha256": <SHA-256 of the entry's canonical JSON>}}],
     "predicateType": "urn:vpnrunbook:ledger-entry:v2",
     "predicate": {"target": {"name": "emulator" | "azure" | null, "subscription": ...},
                   "signer": {"keyid": ..., "publicKey": base64(raw 32 bytes)}}}

The entry (the line without its envelope: seq and prev included, so the chain is signed) is signed by its digest,
the last subject; its canonical JSON (keys sorted, separators ``,`` ``:``, ASCII) is also the line's bytes up to
``,"envelope":``, so a verifier hashes the raw bytes before the envelope (plus the closing ``}``) and compares,
without re-serializing anything (:func:`split_line`, :func:`line_problems`). A line laid out otherwise (reformatted)
is checked by the canonical JSON of its parsed entry. Format v1 (``urn:vpnrunbook:ledger-entry:v1``, ledgers
written before) held a copy of the entry in ``predicate.entry`` and verifies as before; only v2 is written.

The key: an Ed25519 private key (PKCS#8 PEM, mode 0600, folder 0700) created on first use in
``$VPNRUNBOOK_SIGNING_DIR`` or ``~/.config/vpnrunbook/signing/`` (``$XDG_CONFIG_HOME`` honoured), or the file
``$VPNRUNBOOK_SIGNING_KEY`` names; the public key (SubjectPublicKeyInfo PEM) beside it as ``ed25519.pub`` (or
``<key file>.pub``). One key per operator (the default, in the home folder) or per scheduler host (set the
variable). The key must not lie inside the evidence folder: whoever can write the evidence must not hold the key.

The fingerprint is ``SHA256:`` + the 64 hex digits of SHA-256 over the raw 32-byte public key (the same digest is
the DSSE ``keyid``). It is not OpenSSH's fingerprint (that hashes the SSH wire format, and is base64).

Beside the key the signer keeps an *anchor* per evidence folder: the last head (``SEQ:SHA256``) it signed there.
``vpnrunbook evidence verify --key`` with that key reports a ledger that no longer holds it (deleted, cut).

Keys are loaded once per process (``load_signer`` caches by path); signing one line costs about 0.1 ms (with
``cryptography``); verifying one uses libsodium (PyNaCl, :meth:`PublicKey.verify`), half OpenSSL's cost.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:vpnrunbook:ledger-entry:v2"   # what ``Signer.sign_line`` writes
PREDICATE_TYPE_V1 = "urn:vpnrunbook:ledger-entry:v1"  # earlier ledgers: the statement holds a copy of the entry
ENTRY_SUBJECT = "ledger-entry/"
ENVELOPE_KEY = "envelope"
DIR_ENV = "VPNRUNBOOK_SIGNING_DIR"
KEY_ENV = "VPNRUNBOOK_SIGNING_KEY"
KEY_FILE = "ed25519.key"
PUB_FILE = "ed25519.pub"
ANCHORS_DIR = "anchors"
FINGERPRINT_PREFIX = "SHA256:"


class SigningError(OSError):
    """The signing key cannot be created, read or used (the message says which file and why). An OSError, so a
    caller that treats "the ledger cannot be written" as a refusal (no change without its record) treats a
    missing key the same way."""


class SignatureError(Exception):
    """An envelope that does not verify (the message says why)."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (lengths are byte lengths)."""
    t = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


canonical = _canonical  # keys sorted, no spaces, ASCII: the bytes an entry's digest is taken over


def join_line(body: bytes, envelope: dict[str, Any]) -> bytes:
    """A ledger line's bytes: ``body`` (the entry's canonical JSON) with ``"envelope"`` appended as its last key."""
    tail = b'"envelope":' + _canonical(envelope) + b"}"
    return body[:-1] + (b"," + tail if body != b"{}" else tail)


def line_bytes(line: dict[str, Any]) -> bytes:
    """The bytes (no newline) :meth:`Signer.sign_line` wrote for ``line`` as ``ledger.append`` returns it (its
    fields and its ``envelope``)."""
    return join_line(_canonical({k: v for k, v in line.items() if k != ENVELOPE_KEY}), line[ENVELOPE_KEY])


def keyid_of(raw_public: bytes) -> str:
    return hashlib.sha256(raw_public).hexdigest()


def fingerprint_of(raw_public: bytes) -> str:
    return FINGERPRINT_PREFIX + keyid_of(raw_public)


# ---- where the key lives -----------------------------------------------------------------------
def key_paths() -> tuple[Path, Path]:
    """(private key file, public key file) the signer of this process uses."""
    explicit = os.environ.get(KEY_ENV)
    if explicit:
        key = Path(explicit).expanduser()
        return key, key.with_name(key.name + ".pub")
    folder = os.environ.get(DIR_ENV)
    if folder:
        base = Path(folder).expanduser()
    else:
        config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        base = Path(config) / "vpnrunbook" / "signing"
    return base / KEY_FILE, base / PUB_FILE


@dataclass(frozen=True)
class PublicKey:
    """A verifying key: raw 32 bytes (None when only the fingerprint is known) and its keyid."""

    keyid: str
    raw: bytes | None = None
    path: Path | None = None

    @property
    def fingerprint(self) -> str:
        return FINGERPRINT_PREFIX + self.keyid

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Ed25519 (RFC 8032) verification by libsodium (PyNaCl): about half the CPU of OpenSSL's through
        ``cryptography`` (measured here 55 vs 104 µs a signature: most of a ledger line's verify), and stricter —
        it refuses small-order and non-canonical points, so the all-zero "signature" under the identity key, which
        OpenSSL accepts for any message, does not verify. Signatures an honest signer makes verify in both."""
        if self.raw is None or len(signature) != 64:
            return False
        loaded = _loaded.get(self.raw)
        if loaded is None:
            from nacl.signing import VerifyKey

            loaded = VerifyKey(self.raw)
            if len(_loaded) < 1024:
                _loaded[self.raw] = loaded
        try:
            loaded.verify(message, signature)
        except Exception as exc:  # PyNaCl's BadSignatureError (imported only when one is raised)
            from nacl.exceptions import BadSignatureError

            if isinstance(exc, BadSignatureError):
                return False
            raise
        return True


_loaded: dict[bytes, Any] = {}  # raw public key -> its loaded nacl VerifyKey
_embedded: dict[str, PublicKey | None] = {}  # a statement's base64 publicKey -> the PublicKey it is


class Signer:
    """An Ed25519 private key with its public half; signs ledger lines and keeps the anchors."""

    def __init__(self, private: Any, key_path: Path | None = None, pub_path: Path | None = None) -> None:
        from cryptography.hazmat.primitives import serialization

        self._private = private
        self.raw_public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
        self.keyid = keyid_of(self.raw_public)
        self.fingerprint = FINGERPRINT_PREFIX + self.keyid
        self.key_path = key_path
        self.pub_path = pub_path
        self._public_b64 = base64.b64encode(self.raw_public).decode("ascii")
        self._anchors: dict[Path, Path] = {}
        self._resolved_key: Path | None = None

    @classmethod
    def generate(cls) -> Signer:
        """A new key held only in memory (tests; a forger's key)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())

    @property
    def public_key(self) -> PublicKey:
        return PublicKey(self.keyid, self.raw_public, self.pub_path)

    def statement(self, entry: dict[str, Any], *, digest: str | None = None) -> dict[str, Any]:
        """The v2 statement of ``entry`` (the line without ``envelope``); ``digest``: SHA-256 of its canonical
        JSON when the caller has it."""
        return {"_type": STATEMENT_TYPE, "subject": subjects(entry, digest=digest), "predicateType": PREDICATE_TYPE,
                "predicate": {"target": target_of(entry),
                              "signer": {"keyid": self.keyid, "publicKey": self._public_b64}}}

    def envelope(self, entry: dict[str, Any]) -> dict[str, Any]:
        """The DSSE envelope over ``entry``'s statement (``entry`` is the line without ``envelope``)."""
        return self.sign_statement(self.statement(entry))

    def sign_line(self, entry: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        """The ledger line of ``entry`` (the line's fields, seq and prev included; no ``envelope``): (its bytes,
        without the newline; its envelope). One canonical dump serves the signed digest and the line."""
        body = _canonical(entry)
        envelope = self.sign_statement(self.statement(entry, digest=hashlib.sha256(body).hexdigest()))
        return join_line(body, envelope), envelope

    def signer_info(self) -> dict[str, str]:
        return {"keyid": self.keyid, "publicKey": self._public_b64}

    def sign_statement(self, statement: dict[str, Any]) -> dict[str, Any]:
        """The DSSE envelope over any in-toto statement (a ledger line's, a checkpoint's)."""
        payload = _canonical(statement)
        sig = self._private.sign(pae(PAYLOAD_TYPE, payload))
        return {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode("ascii"),
                "signatures": [{"keyid": self.keyid, "sig": base64.b64encode(sig).decode("ascii")}]}

    # ---- anchors: the last head this key signed, per evidence folder --------------------------------
    def _anchor_file(self, root: Path) -> Path | None:
        if self.key_path is None:
            return None
        found = self._anchors.get(root)
        if found is None:
            found = self._anchors[root] = anchor_file(self.key_path.parent, root)
        return found

    def inside(self, root: Path) -> bool:
        """Whether the private key lies inside ``root`` (refused: who writes the evidence must not hold it)."""
        if self.key_path is None:
            return False
        if self._resolved_key is None:
            self._resolved_key = self.key_path.resolve()
        return self._resolved_key.is_relative_to(root.resolve())

    def last_signed_head(self, root: Path) -> str | None:
        f = self._anchor_file(root)
        return read_anchor(f) if f is not None else None

    def remember_head(self, root: Path, head: str) -> None:
        """Best effort: an anchor that cannot be written loses a check, never the ledger line.

        Called under the ledger's lock, so writers of one folder take turns. Rewritten in place with one
        ``pwrite`` (a rename costs ~2 ms on some filesystems, 20x the signature); a torn anchor does not parse
        and is ignored, so it can cost a check but never raise a false alarm."""
        f = self._anchor_file(root)
        if f is None:
            return
        data = (json.dumps({"evidence": str(root.absolute()), "head": head, "keyid": self.keyid}) + "\n").encode()
        try:
            f.parent.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.pwrite(fd, data, 0)
                os.ftruncate(fd, len(data))
            finally:
                os.close(fd)
        except OSError:
            pass


def anchor_file(key_dir: Path, root: Path) -> Path:
    name = hashlib.sha256(str(root.resolve()).encode("utf-8")).hexdigest()[:32]
    return key_dir / ANCHORS_DIR / f"{name}.json"


def read_anchor(path: Path) -> str | None:
    try:
        head = json.loads(path.read_text(encoding="utf-8")).get("head")
    except (OSError, ValueError, AttributeError):
        return None
    return head if isinstance(head, str) else None


def subjects(entry: dict[str, Any], *, digest: str | None = None) -> list[dict[str, Any]]:
    """What the statement is about: the run's manifest (by its digest); each resource the entry names — in
    ``resources`` (names), or the change records' ``writes`` / ``written`` (``resource_id``; the digest is that of
    the record's view of the write: body and ETag read for an intent, the new ETag for an outcome); and, last, the
    entry itself (``ledger-entry/<seq>``, the SHA-256 of its canonical JSON: ``digest`` when given)."""
    if digest is None:
        digest = hashlib.sha256(_canonical(entry)).hexdigest()
    out: list[dict[str, Any]] = []
    manifest = entry.get("manifest_sha256")
    if isinstance(manifest, str) and manifest:
        out.append({"name": f"{entry.get('run_id')}/manifest.json", "digest": {"sha256": manifest}})
    for key in ("resources", "writes", "written"):
        items = entry.get(key)
        if not isinstance(items, list):
            continue
        for item in items:
            if isinstance(item, str) and item:
                out.append({"name": item, "digest": {"sha256": digest}})
            elif isinstance(item, dict):
                name = item.get("resource_id") or item.get("id") or item.get("resource") or item.get("label")
                if name:
                    out.append({"name": str(name), "digest": {"sha256": hashlib.sha256(_canonical(item)).hexdigest()}})
    out.append({"name": f"ledger-entry/{entry.get('seq')}", "digest": {"sha256": digest}})
    return out


def target_of(entry: dict[str, Any]) -> dict[str, Any]:
    """Where the change went: ``emulator`` or ``azure``, the subscription, and the endpoint when the entry names
    it — signed, so an emulator record cannot be relabelled as production evidence."""
    target = entry.get("target")
    if isinstance(target, dict):
        out = {"name": target.get("name"), "subscription": target.get("subscription")}
    else:
        out = {"name": target, "subscription": entry.get("subscription_id", entry.get("subscription"))}
    if entry.get("endpoint"):
        out["endpoint"] = entry["endpoint"]
    return out


# ---- loading and creating keys -----------------------------------------------------------------
_signers: dict[Path, Signer] = {}
_lock = threading.Lock()


def load_signer(*, create: bool = True) -> Signer:
    """The process's signer (``key_paths()``), created on first use; loaded once per process and path."""
    key_path, pub_path = key_paths()
    where = key_path.absolute()
    with _lock:
        signer = _signers.get(where)
        if signer is None:
            signer = _load_or_create(key_path, pub_path, create=create)
            _signers[where] = signer
        return signer


def _load_or_create(key_path: Path, pub_path: Path, *, create: bool) -> Signer:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _refuse_open_folder(key_path.parent)
    if not key_path.exists():
        if not create:
            raise SigningError(f"no signing key at {key_path}")
        _create(key_path, pub_path)
        _refuse_open_folder(key_path.parent)
    try:
        mode = key_path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SigningError(f"signing key {key_path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                               "allowed: 0600 (chmod 600 it)")
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except OSError as exc:
        raise SigningError(f"signing key {key_path} cannot be read ({exc.strerror or exc})") from None
    except (ValueError, TypeError) as exc:
        raise SigningError(f"signing key {key_path} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise SigningError(f"signing key {key_path} is not an Ed25519 key")
    signer = Signer(private, key_path, pub_path)
    if not pub_path.exists():
        _write_new(pub_path, _public_pem(signer), 0o644)
    _refuse_foreign_pub(signer, pub_path)
    return signer


def _refuse_open_folder(folder: Path) -> None:
    """A key folder others can write is refused: they could swap the key, its public half or the anchors."""
    try:
        st = folder.stat()
    except FileNotFoundError:
        return   # created 0700 by _create
    except OSError as exc:
        raise SigningError(f"signing key folder {folder} cannot be read ({exc.strerror or exc})") from None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SigningError(f"signing key folder {folder} can be written by other users (mode "
                           f"{stat.S_IMODE(st.st_mode):04o}): they could replace the key or its public half; "
                           f"fix: chmod 700 {folder} (or use another folder: ${DIR_ENV} or ${KEY_ENV})")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SigningError(f"signing key folder {folder} belongs to another user (uid {st.st_uid}); fix: use a "
                           f"folder of your own (${DIR_ENV} or ${KEY_ENV}) or chown it")


def _refuse_foreign_pub(signer: Signer, pub_path: Path) -> None:
    """The public key file beside the key must be the key's own half (a planted one would be handed to auditors
    as the key to verify with)."""
    try:
        raw = _raw_public(pub_path.read_bytes())
    except OSError as exc:
        raise SigningError(f"public key {pub_path} cannot be read ({exc.strerror or exc})") from None
    if raw != signer.raw_public:
        what = "is not an Ed25519 public key" if raw is None else f"is another key ({fingerprint_of(raw)})"
        raise SigningError(f"public key {pub_path} does not match the signing key {signer.key_path} "
                           f"({signer.fingerprint}): it {what} — planted, or left from an earlier key; fix: remove "
                           f"{pub_path} (it is written again from the key) after checking who put it there")


def _public_pem(signer: Signer) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return signer._private.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo)


def _create(key_path: Path, pub_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    folder = key_path.parent
    try:
        existed = folder.exists()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not existed:
            os.chmod(folder, 0o700)
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        if _write_new(key_path, pem, 0o600):
            _write_new(pub_path, _public_pem(Signer(private)), 0o644)
    except OSError as exc:
        raise SigningError(f"signing key {key_path} cannot be created ({exc.strerror or exc}); allowed: a "
                           f"writable folder outside the evidence folder (${DIR_ENV} or ${KEY_ENV})") from None


def _write_new(path: Path, data: bytes, mode: int) -> bool:
    """Write ``path`` atomically, never replacing an existing file (another process may have won the race);
    returns whether this call created it."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(tmp)


def anchor_dir_for(key: PublicKey) -> Path | None:
    """Where the anchors of ``key`` are kept: this host's signer folder when ``key`` is this host's key (given as
    its file, a copy of it or its fingerprint), else the folder of the key file given (None for a fingerprint)."""
    local = local_public_key()
    if local is not None and local.keyid == key.keyid:
        return key_paths()[0].parent
    return key.path.parent if key.path is not None else None


def local_public_key() -> PublicKey | None:
    """This process's key (``key_paths()``) if it exists; never creates one."""
    key_path, pub_path = key_paths()
    if not key_path.exists():
        return None
    try:
        return load_signer(create=False).public_key
    except SigningError:
        return None


def load_public_key(spec: str) -> PublicKey:
    """``--key``: a public key file (PEM, as ``vpnrunbook evidence key`` prints), a private key file (its
    public half is used), or a fingerprint ``SHA256:<64 hex>`` (then the public key comes from the ledger's
    own statements, where its SHA-256 must match). ValueError says what is allowed."""
    text = spec.strip()
    digest = text[len(FINGERPRINT_PREFIX):] if text.upper().startswith(FINGERPRINT_PREFIX) else text
    if len(digest) == 64 and all(c in "0123456789abcdefABCDEF" for c in digest) and not Path(text).exists():
        local = local_public_key()
        if local is not None and local.keyid == digest.lower():
            return local
        return PublicKey(digest.lower())
    path = Path(text).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"--key {spec!r}: {exc.strerror or exc}; allowed: the public key file "
                         "(`vpnrunbook evidence key` prints its path) or its fingerprint SHA256:<64 hex>") from None
    raw = _raw_public(data)
    if raw is None:
        raise ValueError(f"--key {spec!r} is not an Ed25519 public key (PEM); allowed: the public key file "
                         "(`vpnrunbook evidence key` prints its path) or its fingerprint SHA256:<64 hex>")
    return PublicKey(keyid_of(raw), raw, path)


def _raw_public(data: bytes) -> bytes | None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    key: Any = None
    for loader in (serialization.load_pem_public_key, lambda d: serialization.load_pem_private_key(d, None)):
        try:
            key = loader(data)
            break
        except (ValueError, TypeError):
            continue
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        return None
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


# ---- opening envelopes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Opened:
    statement: dict[str, Any]
    key: PublicKey


def open_envelope(envelope: Any, key: PublicKey | None = None) -> Opened:
    """Verify ``envelope`` (with ``key``, or with the public key its statement embeds) and return the statement.

    Raises SignatureError naming the problem: not an envelope, wrong payload type, no signature, a signature
    by another key, a signature that does not verify (edited after signing)."""
    if not isinstance(envelope, dict):
        raise SignatureError("envelope is not a JSON object")
    if envelope.get("payloadType") != PAYLOAD_TYPE:
        raise SignatureError(f"payloadType {envelope.get('payloadType')!r}, not {PAYLOAD_TYPE}")
    try:
        payload = base64.b64decode(envelope.get("payload", ""), validate=True)
        statement = json.loads(payload)
    except (binascii.Error, ValueError, TypeError):
        raise SignatureError("payload is not base64 JSON") from None
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise SignatureError(f"payload is not an in-toto Statement ({STATEMENT_TYPE})")
    sigs = envelope.get("signatures")
    if not isinstance(sigs, list) or not sigs:
        raise SignatureError("envelope has no signature")
    embedded = _embedded_key(statement)
    message = pae(PAYLOAD_TYPE, payload)
    ids = []
    for s in sigs:
        if not isinstance(s, dict):
            continue
        keyid = str(s.get("keyid", ""))
        ids.append(keyid)
        try:
            sig = base64.b64decode(s.get("sig", ""), validate=True)
        except (binascii.Error, ValueError, TypeError):
            continue
        candidate = key if key is not None else embedded
        if candidate is None:
            continue
        if key is not None and candidate.raw is None and embedded is not None and embedded.keyid == key.keyid:
            candidate = embedded  # --key given as a fingerprint: the embedded key hashes to it
        if keyid and keyid != candidate.keyid:
            continue
        if candidate.verify(sig, message):
            return Opened(statement, candidate)
        raise SignatureError(f"signature by {FINGERPRINT_PREFIX}{keyid[:16]}… does not verify: the line was "
                             "edited after it was signed")
    if key is not None:
        shown = ", ".join(f"{FINGERPRINT_PREFIX}{i[:16]}…" for i in ids if i) or "an unnamed key"
        raise SignatureError(f"signed by {shown}, not by the key given ({key.fingerprint[:23]}…)")
    raise SignatureError("no signature verifies with the public key the statement names")


def _embedded_key(statement: dict[str, Any]) -> PublicKey | None:
    signer = (statement.get("predicate") or {}).get("signer") if isinstance(statement.get("predicate"), dict) else None
    if not isinstance(signer, dict):
        return None
    text = str(signer.get("publicKey", ""))
    if text in _embedded:
        return _embedded[text]
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    found = PublicKey(keyid_of(raw), raw) if len(raw) == 32 else None
    if len(_embedded) < 1024:
        _embedded[text] = found
    return found


# ---- ledger lines: the signed entry and its line ------------------------------------------------------------
_ENVELOPE_NAME = b'"envelope":'
# the envelope exactly as Signer.sign_statement writes it (one signature): read without a JSON parser; its strings
# hold base64 and hex only (no quote, no escape), so a full match is one JSON object, nothing after it
_WRITTEN_ENVELOPE = re.compile(rb'\{"payload":"([A-Za-z0-9+/]*={0,2})","payloadType":"application/vnd\.in-toto\+json",'
                               rb'"signatures":\[\{"keyid":"([0-9a-f]{64})","sig":"([A-Za-z0-9+/]*={0,2})"\}\]\}')


class Split:
    """A line in v2's layout: ``digest`` is the SHA-256 of its bytes before ``,"envelope":`` closed by ``}``
    (the entry's canonical JSON when the line is as written); ``envelope`` the envelope parsed from its own bytes;
    ``written``: its (payload, keyid, signature) when the envelope is exactly as the signer writes it;
    ``line_sha256``: the SHA-256 of the whole line (the ledger's chain hash), when known."""

    __slots__ = ("digest", "_envelope", "written", "line_sha256", "at")

    def __init__(self, digest: str, envelope: Any, written: tuple[bytes, str, bytes] | None = None,
                 line_sha256: str | None = None, at: int = 0) -> None:
        self.digest, self._envelope, self.written, self.line_sha256 = digest, envelope, written, line_sha256
        self.at = at  # where ``,"envelope":`` starts: the entry's bytes are the line's up to here, then ``}``

    @property
    def envelope(self) -> Any:
        if self._envelope is None and self.written is not None:
            payload, keyid, sig = self.written
            self._envelope = {"payload": payload.decode("ascii"), "payloadType": PAYLOAD_TYPE,
                              "signatures": [{"keyid": keyid, "sig": sig.decode("ascii")}]}
        return self._envelope


def split_line(raw: bytes) -> Split | None:
    """The digest and envelope of a line laid out as :meth:`Signer.sign_line` writes it, read from its bytes;
    None when it is laid out otherwise (the caller then checks the canonical JSON of the parsed entry).

    Why this never accepts what the parsed entry's check would refuse: it answers only when the line is
    ``P + ',"envelope":' + E + '}'`` where ``P`` holds no ``"envelope":`` at all (the first one in the line is
    this one: so the entry has no second envelope key) and ``E`` alone is one JSON value (so nothing follows the
    envelope: no key after it that would override one in ``P``). Then the parsed line is exactly the members of
    ``P + '}'`` plus ``envelope: E``. When ``sha256(P + '}')`` equals the signed digest, ``P + '}'`` *is* the
    canonical JSON the signer hashed — no duplicate key, no escaped spelling of a key, sorted — so the parsed
    entry is the signed one (for entries whose keys are strings, i.e. any entry JSON can hold) and its canonical
    JSON hashes to the same digest. (tests/notebooks/test_statement_v2.py tries mutations of a line against it.)"""
    if not raw.endswith(b"}}"):  # the envelope's closing brace, then the line's (a v1 line ends otherwise)
        return None
    at = raw.find(_ENVELOPE_NAME) - 1
    if at <= 1 or raw[at] != 0x2C or raw[at + 12] != 0x7B:  # ',' before, '{' after
        return None
    body = raw[at + 12:-1]
    match = _WRITTEN_ENVELOPE.fullmatch(body)
    envelope, written = None, None
    if match is not None:
        payload, keyid, sig = match.groups()
        written = (payload, keyid.decode("ascii"), sig)
    else:
        try:
            envelope = json.loads(body)
        except ValueError:  # not one JSON value: something follows the envelope (or it is not JSON)
            return None
    # the entry's digest hashes raw[:at] + "}", the chain hash the whole line raw[:at] + raw[at:]: SHA-256 reads
    # its input in order, so the state after the shared prefix is copied and each copy takes its own rest (one
    # pass over the ~4 KB prefix instead of two; the same digests as hashing each byte string on its own)
    h = hashlib.sha256(memoryview(raw)[:at])
    whole = h.copy()
    whole.update(memoryview(raw)[at:])
    h.update(b"}")
    return Split(h.hexdigest(), envelope, written, whole.hexdigest(), at)


_SCAN = json.JSONDecoder().scan_once  # the scanner json.loads uses (the same default settings)


def loads(data: bytes) -> Any:
    """``json.loads(data)`` — the same value, the same refusals — with less around it, for bytes that start with
    ``{`` then a non-zero byte and end with ``}`` (a ledger line, a statement): ``json.loads`` would read them as
    UTF-8 (its encoding check) and find no whitespace around the value to skip, so it is the scanner's value when
    the scanner ends at the last byte. Anything else (another start or end, a scan that stops early or fails) is
    left to ``json.loads`` itself, so every refusal is its own. About 2 µs less a parse (of ~12 for a line)."""
    if data[:1] == b"{" and data[-1:] == b"}" and data[1:2] != b"\0":
        try:
            text = data.decode("utf-8", "surrogatepass")
            value, end = _SCAN(text, 0)
        except (StopIteration, ValueError):
            return json.loads(data)
        if end == len(text):
            return value
    return json.loads(data)


def load_line(raw: bytes, split: Split | None) -> Any:
    """``json.loads(raw)`` — the same value, the same refusals (ValueError) — without parsing again the envelope
    ``split`` (:func:`split_line` of ``raw``) read: the entry's bytes ``P + '}'`` are parsed, and ``envelope`` set.

    Why the same: ``split`` answers only for ``raw = P + ',"envelope":' + E + '}'`` with ``E`` alone one JSON
    value. When ``raw`` is valid JSON, that first ``"envelope":`` (its quotes unescaped: no string can hold it)
    is a key, and as ``E`` runs to the line's last brace it is the top-level object's last member: ``P + '}'``
    is that object without it, and ``json.loads(raw)`` its members then ``envelope: E`` (last wins, as here).
    Conversely when ``P + '}'`` is an object with at least one member, ``raw`` is that object plus one more
    member, valid JSON too; an empty one (``P`` = ``{`` and spaces) or any ValueError is decided by parsing the
    whole line. Both parses decode the same UTF-8 (``P`` ends before an ASCII comma): ``raw`` starting ``{`` then
    a non-zero byte makes ``json.loads`` read both as UTF-8."""
    if split is None or split.at < 2 or raw[0] != 0x7B or raw[1] == 0:
        return json.loads(raw)
    try:
        entry = loads(raw[:split.at] + b"}")
    except ValueError:
        return json.loads(raw)
    if type(entry) is not dict or not entry:
        return json.loads(raw)
    entry[ENVELOPE_KEY] = split.envelope
    return entry


_PAE_PREFIX = b"DSSEv1 %d %s " % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode("ascii"))


def open_split(split: Split, key: PublicKey | None = None) -> Opened | None:
    """:func:`open_envelope` for an envelope exactly as the signer writes it (``split.written``), without its
    generality: the opened statement when its one signature verifies with ``key`` (or the key the statement
    names; ``key`` may be a fingerprint it hashes to); None for anything else — the caller then opens it with
    :func:`open_envelope`, which accepts the same and names what is wrong."""
    if split.written is None:
        return None
    payload_b64, keyid, sig_b64 = split.written
    try:
        payload = binascii.a2b_base64(payload_b64, strict_mode=True)  # = base64.b64decode(validate=True)
        statement = loads(payload)
        sig = binascii.a2b_base64(sig_b64, strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    if type(statement) is not dict or statement.get("_type") != STATEMENT_TYPE:
        return None
    candidate = key
    if key is None or key.raw is None:
        candidate = _embedded_key(statement)
        if candidate is None or (key is not None and candidate.keyid != key.keyid):
            return None
    if keyid != candidate.keyid or not candidate.verify(sig, b"%s%d %s" % (_PAE_PREFIX, len(payload), payload)):
        return None
    return Opened(statement, candidate)


def entry_digest(statement: dict[str, Any]) -> str | None:
    """The digest a v2 statement signs its ledger entry by (its last subject, ``ledger-entry/<seq>``)."""
    subject = statement.get("subject")
    if not isinstance(subject, list) or not subject or not isinstance(subject[-1], dict):
        return None
    last = subject[-1]
    digest = last.get("digest")
    if not str(last.get("name", "")).startswith(ENTRY_SUBJECT) or not isinstance(digest, dict):
        return None
    value = digest.get("sha256")
    return value if isinstance(value, str) else None


def line_problems(statement: dict[str, Any], entry: dict[str, Any], split: Split | None = None,
                  raw: bytes | None = None) -> list[str]:
    """What is wrong between a ledger line (``entry`` parsed, ``raw`` its bytes when known, ``split`` what
    :func:`split_line` read from them) and the statement its signature verified: empty when the line is the one
    signed. Each problem starts ``differs from its signed statement``."""
    predicate = statement.get("predicate")
    if not isinstance(predicate, dict):
        predicate = {}
    if statement.get("predicateType") != PREDICATE_TYPE:  # v1 (or unknown): the statement holds a copy
        signed = predicate.get("entry")
        visible = {k: v for k, v in entry.items() if k != ENVELOPE_KEY}
        if signed == visible:
            return []
        changed = sorted(k for k in set(visible) | set(signed or {}) if visible.get(k) != (signed or {}).get(k))
        return [f"differs from its signed statement in {', '.join(changed)}: edited after it was signed"]
    signed_digest = entry_digest(statement)
    found: list[str] = []
    if split is None or split.digest != signed_digest:  # another layout, or edited: the parsed entry decides
        visible = {k: v for k, v in entry.items() if k != ENVELOPE_KEY}
        if hashlib.sha256(_canonical(visible)).hexdigest() != signed_digest:
            names = _changed_fields(statement, visible)
            return [f"differs from its signed statement in {', '.join(names)} (its content no longer matches the "
                    f"signed digest): edited after it was signed" if names else
                    "differs from its signed statement: its content no longer matches the signed digest (edited "
                    "after it was signed)"]
        twice = _keys_twice(raw) if raw is not None else []
        if twice:
            found.append(f"differs from its signed statement: it holds {', '.join(twice)} twice (a reader may take "
                         "either value): edited after it was signed")
    signed_target, target = predicate.get("target"), target_of(entry)
    if signed_target != target:
        found.append(f"differs from its signed statement in target: signed for {signed_target!r}, the line names "
                     f"{target!r}")
    return found


def _changed_fields(statement: dict[str, Any], visible: dict[str, Any]) -> list[str]:
    """The fields of an edited v2 line that differ from what its statement signs besides the entry's digest:
    seq (the entry subject's name), the manifest, resources / writes / written (their items' digests) and the
    target; the rest of the line is signed only by the digest, so no other field can be named."""
    signed = statement.get("subject") if isinstance(statement.get("subject"), list) else []
    signed_pairs = [(str(s.get("name")), str((s.get("digest") or {}).get("sha256")))
                    for s in signed if isinstance(s, dict) and isinstance(s.get("digest"), dict)]
    mine = subjects(visible, digest="")
    names: set[str] = set()
    if signed_pairs and signed_pairs[-1][0] != mine[-1]["name"]:
        names.add("seq")
    rest = signed_pairs[:-1]
    manifest = [p for p in rest if p[0].endswith("/manifest.json")]
    mine_manifest = [(s["name"], s["digest"]["sha256"]) for s in mine[:-1] if s["name"].endswith("/manifest.json")]
    if manifest != mine_manifest:
        names.add("manifest_sha256")
    for key in ("resources", "writes", "written"):
        items = subjects({key: visible.get(key)}, digest="")[:-1]
        if any((s["name"], s["digest"]["sha256"]) not in rest for s in items if s["digest"]["sha256"]):
            names.add(key)
    predicate = statement.get("predicate")
    target, signed_target = target_of(visible), predicate.get("target") if isinstance(predicate, dict) else None
    if not isinstance(signed_target, dict):
        names.add("target")
    else:
        if target.get("name") != signed_target.get("name"):
            names.add("target")
        if target.get("subscription") != signed_target.get("subscription"):
            names.add("target" if isinstance(visible.get("target"), dict) else
                      "subscription" if "subscription" in visible and "subscription_id" not in visible
                      else "subscription_id")
        if target.get("endpoint") != signed_target.get("endpoint"):
            names.add("endpoint")
    return sorted(names)


def _keys_twice(raw: bytes) -> list[str]:
    """The keys a JSON line holds twice in one object (the parser keeps the last; another reader the first)."""
    twice: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for k, _ in items:
            if k in seen and k not in twice:
                twice.append(k)
            seen.add(k)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except ValueError:
        return []
    return twice


def open_line(entry: dict[str, Any], raw: bytes | None = None,
              key: PublicKey | None = None) -> tuple[Opened, list[str]]:
    """Verify a ledger line's signature (with ``key``, else the key its statement names) and check the line
    against the statement: (the opened statement, the problems of :func:`line_problems`). Raises SignatureError
    when the line is unsigned or no signature verifies."""
    split = split_line(raw) if raw is not None else None
    opened = open_split(split, key) if split is not None else None
    if opened is None:
        envelope = split.envelope if split is not None else entry.get(ENVELOPE_KEY)
        if envelope is None:
            raise SignatureError("is not signed (no envelope)")
        opened = open_envelope(envelope, key)
    return opened, line_problems(opened.statement, entry, split, raw)
