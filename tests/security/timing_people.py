"""Who the timing tests sign in as (tests/security/conftest.py seeds them): timing0-59 for the
HTTP comparisons and their warm-ups; timing60 up for the directory-level comparison, whose
bind-by-bind times are small enough that it needs more pairs to see through a busy machine.
Each person gets one wrong password per session, far below any lockout."""

DIRECT_PAIRS = 150
DIRECT_FIRST = 60
DIRECT_WARMUP = 10
DIRECT_PEOPLE_END = DIRECT_FIRST + DIRECT_PAIRS + DIRECT_WARMUP
