"""The executor pool: slots claimed and released atomically through Lua scripts."""
