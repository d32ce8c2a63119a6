"""Benchmark: how fast the bot acknowledges Slack, and how fast it sends due nudges.

Prints figures; asserts nothing. Runs the real bot (HTTP on loopback, SQLite file or the
PostgreSQL in DATABASE_URL) against the fake Slack from the tests, which is told to answer
slowly so that any ack that waits on Slack would show.

    .venv/bin/python -m benchmarks.ack_and_nudges [--clicks 400] [--concurrency 16] [--nudges 300]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from bot.checklist.template import load_template
from bot.fake_slack import FakeSlack
from tests.checklist_flow import replies_of
from tests.support import FakeClock, RunningBot

TEMPLATE = load_template()
CHANNELS = 20


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    median, worst = statistics.median(ordered), ordered[-1]
    return f"p50 {median * 1000:.1f} ms · p95 {p95 * 1000:.1f} ms · max {worst * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--slack-delay", type=float, default=0.2, help="seconds the fake Slack takes per call"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, FakeSlack() as fake:
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(folder) / 'bench.db'}"
        for n in range(CHANNELS):
            fake.add_channel(f"C{n:04d}", f"project-{n}")
        fake.add_user("UALICE", "alice")
        bot = RunningBot(fake, url, FakeClock())
        for n in range(CHANNELS):
            bot.slack.command("start Bench", channel=f"C{n:04d}")
        bot.settle()
        phase_ones = [replies_of(fake, f"C{n:04d}")[0] for n in range(CHANNELS)]

        fake.delay("chat.update", args.slack_delay)
        fake.delay("chat.postMessage", args.slack_delay)
        items = [item.key for item in TEMPLATE.phase(1).items]
        acks: list[float] = []
        lock = threading.Lock()

        def click(n: int) -> None:
            channel = f"C{n % CHANNELS:04d}"
            message = phase_ones[n % CHANNELS]
            started = time.perf_counter()
            result = bot.slack.click(
                channel,
                message["ts"],
                items[n % len(items)],
                selected=n % 2 == 0,
                user=f"U{n % 7}",
                message=message,
            )
            elapsed = time.perf_counter() - started
            assert result.status == 200
            with lock:
                acks.append(elapsed)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(click, range(args.clicks)))
        sent_in = time.perf_counter() - started
        bot.settle()
        drained_in = time.perf_counter() - started
        print(
            f"database: {url.split(':')[0]}; Slack answers every call after {args.slack_delay * 1000:.0f} ms"
        )
        print(
            f"clicks: {args.clicks} from {args.concurrency} clients on {CHANNELS} projects "
            f"in {sent_in:.2f} s "
            f"({args.clicks / sent_in:.0f}/s acknowledged)"
        )
        print(f"ack latency: {percentiles(acks)}")
        print(f"all Slack messages converged {drained_in:.2f} s after the first click")

        fake.delay("chat.update", 0)
        fake.delay("chat.postMessage", 0)
        bot.clock.advance(timedelta(days=5))
        bot.settle()
        started = time.perf_counter()
        sent = bot.run_nudges()
        took = time.perf_counter() - started
        print(f"stall nudges: {sent} due at once sent in {took:.2f} s ({sent / took:.0f}/s)")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak memory (max RSS) of this process: {peak:.0f} MiB")
        bot.stop()


if __name__ == "__main__":
    main()
