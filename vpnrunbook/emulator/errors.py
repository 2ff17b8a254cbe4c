"""ARM errors: one class per error code, each rendering the ``{"error": {code, message, details}}`` envelope.

Codes follow Azure where the real code is known (ResourceNotFound, ParentResourceNotFound,
ResourceGroupNotFound, NoRegisteredProviderFound, MissingApiVersionParameter, PreconditionFailed,
AnotherOperationInProgress, InvalidResourceReference, AuthenticationFailed ...). Validation errors carry
the stable code of the first :class:`vpnrunbook.policy.rules.Problem` and one detail per problem.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vpnrunbook.policy.rules import Problem


class ArmError(Exception):
    """An error answered with the ARM envelope. Subclasses fix ``status`` and ``code``."""

    status: int = 400
    code: str = "BadRequest"

    def __init__(self, message: str, *, details: Sequence[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])
        self.headers = dict(headers or {})
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        error["details"] = self.details
        return {"error": error}


class BadRequest(ArmError):
    status, code = 400, "BadRequest"


class InvalidRequestFormat(ArmError):
    status, code = 400, "InvalidRequestFormat"


class InvalidRequestContent(ArmError):
    status, code = 400, "InvalidRequestContent"


class MissingApiVersionParameter(ArmError):
    status, code = 400, "MissingApiVersionParameter"


class NoRegisteredProviderFound(ArmError):
    """Azure's answer to an api-version the provider does not serve; the message names the supported ones."""

    status, code = 400, "NoRegisteredProviderFound"


def resource_type_of(path: str, provider: str) -> str:
    """``virtualNetworks/subnets`` from ``…/providers/Microsoft.Network/virtualNetworks/V/subnets/S`` (names
    dropped); ``resourceGroups`` or the last segment for Microsoft.Resources paths."""
    parts = [p for p in path.split("/") if p]
    lower = [p.lower() for p in parts]
    if "providers" in lower and lower.index("providers") + 1 < len(parts) and \
            lower[lower.index("providers") + 1] == provider.lower():
        rest = parts[lower.index("providers") + 2:]
        return "/".join(rest[0::2]) or provider
    if "resourcegroups" in lower:
        return "resourceGroups" if lower[-2:-1] == ["resourcegroups"] else parts[-1]
    return parts[-1] if parts else provider


def no_registered_provider(provider: str, version: str, path: str, supported: Sequence[str],
                           locations: Sequence[str]) -> NoRegisteredProviderFound:
    """ARM's wording (as Azure answered, e.g. Azure/azure-sdk-for-js#9297): the versions oldest first, joined by
    ", ", then the supported locations."""
    return NoRegisteredProviderFound(
        f"No registered resource provider found for API version '{version}' for type "
        f"'{resource_type_of(path, provider)}' of namespace '{provider}'. The supported api-versions are "
        f"'{', '.join(sorted(supported))}'. The supported locations are '{', '.join(locations)}'.")


def invalid_api_version(version: str, supported: Sequence[str]) -> ArmError:
    """ARM's wording for a malformed api-version (as reported in ansible-collections/azure#1739): newest first,
    joined by "," without spaces."""
    return ArmError(f"The api-version '{version}' is invalid. The supported versions are "
                    f"'{','.join(sorted(supported, reverse=True))}'.", code="InvalidApiVersionParameter")


class InvalidResourceReference(ArmError):
    status, code = 400, "InvalidResourceReference"


class ReferencedResourceNotProvisioned(ArmError):
    status, code = 400, "ReferencedResourceNotProvisioned"


class InUseSubnetCannotBeDeleted(ArmError):
    status, code = 400, "InUseSubnetCannotBeDeleted"


class PublicIPAddressInUse(ArmError):
    status, code = 400, "PublicIPAddressInUseByOtherResource"


class ResourceInUse(ArmError):
    """A gateway or local gateway still referenced by a connection."""

    status, code = 400, "ResourceInUseCannotBeDeleted"


class AuthenticationFailed(ArmError):
    status, code = 401, "AuthenticationFailed"


class ResourceNotFound(ArmError):
    status, code = 404, "ResourceNotFound"


class ParentResourceNotFound(ArmError):
    status, code = 404, "ParentResourceNotFound"


class ResourceGroupNotFound(ArmError):
    status, code = 404, "ResourceGroupNotFound"


class RouteNotFound(ArmError):
    """No such endpoint in the emulator (Azure answers an unknown type the same way)."""

    status, code = 404, "InvalidResourceType"


class MethodNotAllowed(ArmError):
    status, code = 405, "MethodNotAllowed"


class AnotherOperationInProgress(ArmError):
    status, code = 409, "AnotherOperationInProgress"


class Conflict(ArmError):
    status, code = 409, "Conflict"


class PreconditionFailed(ArmError):
    status, code = 412, "PreconditionFailed"


class TooManyRequests(ArmError):
    status, code = 429, "TooManyRequests"


class InternalServerError(ArmError):
    status, code = 500, "InternalServerError"


class ServiceUnavailable(ArmError):
    status, code = 503, "ServiceUnavailable"


def describe(p: Problem) -> str:
    """``field (value): message; allowed: ...`` — the value is shown unless the message already quotes it."""
    text = str(p)
    if p.value is not None and str(p.value) not in p.message:
        text = f"{p.field} ({p.value}): {p.message}" + (f"; allowed: {p.allowed}" if p.allowed else "")
    return text


class ValidationFailed(ArmError):
    """A request body broke one or more of Azure's rules (the shared ``vpnrunbook.policy.rules``)."""

    status = 400

    def __init__(self, problems: Sequence[Problem], *, subject: str) -> None:
        self.problems = list(problems)
        code = self.problems[0].code if self.problems else "InvalidRequestContent"
        lines = [describe(p) for p in self.problems]
        message = f"{subject}: " + "; ".join(lines) if lines else subject
        details = [{"code": p.code, "target": p.field, "message": describe(p)} for p in self.problems]
        super().__init__(message, details=details, code=code)


class DropConnection(Exception):  # noqa: N818 - not an error response: the connection is cut
    """Fault injection: close the connection without any response."""


FAULT_ERRORS: dict[int, type[ArmError]] = {
    429: TooManyRequests,
    500: InternalServerError,
    503: ServiceUnavailable,
}


class InvalidResourceGroup(ArmError):
    """Azure's answer to a resource group name that breaks its naming rule (1-90 characters, no trailing '.')."""

    status, code = 400, "InvalidResourceGroup"


def check_resource_group_name(name: str) -> None:
    from vpnrunbook.azure.names import resource_group_problem

    problem = resource_group_problem(name)
    if problem:
        raise InvalidResourceGroup(f"The provided {problem}.")


def check_resource_name(name: str) -> None:
    """Azure's rule for Microsoft.Network resource names, checked when a resource is created."""
    from vpnrunbook.azure.names import resource_name_problem

    if resource_name_problem(name):
        raise ArmError(f"Resource name {name} is invalid. The name can be up to 80 characters long. It must begin "
                       "with a word character, and it must end with a word character or with '_'. The name may "
                       "contain word characters or '.', '-', '_'.", code="InvalidResourceName")
