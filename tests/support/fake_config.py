"""A fake AWS Config aggregator answering SelectAggregateResourceConfig, and an organisation's worth of data for it.

`FakeConfig` is attached to a real botocore Config client (a `before-call` handler), so the code under test
sees botocore's own parsing and modeled exceptions. It evaluates the part of the advanced query language the
ConfigExportFunction uses, as the Config developer guide describes it ("Query components", "Limitations"):

* ``SELECT p1, p2, ... WHERE cond [AND cond ...]`` where a property is a dotted path and a condition is
  ``p = 'x'`` or ``p IN ('x', 'y')``; keywords are case-insensitive. Anything else (``FROM``, ``AS``, ``OR``,
  ``NOT``, ``LIKE``, ``*``, aggregates) is refused with InvalidExpressionException, so the export cannot come
  to depend on syntax the fake does not check.
* Every selected or filtered property must be a documented queryable property of the queried resource types
  (:data:`DOCUMENTED`, a subset of the AWS Config resource schema), or an object above one (``configuration.
  state`` above ``configuration.state.name``), else InvalidExpressionException.
* Results are JSON strings holding only the selected properties, nested like the real API
  (``{"configuration": {"state": {"name": "running"}}}``); a property under an array keeps the array, each
  element reduced to the selected fields (``{"tags": [{"key": ..., "value": ...}]}``). A condition on a
  property under an array holds when any element matches.
* Paging: ``Limit``/``MaxResults`` 0..100 (0 or absent: 25, a non-aggregating query's default), more is
  InvalidLimitException. NextToken is opaque, bound to the expression; :meth:`FakeConfig.expire_tokens`
  invalidates every token issued so far (InvalidNextTokenException), as an expired token would be. A NextToken
  is returned only when another result exists, so n results take ceil(n / limit) calls.
* Errors: an unknown aggregator name -> NoSuchConfigurationAggregatorException; :meth:`FakeConfig.deny` ->
  AccessDeniedException; :meth:`FakeConfig.fail` injects any error (throttling, 5xx) for chosen calls.

:class:`Fleet` is a deterministic organisation (accounts x regions x instances) computed item by item, so a
benchmark of 100,000 instances holds no data set in memory; it also states the rows the export must produce.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import types
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse

from patchcompliance.render import FUNCTIONS_DIR

from . import functions as lib

OPERATION = "SelectAggregateResourceConfig"
MAX_LIMIT, DEFAULT_LIMIT = 100, 25

# Queryable properties (AWS Config resource schema, awslabs/aws-config-resource-schema,
# config/properties/resource-types/<type>.properties.json): the subset a patch-compliance export may touch.
_COMMON = {
    "accountId",
    "arn",
    "availabilityZone",
    "awsRegion",
    "configurationItemCaptureTime",
    "configurationItemStatus",
    "configurationStateId",
    "resourceCreationTime",
    "resourceId",
    "resourceName",
    "resourceType",
    "tags.key",
    "tags.tag",
    "tags.value",
    "version",
}
DOCUMENTED: dict[str, set[str]] = {
    "AWS::EC2::Instance": _COMMON
    | {
        "configuration.imageId",
        "configuration.instanceId",
        "configuration.instanceType",
        "configuration.launchTime",
        "configuration.platform",
        "configuration.platformDetails",
        "configuration.state.code",
        "configuration.state.name",
    },
    "AWS::Config::ResourceCompliance": _COMMON
    | {
        "configuration.complianceType",
        "configuration.configRuleList.complianceType",
        "configuration.configRuleList.configRuleArn",
        "configuration.configRuleList.configRuleId",
        "configuration.configRuleList.configRuleName",
        "configuration.targetResourceId",
        "configuration.targetResourceType",
    },
    "AWS::SSM::ManagedInstanceInventory": _COMMON | {"supplementaryConfiguration.instanceStatus"},
    "AWS::SSM::PatchCompliance": set(_COMMON),
    "AWS::EC2::Volume": _COMMON | {"configuration.state.value", "configuration.volumeId"},
}

_TOKEN_RE = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<punct>[,=()])|(?P<other>\S))"
)
_PROPERTY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")


class QueryError(ValueError):
    """The expression is outside the supported subset (answered as InvalidExpressionException)."""


@dataclass(frozen=True)
class Query:
    select: tuple[str, ...]
    where: tuple[tuple[str, frozenset[str]], ...]  # (property, accepted values), all must hold

    def types(self) -> frozenset[str] | None:
        """The resource types the query is limited to, or None."""
        values = [accepted for prop, accepted in self.where if prop == "resourceType"]
        return frozenset.intersection(*values) if values else None


def _tokens(expression: str) -> list[tuple[str, str]]:
    tokens = []
    for match in _TOKEN_RE.finditer(expression):
        kind = match.lastgroup
        if kind == "other":
            raise QueryError(f"unexpected character {match['other']!r}")
        tokens.append((kind, match[kind]))
    return tokens


def parse(expression: str) -> Query:
    """The supported subset of the advanced query language; QueryError for anything else."""
    tokens = _tokens(expression)
    position = 0

    def peek(offset=0):
        i = position + offset
        return tokens[i] if i < len(tokens) else ("end", "")

    def take(kind=None, word=None):
        nonlocal position
        token = peek()
        if kind and token[0] != kind or word and token[1].upper() != word:
            raise QueryError(f"expected {word or kind} at token {position}, got {token[1]!r}")
        position += 1
        return token[1]

    def prop():
        name = take("word")
        if name.upper() in {"SELECT", "WHERE", "AND", "IN", "OR", "NOT", "AS", "FROM", "LIKE", "BETWEEN"}:
            raise QueryError(f"keyword {name} where a property was expected")
        if not _PROPERTY_RE.match(name):
            raise QueryError(f"not a property: {name!r}")
        return name

    def string():
        return take("string")[1:-1].replace("''", "'")

    take("word", "SELECT")
    select = [prop()]
    while peek()[1] == ",":
        take("punct")
        select.append(prop())
    take("word", "WHERE")
    where = []
    while True:
        name = prop()
        operator = take()
        if operator == "=":
            where.append((name, frozenset([string()])))
        elif operator.upper() == "IN":
            take("punct")
            values = [string()]
            while peek()[1] == ",":
                take("punct")
                values.append(string())
            if take("punct") != ")":
                raise QueryError("IN list not closed")
            where.append((name, frozenset(values)))
        else:
            raise QueryError(f"unsupported operator {operator!r}")
        if peek()[0] == "end":
            break
        take("word", "AND")
    return Query(tuple(select), tuple(where))


def documented(prop: str, types: frozenset[str] | None) -> bool:
    """A documented property of every queried type, or an object holding one."""
    allowed = set.intersection(*(DOCUMENTED.get(t, set()) for t in types)) if types else _COMMON
    return prop in allowed or any(p.startswith(prop + ".") for p in allowed)


# --------------------------------------------------------------------------- evaluation


def _values(value, path: list[str]) -> list:
    """Leaf values at `path`, looking into every element of the arrays on the way."""
    if isinstance(value, list):
        return [v for element in value for v in _values(element, path)]
    if not path:
        return [value]
    if not isinstance(value, dict) or path[0] not in value:
        return []
    return _values(value[path[0]], path[1:])


def _tree(props) -> dict:
    tree: dict = {}
    for prop in props:
        node = tree
        for part in prop.split("."):
            node = node.setdefault(part, {})
    return tree


def _project(value, tree: dict):
    if not tree:
        return value
    if isinstance(value, list):
        return [_project(element, tree) for element in value]
    if not isinstance(value, dict):
        return None
    out = {}
    for key, sub in tree.items():
        if key in value and value[key] is not None:
            projected = _project(value[key], sub)
            if projected is not None:
                out[key] = projected
    return out


class Raw(str):
    """A result returned verbatim (e.g. malformed JSON) wherever the query selects `resource_type`."""

    def __new__(cls, text: str, resource_type: str):
        self = super().__new__(cls, text)
        self.resource_type = resource_type
        return self


def matches(item, query: Query) -> bool:
    if isinstance(item, Raw):
        types = query.types()
        return types is None or item.resource_type in types
    return all(any(v in accepted for v in _values(item, prop.split("."))) for prop, accepted in query.where)


def render(item, query: Query, tree: dict) -> str:
    if isinstance(item, Raw):
        return str(item)
    return json.dumps(_project(item, tree), separators=(",", ":"))


# --------------------------------------------------------------------------- the fake service


def _error(code: str, message: str, status: int = 400) -> dict:
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


@dataclass
class Fault:
    code: str
    message: str
    status: int
    times: int
    when: Callable[[dict], bool] | None


@dataclass
class FakeConfig:
    """The aggregator `aggregator` over `items` (advanced-query view of each configuration item)."""

    items: Sequence
    aggregator: str = "org-aggregator"
    clock: lib.VirtualClock | None = None
    latency_s: float = 0.0  # added to `clock` by every call
    calls: list[dict] = field(default_factory=list)
    returned: dict[str, int] = field(default_factory=dict)  # results returned per expression
    faults: list[Fault] = field(default_factory=list)
    denied: str | None = None
    generation: int = 0
    busy_s: float = 0.0  # time spent answering (benchmarks subtract it from the caller's wall time)

    # ---------------------------------------------------------------- fault injection
    def fail(self, code: str, message: str = "injected", *, status: int = 400, times: int = 1, when=None):
        """The next `times` calls (for which `when(params)` holds) fail with `code`."""
        self.faults.append(Fault(code, message, status, times, when))
        return self

    def throttle(self, times: int = 1, *, code: str = "ThrottlingException", when=None):
        return self.fail(code, "Rate exceeded", times=times, when=when)

    def deny(self, message: str = "User is not authorized to perform: config:SelectAggregateResourceConfig"):
        self.denied = message
        return self

    def expire_tokens(self):
        """Every NextToken issued so far is rejected from now on."""
        self.generation += 1

    # ---------------------------------------------------------------- the API
    def _token(self, expression: str, position: int) -> str:
        raw = f"{self.generation}:{zlib.crc32(expression.encode()):08x}:{position}"
        return base64.urlsafe_b64encode(raw.encode()).decode()

    def _position(self, expression: str, token: str) -> int | None:
        try:
            generation, digest, position = base64.urlsafe_b64decode(token.encode()).decode().split(":")
            valid = int(generation) == self.generation and digest == f"{zlib.crc32(expression.encode()):08x}"
            return int(position) if valid and 0 <= int(position) <= len(self.items) else None
        except (ValueError, UnicodeDecodeError):
            return None

    def __call__(self, params: dict) -> dict:
        """The parsed response (or error) of one SelectAggregateResourceConfig call."""
        started = time.perf_counter()
        try:
            return self._answer(params)
        finally:
            self.busy_s += time.perf_counter() - started

    def _answer(self, params: dict) -> dict:
        self.calls.append(dict(params))
        if self.clock is not None:
            self.clock.now += self.latency_s
        for fault in self.faults:
            if fault.times > 0 and (fault.when is None or fault.when(params)):
                fault.times -= 1
                return _error(fault.code, fault.message, fault.status)
        if self.denied:
            return _error("AccessDeniedException", self.denied)
        if params.get("ConfigurationAggregatorName") != self.aggregator:
            return _error(
                "NoSuchConfigurationAggregatorException",
                "The configuration aggregator does not exist. Check the configuration aggregator name and try again.",
            )
        limit = params.get("Limit") or params.get("MaxResults") or DEFAULT_LIMIT
        if not 0 <= limit <= MAX_LIMIT:
            return _error("InvalidLimitException", f"Limit {limit} is outside 0..{MAX_LIMIT}")
        expression = params["Expression"]
        try:
            query = parse(expression)
            for prop in (*query.select, *(p for p, _ in query.where)):
                if not documented(prop, query.types()):
                    raise QueryError(f"{prop} is not a queryable property of {sorted(query.types() or [])}")
        except QueryError as err:
            return _error("InvalidExpressionException", str(err))
        start = 0
        if params.get("NextToken"):
            start = self._position(expression, params["NextToken"])
            if start is None:
                return _error("InvalidNextTokenException", "The nextToken provided is invalid")
        tree = _tree(query.select)
        results, position, following = [], start, None
        while position < len(self.items):
            item = self.items[position]
            if matches(item, query):
                if len(results) == limit:
                    following = position
                    break
                results.append(render(item, query, tree))
            position += 1
        self.returned[expression] = self.returned.get(expression, 0) + len(results)
        page = {"Results": results, "QueryInfo": {"SelectFields": [{"Name": p} for p in query.select]}}
        if following is not None:
            page["NextToken"] = self._token(expression, following)
        return page

    def attach(self, client) -> FakeConfig:
        """Answer `client`'s SelectAggregateResourceConfig calls (other operations are untouched)."""
        events = client.meta.events

        def record(params, model, context, **_):
            if model.name == OPERATION:
                context["fake_config_params"] = dict(params)

        def respond(model, context, **_):
            if model.name != OPERATION:
                return None
            parsed = self(context["fake_config_params"])
            status = parsed["ResponseMetadata"]["HTTPStatusCode"] if "Error" in parsed else 200
            parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
            return AWSResponse("https://config.fake.invalid", status, {}, lib.RawBody(b"")), parsed

        events.register_first("provide-client-params", record)
        events.register_first("before-call", respond)
        return self

    # ---------------------------------------------------------------- accounting
    def floor(self) -> int:
        """The fewest calls that return every result returned: ceil(results / 100) per expression (at least 1)."""
        return sum(max(1, math.ceil(n / MAX_LIMIT)) for n in self.returned.values())


