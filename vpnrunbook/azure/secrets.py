"""Shared keys by reference only: ``env:NAME``, ``file:PATH`` or ``generate``.

A key is resolved inside the operation that needs it and is never returned in a result, printed,
logged or put in an exception message. ``generate`` writes a strong random key to a file with mode
0600 under ``$VPNRUNBOOK_STATE_DIR/secrets/`` and from then on the key is referred to by that file.

A reference is resolved only from the places the operator allows (a job's parameters must not turn any readable
variable or file into a shared key that anyone with ARM read access can read back):

- ``env:NAME`` — ``NAME`` starts with an allowed prefix: ``$VPNRUNBOOK_SECRET_ENV_PREFIX`` (comma-separated;
  default ``VPNRUNBOOK_``, which holds the demo's ``VPNRUNBOOK_SEED_KEY``), and is not one of the project's own
  settings (:data:`PROJECT_SETTINGS`: ``VPNRUNBOOK_SIGNING_KEY``, ``VPNRUNBOOK_EMULATOR_TOKEN`` ...);
- ``file:PATH`` — the file, symbolic links resolved, lies inside the state folder's ``secrets/`` (where ``generate``
  and ``vpnrunbook demo`` write keys) or a folder listed in ``$VPNRUNBOOK_SECRETS_DIR`` (``os.pathsep``-separated).

Anything else (``env:WORKER_SECRET``, ``file:/etc/machine-id``) is refused naming the rule (:func:`place_problem`).
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import string
from pathlib import Path

from vpnrunbook.policy import rules

ENV_PREFIX = "env:"
FILE_PREFIX = "file:"
GENERATE = "generate"
ALLOWED_FORMS = "'env:NAME' (an environment variable), 'file:PATH' (a file holding only the key) or 'generate'"

# Letters and digits only: inside Azure's charset (printable ASCII without space, '-' and '~') and
# accepted by every VPN device's configuration syntax without quoting. 32 characters ≈ 190 bits.
GENERATED_ALPHABET = string.ascii_letters + string.digits
GENERATED_LENGTH = 32
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


SECRETS_DIR_ENV = "VPNRUNBOOK_SECRETS_DIR"
ENV_PREFIX_ENV = "VPNRUNBOOK_SECRET_ENV_PREFIX"
DEFAULT_ENV_PREFIX = "VPNRUNBOOK_"
# the project's own settings: never a shared key, whatever the prefix allows
PROJECT_SETTINGS = frozenset({
    "VPNRUNBOOK_SIGNING_KEY", "VPNRUNBOOK_SIGNING_DIR", "VPNRUNBOOK_STATE_DIR", "VPNRUNBOOK_EVIDENCE_DIR",
    "VPNRUNBOOK_DB", "VPNRUNBOOK_EMULATOR_TOKEN", "VPNRUNBOOK_EMULATOR_URL", "VPNRUNBOOK_EMULATOR_CA",
    "VPNRUNBOOK_TARGET", "VPNRUNBOOK_BIN", "VPNRUNBOOK_REPO", "VPNRUNBOOK_OPERATOR", "VPNRUNBOOK_POLICY_DIR",
    "VPNRUNBOOK_PROGRESS_FILE", "VPNRUNBOOK_RUN_DIR", "VPNRUNBOOK_RUN_ID", "VPNRUNBOOK_STEP", "VPNRUNBOOK_HEADLESS",
    "VPNRUNBOOK_SECRETS_DIR", "VPNRUNBOOK_SECRET_ENV_PREFIX", "VPNRUNBOOK_KERNEL_WARM",
    "VPNRUNBOOK_KERNEL_WARM_MODULES", "VPNRUNBOOK_DEMO_PARALLEL", "VPNRUNBOOK_EMULATOR_TIME_FACTOR",
    "VPNRUNBOOK_AIRFLOW_RETRIES", "VPNRUNBOOK_AIRFLOW_RETRY_DELAY", "VPNRUNBOOK_CI"})


class SecretReferenceError(ValueError):
    """A shared-key reference is malformed or cannot be resolved. The message never holds the key."""


def state_dir() -> Path:
    return Path(os.environ.get("VPNRUNBOOK_STATE_DIR") or ".vpnrunbook")


def secrets_dir() -> Path:
    return state_dir() / "secrets"


def allowed_env_prefixes() -> tuple[str, ...]:
    text = os.environ.get(ENV_PREFIX_ENV)
    prefixes = tuple(p.strip() for p in (text if text is not None else DEFAULT_ENV_PREFIX).split(",") if p.strip())
    return prefixes


def allowed_folders() -> list[Path]:
    """The folders a ``file:`` reference may point into (resolved): the state folder's ``secrets/`` and
    ``$VPNRUNBOOK_SECRETS_DIR``'s."""
    extra = [Path(p).expanduser() for p in os.environ.get(SECRETS_DIR_ENV, "").split(os.pathsep) if p.strip()]
    return [f.resolve() for f in (secrets_dir(), *extra)]


