"""Helpers for the Lambda tests and benchmarks: the code inlined in the generated templates, fake AWS calls,
a stand-in for the custom-resource response URL.

The Lambda code under test is the `Code.ZipFile` text of each function in `templates/*.yaml`, executed as a
fresh module per test, so what ships is what is tested. The benchmarks in bench/ run the same code.
"""

from __future__ import annotations

import io
import json
import threading
import types
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.awsrequest import AWSResponse

from patchcompliance.render import FUNCTIONS_DIR

from .templates import load_template

REGION = "eu-west-1"
ACCOUNT = "123456789012"

# function directory -> (template file, logical ID of the AWS::Lambda::Function)
FUNCTIONS = {
    "ec2_tagging": ("patch-compliance-member.yaml", "EC2TaggingFunction"),
    "partitioning": ("patch-compliance.yaml", "PartitioningFunction"),
    "athena_views": ("patch-compliance.yaml", "AthenaViewsFunction"),
    "inventory_partitions": ("patch-compliance.yaml", "InventoryPartitionsFunction"),
    "digest": ("patch-compliance.yaml", "DigestFunction"),
    "history": ("patch-compliance.yaml", "HistoryFunction"),
}


# --------------------------------------------------------------------------- template / code loading


def template_resource(filename: str, logical_id: str) -> dict | None:
    """A resource of a generated template, or None if the template or the resource does not exist yet."""
    try:
        return load_template(filename).get("Resources", {}).get(logical_id)
    except OSError:
        return None


def function_resource(name: str) -> dict:
    """The AWS::Lambda::Function resource of functions/<name> in its generated template."""
    filename, logical_id = FUNCTIONS[name]
    resources = load_template(filename).get("Resources", {})
    if logical_id not in resources:
        raise LookupError(f"{logical_id} is not in templates/{filename}; run `make templates`")
    return resources[logical_id]


def inlined_code(name: str) -> str:
    """The Code.ZipFile text of functions/<name> as inlined in the generated template."""
    code = function_resource(name)["Properties"]["Code"]["ZipFile"]
    if not isinstance(code, str):
        raise TypeError(f"Code.ZipFile of {name} is not a plain string: {type(code).__name__}")
    return str(code)


def template_environment(name: str) -> dict:
    """Environment variables of the function in its template (values may be intrinsics); {} if not generated."""
    try:
        return dict(function_resource(name)["Properties"].get("Environment", {}).get("Variables", {}))
    except (OSError, LookupError):
        return {}


def source_code(name: str) -> str:
    """functions/<name>/index.py, the source the generator inlines."""
    return (FUNCTIONS_DIR / name / "index.py").read_text(encoding="utf-8")


def load_function(name: str, code: str | None = None) -> types.ModuleType:
    """A fresh module (own caches and clients) executing the inlined code of functions/<name>."""
    code = inlined_code(name) if code is None else code
    module = types.ModuleType(f"lambda_{name}_{uuid.uuid4().hex[:8]}")
    module.__file__ = f"<{FUNCTIONS[name][0]}:{FUNCTIONS[name][1]}>"
    exec(compile(code, module.__file__, "exec"), module.__dict__)  # noqa: S102 - that is the point
    return module


# --------------------------------------------------------------------------- Lambda runtime stand-ins


class FakeContext:
    """Lambda context; remaining time comes from `clock` (seconds elapsed) when given."""

    function_name = "fn"
    log_group_name = "/aws/lambda/fn"
    log_stream_name = "2025/03/07/[$LATEST]0123456789abcdef"
    aws_request_id = "req-1"

    def __init__(self, remaining_s: float = 300.0, clock=None):
        self.budget, self.clock = remaining_s, clock

    def get_remaining_time_in_millis(self) -> int:
        elapsed = self.clock() if self.clock else 0.0
        return int((self.budget - elapsed) * 1000)


class VirtualClock:
    """A clock the fakes advance instead of sleeping."""

    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# --------------------------------------------------------------------------- custom-resource answer sink


