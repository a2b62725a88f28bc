"""The API's docs page (Swagger UI) works in a browser that cannot reach beyond this machine."""

from __future__ import annotations

import threading
import time

import pytest
from browser_harness import free_port, offline_browser, requires_chromium

pytest.importorskip("fastapi")

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def live_api(testshire):
    import uvicorn

    from heart_geo.api import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(testshire), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_docs_render_and_try_a_lookup_offline(live_api):
    with offline_browser() as (context, log):
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{live_api}/docs", wait_until="domcontentloaded")
        ops = page.locator(".opblock-summary-path")
        ops.first.wait_for(timeout=60_000)
        paths = sorted(ops.all_inner_texts())
        assert [p.replace("\u200b", "") for p in paths] == ["/v1/allocate", "/v1/health", "/v1/lookup", "/v1/teams"]
        # try the lookup from the page: the body goes in a POST, the answer comes back
        block = page.locator(".opblock-post", has=page.locator(".opblock-summary-path", has_text="/v1/lookup"))
        block.locator(".opblock-summary").click()
        # "Try it out" is on from the start (tryItOutEnabled): the body is editable at once
        block.locator("textarea.body-param__text").fill('{"query": "TT1 1AA"}')
        block.get_by_role("button", name="Execute").click()
        answer = block.locator(".live-responses-table .response-col_description pre").first
        answer.wait_for(timeout=30_000)
        assert '"team": "North"' in answer.inner_text()
        assert block.locator(".live-responses-table tbody .response-col_status").first.inner_text().strip() == "200"
        assert not log.aborted, f"requests left the machine: {log.aborted}"
        assert not log.page_errors, log.page_errors
        assert all(u.startswith(live_api) for u in log.allowed)
        assert f"{live_api}/docs/swagger-ui-bundle.js" in log.allowed