# --------------------------------------------------------------------------- an organisation


RULE_MANAGED = "ec2-instance-managed-by-systems-manager"
RULE_PATCH = "ec2-managedinstance-patch-compliance-status-check"
STATES = ("running", "running", "running", "stopped", "pending", "stopping")
PLATFORMS = ("Linux/UNIX", "Windows", "Red Hat Enterprise Linux", "SUSE Linux", "Ubuntu Pro")
RESULTS = ("COMPLIANT", "NON_COMPLIANT", "COMPLIANT", "INSUFFICIENT_DATA")
SLOTS = 4  # configuration items per instance in the item sequence
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-2", "eu-central-1", "us-west-2", "ap-northeast-1")


def _mix(*values: int) -> int:
    return zlib.crc32(":".join(map(str, values)).encode())


@dataclass(frozen=True)
class Instance:
    account: str
    region: str
    instance_id: str
    state: str
    platform: str
    tags: tuple[tuple[str, str], ...]
    managed: tuple[tuple[str, str], ...]  # (rule name, compliance) in the EC2 instance's compliance item
    patch: str | None  # patch rule result (AWS::SSM::PatchCompliance item), None when not evaluated
    deleted: bool
    capture: str
    hybrid: str | None  # a hybrid managed node (mi-...) reported next to this instance


