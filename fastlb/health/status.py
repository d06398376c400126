"""Health-check statuses and server state numbers, with HAProxy 2.6's values.

The numbers matter outside this package: ``CheckStatus`` is what the master stores in the shared
memory field ``fl_srv_state.check_status`` (csrc/fl_shm.h says "index into the check status names
table": this is that table), what ``show servers state`` prints in ``srv_check_status``, and its
``STATUS_NAMES`` are the ``check_status`` column of the statistics (``L4OK``, ``L7STS``...).
"""
from __future__ import annotations

from enum import IntEnum


class CheckStatus(IntEnum):
    """HAProxy's HCHK_STATUS_* (same order, same numbers)."""

    UNKNOWN = 0
    INI = 1        # not checked yet
    START = 2      # a check is running (never stored as a final status)
    CHECKED = 3    # agent replied with nothing that changes the state
    HANA = 4       # "observe": too many consecutive errors on real traffic
    SOCKERR = 5
    L4OK = 6
    L4TOUT = 7
    L4CON = 8
    L6OK = 9
    L6TOUT = 10
    L6RSP = 11
    L7TOUT = 12
    L7RSP = 13
    L57DATA = 14   # marker: statuses from here on carry layer 5-7 data
    L7OK = 15
    L7OKC = 16
    L7STS = 17
    PROCERR = 18
    PROCTOUT = 19
    PROCOK = 20


class CheckResult(IntEnum):
    """HAProxy's CHK_RES_* (``srv_check_result`` of ``show servers state``)."""

    UNKNOWN = 0
    NEUTRAL = 1
    FAILED = 2
    PASSED = 3
    CONDPASS = 4


#: Short names as in the statistics' ``check_status`` column.
STATUS_NAMES: dict[CheckStatus, str] = {
    CheckStatus.UNKNOWN: "UNK",
    CheckStatus.INI: "INI",
    CheckStatus.START: "",
    CheckStatus.CHECKED: "CHECKED",
    CheckStatus.HANA: "HANA",
    CheckStatus.SOCKERR: "SOCKERR",
    CheckStatus.L4OK: "L4OK",
    CheckStatus.L4TOUT: "L4TOUT",
    CheckStatus.L4CON: "L4CON",
    CheckStatus.L6OK: "L6OK",
    CheckStatus.L6TOUT: "L6TOUT",
    CheckStatus.L6RSP: "L6RSP",
    CheckStatus.L7TOUT: "L7TOUT",
    CheckStatus.L7RSP: "L7RSP",
    CheckStatus.L57DATA: "",
    CheckStatus.L7OK: "L7OK",
    CheckStatus.L7OKC: "L7OKC",
    CheckStatus.L7STS: "L7STS",
    CheckStatus.PROCERR: "PROCERR",
    CheckStatus.PROCTOUT: "PROCTOUT",
    CheckStatus.PROCOK: "PROCOK",
}

#: Long descriptions: the "reason" of the log lines and the ``check_desc`` column.
STATUS_DESCRIPTIONS: dict[CheckStatus, str] = {
    CheckStatus.UNKNOWN: "Unknown",
    CheckStatus.INI: "Initializing",
    CheckStatus.START: "",
    CheckStatus.CHECKED: "No status change",
    CheckStatus.HANA: "Health analyze",
    CheckStatus.SOCKERR: "Socket error",
    CheckStatus.L4OK: "Layer4 check passed",
    CheckStatus.L4TOUT: "Layer4 timeout",
    CheckStatus.L4CON: "Layer4 connection problem",
    CheckStatus.L6OK: "Layer6 check passed",
    CheckStatus.L6TOUT: "Layer6 timeout",
    CheckStatus.L6RSP: "Layer6 invalid response",
    CheckStatus.L7TOUT: "Layer7 timeout",
    CheckStatus.L7RSP: "Layer7 invalid response",
    CheckStatus.L57DATA: "",
    CheckStatus.L7OK: "Layer7 check passed",
    CheckStatus.L7OKC: "Layer7 check conditionally passed",
    CheckStatus.L7STS: "Layer7 wrong status",
    CheckStatus.PROCERR: "External check error",
    CheckStatus.PROCTOUT: "External check timeout",
    CheckStatus.PROCOK: "External check passed",
}

