"""Benchmark: forms open within a trigger_id's 3 seconds, and a full background pool says so at once.

Prints figures; asserts nothing. Runs the real bot (HTTP on loopback, SQLite file) against the
fake Slack, whose trigger_ids expire 3 seconds after issue by the wall clock, as Slack's do.

1. Click-to-`views.open`: the background pool is full (every thread waits on a Slack that holds
   its posts, more work queued behind them) and Slack answers 429 with Retry-After to the
   background's updates; the owner clicks "Waive an item" again and again. Measured from the
   click's HTTP request to `views.open` reaching Slack, and whether the form opened. Run with
   `--shared --queue 100000` to measure the old path (the shared, unbounded pool and the
   client that sleeps on 429s).
2. A second round where Slack also answers the first `views.open` with 429 (Retry-After 2 s):
   the fast path tells the user at once; the old one sleeps past the trigger's life.
3. The bounded queue: with the pool full, how fast a new command is answered "busy".

    .venv/bin/python -m benchmarks.fast_paths [--clicks 20] [--queue 24] [--shared]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bot.background import BUSY
from bot.fake_slack import FakeSlack
from tests.checklist_flow import press_button, replies_of
from tests.support import FakeClock, RunningBot

BUSY_CHANNELS = 40


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no samples"
    p95 = ordered[max(int(len(ordered) * 0.95) - 1, 0)]
    return (
        f"p50 {statistics.median(ordered) * 1000:.0f} ms · p95 {p95 * 1000:.0f} ms · "
        f"max {ordered[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--queue", type=int, default=24, help="BACKGROUND_QUEUE: jobs running or waiting")
    parser.add_argument("--shared", action="store_true", help="the old path: shared pool, retrying client")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder, FakeSlack() as fake:
        fake.add_user("UALICE", "alice")
        fake.add_channel("CFORM", "forms")
        for n in range(BUSY_CHANNELS):
            fake.add_channel(f"CBUSY{n:03d}", f"busy-{n}")
        bot = RunningBot(
            fake,
            f"sqlite:///{Path(folder) / 'bench.db'}",
            FakeClock(),
            shared_modal_path=args.shared,
            background_queue=args.queue,
        )
        bot.slack.command("start Forms", channel="CFORM")
        bot.settle()
        phase_one = fake.message("CFORM", replies_of(fake, "CFORM")[0]["ts"])

        # Fill the background pool: every thread waits on a held post, more work queued behind.
        held = fake.hold("chat.postMessage")
        busy_replies = 0
        for n in range(BUSY_CHANNELS):  # a full pool answers "busy" in the command's ack
            busy_replies += BUSY in bot.slack.command("start Busy", channel=f"CBUSY{n:03d}").body
        fake.wait_for_arrival("chat.postMessage", count=bot.background._max_workers)  # type: ignore[attr-defined]
        fake.fail("chat.update", status=429, retry_after=2, times=40)

        path = "old path (shared pool, client sleeps on 429)" if args.shared else "fast path"
        print(
            f"{path}; background pool full: {bot.background._max_workers} threads waiting on Slack, "  # type: ignore[attr-defined]
            f"{BUSY_CHANNELS - busy_replies} jobs accepted, {busy_replies} answered busy"
        )

        def round_of_clicks(label: str, clicks: int) -> None:
            latencies: list[float] = []
            opened = refused = 0
            for _ in range(clicks):
                arrived = len(fake.calls_to("views.open"))
                views = len(fake.views)
                started = time.perf_counter()
                assert press_button(bot, "CFORM", phase_one, "waive:open", wait=False).status == 200
                if fake.wait_for_arrival("views.open", count=arrived + 1, timeout=10):
                    latencies.append(time.perf_counter() - started)
                fake.wait_for_call("views.open", count=arrived + 1, timeout=10)
                if len(fake.views) > views:
                    opened += 1
                else:
                    refused += 1
            never = clicks - len(latencies)
            print(
                f"{label}: click to views.open {figures(latencies)}; "
                f"{opened}/{clicks} forms opened, {refused} not, {never} never reached Slack within 10 s"
            )

        round_of_clicks("queue full, Slack 429s the pool's updates", args.clicks)
        fake.fail("views.open", status=429, retry_after=2, times=3)
        round_of_clicks("... and 429s the first 3 views.open (Retry-After 2 s)", 3)

        answers: list[float] = []
        busy = 0
        asks = min(10, args.clicks)
        for _ in range(asks):
            before = len(fake.responses)
            started = time.perf_counter()
            ack = bot.slack.command("status", channel="CFORM").body
            if BUSY in ack:  # answered in the ack itself
                answers.append(time.perf_counter() - started)
                busy += 1
            elif fake.wait_for_call("response_url", count=before + 1, timeout=10):
                answers.append(time.perf_counter() - started)
        print(
            f"queue full: `/distill status` answered in {figures(answers)} "
            f"({len(answers)}/{asks} within 10 s); "
            f'{busy}/{asks} answers were "{BUSY}"'
        )
        held.set()
        bot.settle()
        bot.stop()


if __name__ == "__main__":
    main()
