"""strongSwan-style proposal strings for a policy (what the on-premises device must offer), from the device
part's renderer (``vpnrunbook.device.proposals.policy_proposals``; the keywords live in ``policy.rules``)."""

from __future__ import annotations

from dataclasses import dataclass

from vpnrunbook.policy.model import IpsecIkePolicy


@dataclass(frozen=True)
class Proposals:
    ike: str
    esp: str

    def __str__(self) -> str:
        return f"ike={self.ike} esp={self.esp}"


def strongswan_proposals(policy: IpsecIkePolicy) -> Proposals:
    """``Proposals(ike='aes256-sha384-modp2048s256', esp='aes256-sha256')`` for a valid policy.

    Raises ``PolicyValidationError`` for an invalid policy and the device part's ``ProposalError`` (a
    ``ValueError`` naming the field) for one strongSwan cannot express, such as DH group None."""
    from vpnrunbook.device.proposals import policy_proposals

    policy.validate()
    ike, esp = policy_proposals(policy)
    return Proposals(",".join(ike), ",".join(esp))