_RESULTS: dict[CheckStatus, CheckResult] = {
    CheckStatus.CHECKED: CheckResult.NEUTRAL,
    CheckStatus.HANA: CheckResult.FAILED,
    CheckStatus.SOCKERR: CheckResult.FAILED,
    CheckStatus.L4OK: CheckResult.PASSED,
    CheckStatus.L4TOUT: CheckResult.FAILED,
    CheckStatus.L4CON: CheckResult.FAILED,
    CheckStatus.L6OK: CheckResult.PASSED,
    CheckStatus.L6TOUT: CheckResult.FAILED,
    CheckStatus.L6RSP: CheckResult.FAILED,
    CheckStatus.L7TOUT: CheckResult.FAILED,
    CheckStatus.L7RSP: CheckResult.FAILED,
    CheckStatus.L7OK: CheckResult.PASSED,
    CheckStatus.L7OKC: CheckResult.CONDPASS,
    CheckStatus.L7STS: CheckResult.FAILED,
    CheckStatus.PROCERR: CheckResult.FAILED,
    CheckStatus.PROCTOUT: CheckResult.FAILED,
    CheckStatus.PROCOK: CheckResult.PASSED,
}


def status_result(status: CheckStatus) -> CheckResult:
    """What a final status means for the server (UNKNOWN for INI/START)."""
    return _RESULTS.get(status, CheckResult.UNKNOWN)


def status_has_code(status: CheckStatus) -> bool:
    """Whether a status carries a layer-7 code worth printing (``code: 200``)."""
    return status in (CheckStatus.L7OK, CheckStatus.L7OKC, CheckStatus.L7STS)


# -- observe layer4|layer7: what real traffic tells about a server --------------------------------

class Analyze(IntEnum):
    """HAProxy's HANA_STATUS_* events, fed from the workers' counters (see service.py)."""

    L4_OK = 1
    L4_ERR = 2
    HTTP_OK = 3
    HTTP_STS = 4
    HTTP_RSP = 6


#: Event -> (text for the HANA message, effect on layer4 observation, effect on layer7 observation)
#: with effect 0 = ignored, 1 = error, 2 = success (resets the consecutive error count).
ANALYZE: dict[Analyze, tuple[str, int, int]] = {
    Analyze.L4_OK: ("L4 successful connection", 2, 0),
    Analyze.L4_ERR: ("L4 unsuccessful connection", 1, 1),
    Analyze.HTTP_OK: ("Correct http response", 0, 2),
    Analyze.HTTP_STS: ("Wrong http response", 0, 1),
    Analyze.HTTP_RSP: ("Invalid http response", 0, 1),
}


# -- HAProxy's admin / check state bits, for "show servers state" ----------------------------------

SRV_ADMF_FMAINT = 0x01   # forced maintenance (CLI, agent)
SRV_ADMF_CMAINT = 0x04   # "disabled" in the configuration (informational once enabled)
SRV_ADMF_FDRAIN = 0x08   # forced drain (CLI, agent)

CHK_ST_INPROGRESS = 0x01
CHK_ST_CONFIGURED = 0x02
CHK_ST_ENABLED = 0x04
CHK_ST_PAUSED = 0x08
CHK_ST_AGENT = 0x10

#: syslog severities by name (RFC 5424 numbers).
LOG_LEVELS = {"emerg": 0, "alert": 1, "crit": 2, "err": 3, "warning": 4, "notice": 5, "info": 6, "debug": 7}
LOG_EMERG, LOG_ALERT, LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG = range(8)