class Fleet(Sequence):
    """Configuration items of `per_region` instances in every account x region, computed on access.

    Per instance, four items in a row: the EC2 instance; its AWS::Config::ResourceCompliance item (target the
    instance); the compliance item of its AWS::SSM::PatchCompliance resource, or an EBS volume when patching is
    not evaluated; and either a hybrid node's patch compliance item (every 10th instance) or noise the queries
    must not return (a volume's compliance item, a volume).
    """

    def __init__(self, accounts: int = 3, regions: int = 2, per_region: int = 50, seed: int = 0):
        if regions > len(REGIONS):
            raise ValueError(f"at most {len(REGIONS)} regions")
        self.accounts = [f"{111122220000 + 7919 * k:012d}" for k in range(accounts)]
        self.regions = REGIONS[:regions]
        self.per_region, self.seed = per_region, seed
        self.size = accounts * regions * per_region
        self._last: tuple[int, Instance] | None = None  # the 4 items of an instance are read in a row

    # ---------------------------------------------------------------- the model
    def instance(self, n: int) -> Instance:
        if self._last is not None and self._last[0] == n:
            return self._last[1]
        inst = self._instance(n)
        self._last = (n, inst)
        return inst

    def _instance(self, n: int) -> Instance:
        per_account = len(self.regions) * self.per_region
        account, region = self.accounts[n // per_account], self.regions[n % per_account // self.per_region]
        h = _mix(self.seed, n)
        tags = [("Name", f"web-{n}"), ("Environment", ("prod", "dev", "test")[h % 3])]
        if h % 7 == 0:
            tags.append(("name", f"lower-{n}"))  # differs from Name only by case
        if h % 11 == 0:
            tags = []
        if h % 13 == 0:
            tags.append(("Owner", "équipe données"))
        managed = [(RULE_MANAGED, RESULTS[h % 4])]
        if h % 5 == 0:  # the rule deployed twice (conformance pack)
            managed.append((f"{RULE_MANAGED}-conformance-pack-{h % 1000:03d}", RESULTS[(h >> 3) % 4]))
        managed.append(("ec2-imdsv2-check", RESULTS[(h >> 5) % 4]))
        state = STATES[(h >> 7) % len(STATES)]
        return Instance(
            account=account,
            region=region,
            instance_id=f"i-{_mix(self.seed, n, 'id') & 0xFFFFFFFF:08x}{n:09x}",
            state=state,
            platform=PLATFORMS[(h >> 9) % len(PLATFORMS)],
            tags=tuple(tags),
            managed=tuple(managed),
            patch=None if state == "stopped" else RESULTS[(h >> 11) % 4],
            deleted=n % 50 == 49,
            capture=f"2025-03-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.{n % 1000:03d}Z",
            hybrid=f"mi-{n:017x}" if n % 10 == 3 else None,
        )

    # ---------------------------------------------------------------- configuration items
    def __len__(self) -> int:
        return self.size * SLOTS

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not 0 <= index < len(self):
            raise IndexError(index)
        inst, slot = self.instance(index // SLOTS), index % SLOTS
        if slot == 0:
            return ec2_item(inst)
        if inst.deleted:  # a deleted instance has no compliance items any more
            return volume_item(inst)
        if slot == 1:
            return compliance_item(inst, "AWS::EC2::Instance", inst.instance_id, inst.managed)
        if slot == 2:
            if inst.patch is None:
                return volume_item(inst)
            target = f"AWS::SSM::ManagedInstanceInventory/{inst.instance_id}"
            return compliance_item(inst, "AWS::SSM::PatchCompliance", target, ((RULE_PATCH, inst.patch),))
        if inst.hybrid:
            target = f"AWS::SSM::ManagedInstanceInventory/{inst.hybrid}"
            return compliance_item(inst, "AWS::SSM::PatchCompliance", target, ((RULE_PATCH, "NON_COMPLIANT"),))
        volume = volume_item(inst)
        if _mix(self.seed, index) % 2:
            return volume
        return compliance_item(inst, "AWS::EC2::Volume", volume["resourceId"], (("encrypted-volumes", "COMPLIANT"),))

    # ---------------------------------------------------------------- what the export must contain
    def expected_rows(self) -> list[dict]:
        """The export's rows, written out from the model (independently of the function's parsing)."""
        rows = []
        for n in range(self.size):
            inst = self.instance(n)
            if inst.deleted:
                continue
            instance_row = {
                "kind": "instance",
                "account_id": inst.account,
                "region": inst.region,
                "resource_type": "AWS::EC2::Instance",
                "resource_id": inst.instance_id,
                "instance_id": inst.instance_id,
                "instance_state": inst.state,
                "platform_details": inst.platform,
                "launch_time": "2025-02-01T09:00:00.000Z",
                "tags": [{"key": k, "value": v} for k, v in inst.tags],
                "capture_time": inst.capture,
            }
            rows.append({k: v for k, v in instance_row.items() if v != []})
            rows.append(rules_row(inst, "AWS::EC2::Instance", inst.instance_id, inst.instance_id, inst.managed))
            if inst.patch is not None:
                target = f"AWS::SSM::ManagedInstanceInventory/{inst.instance_id}"
                rows.append(
                    rules_row(inst, "AWS::SSM::PatchCompliance", target, inst.instance_id, ((RULE_PATCH, inst.patch),))
                )
            if inst.hybrid:
                target = f"AWS::SSM::ManagedInstanceInventory/{inst.hybrid}"
                rows.append(
                    rules_row(inst, "AWS::SSM::PatchCompliance", target, inst.hybrid, ((RULE_PATCH, "NON_COMPLIANT"),))
                )
        return rows


def ec2_item(inst: Instance) -> dict:
    """An EC2 instance as advanced queries see it (tags as key/value objects, Config's property names)."""
    return {
        "accountId": inst.account,
        "awsRegion": inst.region,
        "resourceType": "AWS::EC2::Instance",
        "resourceId": inst.instance_id,
        "resourceName": None,
        "arn": f"arn:aws:ec2:{inst.region}:{inst.account}:instance/{inst.instance_id}",
        "availabilityZone": f"{inst.region}a",
        "configurationItemCaptureTime": inst.capture,
        "configurationItemStatus": "ResourceDeleted" if inst.deleted else "OK",
        "configuration": None
        if inst.deleted
        else {
            "instanceId": inst.instance_id,
            "imageId": "ami-0123456789abcdef0",
            "instanceType": "t3.medium",
            "platformDetails": inst.platform,
            **({"platform": "windows"} if inst.platform == "Windows" else {}),
            "state": {"code": 16, "name": inst.state},
            "launchTime": "2025-02-01T09:00:00.000Z",
        },
        "tags": [{"key": k, "value": v, "tag": f"{k}={v}"} for k, v in inst.tags],
    }


def compliance_item(inst: Instance, target_type: str, target_id: str, rules) -> dict:
    order = {"NON_COMPLIANT": 3, "COMPLIANT": 2, "INSUFFICIENT_DATA": 1}
    return {
        "accountId": inst.account,
        "awsRegion": inst.region,
        "resourceType": "AWS::Config::ResourceCompliance",
        "resourceId": f"{target_type}/{target_id}",
        "resourceName": None,
        "availabilityZone": "Not Applicable",
        "configurationItemCaptureTime": inst.capture,
        "configurationItemStatus": "OK",
        "configuration": {
            "complianceType": max((c for _, c in rules), key=order.__getitem__),
            "targetResourceId": target_id,
            "targetResourceType": target_type,
            "configRuleList": [
                {
                    "configRuleArn": f"arn:aws:config:{inst.region}:{inst.account}:config-rule/config-rule-{k:06x}",
                    "configRuleId": f"config-rule-{zlib.crc32(name.encode()) % 16**6:06x}",
                    "configRuleName": name,
                    "complianceType": compliance,
                }
                for k, (name, compliance) in enumerate(rules)
            ],
        },
        "tags": [],
    }


def volume_item(inst: Instance) -> dict:
    volume = f"vol-{inst.instance_id[2:]}"
    return {
        "accountId": inst.account,
        "awsRegion": inst.region,
        "resourceType": "AWS::EC2::Volume",
        "resourceId": volume,
        "configurationItemCaptureTime": inst.capture,
        "configurationItemStatus": "OK",
        "configuration": {"volumeId": volume, "state": {"value": "in-use"}},
        "tags": [],
    }


def rules_row(inst: Instance, target_type: str, target_id: str, node_id: str, rules) -> dict:
    return {
        "kind": "rules",
        "account_id": inst.account,
        "region": inst.region,
        "resource_type": target_type,
        "resource_id": target_id,
        "instance_id": node_id,
        "rules": [{"rule_name": name, "compliance_type": compliance} for name, compliance in rules],
        "capture_time": inst.capture,
    }


# --------------------------------------------------------------------------- the function under test

EXPORT_FUNCTION = ("patch-compliance.yaml", "ConfigExportFunction")


def function_code() -> tuple[str, str]:
    """(code, origin): the code inlined in the central template once it has the function, else the source."""
    resource = lib.template_resource(*EXPORT_FUNCTION)
    if resource is not None:
        return resource["Properties"]["Code"]["ZipFile"], f"<{EXPORT_FUNCTION[0]}:{EXPORT_FUNCTION[1]}>"
    path = FUNCTIONS_DIR / "config_export" / "index.py"
    return path.read_text(encoding="utf-8"), str(path)


def load_function() -> types.ModuleType:
    """A fresh module (own clients, as in a new Lambda container) running the export function."""
    code, origin = function_code()
    module = types.ModuleType(f"lambda_config_export_{uuid.uuid4().hex[:8]}")
    module.__file__ = origin
    exec(compile(code, origin, "exec"), module.__dict__)  # noqa: S102 - that is the point
    return module


class LambdaContext(lib.FakeContext):
    """A Lambda context with the function ARN and request ID the export function uses."""

    invoked_function_arn = f"arn:aws:lambda:{lib.REGION}:{lib.ACCOUNT}:function:pc-config-export"

    def __init__(self, remaining_s: float = 900.0, clock=None, request_id: str = "req-1"):
        super().__init__(remaining_s, clock)
        self.aws_request_id = request_id
