"""`crucible-admin keys create|list|revoke`: API key management from the host.

It talks to the storage service directly (CRUCIBLE_STORAGE_URL, with
CRUCIBLE_SERVICE_TOKEN), so it works before any key exists: that is how
start-platform.sh makes the first admin key. `./start-platform.sh keys …`
runs it with the local platform's settings.
"""

import argparse
import sys

from pydantic import ValidationError

from crucible_api.auth import make_key
from crucible_shared import limits
from crucible_shared.schemas.keys import ApiKey, ApiKeyCreate, Role
from crucible_shared.settings import ApiSettings
from crucible_shared.storage_client import StorageClient, StorageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crucible-admin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="group", required=True)
    keys = commands.add_parser("keys", help="API keys").add_subparsers(
        dest="command", required=True
    )
    create = keys.add_parser("create", help="make a key and print it (once)")
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--max-running", type=int, default=limits.MAX_RUNNING_PER_KEY.default)
    create.add_argument("--max-queued", type=int, default=limits.MAX_QUEUED_PER_KEY.default)
    create.add_argument(
        "--submissions-per-minute", type=int, default=limits.SUBMISSIONS_PER_MINUTE.default
    )
    create.add_argument("--quiet", action="store_true", help="print the key alone")
    keys.add_parser("list", help="every key, revoked ones too; never the keys themselves")
    revoke = keys.add_parser("revoke", help="stop a key from working")
    revoke.add_argument("key_id")
    arguments = parser.parse_args(argv)

    storage = StorageClient(ApiSettings())
    try:
        if arguments.command == "create":
            request = ApiKeyCreate(
                name=arguments.name,
                role=Role(arguments.role),
                max_running=arguments.max_running,
                max_queued=arguments.max_queued,
                submissions_per_minute=arguments.submissions_per_minute,
            )
            created = make_key(request, storage)
            if arguments.quiet:
                print(created.key)
            else:
                print(f"{_describe(created)}\nkey: {created.key}\n(shown once: keep it secret)")
        elif arguments.command == "list":
            for key in storage.list_keys():
                print(_describe(key))
        else:
            print(f"revoked {_describe(storage.revoke_key(arguments.key_id))}")
    except ValidationError as exc:
        print(f"crucible: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"crucible: {exc}", file=sys.stderr)
        return 1
    finally:
        storage.close()
    return 0


def _describe(key: ApiKey) -> str:
    state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
    return f"{key.id}  {key.name}  {key.role}  {key.prefix}…  {state}"


if __name__ == "__main__":
    sys.exit(main())
