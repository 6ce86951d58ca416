"""Fixtures of the Lambda tests: fake AWS environment, moto, the custom-resource answer sink.

The helpers they build on are in tests/support/functions.py.
"""

from __future__ import annotations

import os

import pytest

from tests.support.functions import REGION, AnswerSink, start_answer_server

# moto's EC2 backend otherwise loads thousands of sample AMIs for every test (about 1 s each time).
os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch):
    """Fake credentials and region, no real endpoint reachable, loopback never proxied."""
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


@pytest.fixture(scope="session")
def _boto3_session():
    """One boto3 session per worker, so service models are parsed once rather than for every test."""
    import boto3
    import moto  # noqa: F401 - moto's botocore hook must be in place before the session exists

    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)


@pytest.fixture
def aws(_boto3_session):
    """moto for every AWS service (S3, Glue, Athena, EC2, SQS...), fresh state for each test."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        boto3.DEFAULT_SESSION = _boto3_session  # moto patched it to None; it restores it on exit
        yield


@pytest.fixture(scope="session")
def _answer_httpd():
    httpd = start_answer_server()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def cfn(_answer_httpd) -> AnswerSink:
    """A fresh response URL for one custom-resource request; its answers are recorded."""
    return AnswerSink(_answer_httpd)
