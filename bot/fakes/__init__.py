"""Loopback fakes of the services Tuneloop talks to: the tests and `tuneloop demo` drive them."""

from .openai_api import FakeOpenAI
from .ray_jobs import FakeRayJobs
from .server import Call
from .slack import FakeSlack
from .together_api import FakeTogether

__all__ = ["Call", "FakeOpenAI", "FakeRayJobs", "FakeSlack", "FakeTogether"]
