"""``vpnrunbook device render|check|write-secret|lab``: the on-premises side from the command line."""

from __future__ import annotations

import argparse
import json
import sys

from vpnrunbook.azure.secrets import SecretReferenceError
from vpnrunbook.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from vpnrunbook.device.proposals import ProposalError
from vpnrunbook.policy.model import IpsecIkePolicy, load_policy_file
from vpnrunbook.policy.presets import get_preset
from vpnrunbook.policy.rules import PolicyValidationError


def register(sub: argparse._SubParsersAction) -> None:
    device = sub.add_parser("device", help="on-premises device: render its config, check compatibility, run the lab")
    dsub = device.add_subparsers(dest="device_command", metavar="ACTION")

    def policy_args(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--policy", metavar="FILE.yaml", help="the connection's policy file")
        g.add_argument("--preset", metavar="NAME", help="a preset policy (vpnrunbook policy list)")
        g.add_argument("--default", action="store_true", help="no custom policy: Azure's default proposals (the default)")

    r = dsub.add_parser("render", help="print the device configuration for a connection")
    policy_args(r)
    r.add_argument("--format", choices=("swanctl", "cisco"), default="swanctl")
    r.add_argument("--azure-address", required=True, help="the Azure VPN gateway's public IP")
    r.add_argument("--local-address", help="the device's own public IP (swanctl local_addrs / id)")
    r.add_argument("--local-prefix", action="append", required=True, help="an on-premises prefix (repeat)")
    r.add_argument("--azure-prefix", action="append", required=True, help="a VNet prefix (repeat)")
    r.add_argument("--shared-key-ref", required=True, help="env:NAME or file:PATH (the key is never printed)")
    r.add_argument("--policy-based-ts", action="store_true", help="usePolicyBasedTrafficSelectors: one selector per pair")
    r.add_argument("--name", default="azure", help="connection name in the device config")
    r.add_argument("--out", help="write to this file instead of printing")
    r.set_defaults(handler=cmd_render)

    c = dsub.add_parser("check", help="predict whether the device's proposals negotiate with Azure")
    policy_args(c)
    c.add_argument("--ike", required=True, help="device IKE proposals, strongSwan syntax, comma separated")
    c.add_argument("--esp", required=True, help="device ESP proposals, strongSwan syntax, comma separated")
    c.add_argument("--initiator", choices=("device", "azure"), default="device")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(handler=cmd_check)

    w = dsub.add_parser("write-secret", help="write the swanctl secrets include from a shared-key reference (0600)")
    w.add_argument("--shared-key-ref", required=True)
    w.add_argument("--out", required=True)
    w.add_argument("--name", default="azure")
    w.add_argument("--id", action="append", default=[], help="an IKE identity the key belongs to (repeat)")
    w.set_defaults(handler=cmd_write_secret)

    lab = dsub.add_parser("lab", help="run the prediction matrix against real strongSwan daemons (root)")
    lab.add_argument("--parallel", type=int, default=4, help="namespace pairs used at once")
    lab.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    lab.set_defaults(handler=cmd_lab)
    device.set_defaults(handler=lambda a: (device.print_help(), EXIT_USAGE)[1])


def _policy(args: argparse.Namespace) -> IpsecIkePolicy | None:
    if args.policy:
        return load_policy_file(args.policy)
    if args.preset:
        return get_preset(args.preset)
    return None


def cmd_render(args: argparse.Namespace) -> int:
    from vpnrunbook.device.render import render_cisco, render_swanctl

    try:
        fn = render_swanctl if args.format == "swanctl" else render_cisco
        config = fn(_policy(args), remote_address=args.azure_address, local_address=args.local_address,
                    local_prefixes=args.local_prefix, remote_prefixes=args.azure_prefix,
                    shared_key_ref=args.shared_key_ref, use_policy_based_traffic_selectors=args.policy_based_ts,
                    name=args.name)
    except (PolicyValidationError, ProposalError, SecretReferenceError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        print(f"wrote {config.save(args.out)}")
    else:
        print(config.text)
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from vpnrunbook.device.negotiate import check_compatibility

    try:
        result = check_compatibility(_policy(args), args.ike, args.esp, initiator=args.initiator)
    except (PolicyValidationError, ProposalError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(result.to_record(), indent=2) if args.json else result.text)
    return EXIT_OK if result.ok else EXIT_FAILED


def cmd_write_secret(args: argparse.Namespace) -> int:
    from vpnrunbook.device.render import write_swanctl_secret

    try:
        path = write_swanctl_secret(args.shared_key_ref, args.out, name=args.name, ids=args.id)
    except SecretReferenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {path} (mode 0600)")
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from vpnrunbook.device.lab import default_matrix, lab_available, run_matrix

    ok, why = lab_available()
    if not ok:
        print(f"the strongSwan lab cannot run here: {why}", file=sys.stderr)
        return EXIT_USAGE
    result = run_matrix(default_matrix(), parallel=args.parallel)
    print(result.text)
    if args.json:
        rows = [{**r.row(), "differences": r.differences, "predicted_reason": r.predicted.reason}
                for r in result.results]
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"wall_seconds": result.wall_seconds, "parallel": result.parallel, "cases": rows}, fh, indent=2)
    return EXIT_OK if result.all_match else EXIT_FAILED
