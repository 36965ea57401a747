"""The ``vertexchat doctor`` subcommand: arguments, the run, and the report (text or JSON)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from ._auth import ADC, AuthLike, resolve_auth
from ._doctor import Check, DoctorTarget, run_doctor
from ._probes import COST_NOTE, ProbeResult, run_probes
from ._urls import DEFAULT_MODEL

__all__ = ["add_doctor_parser", "command_doctor"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_doctor_parser(commands: Any, target: argparse.ArgumentParser) -> None:
    """Register ``doctor`` with the shared target options."""
    doctor = commands.add_parser(
        "doctor",
        parents=[target],
        help="check credentials, project, endpoint, network and one request",
        description="Check each part of the setup in order and say what to fix. Exit code 0 "
        "only when a request succeeded.",
    )
    doctor.add_argument("--json", action="store_true", help="print one JSON object")
    doctor.add_argument(
        "--probe-wire",
        action="store_true",
        help="also probe the open wire facts (a few requests, billed; asks first)",
    )
    doctor.add_argument("--yes", action="store_true", help="run --probe-wire without asking")
    doctor.add_argument(
        "--timeout", type=float, default=60.0, help="seconds per step (default: 60)"
    )
    doctor.set_defaults(handler=command_doctor)


def command_doctor(args: argparse.Namespace) -> int:
    """Run the checks (and probes), print the report, return the exit code."""
    if args.probe_wire and not _confirmed(args):
        return EXIT_USAGE
    checks, probes = anyio.run(_run, args)
    ok = bool(checks) and checks[-1].status == "ok"
    if args.json:
        print(json.dumps(_as_json(ok, checks, probes), indent=2))
    else:
        _print_checks(checks, ok)
        if probes:
            _print_probes(probes)
    return EXIT_OK if ok else EXIT_FAILED


def _confirmed(args: argparse.Namespace) -> bool:
    note = COST_NOTE.format(model=args.model or _default_model())
    print(note, file=sys.stderr)
    if args.yes:
        return True
    if not sys.stdin.isatty():
        print("vertexchat: pass --yes to run the probes without a prompt", file=sys.stderr)
        return False
    answer = input("Run them? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


async def _run(args: argparse.Namespace) -> tuple[list[Check], list[ProbeResult]]:
    async with _target(args) as target:
        checks = await run_doctor(target)
        probes: list[ProbeResult] = []
        if args.probe_wire and checks[-1].status == "ok":
            url = next(check.data["url"] for check in checks if check.name == "endpoint")
            async with _probe_client(target) as http:
                probes = await run_probes(http, url, target.model)
        return checks, probes


@asynccontextmanager
async def _target(args: argparse.Namespace) -> AsyncIterator[DoctorTarget]:
    model = args.model or _default_model()
    options: dict[str, Any] = {"endpoint": args.endpoint, "api_version": args.api_version}
    if args.emulator:
        from .testing import Emulator, serve

        async with serve(Emulator(require_auth=False), host="127.0.0.1", port=0) as server:
            options["base_url"] = server.base_url()
            label = "none needed (--emulator)"
            yield _make(args, model, options, auth=None, label=label)
        return
    if args.base_url:
        options["base_url"] = args.base_url
    if args.no_auth:
        yield _make(args, model, options, auth=None, label="no Authorization header (--no-auth)")
    elif args.token:
        label = "a static token (--token), never refreshed"
        yield _make(args, model, options, auth=args.token, label=label)
    else:
        yield _make(args, model, options, auth=ADC, label="Application Default Credentials")


def _make(
    args: argparse.Namespace, model: str, options: dict[str, Any], *, auth: AuthLike, label: str
) -> DoctorTarget:
    return DoctorTarget(
        project=args.project,
        location=args.location,
        model=model,
        client_options=options,
        auth=auth,
        auth_label=label,
        timeout=args.timeout,
    )


@asynccontextmanager
async def _probe_client(target: DoctorTarget) -> AsyncIterator[Any]:
    import httpx

    auth = resolve_auth(target.auth)
    async with httpx.AsyncClient(auth=auth, timeout=target.timeout) as http:
        yield http
    close = getattr(auth, "aclose", None)
    if close is not None:
        await close()


def _default_model() -> str:
    return DEFAULT_MODEL


# --- output -------------------------------------------------------------------------------------

_LABELS = {"ok": "ok", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def _print_checks(checks: list[Check], ok: bool) -> None:
    print("vertexchat doctor")
    for check in checks:
        print(f"  {_LABELS[check.status]:<5} {check.name:<12} {check.summary}")
        if check.fix:
            print(f"  {'':<5} {'':<12} fix: {check.fix}")
    failed = [check.name for check in checks if check.status == "fail"]
    if ok:
        print("All checks passed: this setup can call Vertex.")
    else:
        print(f"Failed: {', '.join(failed) or 'request'}. Fix the first failure and run again.")


def _print_probes(probes: list[ProbeResult]) -> None:
    print()
    print("Wire probes (paste this into an issue):")
    print()
    print("| fact | observed | vertexchat assumes | verdict |")
    print("|---|---|---|---|")
    for probe in probes:
        verdict: str = probe.verdict
        if verdict == "differs":
            verdict = f"**differs** (change: {probe.relied_on_by})"
        print(f"| {probe.fact_id} | {probe.observed} | {probe.assumed} | {verdict} |")


def _as_json(ok: bool, checks: list[Check], probes: list[ProbeResult]) -> dict[str, Any]:
    return {
        "ok": ok,
        "checks": [dataclasses.asdict(check) for check in checks],
        "probes": [dataclasses.asdict(probe) for probe in probes],
    }