def place_rule() -> str:
    prefixes = ", ".join(f"{p}*" for p in allowed_env_prefixes()) or "none"
    folders = ", ".join(str(f) for f in allowed_folders())
    return (f"env:NAME with NAME in {prefixes} (${ENV_PREFIX_ENV}; not a vpnrunbook setting), or file:PATH "
            f"inside {folders} (${SECRETS_DIR_ENV}), or generate")


def place_problem(ref: str) -> str | None:
    """Why a well-formed reference points outside the allowed places (None when it is allowed)."""
    if ref == GENERATE:
        return None
    if ref.startswith(ENV_PREFIX):
        name = ref[len(ENV_PREFIX):]
        if name in PROJECT_SETTINGS:
            return f"{name} is a vpnrunbook setting, never a shared key"
        if not any(name.startswith(p) for p in allowed_env_prefixes()):
            return f"environment variable {name} is not one the operator allows for keys"
        return None
    if ref.startswith(FILE_PREFIX):
        try:
            path = key_file(ref).resolve()
        except (OSError, RuntimeError, ValueError):
            return "the file's path cannot be resolved"
        if not any(path.is_relative_to(folder) for folder in allowed_folders()):
            return f"file {path} is outside the folders the operator allows for keys"
    return None


def is_reference(value: object) -> bool:
    """True when ``value`` has one of the reference forms (it says nothing about whether it resolves)."""
    return isinstance(value, str) and (value == GENERATE or value.startswith((ENV_PREFIX, FILE_PREFIX)))


def check_reference(ref: object, *, label: str = "shared_key_ref") -> None:
    """Refuse anything that is not a reference. A literal key is refused without echoing it."""
    if not isinstance(ref, str):
        raise SecretReferenceError(f"{label} must be a string reference; allowed: {ALLOWED_FORMS}")
    if ref == GENERATE:
        return
    if ref.startswith(ENV_PREFIX):
        name = ref[len(ENV_PREFIX):]
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise SecretReferenceError(f"{label} {ref!r}: {name!r} is not an environment variable name; "
                                       "allowed: env:NAME with letters, digits and '_'")
        _check_place(ref, label)
        return
    if ref.startswith(FILE_PREFIX):
        if not ref[len(FILE_PREFIX):]:
            raise SecretReferenceError(f"{label} 'file:' has no path; allowed: file:PATH")
        _check_place(ref, label)
        return
    # Do not echo: the caller may have pasted the key itself.
    raise SecretReferenceError(f"{label} is not a reference (value not shown, it may be a key); "
                               f"allowed: {ALLOWED_FORMS}. Shared keys are never given as literal values.")


def _check_place(ref: str, label: str) -> None:
    why = place_problem(ref)
    if why is not None:
        raise SecretReferenceError(f"{label} {ref!r}: {why}; allowed: {place_rule()}")


