"""Each verb module registers its own subcommand; the parser is the loop over them."""

from __future__ import annotations

import argparse

import pytest

from cli.hybridctl.arguments import Verbs, connection, mutation
from cli.hybridctl.main import build_parser
from cli.hybridctl.verbs import VERBS

RUNBOOK_VERBS = [
    "status", "flags", "emergency", "route", "config", "breakers", "validate", "monitor", "report", "analyze",
    "offline", "drill", "audit", "dashboard", "failover", "canary", "failback", "rollback", "rollouts",
]  # fmt: skip


def _verbs(parser: argparse.ArgumentParser) -> list[str]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_the_parser_offers_every_verb_in_the_help_order():
    assert _verbs(build_parser()) == RUNBOOK_VERBS


@pytest.mark.parametrize("module", VERBS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_a_verb_module_registers_the_verb_it_is_named_after_with_its_handler(module):
    parser = argparse.ArgumentParser()
    module.register(Verbs(parser.add_subparsers(), common=connection(suppress=True), change=mutation()))
    name = module.__name__.rsplit(".", 1)[-1]
    assert _verbs(parser) == [name]
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert callable(sub.choices[name].get_default("handler"))
