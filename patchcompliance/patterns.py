"""Value patterns of the member parameters, each one the rule of the service that receives the value.

Each pattern has the ConstraintDescription that says the same thing. CloudFormation matches AllowedPattern as
a Java regular expression against the whole value ("Regular expressions in CloudFormation templates",
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-regexes.html); the constructs used here
(classes, groups, counted repeats, negative lookahead) mean the same in Python's `re`, which the tests use.
"""

from __future__ import annotations


def integer_range(low: int, high: int) -> str:
    """A regex group matching the decimal integers low..high exactly, without leading zeros."""
    if not 0 <= low <= high:
        raise ValueError(f"bad range {low}..{high}")
    alternatives: list[str] = []
    for digits in range(len(str(low)), len(str(high)) + 1):
        first = max(low, 10 ** (digits - 1) if digits > 1 else 0)
        last = min(high, 10**digits - 1)
        alternatives += _same_length(str(first), str(last))
    return f"({'|'.join(alternatives)})"


def _same_length(low: str, high: str) -> list[str]:
    """Alternatives matching the integers low..high, both written with the same number of digits."""
    if low == high:
        return [low]
    rest = len(low) - 1
    if rest == 0:
        return [f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [low[0] + _group(_same_length(low[1:], high[1:]))]
    any_rest = "[0-9]" if rest == 1 else f"[0-9]{{{rest}}}"
    parts = []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * rest:  # the first digit with only part of the tail
        parts.append(low[0] + _group(_same_length(low[1:], "9" * rest)))
        first += 1
    if high[1:] != "9" * rest:  # the last digit with only part of the tail
        tail = [high[0] + _group(_same_length("0" * rest, high[1:]))]
        last -= 1
    else:
        tail = []
    if first <= last:  # full tails
        digit = str(first) if first == last else f"[{first}-{last}]"
        parts.append(digit + any_rest)
    return parts + tail


def _group(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else f"({'|'.join(alternatives)})"


# ------------------------------------------------------------------------------------------------- schedules
# Rate: "rate(<value> <unit>)", the unit singular for 1 and plural otherwise ("rate(1 hours)" and "rate(5 hour)"
# are invalid), for both EventBridge ("Schedule expressions for rules") and Systems Manager ("Reference: Cron
# and rate expressions for Systems Manager"). Cron: six AWS fields (minutes hours day-of-month month day-of-week
# year), a five-field Unix cron is invalid; Systems Manager also takes a leading seconds field.
_ANY_RATE = r"rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)"
_CRON_FIELD = r"[^\s()]+"
_AT = r"at\([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\)"

# EventBridge rule (TaggingSchedule).
EVENTS_SCHEDULE_PATTERN = rf"^({_ANY_RATE}|cron\({_CRON_FIELD}( {_CRON_FIELD}){{5}}\))$"
EVENTS_SCHEDULE_MESSAGE = (
    "must be rate(1 minute|hour|day), rate(<n> minutes|hours|days) or cron() with 6 fields "
    "(minutes hours day-of-month month day-of-week year), e.g. rate(12 hours) or cron(0 3 ? * SUN *)"
)

# State Manager association (InventorySchedule, ScanSchedule, AgentUpdateSchedule). Systems Manager reference,
# "Cron and rate expressions for associations": rate "intervals of 30 minutes or greater and less than 31 days"
# (so 30-44639 minutes, 1-743 hours, 1-30 days); cron only every 1/2, 1, 2, 4, 8 or 12 hours, or at a time every
# day, every week, every nth day or the last given weekday of the month, months not supported, an optional
# seconds field that can only be 0; the nth weekday form (THU#2) is the ScheduleOffset example of the SSM API.
# "Single-run schedules": at(<UTC timestamp>) for associations and maintenance windows.
ASSOCIATION_RATE_MINUTES = (30, 31 * 24 * 60 - 1)
ASSOCIATION_RATE_HOURS = (1, 31 * 24 - 1)
ASSOCIATION_RATE_DAYS = (1, 30)
_ASSOCIATION_RATE = (
    rf"rate\(({integer_range(*ASSOCIATION_RATE_MINUTES)} minutes|1 hour|{integer_range(2, ASSOCIATION_RATE_HOURS[1])}"
    rf" hours|1 day|{integer_range(2, ASSOCIATION_RATE_DAYS[1])} days)\)"
)
_MINUTE = r"[0-5]?[0-9]"
_HOUR = r"([01]?[0-9]|2[0-3])"
_WEEKDAY = r"(SUN|MON|TUE|WED|THU|FRI|SAT|[1-7])"
_EVERY_DAY = r"(\* \* \?|\? \* \*)"  # day-of-month, month, day-of-week
_SUB_DAILY = r"((0|\*)/30 \*|" + _MINUTE + r" (0|\*)/(1|2|4|8|12))"  # minutes hours
_DAYS = (
    _EVERY_DAY,
    rf"\? \* {_WEEKDAY}",  # every week
    rf"\? \* {_WEEKDAY}#[1-5]",  # the nth weekday of the month
    r"\? \* [1-7]L",  # the last given weekday of the month
    rf"(\*|1)/{integer_range(1, 31)} \* \?",  # every nth day
)
_ASSOCIATION_CRON = (
    rf"cron\((0 )?({_SUB_DAILY} {_EVERY_DAY}|{_MINUTE} {_HOUR} ({'|'.join(_DAYS)})) \*\)"  # year always *
)
ASSOCIATION_SCHEDULE_PATTERN = rf"^({_ASSOCIATION_RATE}|{_ASSOCIATION_CRON}|{_AT})$"
ASSOCIATION_SCHEDULE_MESSAGE = (
    "must be rate(30-44639 minutes), rate(1 hour), rate(2-743 hours), rate(1 day), rate(2-30 days), "
    "at(yyyy-mm-ddThh:mm:ss) or a cron() form State Manager supports for associations, with 6 fields "
    "(minutes hours day-of-month month day-of-week year, month and year *) and an optional leading 0 seconds "
    "field: every 30 minutes cron(0/30 * * * ? *), every 1, 2, 4, 8 or 12 hours cron(0 0/4 * * ? *), or at a "
    "time every day cron(15 13 ? * * *), every week cron(15 13 ? * MON *), on the nth weekday "
    "cron(0 0 ? * THU#2 *), on the last weekday cron(0 2 ? * 6L *) or every nth day cron(0 2 */3 * ? *)"
)

# Maintenance window (MaintenanceWindowSchedule): "maintenance windows support all cron and rate expressions",
# cron with 6 fields or 7 (leading seconds), and at() (Systems Manager reference, as above).
WINDOW_SCHEDULE_PATTERN = rf"^({_ANY_RATE}|cron\({_CRON_FIELD}( {_CRON_FIELD}){{5,6}}\)|{_AT})$"
WINDOW_SCHEDULE_MESSAGE = (
    "must be cron() with 6 fields (minutes hours day-of-month month day-of-week year) or 7 (leading seconds), "
    "rate(1 minute|hour|day), rate(<n> minutes|hours|days) or at(yyyy-mm-ddThh:mm:ss), e.g. "
    "cron(0 3 ? * SUN *), rate(7 days) or at(2026-07-07T15:55:00)"
)

# ---------------------------------------------------------------------------------------- Systems Manager
# MaxConcurrency and MaxErrors of the maintenance window task: the SSM API shapes (botocore ssm 2014-11-06,
# MaxConcurrency/MaxErrors: length 1-7 and the patterns below with [1-9][0-9]*); [1-9][0-9]{0,6} carries the
# length limit, as in the CloudFormation schema of AWS::SSM::Association.
MAX_CONCURRENCY_PATTERN = r"^([1-9][0-9]{0,6}|[1-9][0-9]%|[1-9]%|100%)$"
MAX_CONCURRENCY_MESSAGE = "must be a number of targets (1-9999999, no leading zero) or a percentage (1%-100%)"
MAX_ERRORS_PATTERN = r"^([1-9][0-9]{0,6}|[0]|[1-9][0-9]%|[0-9]%|100%)$"
MAX_ERRORS_MESSAGE = "must be a number of errors (0-9999999, no leading zero) or a percentage (0%-100%)"

# ScheduleTimezone: "in Internet Assigned Numbers Authority (IANA) format", e.g. America/Los_Angeles, UTC,
# Asia/Seoul (SSM API). Names of the IANA time zone database: up to three '/'-separated parts of letters,
# digits, '_', '+', '-' (EST5EDT, Etc/GMT+5, America/Argentina/Buenos_Aires); the first starts with a letter.
TIMEZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
TIMEZONE_MESSAGE = "must be an IANA time zone name such as Etc/UTC, UTC or Europe/Dublin"

# Resource data sync prefix: AWS::SSM::ResourceDataSync BucketPrefix is at most 64 characters (CloudFormation
# schema; the SSM API allows 256). Restricted further to characters that are safe in S3 keys and Glue locations.
DATASYNC_PREFIX_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$"
DATASYNC_PREFIX_MESSAGE = "must be 1-64 letters, digits, '_', '.', '-' and start with a letter or digit"

# ------------------------------------------------------------------------------------------------------- S3
# General purpose bucket naming rules (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html):
# 3-63 characters of a-z, 0-9, '.', '-'; begins and ends with a letter or digit; no two adjacent periods; not an
# IP address; not starting with xn--, sthree- or amzn-s3-demo-; not ending with -s3alias, --ol-s3, .mrap,
# --x-s3 or --table-s3.
BUCKET_NAME_PATTERN = (
    r"^(?!xn--|sthree-|amzn-s3-demo-)(?!.*\.\.)(?![0-9]+(\.[0-9]+){3}$)"
    r"(?!.*(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
)
BUCKET_NAME_MESSAGE = (
    "must be an S3 bucket name: 3-63 characters of a-z, 0-9, '.' and '-', beginning and ending with a letter or "
    "digit, without '..', not an IP address, not beginning with xn--, sthree- or amzn-s3-demo-, not ending with "
    "-s3alias, --ol-s3, .mrap, --x-s3 or --table-s3"
)
