"""Fixtures for the AWS adapters: the moto server for a whole module, and fresh environments in it.

Building a load balancer, target groups and ASGs with boto3 against moto
takes well under a second, so tests that change an environment (stop an
instance, mark one Unhealthy, move traffic) build their own under a name of
their own instead of sharing one and depending on test order.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from bluegreen.adapters.aws.environment import AwsEnvironment
from bluegreen.adapters.aws.session import AwsTarget
from tests.aws.lb_world import build_alb_environment, build_elb_environment
from tests.awsenv import REGION, use_test_credentials


@pytest.fixture(scope="module")
def aws_target(moto_target: AwsTarget) -> AwsTarget:
    """The session's moto server for this module (tests/conftest.py), as these tests name it."""
    return moto_target


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request on stderr would bury a failing test's output."""


@pytest.fixture(scope="module")
def one_request_at_a_time() -> Iterator[AwsTarget]:
    """A moto server of its own for this module, answering one request at a time.

    DynamoDB applies conditional writes to an item one at a time. moto's server
    is threaded and checks a ConditionExpression, then writes, with nothing in
    between to stop another request: on a busy machine two racing writers both
    passed the check. Served on a single thread, each condition is evaluated
    against the result of the write before it, as in DynamoDB, whatever the
    thread timing.
    """
    app = DomainDispatcherApplication(create_backend_app)
    # Port 0: the kernel picks a free one. threaded=False: one request at a time (and HTTP/1.0, so
    # a client's idle keep-alive connection never holds the only thread).
    server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with pytest.MonkeyPatch.context() as mp:
            use_test_credentials(mp)
            yield AwsTarget(region=REGION, endpoint_url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


_names = itertools.count(1)


@pytest.fixture(scope="module")
def new_alb(aws_target: AwsTarget) -> Callable[..., AwsEnvironment]:
    """Build a fresh ALB environment (blue live, green idle) with a unique name."""

    def build(desired: int = 2, green: bool = True) -> AwsEnvironment:
        return build_alb_environment(aws_target, f"alb{next(_names)}", desired=desired, green=green)

    return build


@pytest.fixture(scope="module")
def new_elb(aws_target: AwsTarget) -> Callable[..., AwsEnvironment]:
    """Build a fresh classic ELB environment (blue attached, green not) with a unique name."""

    def build(desired: int = 2) -> AwsEnvironment:
        return build_elb_environment(aws_target, f"elb{next(_names)}", desired=desired)

    return build
