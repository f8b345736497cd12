"""``watchpost-collector``: init, serve, enroll secrets, users, units, database."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sqlalchemy import select

from collector import __version__
from collector.settings import Settings

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="watchpost-collector", description="Watchpost collector: the city's central server."
    )
    parser.add_argument("--version", action="version", version=f"watchpost-collector {__version__}")
    parser.add_argument(
        "--database-url",
        help="SQLAlchemy URL (default: $WATCHPOST_DATABASE_URL or sqlite:///var/watchpost.sqlite3)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = sub.add_parser("init", help="create or upgrade the database and seed the organisation tree")
    init.add_argument(
        "--admin", metavar="USERNAME", help="create this city admin with a generated password (printed once)"
    )
    init.add_argument(
        "--credentials-file", type=Path, help="also write 'username password' there (mode 0600)"
    )

    serve = sub.add_parser("serve", help="run the collector's HTTP server")
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.add_argument(
        "--tls-cert",
        metavar="PEM",
        help="speak HTTPS with this certificate chain (default $WATCHPOST_TLS_CERTFILE)",
    )
    serve.add_argument("--tls-key", metavar="PEM", help="its private key (default $WATCHPOST_TLS_KEYFILE)")

    secret = sub.add_parser("enroll-secret", help="enrollment secrets of units")
    secret_sub = secret.add_subparsers(dest="action", required=True)
    create = secret_sub.add_parser("create", help="make a secret for a unit (shown once)")
    create.add_argument("--unit", required=True, help="unit code, e.g. 341021")
    create.add_argument("--expires-days", type=float, default=30.0, help="0: never (default 30)")
    create.add_argument("--max-uses", type=int, help="how many hosts may enroll with it")
    create.add_argument("--label", default="")
    create.add_argument("--quiet", action="store_true", help="print the secret only")
    secret_sub.add_parser("list", help="secrets with unit, expiry and use count (never the secret)")

    user = sub.add_parser("user", help="admin accounts")
    user_sub = user.add_subparsers(dest="action", required=True)
    ucreate = user_sub.add_parser("create", help="create an account with a generated password")
    ucreate.add_argument("username")
    ucreate.add_argument(
        "--role", required=True, choices=["city_admin", "district_admin", "auditor", "inspector"]
    )
    ucreate.add_argument("--unit", required=True, help="unit code the role applies to (with its subtree)")
    ucreate.add_argument("--display-name", default="")

    sub.add_parser("units", help="list the organisation units")

    pol = sub.add_parser("policies", help="policy packs: validate, load into the database, evaluate")
    pol_sub = pol.add_subparsers(dest="action", required=True)
    pcheck = pol_sub.add_parser("check", help="validate packs and run their examples (no database needed)")
    pcheck.add_argument("directory", nargs="?", type=Path, help="default: the policies/ of this installation")
    pol_sub.add_parser("sync", help="load the packs shipped with this installation into the database")
    peval = pol_sub.add_parser("evaluate", help="evaluate every active check on every host (with progress)")
    peval.add_argument("--check", action="append", default=[], help="only this check id (repeatable)")

    syslog = sub.add_parser("syslog", help="receive VPN appliances' syslog (UDP and TCP; docs/vpn-syslog.md)")
    syslog.add_argument(
        "--udp", default="127.0.0.1:5514", help="HOST:PORT, or 'off' (default 127.0.0.1:5514)"
    )
    syslog.add_argument(
        "--tcp", default="127.0.0.1:5514", help="HOST:PORT, or 'off' (default 127.0.0.1:5514)"
    )
    syslog.add_argument(
        "--stats-file",
        type=Path,
        default=Path(os.environ.get("WATCHPOST_SYSLOG_STATS", "var/syslog-stats.json")),
        help="counters for the page /vpn/syslog (default $WATCHPOST_SYSLOG_STATS or var/syslog-stats.json)",
    )

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_sub.add_parser("upgrade", help="apply pending migrations")
    rev = db_sub.add_parser("revision", help="(developers) autogenerate a migration from the models")
    rev.add_argument("-m", "--message", required=True)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    return Settings(**overrides)


def _session(settings: Settings):  # type: ignore[no-untyped-def]
    from collector.db.engine import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database_url))()


def cmd_init(args: argparse.Namespace, settings: Settings) -> int:
    from collector.db.engine import make_engine
    from collector.db.migrate import upgrade
    from collector.db.models import User
    from collector.services.auth import create_user, generate_password
    from collector.services.org import CITY_CODE, seed_units

    engine = make_engine(settings.database_url)
    upgrade(engine)
    with _session(settings) as session:
        created = seed_units(session)
        session.commit()
        print(f"database ready ({engine.dialect.name}); {created} unit(s) created")
        _sync_policies(session)
        if args.admin:
            if session.scalar(select(User).where(User.username == args.admin)):
                print(f"admin {args.admin!r} exists already; password unchanged")
                return 0
            password = generate_password()
            create_user(
                session,
                args.admin,
                password,
                role="city_admin",
                unit_code=CITY_CODE,
                display_name="City administrator",
            )
            session.commit()
            if args.credentials_file:
                path: Path = args.credentials_file
                path.parent.mkdir(parents=True, exist_ok=True)
                path.unlink(missing_ok=True)  # never write a password into an existing, readable file
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(f"{args.admin} {password}\n")
                os.chmod(path, 0o600)
                print(f"admin account created: {args.admin}; user name and password written to {path}")
            else:
                print(f"admin account created: {args.admin}")
                print(f"password (shown once): {password}")
    return 0


def _sync_policies(session) -> None:  # type: ignore[no-untyped-def]
    """Load the policy packs shipped with this version (new versions become active)."""
    from collector.services.compliance import sync_builtin_packs

    for line in sync_builtin_packs(session):
        if not line.endswith("already loaded"):
            print(f"policies: {line}")
    session.commit()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from collector.main import create_app

    certfile = args.tls_cert or settings.tls_certfile
    keyfile = args.tls_key or settings.tls_keyfile
    if bool(certfile) != bool(keyfile):
        print("watchpost-collector serve: HTTPS needs both --tls-cert and --tls-key", file=sys.stderr)
        return 2
    for path in (certfile, keyfile):
        if path and not os.access(path, os.R_OK):
            print(f"watchpost-collector serve: cannot read {path}", file=sys.stderr)
            return 2
    with _session(settings) as session:
        _sync_policies(session)
    host = args.host or settings.host
    port = args.port or settings.port
    if args.workers > 1:
        os.environ["WATCHPOST_DATABASE_URL"] = settings.database_url
        uvicorn.run(
            "collector.main:create_app",
            factory=True,
            host=host,
            port=port,
            workers=args.workers,
            proxy_headers=settings.trust_proxy_headers,
            access_log=not args.no_access_log,
            ssl_certfile=certfile or None,
            ssl_keyfile=keyfile or None,
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            proxy_headers=settings.trust_proxy_headers,
            access_log=not args.no_access_log,
            ssl_certfile=certfile or None,
            ssl_keyfile=keyfile or None,
        )
    return 0


def cmd_enroll_secret(args: argparse.Namespace, settings: Settings) -> int:
    from collector.db.models import EnrollSecret
    from collector.services.enrollment import create_enroll_secret

    with _session(settings) as session:
        if args.action == "create":
            new = create_enroll_secret(
                session,
                args.unit,
                expires_days=args.expires_days or None,
                max_uses=args.max_uses,
                label=args.label,
                actor="cli",
            )
            session.commit()
            if args.quiet:
                print(new.secret)
            else:
                expires = new.record.expires_at.isoformat() if new.record.expires_at else "never"
                print(
                    f"enrollment secret for {new.record.unit.name_zh} ({args.unit}), "
                    f"expires {expires}, max uses {args.max_uses or 'unlimited'}:"
                )
                print(new.secret)
            return 0
        rows = session.scalars(select(EnrollSecret).order_by(EnrollSecret.id))
        print(f"{'id':>4}  {'unit':12} {'uses':>6} {'max':>5}  {'expires':25} {'state':8} label")
        for row in rows:
            state = "revoked" if row.revoked_at else "active"
            print(
                f"{row.id:>4}  {row.unit.code:12} {row.uses:>6} {row.max_uses or '-':>5}  "
                f"{row.expires_at.isoformat() if row.expires_at else 'never':25} {state:8} {row.label}"
            )
    return 0


def cmd_user(args: argparse.Namespace, settings: Settings) -> int:
    from collector.services.auth import create_user, generate_password

    password = generate_password()
    with _session(settings) as session:
        create_user(
            session,
            args.username,
            password,
            role=args.role,
            unit_code=args.unit,
            display_name=args.display_name,
            actor="cli",
        )
        session.commit()
    print(f"user {args.username} created ({args.role} on {args.unit})")
    print(f"password (shown once): {password}")
    return 0


def cmd_units(args: argparse.Namespace, settings: Settings) -> int:
    from collector.services.org import list_units

    with _session(settings) as session:
        for unit in list_units(session):
            parent = unit.parent.code if unit.parent else "-"
            print(f"{unit.code:12} {unit.kind:9} {parent:12} {unit.name_zh}  ({unit.name_en})")
    return 0


def cmd_policies(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "check":
        from collector.policy.loader import default_policies_dir, load_dir

        directory = args.directory or default_policies_dir()
        packs, errors = load_dir(directory)
        for pack in packs:
            examples = sum(len(c.check.examples) for c in pack.checks)
            print(
                f"ok    {pack.name} v{pack.pack.version}: {len(pack.checks)} checks, {examples} examples pass"
            )
        for error in errors:
            print(f"ERROR {error.name}:", file=sys.stderr)
            for problem in error.problems:
                print(f"      - {problem}", file=sys.stderr)
        if not packs and not errors:
            print(f"no packs in {directory}", file=sys.stderr)
            return 1
        return 1 if errors else 0
    from collector.services import compliance

    with _session(settings) as session:
        if args.action == "sync":
            for line in compliance.sync_builtin_packs(session):
                print(line)
            session.commit()
            return 0

        def progress(done: int, total: int) -> None:
            print(f"\revaluated {done}/{total} hosts", end="", file=sys.stderr, flush=True)

        stats = compliance.evaluate_all(session, only=set(args.check) or None, progress=progress)
        session.commit()
        print(file=sys.stderr)
        print(f"{stats.hosts} hosts, {stats.evaluations} evaluations, {stats.changed} results changed")
    return 0


def cmd_syslog(args: argparse.Namespace, settings: Settings) -> int:
    from collector.services.syslog_receiver import run_receiver

    return run_receiver(settings, udp=args.udp, tcp=args.tcp, stats_file=args.stats_file)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    from collector.db.engine import make_engine
    from collector.db.migrate import make_revision, upgrade

    engine = make_engine(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
        print("database is at the latest schema")
    else:
        upgrade(engine)
        make_revision(engine, args.message)
    return 0


def main(argv: list[str] | None = None) -> int:
    from collector.services.errors import DomainError

    args = _parser().parse_args(argv)
    settings = _settings(args)
    handlers = {
        "init": cmd_init,
        "serve": cmd_serve,
        "enroll-secret": cmd_enroll_secret,
        "user": cmd_user,
        "units": cmd_units,
        "db": cmd_db,
        "policies": cmd_policies,
        "syslog": cmd_syslog,
    }
    try:
        return handlers[args.command](args, settings)
    except DomainError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
