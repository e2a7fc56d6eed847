"""The ``hub`` command: serve, validate, demo."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
from pydantic import ValidationError

from hub.logs import configure_logging

if TYPE_CHECKING:
    from hub.settings import HubSettings

# settings whose values are not repeated in an error message: they may hold credentials
_SECRET_PARTS = ("token", "url", "password", "secret", "servers")


def settings_problem(exc: ValidationError) -> str:
    """One line that names each faulty environment variable and what it must be (never a secret's value)."""
    from hub.settings import HubSettings

    problems = []
    for err in exc.errors(include_url=False):
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        loc = err.get("loc", ())
        if not loc:  # a rule across settings: its message names the variables
            problems.append(message)
            continue
        field = str(loc[0])
        variable = f"HUB_{field.upper()}" if field in HubSettings.model_fields else field.upper()
        if any(part in field.lower() for part in _SECRET_PARTS):
            problems.append(f"{variable}: {message}")
        else:
            problems.append(f"{variable}={err.get('input')!r}: {message}")
    return "; ".join(problems)


def _load_settings(command: str) -> HubSettings | None:
    """The settings from the environment, or None after one line on stderr saying what is wrong."""
    from hub.settings import HubSettings

    try:
        return HubSettings()
    except ValidationError as exc:
        print(f"hub {command}: not started, a setting is wrong: {settings_problem(exc)}", file=sys.stderr)
        return None


def _serve(_: argparse.Namespace) -> int:
    import uvloop

    from hub.app import create_app
    from hub.serving import make_server, serve_until_signalled

    settings = _load_settings("serve")
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    server = make_server(
        create_app(settings), host=settings.host, port=settings.port, grace_seconds=settings.shutdown_grace_seconds
    )
    uvloop.run(serve_until_signalled(server))
    return 0 if server.started else 1


def _validate(args: argparse.Namespace) -> int:
    from hub.validate.resource import ResourceValidator, UnknownProfile, find_profile, profile_lines
    from hub.validate.rules import load_rules
    from hub.validate.validator import SCHEMAS_DIR, Validator, validator_failed, verdict_line

    configure_logging("WARNING")  # to stderr: stdout carries the verdicts, one JSON line per file
    validator: Validator | ResourceValidator
    if args.list_profiles or args.profile is not None or args.core:
        rules = load_rules(SCHEMAS_DIR.resolve())
        if args.list_profiles:
            print("\n".join(profile_lines(rules)))
            return 0
        try:
            profile = find_profile(rules, args.profile) if args.profile is not None else None
        except UnknownProfile as exc:
            print(f"hub validate: {exc}", file=sys.stderr)
            return 2
        validator = ResourceValidator(rules=rules, profile=profile)
    else:
        validator = Validator()
    if not args.files:
        print("hub validate: name at least one FILE (or --list-profiles)", file=sys.stderr)
        return 2
    all_valid = True
    for name in args.files:
        path = Path(name)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            line = {
                "path": name,
                "valid": False,
                "event": None,
                "issues": [
                    {
                        "severity": "fatal",
                        "code": "not-found",
                        "expression": None,
                        "diagnostics": f"cannot read the file: {exc.strerror}",
                    }
                ],
            }
            all_valid = False
        else:
            try:
                verdict = validator.validate(raw)  # validate never raises; this guards the line
                line = verdict_line(name, verdict)
                if isinstance(validator, ResourceValidator):
                    line["profile"] = validator.checked_against(verdict.bundle)
            except Exception as exc:
                line = {"path": name, "valid": False, "event": None, "issues": [validator_failed(exc, "cli").as_dict()]}
            all_valid = all_valid and bool(line["valid"])
        sys.stdout.buffer.write(orjson.dumps(line) + b"\n")
    sys.stdout.flush()
    return 0 if all_valid else 1


def _migrate(_: argparse.Namespace) -> int:
    import asyncio

    from sqlalchemy.engine import make_url

    from hub.store.engine import connect_database
    from hub.store.migrate import migrate

    settings = _load_settings("migrate")
    if settings is None:
        return 2
    configure_logging(settings.log_level)

    async def run() -> None:
        engine = connect_database(settings.database_url)
        try:
            done = await migrate(engine)
        finally:
            await engine.dispose()
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        if done.stamped:
            print(f"{where}: a database from before migrations, stamped with revision {done.before}")
        if done.changed:
            print(f"{where}: schema migrated from revision {done.before or 'none'} to {done.after}")
        else:
            print(f"{where}: schema at revision {done.after}, nothing to do")

    asyncio.run(run())
    return 0


def _purge(args: argparse.Namespace) -> int:
    import asyncio

    from hub.store.engine import open_database
    from hub.store.purge import Purge
    from hub.store.retention import Kind

    settings = _load_settings("purge")
    if settings is None:
        return 2
    configure_logging(settings.log_level)

    async def run() -> None:
        engine = await open_database(settings.database_url, migrate_schema=settings.migrate_at_start)
        try:
            purge = Purge(engine, settings.retention_policy)
            report = await purge.run(dry_run=args.dry_run)
            verb = "would delete" if args.dry_run else "deleted"
            for kind in Kind:
                days = settings.retention_policy.days(kind)
                kept = f"kept {days} days" if days else "kept for ever"
                print(f"{kind:<13} {verb} {report.total(kind):>8}   ({kept})")
            if not args.dry_run:
                print(f"space: {await purge.reclaim_space(full=args.vacuum)}")
        finally:
            await engine.dispose()

    asyncio.run(run())
    return 0


def _replay(_: argparse.Namespace) -> int:
    import asyncio

    from hub.broker.clients import Publisher, make_producer
    from hub.broker.topics import Topics, ensure_topics
    from hub.pipeline.recovery import replay_unfinished
    from hub.store.engine import open_database
    from hub.track.archive import MessageArchive

    settings = _load_settings("replay")
    if settings is None:
        return 2
    configure_logging(settings.log_level)
    if not settings.kafka_bootstrap_servers:
        print(
            "hub replay: set KAFKA_BOOTSTRAP_SERVERS. (With the embedded broker, `hub serve` replays by itself "
            "at start, since that broker always starts empty.)",
            file=sys.stderr,
        )
        return 2
    bootstrap = settings.kafka_bootstrap_servers

    async def replay() -> int:
        topics = Topics(settings.topic_prefix)
        await ensure_topics(bootstrap, topics, spec=settings.topic_spec)
        engine = await open_database(settings.database_url)
        producer = make_producer(bootstrap, max_request_size=settings.max_message_bytes + 64 * 1024)
        await producer.start()
        try:
            return await replay_unfinished(MessageArchive(engine), Publisher(producer), topics)
        finally:
            await producer.stop()
            await engine.dispose()

    count = asyncio.run(replay())
    print(f"published {count} accepted, unfinished messages to {settings.topic_prefix}ingress again")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from hub.simulate.demo import run_demo

    configure_logging("WARNING", json=False)
    return run_demo(rate=args.rate)


def _operator_token(args: argparse.Namespace) -> int:
    from hub.api.operator_tokens import new_operator_entry
    from hub.domain.operators import Role

    token, entry = new_operator_entry(args.name, Role(args.role))
    print(f"token for {args.name.strip()} (hand it over; the hub keeps only its hash):\n  {token}\n")
    print("add this under `operators:` in HUB_OPERATOR_TOKENS_FILE, then restart the hub:\n")
    print(entry, end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="Sektor-hub: MedCom FHIR messaging between sectors")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the hub (settings from HUB_* environment variables)")
    serve.set_defaults(run=_serve)

    validate = commands.add_parser(
        "validate",
        help="validate MedCom messages or any FHIR R4 resource; one JSON line each",
        description="Validate files; one JSON line per file on stdout: path, valid, event, issues (an "
        "OperationOutcome's issues with FHIRPath expressions, line and column), and with --core or --profile the "
        "profile checked. Exit 0 when every file is valid, 1 otherwise, 2 on a bad command line. By default a "
        "file is a MedCom message (a Bundle): envelope, FHIR R4 structure, MedCom messaging rules and every "
        "profile its event calls for.",
    )
    validate.add_argument("files", nargs="*", metavar="FILE")
    mode = validate.add_mutually_exclusive_group()
    mode.add_argument(
        "--profile",
        metavar="URL",
        help="any FHIR R4 resource against this profile (its canonical URL, `|version` ignored) on top of the R4 "
        "structure: a MedCom, dk-core or Sektor-hub profile compiled in schemas/, or an R4 core definition "
        "(http://hl7.org/fhir/StructureDefinition/Organization); the profile alone, not the message rules",
    )
    mode.add_argument(
        "--core",
        action="store_true",
        help="any FHIR R4 resource against the R4 core structure only (no MedCom rules)",
    )
    mode.add_argument(
        "--list-profiles", action="store_true", help="print the profiles --profile accepts (URL, type, source)"
    )
    validate.set_defaults(run=_validate)

    replay = commands.add_parser(
        "replay", help="publish every accepted, unfinished message again (after a broker lost its log)"
    )
    replay.set_defaults(run=_replay)

    migrate = commands.add_parser(
        "migrate", help="bring the database's schema to this hub's revision (HUB_DATABASE_URL); safe to run again"
    )
    migrate.set_defaults(run=_migrate)

    purge = commands.add_parser(
        "purge", help="delete what has outlived its retention (HUB_RETENTION_*); unfinished messages are kept"
    )
    purge.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    purge.add_argument(
        "--vacuum", action="store_true", help="SQLite without free-page tracking: rewrite the file (locks it)"
    )
    purge.set_defaults(run=_purge)

    operator_token = commands.add_parser(
        "operator-token", help="a new token for a named operator, and its entry for HUB_OPERATOR_TOKENS_FILE"
    )
    operator_token.add_argument("name", help="the person, as the audit of reads names them")
    operator_token.add_argument("role", choices=["viewer", "operator", "administrator"])
    operator_token.set_defaults(run=_operator_token)

    demo = commands.add_parser("demo", help="embedded broker, hub, simulated hospitals, municipalities and GPs")
    demo.add_argument("--rate", type=float, default=2.0, help="messages per second from the simulated hospitals")
    demo.set_defaults(run=_demo)

    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
