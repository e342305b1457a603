"""Cost of verifying an API key: the first use in a process (bcrypt, cost 12) and the steady state.

Run: .venv/bin/python bench/key_verify.py [--rounds 12] [--requests 2000]
Uses a throwaway SQLite database (or DATABASE_URL when set). Prints the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    data_dir = tempfile.mkdtemp(prefix="wpublisher-bench-")
    os.environ.setdefault("WPUBLISHER_DATA_DIR", data_dir)
    os.environ["API_KEY_BCRYPT_ROUNDS"] = str(args.rounds)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wpublisher.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from agents import services
    from agents.actors import Actor
    from agents.models import Agent
    from agents.services import agent_authenticate, agent_key_create

    Agent.objects.get_or_create(id="bench", defaults={"name": "bench", "role": "bench", "scopes": ["article:submit"]})
    _, token = agent_key_create(agent_id="bench", actor=Actor(system="bench"))

    services._verified.clear()  # as a process that has never seen this key
    started = time.perf_counter()
    agent_authenticate(token=token)
    first_ms = (time.perf_counter() - started) * 1000

    timings = []
    for _ in range(args.requests):
        started = time.perf_counter()
        agent_authenticate(token=token)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p95 = timings[int(len(timings) * 0.95)]
    print(f"bcrypt cost {args.rounds}, {django.db.connection.vendor}")
    print(f"first verification in a process: {first_ms:8.2f} ms")
    print(f"steady state over {args.requests}:      p50 {p50:.3f} ms   p95 {p95:.3f} ms")


if __name__ == "__main__":
    main()
