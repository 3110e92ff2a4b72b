"""Daphne on uvloop: ``python -m orchestrator_site.serve <daphne's arguments>``, what supervisor runs.

Once the server runs, the garbage collector is tuned as in the other serving processes: the start-up heap
frozen out of its walks, young collections less often (orchestrator_common/gc_tuning.py). Before that, the
provider keys file is read (llmgateway/keys_file.py), so a restart of this program applies a new key.

Daphne runs Twisted's asyncio reactor on a loop it creates when ``daphne.server`` is imported, from the
event loop policy in force then; with uvloop's policy installed first, that loop is uvloop's (Twisted's
reactor only needs ``add_reader``/``add_writer`` and timers, which uvloop has). The asyncio layer under
every request (the fast paths, the gateway's upstream calls, the WebSockets) then costs less CPU:
measured with bench/bench_gateway.py, see bench/gateway.md.
"""

from __future__ import annotations

import asyncio

import uvloop

from orchestrator_common.gc_tuning import gc_tune_for_serving


def main() -> None:
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from daphne.cli import CommandLineInterface  # imported after the policy: Daphne makes its loop at import
    from twisted.internet import reactor  # Daphne's asyncio reactor, installed by that import

    # When the reactor starts, Daphne has loaded the application (Django set up, the apps imported), and no
    # request has been served yet.
    reactor.callWhenRunning(_provider_keys)
    reactor.callWhenRunning(gc_tune_for_serving)
    reactor.callWhenRunning(reactor.callLater, 0, _orphan_sweep)  # on the next turn: the loop is running then
    CommandLineInterface.entrypoint()


def _orphan_sweep() -> None:
    from llmgateway import orphan_sweep

    orphan_sweep.start()


def _provider_keys() -> None:
    from llmgateway.keys_file import load_configured

    load_configured()


if __name__ == "__main__":
    main()
