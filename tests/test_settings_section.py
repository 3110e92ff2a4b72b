"""The router's and the gateway's conf.get read settings.py's dicts, and follow every override of them."""

from __future__ import annotations

import pytest
from django.test import override_settings

from llmgateway import conf as gateway_conf
from llmrouter import conf as router_conf


def test_conf_get_answers_settings_py_values(settings):
    assert gateway_conf.get("MAX_ATTEMPTS") == settings.GATEWAY["MAX_ATTEMPTS"]
    assert router_conf.get("BREAKER_FAILURES") == settings.LLMROUTER["BREAKER_FAILURES"]
    assert set(settings.LLMROUTER) == router_conf.KEYS


def test_conf_get_follows_an_override_and_its_end(settings):
    before = gateway_conf.get("MAX_ATTEMPTS")
    with override_settings(GATEWAY={**settings.GATEWAY, "MAX_ATTEMPTS": before + 1}):
        assert gateway_conf.get("MAX_ATTEMPTS") == before + 1
        assert router_conf.get("BREAKER_FAILURES") == settings.LLMROUTER["BREAKER_FAILURES"]
    assert gateway_conf.get("MAX_ATTEMPTS") == before
    settings.LLMROUTER = {**settings.LLMROUTER, "BREAKER_FAILURES": 7}  # pytest-django's fixture
    assert router_conf.get("BREAKER_FAILURES") == 7


def test_a_key_settings_py_does_not_write_has_no_second_default(settings):
    settings.GATEWAY = {}
    with pytest.raises(KeyError):
        gateway_conf.get("MAX_ATTEMPTS")
