"""The Lua scripts, loaded from the files beside this module."""

from importlib.resources import files

from redis import Redis
from redis.commands.core import Script


def script(redis: Redis, name: str) -> Script:
    return redis.register_script(files(__package__).joinpath(f"{name}.lua").read_text())
