"""`distill-bot playground` in headless Chromium: the page is the Slack client, the bot is real.

Every step saves a screenshot under tests/artifacts/playground/ (kept by CI as an artifact).
Chromium is Debian's (/usr/bin/chromium), driven by Playwright's Python package; nothing is
downloaded. Without them the tests skip locally and fail in CI (`CI` set), like PostgreSQL's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.checklist.template import load_template
from bot.playground.workspace import Playground

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts" / "playground"
# A Wednesday morning: working hours, so nudges go out when they come due.
WEDNESDAY_MORNING = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
TEMPLATE = load_template()
PHASE_1 = [item.title for item in TEMPLATE.phase(1).items]
WAIT_MS = 20_000

try:
    from playwright.sync_api import Browser, Locator, Page, Route, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None or not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("the browser tests need Playwright's Python package and /usr/bin/chromium in CI")
        pytest.skip("Playwright or /usr/bin/chromium is missing (.ci/run installs both)")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Playground]:
    running = Playground(tmp_path / "playground.db", start=WEDNESDAY_MORNING).start()
    yield running
    running.stop()
    assert running.fake.warnings == [], "the bot did something Slack accepts but that is almost surely a bug"


@pytest.fixture
def page(browser: Browser, playground: Playground, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 960})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(playground.url)
    yield opened
    context.close()
    assert errors == [], f"the page threw: {errors}"


class Steps:
    """Screenshots named after the test and numbered in order."""

    def __init__(self, page: Page, test_name: str) -> None:
        self.page = page
        self.folder = ARTIFACTS / test_name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def shot(self, what: str, page: Page | None = None) -> Path:
        """A screenshot of the test's page, or of `page` (another person's browser)."""
        self.count += 1
        path = self.folder / f"{self.count:02d}-{what}.png"
        (page or self.page).screenshot(path=str(path))
        return path


@pytest.fixture
def steps(page: Page, request: pytest.FixtureRequest) -> Steps:
    return Steps(page, request.node.name)


# --- what a person does on the page --------------------------------------------------------------


def act_as(page: Page, name: str) -> None:
    page.get_by_test_id("person").select_option(value="U" + name.upper())


def type_in_box(page: Page, text: str) -> None:
    page.get_by_test_id("composer").fill(text)
    page.get_by_test_id("composer").press("Enter")


def start_project(page: Page, name: str = "Support-ticket router") -> None:
    type_in_box(page, f"/distill start {name}")
    expect(page.locator("#messages .bk-header", has_text=f"Distillation: {name}")).to_be_visible()
    page.locator("#messages .replies").first.click()
    expect(thread(page).locator(".bk-header", has_text="Phase 1 of 7")).to_be_visible()


def thread(page: Page) -> Locator:
    return page.get_by_test_id("thread")


def item_row(page: Page, title: str) -> Locator:
    return thread(page).locator(".bk-section", has=page.locator("b", has_text=title))


def tick(page: Page, title: str, who: str) -> None:
    row = item_row(page, title)
    row.locator("input[type=checkbox]").click()
    # The bot redraws the phase message from the database: the tick shows who made it (in the
    # phase's summary once it was the last one).
    expect(row.or_(summary_row(page, title))).to_contain_text(f"@{who}")


def summary_row(page: Page, title: str) -> Locator:
    return thread(page).locator(".bk-section", has_text=f"✅ {title}")


def ephemerals(page: Page) -> Locator:
    return page.locator(".message.ephemeral")


def tick_phase_one(page: Page) -> None:
    act_as(page, "Alice")
    for title in PHASE_1[:3]:
        tick(page, title, "Alice")
    act_as(page, "Bob")
    for title in PHASE_1[3:]:
        tick(page, title, "Bob")
    expect(thread(page).locator(".bk-header", has_text="Phase 2 of 7")).to_be_visible()


# --- the tests -------------------------------------------------------------------------------------


def test_a_person_starts_a_project_from_the_message_box(page: Page, steps: Steps) -> None:
    steps.shot("empty-channel")
    start_project(page)
    parent = page.locator("#messages .message").first
    expect(parent).to_contain_text("Phase 1 of 7: Scoping and Justification")
    expect(parent).to_contain_text("Started by @Alice")
    expect(thread(page).locator("input[type=checkbox]")).to_have_count(len(PHASE_1))
    steps.shot("project-started")


def test_two_people_tick_phase_one_and_phase_two_opens(
    page: Page, steps: Steps, playground: Playground
) -> None:
    start_project(page)
    act_as(page, "Alice")
    for title in PHASE_1[:3]:
        tick(page, title, "Alice")
    steps.shot("alice-ticked-three")
    act_as(page, "Bob")
    for title in PHASE_1[3:]:
        tick(page, title, "Bob")
    expect(thread(page).locator(".bk-header", has_text="Phase 1 of 7: Scoping and Justification (complete)"))
    expect(thread(page).locator(".bk-header", has_text="Phase 2 of 7")).to_be_visible()
    expect(thread(page)).to_contain_text("Phase 1 complete")
    expect(page.locator("#messages .message").first).to_contain_text("Phase 2 of 7")
    steps.shot("phase-two-open")
    ticks = [call for call in playground.fake.calls_to("chat.update") if call.ok]
    assert ticks, "the page's clicks reached the bot, which redrew its messages through the Web API"


def test_a_click_on_a_phase_locked_by_a_reopening_is_refused_to_that_person_only(
    browser: Browser, page: Page, steps: Steps, playground: Playground
) -> None:
    start_project(page)
    tick_phase_one(page)
    phase_two = thread(page).locator(".message", has=page.locator(".bk-header", has_text="Phase 2 of 7"))
    item = TEMPLATE.phase(2).items[1].title

    # Bob has the thread open in his own client. The bot redraws a locked phase without
    # checkboxes, so the refusal reaches only a client still showing the phase as it was
    # before the reopening: his news is held back (a slow network), his clicks go through.
    bob_context = browser.new_context(viewport={"width": 1440, "height": 960})
    bob_context.add_init_script("window.localStorage.setItem('distill.me', 'UBOB')")
    bob = bob_context.new_page()
    bob_errors: list[str] = []
    bob.on("pageerror", lambda error: bob_errors.append(str(error)))
    held: list[Route] = []

    def hold_news(route: Route) -> None:
        if "since=" in route.request.url:
            held.append(route)  # the page's wait for news: answered only when released below
        else:
            route.continue_()  # the first load

    bob.route("**/api/state?*", hold_news)
    bob.goto(playground.url)
    bob.locator("#messages .replies").first.click()
    bob_phase_two = thread(bob).locator(".message", has=bob.locator(".bk-header", has_text="Phase 2 of 7"))
    expect(item_row(bob, item).locator("input[type=checkbox]")).to_be_enabled()

    act_as(page, "Alice")  # she started the project: an owner
    type_in_box(page, "/distill reopen 1 the labels were wrong")
    expect(ephemerals(page).filter(has_text="Phase 1 of Support-ticket router is open again")).to_be_visible()
    expect(phase_two).to_contain_text("Locked until Phase 1 passes again (it was reopened)")
    expect(phase_two.locator("input[type=checkbox]")).to_have_count(0)
    expect(thread(page)).to_contain_text("reopened Phase 1: Scoping and Justification")
    steps.shot("alice-reopened-phase-one")

    expect(bob_phase_two).not_to_contain_text("Locked until")
    steps.shot("bob-still-sees-phase-two-open", bob)
    item_row(bob, item).locator("input[type=checkbox]").click()
    refusal_text = "Phase 2 is locked until every item of Phase 1 is ticked."
    assert held, "Bob's page was kept from hearing of the reopening until now"
    for route in held:
        route.continue_()
    bob.unroute("**/api/state?*")
    refusal = ephemerals(bob).filter(has_text=refusal_text)
    expect(refusal).to_be_visible()
    expect(refusal).to_contain_text("Only visible to you")
    expect(bob_phase_two).to_contain_text("Locked until Phase 1 passes again")
    expect(item_row(bob, item)).to_contain_text("not ticked")
    expect(item_row(bob, item).locator("input[type=checkbox]")).to_have_count(0)
    refusal.scroll_into_view_if_needed()
    steps.shot("bob-is-refused", bob)

    # The reopened Phase 1 is open again: its waiver button still refuses anyone not an owner.
    thread(bob).get_by_role("button", name="Waive an item…").click()
    expect(ephemerals(bob).filter(has_text="Only the project's owners may waive")).to_be_visible()
    steps.shot("bob-is-refused-a-waiver", bob)

    expect(ephemerals(page).filter(has_text=refusal_text)).to_have_count(0)
    expect(ephemerals(page).filter(has_text="Only the project's owners may waive")).to_have_count(0)
    steps.shot("alice-sees-none-of-them")
    bob_context.close()
    assert bob_errors == [], f"Bob's page threw: {bob_errors}"


def test_a_form_shows_field_errors_then_accepts_valid_values(page: Page, steps: Steps) -> None:
    start_project(page)
    tick_phase_one(page)
    act_as(page, "Alice")
    thread(page).get_by_role("button", name="Record success bars").click()
    modal = page.get_by_role("dialog")
    expect(modal).to_contain_text("Overall threshold")
    steps.shot("form-open")
    modal.get_by_label("Quality metric").fill("accuracy")
    modal.get_by_label("Overall threshold").fill("very high")
    modal.get_by_role("button", name=re.compile("^(Save|Record|Submit)")).click()
    error = modal.locator(".bk-input.has-error", has_text="Overall threshold")
    expect(error).to_contain_text("is not a number")
    steps.shot("field-error")
    modal.get_by_label("Overall threshold").fill("0.9")
    modal.get_by_label("Per-slice bars").fill(
        "billing | accuracy | 0.85 | critical\nsmalltalk | accuracy | 0.7"
    )
    modal.get_by_role("button", name=re.compile("^(Save|Record|Submit)")).click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(thread(page)).to_contain_text("Recorded bars: accuracy ≥ 0.9")
    steps.shot("bars-recorded")


def test_moving_the_clock_brings_a_stall_reminder(page: Page, steps: Steps) -> None:
    start_project(page)
    tick(page, PHASE_1[0], "Alice")
    expect(page.get_by_test_id("clock-now")).to_contain_text("Wed 25 Nov 2026")
    steps.shot("before")
    page.get_by_test_id("clock-day").click()
    expect(page.get_by_test_id("clock-now")).to_contain_text("Thu 26 Nov 2026")
    expect(thread(page)).not_to_contain_text("has had no tick for a while")
    page.get_by_test_id("clock-week").click()
    expect(page.get_by_test_id("clock-now")).to_contain_text("Thu 3 Dec 2026")
    reminder = thread(page).locator(".message", has_text="has had no tick for a while")
    expect(reminder).to_be_visible()
    expect(reminder).to_contain_text(PHASE_1[1])
    expect(reminder.get_by_role("button", name="Snooze 1 day")).to_be_visible()
    reminder.scroll_into_view_if_needed()
    steps.shot("stall-reminder")


def test_the_page_shows_user_text_as_text(page: Page, steps: Steps) -> None:
    hostile = "<img src=x onerror=window.pwned=1> & <!here> <https://evil.example|x>"
    start_project(page, hostile)
    header = page.locator("#messages .bk-header").first
    expect(header).to_have_text(f"Distillation: {hostile}")
    context = page.locator("#messages .bk-context").first
    expect(context).to_contain_text("Started by @Alice")
    type_in_box(page, "/distill status")  # the name again, this time inside mrkdwn
    expect(ephemerals(page)).to_contain_text(hostile)
    assert ephemerals(page).locator(".mention").count() == 0, "no @here ping drawn"
    assert page.locator("#messages img, #thread img").count() == 0
    assert page.locator("a[href^='https://evil']").count() == 0
    assert page.evaluate("window.pwned === undefined")
    steps.shot("hostile-name")


def open_channel(page: Page, name: str) -> None:
    page.locator(f"#channel-list [data-channel='{name}']").click()
    expect(page.locator("#channel-header")).to_contain_text(name)


def test_the_home_tab_lists_the_projects_of_your_channels(page: Page, steps: Steps) -> None:
    start_project(page, "Support-ticket router")
    open_channel(page, "search-ranking")
    start_project(page, "Search ranker")
    page.get_by_test_id("home-link").click()
    home = page.locator("#messages .home")
    expect(home.locator(".bk-header")).to_have_text("Distillation projects")
    expect(home).to_contain_text("2 in your channels: 2 open. Newest activity first.")
    projects = home.locator(".bk-section")
    expect(projects).to_have_count(2)
    expect(projects.nth(0)).to_contain_text("Search ranker · #search-ranking · 🟢 open")
    expect(projects.nth(1)).to_contain_text("Support-ticket router · #support-router · 🟢 open")
    expect(projects.nth(1)).to_contain_text("Cycle 1 · Phase 1 of 7: Scoping and Justification · 0/32 items")
    steps.shot("home-lists-both")

    # The tab is rebuilt each time it is opened: a tick moves its project to the top.
    open_channel(page, "support-router")
    page.locator("#messages .replies").first.click()
    tick(page, PHASE_1[0], "Alice")
    page.get_by_test_id("home-link").click()
    expect(projects.nth(0)).to_contain_text("Support-ticket router")
    expect(projects.nth(0)).to_contain_text("1/32 items")
    steps.shot("home-after-a-tick")

    projects.nth(1).get_by_role("link", name="Search ranker").click()  # the name links its thread
    expect(page.locator("#channel-header")).to_contain_text("search-ranking")
    expect(thread(page).locator(".bk-header", has_text="Phase 1 of 7")).to_be_visible()
    steps.shot("thread-opened-from-home")

    # A private channel's project is listed for its members only.
    open_channel(page, "launch-plans")
    expect(page.locator("#channel-header")).to_contain_text("🔒")
    start_project(page, "Launch student")
    page.get_by_test_id("home-link").click()
    expect(home).to_contain_text("3 in your channels: 3 open.")
    expect(projects.nth(0)).to_contain_text("Launch student · #launch-plans")
    steps.shot("home-with-a-private-project")
    act_as(page, "Bob")
    page.get_by_test_id("home-link").click()
    expect(home).to_contain_text("2 in your channels: 2 open.")
    expect(home).not_to_contain_text("Launch student")
    expect(page.locator("#channel-list [data-channel='launch-plans']")).to_have_count(0)
    steps.shot("home-of-someone-outside-it")


def test_export_uploads_the_report_and_the_events_into_the_thread(page: Page, steps: Steps) -> None:
    hostile = "<img src=x onerror=window.pwned=1> & <!here>"
    start_project(page, hostile)
    tick(page, PHASE_1[0], "Alice")
    type_in_box(page, "/distill export")
    expect(ephemerals(page).filter(has_text="Uploaded the report and a CSV")).to_be_visible()
    upload = thread(page).locator(".message", has=page.locator(".file"))
    expect(upload).to_contain_text(f"Export of {hostile} for @Alice")
    files = upload.locator(".file")
    expect(files).to_have_count(2)
    expect(files.nth(0).locator(".file-meta")).to_have_text(re.compile(r"^distill-[\w-]+-report\.md$"))
    expect(files.nth(0).locator(".file-name")).to_have_text(f"{hostile}: report")
    expect(files.nth(1).locator(".file-meta")).to_have_text(re.compile(r"^distill-[\w-]+-events\.csv$"))
    expect(files.nth(1).locator(".file-name")).to_have_text(f"{hostile}: every event")
    upload.scroll_into_view_if_needed()
    steps.shot("files-in-the-thread")

    with page.context.expect_page() as opened:
        files.nth(0).locator("a.file-name").click()
    report = opened.value
    report.wait_for_load_state()
    body = report.locator("body")
    expect(body).to_contain_text(f"# Distillation report: {hostile}")
    expect(body).to_contain_text("Exported 2026-11-25 10:00 UTC by Alice")
    expect(body).to_contain_text(f"- [x] {PHASE_1[0]} (ticked by Alice, 2026-11-25 10:00 UTC)")
    assert report.evaluate("document.contentType") == "text/plain"
    assert report.locator("img").count() == 0, "the name's <img> is text, not an element"
    assert report.evaluate("window.pwned === undefined")
    steps.shot("report-opened", report)
    report.close()

    with page.context.expect_page() as opened:
        files.nth(1).locator("a.file-name").click()
    events = opened.value
    expect(events.locator("body")).to_contain_text("at_utc,cycle,phase,event,item,user_id,user,detail")
    expect(events.locator("body")).to_contain_text(",UALICE,Alice,")
    steps.shot("events-opened", events)
    events.close()


def _texts(values: list[Any]) -> list[str]:
    return [str(value) for value in values]
