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
# The C stack, soft and hard: a program cannot raise it past what the host's default gives.
SANDBOX_STACK_BYTES = 8 * MIB
# A run's share of the host's CPU, in cores, however many processes it makes.
SANDBOX_CPU_CORES = 1

# Test cases of one submission (issue 16).
MAX_TEST_CASES = 1000
MAX_EXPECTED_STDOUT_BYTES = 1 * MIB
# Of each case's stdout and stderr, and of its message, this much is kept in
# its result: a thousand cases stay a few MiB.
TEST_OUTPUT_KEPT_BYTES = 2 * KIB
TEST_MESSAGE_BYTES = 4 * KIB
# A case's time limit is CPU time; its wall clock may run this many times
# longer, plus the slack, before it is stopped as a timeout all the same: a
# loaded machine does not change a verdict, and a case that sleeps still ends.
TEST_WALL_FACTOR = 5
TEST_WALL_SLACK_SECONDS = 4

LIST_PAGE_SIZE = Bound(minimum=1, maximum=200, default=50)

# Quotas of one API key, set when it is made: its share of executor slots
# (evaluations running at once), its backlog (accepted and not yet finished)
# and how many it may submit in a minute (a brake on a runaway script that
# still lets one batch of 1,000 a second through).
MAX_RUNNING_PER_KEY = Bound(minimum=1, maximum=10_000, default=64)
MAX_QUEUED_PER_KEY = Bound(minimum=1, maximum=1_000_000, default=100_000)
SUBMISSIONS_PER_MINUTE = Bound(minimum=1, maximum=1_000_000, default=60_000)
