"""What a researcher does at /researcher: write, run, watch, cancel, come back."""

import re

from playwright.sync_api import Locator, Page, Response, expect

from tests.browser.conftest import screenshot
from tests.support.platform import Platform

# Generous: the first run after a start waits for a cold worker.
FINISHED_WITHIN_MS = 60_000


def open_editor(page: Page) -> None:
    page.goto("/researcher/")
    expect(page.locator(".monaco-editor")).to_be_visible()


def type_code(page: Page, code: str) -> None:
    """Replaces the editor's content, as a person would: click, select all, type."""
    page.locator(".monaco-editor .view-lines").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    # Typed as one input, so that Monaco's auto-indent and bracket closing add nothing.
    page.keyboard.insert_text(code)


def draft(page: Page) -> dict[str, object]:
    saved: dict[str, object] = page.evaluate("JSON.parse(localStorage.getItem('crucible.draft'))")
    return saved


def status(page: Page) -> Locator:
    return page.get_by_role("status")


def set_timeout(page: Page, seconds: int) -> None:
    field = page.get_by_role("spinbutton", name=re.compile("Timeout"))
    field.fill(str(seconds))


def test_run_shows_hello_in_standard_output(page_without_key: Page, platform: Platform) -> None:
    page = page_without_key
    streams: list[str] = []

    def note_stream(response: Response) -> None:
        if response.url.endswith("/stream"):
            streams.append(response.headers.get("content-type", ""))

    page.on("response", note_stream)
    open_editor(page)
    page.get_by_label("API key").fill(platform.new_key("researcher", "browser-tests"))
    page.get_by_role("button", name="Use key").click()
    type_code(page, 'print("hello")\n')

    page.get_by_role("button", name="Run").click()

    expect(status(page)).to_contain_text("Completed (success)", timeout=FINISHED_WITHIN_MS)
    # Watched through the event stream, across the front door.
    assert streams and streams[0].startswith("text/event-stream")
    expect(page.get_by_role("region", name="Standard output")).to_contain_text("hello")
    expect(page.get_by_text("exit code 0")).to_be_visible()
    expect(page.get_by_role("navigation", name="Recent submissions")).to_contain_text(
        'print("hello")'
    )
    screenshot(page, "editor-hello", for_docs=True)


def test_ctrl_enter_runs_and_a_traceback_line_moves_the_cursor(page: Page) -> None:
    open_editor(page)
    type_code(page, 'x = 1\n\n\nraise ValueError("line four")\n')

    page.keyboard.press("Control+Enter")

    expect(status(page)).to_contain_text("Completed (error)", timeout=FINISHED_WITHIN_MS)
    stderr = page.get_by_role("region", name="Standard error")
    expect(stderr).to_contain_text("ValueError: line four")
    screenshot(page, "editor-traceback", for_docs=True)
    stderr.get_by_role("link", name=re.compile("line 4")).click()
    # The cursor is now at the start of line 4: what is typed lands there.
    page.keyboard.insert_text("# ")
    assert str(draft(page)["code"]).splitlines()[3] == '# raise ValueError("line four")'


def test_a_program_past_its_timeout_is_stopped(page: Page) -> None:
    open_editor(page)
    type_code(page, 'print("looping", flush=True)\nwhile True:\n    pass\n')
    set_timeout(page, 1)

    page.get_by_role("button", name="Run").click()

    expect(status(page)).to_contain_text("Completed (timeout)", timeout=FINISHED_WITHIN_MS)
    expect(page.locator(".badge")).to_have_text("timeout")
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    screenshot(page, "editor-timeout", for_docs=True)


def test_cancel_stops_a_running_program(page: Page, platform: Platform) -> None:
    open_editor(page)
    type_code(page, 'import time\nprint("started", flush=True)\ntime.sleep(120)\n')
    set_timeout(page, 300)

    page.get_by_role("button", name="Run").click()
    expect(status(page)).to_contain_text("Running", timeout=FINISHED_WITHIN_MS)
    page.get_by_role("button", name="Cancel").click()

    expect(status(page)).to_contain_text("Cancelled")
    expect(page.get_by_role("button", name="Cancel")).to_be_disabled()
    evaluation_id = page.url.split("run=")[1]
    assert platform.client.get(f"/api/evaluations/{evaluation_id}").json()["status"] == "cancelled"
    screenshot(page, "editor-cancelled")