class _AnswerHandler(BaseHTTPRequestHandler):
    def do_PUT(self):  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?")[0]
        self.server.answers.setdefault(path, []).append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        self.send_response(self.server.status.get(path, 200))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_answer_server() -> ThreadingHTTPServer:
    """A loopback HTTP server, serving in a daemon thread, that records PUTs per path (stop it with
    shutdown() then server_close())."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _AnswerHandler)
    httpd.answers, httpd.status = {}, {}
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return httpd


class AnswerSink:
    """A real HTTP endpoint on loopback standing in for the pre-signed S3 ResponseURL (one path per test)."""

    def __init__(self, httpd):
        self.httpd = httpd
        self.path = f"/cloudformation-response/{uuid.uuid4().hex}"
        self.url = f"http://127.0.0.1:{httpd.server_address[1]}{self.path}?X-Amz-Signature=abc"

    @property
    def answers(self) -> list[dict]:
        return self.httpd.answers.setdefault(self.path, [])

    def fail_with(self, status: int) -> None:
        self.httpd.status[self.path] = status

    def only_answer(self) -> dict:
        """The single answer received (asserts there was exactly one), body decoded, checked ≤ 4,096 bytes."""
        assert len(self.answers) == 1, f"expected exactly one answer, got {len(self.answers)}"
        answer = self.answers[0]
        assert len(answer["body"]) <= 4096
        assert answer["headers"].get("Content-Type", answer["headers"].get("Content-type")) == ""
        assert answer["path"].endswith("?X-Amz-Signature=abc")
        return json.loads(answer["body"])


def cr_event(response_url: str, request_type: str = "Create", properties=None, **extra) -> dict:
    """A CloudFormation custom-resource request."""
    event = {
        "RequestType": request_type,
        "ServiceToken": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn",
        "ResponseURL": response_url,
        "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/pc/11111111-2222-3333-4444-555555555555",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "Resource",
        "ResourceType": "Custom::Test",
        "ResourceProperties": {"ServiceToken": "x", **(properties or {})},
    }
    event.update(extra)
    return event


def assert_echoed(answer: dict, event: dict) -> None:
    for key in ("StackId", "RequestId", "LogicalResourceId"):
        assert answer[key] == event[key], key
    assert answer["Status"] in ("SUCCESS", "FAILED")
    assert isinstance(answer["PhysicalResourceId"], str) and answer["PhysicalResourceId"]
    if answer["Status"] == "FAILED":
        assert answer["Reason"]


# --------------------------------------------------------------------------- AWS call hooks


class RawBody(io.BytesIO):
    """A response body botocore can read and stream."""

    def stream(self, **_):
        data = self.read()
        while data:
            yield data
            data = self.read()


def http_error(code: str, message: str = "", status: int = 400) -> dict:
    """A parsed error response for Hooks.respond."""
    return {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}


class Hooks:
    """Records every API call of a client and lets a test answer chosen operations itself.

    `respond(op, fn)`: fn(api_params) returns a parsed response dict (`http_error(...)` for errors), raises
    (e.g. a botocore timeout), or returns None to let the call go on to moto. A responder short-circuits
    botocore before the retry layer, so an injected error is what the caller sees after retries.
    """

    def __init__(self, client):
        self.client = client
        self.calls: list[tuple[str, dict]] = []
        self.responders: dict[str, callable] = {}
        events = client.meta.events
        events.register_first("provide-client-params", self._record)
        events.register_first("before-call", self._before_call)

    def _record(self, params, model, context, **_):
        self.calls.append((model.name, dict(params)))
        context["hooks_params"] = dict(params)

    def _before_call(self, model, context, **_):
        responder = self.responders.get(model.name)
        if responder is None:
            return None
        parsed = responder(context.get("hooks_params", {}))
        if parsed is None:
            return None
        status = parsed.setdefault("ResponseMetadata", {}).setdefault("HTTPStatusCode", 200)
        return AWSResponse("https://hooked.invalid", status, {}, RawBody(b"")), parsed

    def respond(self, operation: str, fn) -> Hooks:
        self.responders[operation] = fn
        return self

    def ops(self, name: str | None = None) -> list:
        return [op for op, _ in self.calls] if name is None else [p for op, p in self.calls if op == name]


class FakeFleet:
    """SSM DescribeInstanceInformation (not implemented by moto), paged like the real API."""

    def __init__(self, nodes: list[dict]):
        self.nodes = nodes

    def __call__(self, params: dict) -> dict:
        size = params.get("MaxResults", 10)
        if not 5 <= size <= 50:
            return http_error("ValidationException", f"MaxResults {size} not in 5..50")
        start = int(params.get("NextToken") or 0)
        page = {"InstanceInformationList": self.nodes[start : start + size]}
        if start + size < len(self.nodes):
            page["NextToken"] = str(start + size)
        return page


def node(instance_id: str, ptype="Linux", name="Amazon Linux", version="2023", **extra) -> dict:
    info = {"InstanceId": instance_id, "PingStatus": "Online", "ResourceType": "EC2Instance"}
    if not instance_id.startswith("i-"):
        info["ResourceType"] = "ManagedInstance"
    for key, value in (("PlatformType", ptype), ("PlatformName", name), ("PlatformVersion", version)):
        if value is not None:
            info[key] = value
    info.update(extra)
    return info


def vanishing(ids) -> callable:
    """CreateTags responder that fails like EC2 when some resources no longer exist: the whole call fails
    with InvalidInstanceID.NotFound naming every missing ID (moto does not validate instance IDs)."""
    gone = set(ids)

    def respond(params):
        missing = [i for i in params["Resources"] if i in gone]
        if not missing:
            return None
        if len(missing) == 1:
            return http_error("InvalidInstanceID.NotFound", f"The instance ID '{missing[0]}' does not exist")
        return http_error("InvalidInstanceID.NotFound", f"The instance IDs '{', '.join(missing)}' do not exist")

    return respond


def instance_ids(n: int, start: int = 0) -> list[str]:
    return [f"i-{k:017x}" for k in range(start, start + n)]


def create_config_table(glue, database: str, table: str, bucket: str, descriptor: dict) -> None:
    """The Config snapshot table as the central template declares it (partition keys, storage descriptor)."""
    glue.create_database(DatabaseInput={"Name": database})
    glue.create_table(
        DatabaseName=database,
        TableInput={
            "Name": table,
            "TableType": "EXTERNAL_TABLE",
            "PartitionKeys": [{"Name": k, "Type": "string"} for k in ("accountid", "region", "dt")],
            "StorageDescriptor": dict(descriptor, Location=f"s3://{bucket}/"),
        },
    )
