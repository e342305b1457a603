"""The JSON API's OpenAPI document and docs page, and schemathesis against a live server.

The live test runs wpublisher as it runs for real (daphne, its own database and config), logs a staff
user in through the admin login form, and lets schemathesis call every operation of /api/openapi.json
with generated valid and invalid input: no answer may be a server error, and every answer must match
the status codes, content types and schemas the document declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import agent_entry, site_entry
from tests.factories import UserFactory
from tests.support.browser import chromium_launch, chromium_required
from tests.support.deployment import Deployment

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
PASSWORD = "correct horse battery staple"

# Articles in every status, so that the ids schemathesis tries (small integers) reach each rule.
SEED = f"""
from django.contrib.auth import get_user_model
from agents.models import Agent
from agents.actors import Actor
from articles.services import article_approve, article_publish_fail, article_reject, article_submit
person = get_user_model().objects.create_user("reviewer", password={PASSWORD!r}, is_staff=True)
reviewer = Actor(user=person)
writer = Agent.objects.get(pk="a")
ids = [article_submit(agent=writer, title=f"Article {{n}}", content_markdown="# Hi", target_site="b").pk
       for n in range(8)]
article_reject(actor=reviewer, article_id=ids[1], rejection_reason="off topic")
article_approve(actor=reviewer, article_id=ids[2], expected_revision=1)
article_approve(actor=reviewer, article_id=ids[3], expected_revision=1)
article_publish_fail(article_id=ids[3], error="site b unreachable")
result = ids
"""


# --- the document and the docs page (Django test client) -----------------------------------------------


@pytest.mark.django_db
def test_openapi_declares_every_operation_with_its_errors(client):
    document = client.get("/api/openapi.json").json()
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == {
        ("GET", "/api/articles"),
        ("GET", "/api/articles/{article_id}"),
        ("POST", "/api/articles/{article_id}/approve"),
        ("POST", "/api/articles/{article_id}/reject"),
        ("POST", "/api/articles/{article_id}/retry"),
        ("GET", "/api/agents"),
        ("GET", "/api/agents/{agent_id}"),
        ("GET", "/api/agents/{agent_id}/keys"),
        ("GET", "/api/sites"),
        ("GET", "/api/sites/{site_id}/health"),
        ("POST", "/api/sites/{site_id}/check"),
        ("GET", "/api/stats"),
    }
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for (method, path), operation in operations.items():
        assert operation["security"] == [{"SessionAuthIsStaff": []}]
        if "{" in path:
            assert operation["responses"]["404"]["content"] == error, (method, path)
        if method == "POST" and path.startswith("/api/articles"):
            assert operation["responses"]["409"]["content"] == error, (method, path)
    assert document["components"]["securitySchemes"]["SessionAuthIsStaff"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
    }


@pytest.mark.django_db
def test_docs_load_swagger_ui_from_our_static_files(client):
    client.force_login(UserFactory())
    html = client.get("/api/docs").content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/ninja/swagger-ui-bundle.js" in assets and "/static/ninja/swagger-ui.css" in assets
    assert not [asset for asset in assets if "//" in asset], assets  # nothing from another host
    assert "cdn" not in html.lower()
    settings = json.loads(re.search(r'id="swagger-settings">(.*?)</script>', html, re.S).group(1))
    assert settings["validatorUrl"] is None  # no badge fetched from validator.swagger.io


# --- schemathesis against a live server -----------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    """A running wpublisher with two agents, two sites (nothing listens at their URLs) and articles. The ids
    are one letter, among the first strings schemathesis tries, so its requests reach existing rows."""
    deployment = Deployment(
        tmp_path_factory.mktemp("api"),
        agents=[agent_entry("a", scopes=["article:submit"]), agent_entry("b", role="editor")],
        sites=[site_entry("b"), site_entry("a")],
        publishing={"timeout": 2, "retry_attempts": 0},
    )
    try:
        deployment.run(SEED)
        deployment.start_web()
        yield deployment
    finally:
        deployment.close()


def staff_session(base_url: str) -> requests.Session:
    """Logged in as a person would be: the admin login form, with its CSRF token."""
    session = requests.Session()
    form = session.get(f"{base_url}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    answer = session.post(
        f"{base_url}/admin/login/",
        data={"username": "reviewer", "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302 and "sessionid" in session.cookies, answer.text[-2000:]
    return session


@pytest.mark.slow
def test_static_files_of_the_docs_are_served(live):
    for asset in ("swagger-ui-bundle.js", "swagger-ui-init.js", "swagger-ui.css"):
        response = requests.get(f"{live.url}/static/ninja/{asset}", timeout=10)
        assert response.status_code == 200, asset
        assert response.headers["Content-Type"].split(";")[0] in ("text/javascript", "text/css"), asset


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_and_no_undeclared_answer(live, tmp_path):
    session = staff_session(live.url)
    assert session.get(f"{live.url}/api/articles", timeout=10).status_code == 200
    cookies = "; ".join(f"{name}={value}" for name, value in session.cookies.items())
    command = [
        SCHEMATHESIS,
        "run",
        f"{live.url}/api/openapi.json",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        "--header",
        f"Cookie: {cookies}",
        "--header",
        f"X-CSRFToken: {session.cookies['csrftoken']}",
        # The session cookie above is the authentication; generated ones would only replace it.
        "--generation-with-security-parameters",
        "false",
        # Bounded (about 650 requests, 15 s) and repeatable: a failure in CI reproduces locally.
        "--max-examples",
        "25",
        "--seed",
        "1",
        "--request-timeout",
        "10",
        "--generation-database",
        "none",
        "--no-color",
    ]
    # Run elsewhere than the checkout: schemathesis and hypothesis keep state in their working directory.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:] + "\n--- web log ---\n" + live.web_log()[-3000:]
    assert "Tested: 12" in output, output[-3000:]
    # The seeded ids were found: the operations taking one reached their rules, not only 404 and 422.
    succeeded = {
        (method, re.sub(r"/api/(\w+)/[^/]+", r"/api/\1/{id}", path))
        for method, path in re.findall(r'"(GET|POST) (/api/[^? ]*)[^"]*" 200 ', live.web_log())
    }
    assert {
        ("GET", "/api/articles/{id}"),
        ("POST", "/api/articles/{id}/approve"),
        ("GET", "/api/agents/{id}"),
        ("GET", "/api/agents/{id}/keys"),
        ("GET", "/api/sites/{id}/health"),
        ("POST", "/api/sites/{id}/check"),
    } <= succeeded, sorted(succeeded)


@pytest.mark.slow
def test_the_docs_page_works_in_a_browser_under_the_content_security_policy(live):
    """Swagger UI renders every operation from our static files (no other host is asked) and its "try it
    out" sends the CSRF token: a POST answers 200."""
    chromium_required()
    from playwright.sync_api import sync_playwright

    session = staff_session(live.url)
    elsewhere: list[str] = []
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = chromium_launch(playwright)
        try:
            context = browser.new_context()
            context.add_cookies([{"name": k, "value": v, "url": live.url} for k, v in session.cookies.items()])
            page = context.new_page()
            page.on("request", lambda r: r.url.startswith(live.url) or elsewhere.append(r.url))
            page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
            page.goto(f"{live.url}/api/docs")
            page.wait_for_selector(".opblock")
            assert page.locator(".opblock").count() == 12
            check = page.locator("#operations-sites-sites_api_check_site")
            check.locator(".opblock-summary").click()
            check.locator("button.try-out__btn").click()
            check.locator("input[placeholder='site_id']").fill("b")
            check.locator("button.execute").click()
            status = check.locator(".live-responses-table tbody .response-col_status").first
            status.wait_for()
            assert status.inner_text() == "200"
        finally:
            browser.close()
    assert elsewhere == [] and problems == [], (elsewhere, problems)