def test_a_reload_keeps_the_draft(page: Page) -> None:
    open_editor(page)
    type_code(page, 'name = input()\nprint(f"hi {name}")\n')
    page.get_by_label("Standard input").fill("Ada")
    set_timeout(page, 12)

    page.reload()

    expect(page.locator(".monaco-editor")).to_be_visible()
    expect(page.locator(".monaco-editor .view-lines")).to_contain_text("hi {name}")
    expect(page.get_by_label("Standard input")).to_have_value("Ada")
    expect(page.get_by_role("spinbutton", name=re.compile("Timeout"))).to_have_value("12")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("region", name="Standard output")).to_contain_text(
        "hi Ada", timeout=FINISHED_WITHIN_MS
    )


def test_history_reopens_an_earlier_submission(page: Page) -> None:
    open_editor(page)
    type_code(page, 'print("first")\n')
    page.get_by_role("button", name="Run").click()
    expect(status(page)).to_contain_text("Completed", timeout=FINISHED_WITHIN_MS)
    type_code(page, 'print("second")\n')
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("region", name="Standard output")).to_contain_text(
        "second", timeout=FINISHED_WITHIN_MS
    )

    history = page.get_by_role("navigation", name="Recent submissions")
    history.get_by_role("button", name=re.compile('print\\("first"\\)')).click()

    expect(page.get_by_role("region", name="Standard output")).to_contain_text("first")
    expect(page.locator(".monaco-editor .view-lines")).to_contain_text('print("first")')


def test_the_list_the_detail_page_and_the_monitor(page: Page, platform: Platform) -> None:
    finished = platform.run(code='print("listed")\n', priority="high")

    page.goto("/researcher/evaluations")
    row = page.get_by_role("row").filter(has_text=finished["id"])
    expect(row).to_contain_text("success")
    screenshot(page, "evaluations", for_docs=True)
    row.get_by_role("link").click()

    expect(page.get_by_role("heading", name=re.compile("Evaluation"))).to_contain_text(
        finished["id"]
    )
    expect(page.get_by_role("region", name="Standard output")).to_contain_text("listed")
    timeline = page.locator(".timeline")
    for reached in ("queued", "provisioning", "running", "completed"):
        expect(timeline).to_contain_text(reached)
    page.get_by_text(re.compile(r"^Code \(")).click()
    expect(page.locator("details.code pre").first).to_contain_text('print("listed")')
    screenshot(page, "evaluation-detail", for_docs=True)
    page.get_by_role("link", name="Open in the editor").click()
    expect(page.locator(".monaco-editor .view-lines")).to_contain_text('print("listed")')
    expect(page.get_by_role("region", name="Standard output")).to_contain_text("listed")

    page.get_by_role("link", name="Monitor").click()
    expect(page.get_by_role("cell", name="executor-1")).to_be_visible()
    expect(page.get_by_role("link", name="Flower")).to_have_attribute("href", "/flower/")
    expect(
        page.get_by_role("img", name=re.compile("evaluations finished in the last hour"))
    ).to_be_visible()
    screenshot(page, "monitor", for_docs=True)


def test_the_link_the_first_start_prints_signs_the_page_in(
    page_without_key: Page, platform: Platform
) -> None:
    page = page_without_key
    key = platform.new_key("researcher", "signed-in-by-link")

    page.goto(f"/researcher/#key={key}")
    expect(page.locator(".monaco-editor")).to_be_visible()

    assert page.evaluate("localStorage.getItem('crucible.apiKey')") == key
    assert "#key=" not in page.url
    type_code(page, 'print("signed in")\n')
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("region", name="Standard output")).to_contain_text(
        "signed in", timeout=FINISHED_WITHIN_MS
    )


def test_a_batch_shows_its_progress_and_outcomes(page: Page, platform: Platform) -> None:
    submitted = platform.client.post(
        "/api/batches",
        json={"label": "browser-batch", "items": [{"code": "print(1)\n"}, {"code": "1 / 0\n"}]},
    )
    assert submitted.status_code == 202, submitted.text
    batch_id = submitted.json()["id"]

    page.goto("/researcher/evaluations")
    row = page.get_by_role("listitem", name="Batch browser-batch")
    # The page polls while the batch is unfinished: no reload is needed to see it end.
    expect(row).to_contain_text("2 / 2 finished", timeout=FINISHED_WITHIN_MS)
    expect(row.get_by_role("progressbar")).to_have_attribute("value", "2")
    expect(row).to_contain_text("success: 1")
    expect(row).to_contain_text("error: 1")
    expect(row.get_by_role("button", name="Cancel")).to_have_count(0)
    row.get_by_role("link", name="its evaluations").click()
    expect(page).to_have_url(re.compile(f"batch_id={batch_id}"))
    expect(page.locator("table.evaluations tbody tr")).to_have_count(2)