def key_file(ref: str) -> Path:
    """The file a ``file:PATH`` reference names: a relative PATH is taken from the project root (the folder with
    notebooks/ and parameters/), so the CLI and a JupyterLab kernel (which runs in notebooks/) read the same file."""
    from vpnrunbook.project import project_path

    return project_path(ref[len(FILE_PREFIX):])


def resolve_shared_key(ref: str, *, label: str = "shared_key_ref") -> str:
    """The key a reference points to, checked against Azure's charset and length.

    ``generate`` cannot be resolved directly: call :func:`generate_shared_key` (the operations do it
    for you, naming the file after the connection) and use the ``file:`` reference it returns.
    """
    check_reference(ref, label=label)
    if ref == GENERATE:
        raise SecretReferenceError(f"{label} 'generate' must first be turned into a file reference with "
                                   "generate_shared_key(name)")
    if ref.startswith(ENV_PREFIX):
        name = ref[len(ENV_PREFIX):]
        key = os.environ.get(name)
        if key is None:
            raise SecretReferenceError(f"{label} {ref!r}: environment variable {name} is not set")
        if key == "":
            raise SecretReferenceError(f"{label} {ref!r}: environment variable {name} is empty")
    else:
        path = key_file(ref)
        try:
            key = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretReferenceError(f"{label} {ref!r}: file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise SecretReferenceError(f"{label} {ref!r}: file {path} cannot be read ({reason})") from None
        key = key.rstrip("\r\n")
    problems = rules.check_shared_key(key, label=label)
    if problems:
        raise SecretReferenceError(f"{label} {ref!r}: the key it points to is not usable: "
                                   + "; ".join(f"{p.message}" for p in problems)
                                   + f" (allowed: {problems[0].allowed})")
    return key


def generate_shared_key(name: str, *, length: int = GENERATED_LENGTH, overwrite: bool = False) -> str:
    """Create (or reuse) ``$STATE_DIR/secrets/<name>.key`` with a random key, mode 0600; return ``file:<path>``.

    Reusing an existing file keeps a re-run idempotent: the same connection keeps the same key.
    """
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise SecretReferenceError(f"secret name {name!r} is not allowed; use 1-100 letters, digits, '.', '_' or '-' "
                                   "starting with a letter or digit")
    if not rules.SHARED_KEY_LENGTH.contains(length) or length < 16:
        raise SecretReferenceError(f"length {length} is not allowed; use 16 to {rules.SHARED_KEY_LENGTH.maximum}")
    folder = secrets_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    path = (folder / f"{name}.key").resolve()
    if path.exists() and not overwrite:
        return FILE_PREFIX + str(path)
    key = "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(length))
    tmp = path.with_suffix(".key.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key.encode("ascii") + b"\n")
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return FILE_PREFIX + str(path)


def materialize_reference(ref: str, *, name: str) -> str:
    """``generate`` → the ``file:`` reference of a key named ``name`` (created once); other forms unchanged."""
    check_reference(ref)
    return generate_shared_key(name) if ref == GENERATE else ref


def describe_ref(ref: str) -> str:
    """A text safe for evidence: the reference form and whether it resolves, never the key."""
    try:
        check_reference(ref)
    except SecretReferenceError:
        return "<not a reference: value withheld>"
    if ref == GENERATE:
        return "generate (a new random key, written to a 0600 file under the state dir)"
    if ref.startswith(ENV_PREFIX):
        name = ref[len(ENV_PREFIX):]
        return f"{ref} ({'set' if os.environ.get(name) else 'not set'})"
    path = key_file(ref)
    if not path.exists():
        return f"{ref} (missing)"
    mode = stat.S_IMODE(path.stat().st_mode)
    note = "" if mode & 0o077 == 0 else ", readable by others: chmod 600 it"
    return f"{ref} (mode {mode:04o}{note})"
