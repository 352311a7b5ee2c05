"""Limits on what a submission may ask for, with their defaults and bounds.

The API validates against these, the executor enforces them, and the docs
quote them: change a number here and every service follows.
"""

from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Bound:
    minimum: int
    maximum: int
    default: int


MAX_CODE_BYTES = 1 * MIB
MAX_STDIN_BYTES = 1 * MIB
MAX_REQUEST_BYTES = 2 * MIB
MAX_BATCH_SIZE = 1000
# `POST /api/batches`: items in one batch, and the caller's name for a batch or
# a submission. A batch's body is bounded per item (`MAX_REQUEST_BYTES` each,
# as JSON), and as a whole by what its items may add up to.
MAX_BATCH_ITEMS = 10_000
MAX_LABEL_CHARS = 200
MAX_BATCH_REQUEST_BYTES = 256 * MIB
# Finished evaluations a batch's results stream reads from storage at a time.
BATCH_RESULTS_PAGE = 200
# Longest `GET /api/evaluations/{id}?wait=` holds the request.
MAX_WAIT_SECONDS = 60

TIMEOUT_SECONDS = Bound(minimum=1, maximum=900, default=30)
MEMORY_MB = Bound(minimum=64, maximum=4096, default=256)

# Bytes kept of each of stdout and stderr; a program that writes more is
# stopped and its outcome is `output_limit_exceeded`.
DEFAULT_OUTPUT_LIMIT_BYTES = 1 * MIB

# Per-sandbox limits that are not the submitter's to choose.
SANDBOX_MAX_PROCESSES = 64
SANDBOX_MAX_FILE_BYTES = 16 * MIB
SANDBOX_SCRATCH_BYTES = 64 * MIB
SANDBOX_MAX_OPEN_FILES = 256

LIST_PAGE_SIZE = Bound(minimum=1, maximum=200, default=50)

# Quotas of one API key, set when it is made.
# Up to a whole batch may be in flight for a key that is given room for it.
MAX_RUNNING_PER_KEY = Bound(minimum=1, maximum=MAX_BATCH_ITEMS, default=10)
SUBMISSIONS_PER_MINUTE = Bound(minimum=1, maximum=10_000, default=60)
