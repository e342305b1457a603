"""The Django admin as a reviewer sees it: the console's brand and colours (our admin.css over Django's CSS
variables, no admin skin), a way back to the console, the permalink as a link that opens the post in a new
tab, the article preview in a container of its own styles, and refusals in words."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from articles.models import ArticleStatus
from tests.factories import ArticleFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:articles_article_changelist")
PERMALINK = "https://blog.example/2026/11/hello-world/"


def admin_css() -> str:
    path = finders.find("console/admin.css")
    assert path, "console/admin.css is not a static file"
    with open(path, encoding="utf-8") as css:
        return css.read()


@pytest.mark.parametrize(
    "url", [reverse("admin:index"), CHANGELIST, reverse("admin:audit_auditlog_changelist"), reverse("admin:login")]
)
def test_admin_pages_load_our_css_and_show_the_brand(admin_client, client, url):
    page = (client if url == reverse("admin:login") else admin_client).get(url).text
    head = page.split("</head>", 1)[0]
    # Ours after Django's, so that our variables win.
    assert head.index("/static/admin/css/base.css") < head.index('href="/static/console/admin.css"')
    assert re.search(r'<div id="site-name"><a class="wpub-brand" href="/admin/"><img src="/static/favicon.svg"', page)
    assert "wpublisher" in page.split('id="site-name"', 1)[1].split("</div>", 1)[0]
    if url != reverse("admin:login"):  # Django's login page shows no navigation
        assert '<a href="/">← Back to the console</a>' in page
    assert "<style" not in page and " style=" not in head  # CSP: style-src 'self' only


def test_admin_css_sets_django_s_variables_light_and_dark():
    css = admin_css()
    # One block for both themes, as specific as Django's own dark theme (which it follows, and so overrides).
    block = css.split(':root,\nhtml[data-theme="light"],\nhtml[data-theme="dark"] {', 1)[1].split("}", 1)[0]
    values = dict(re.findall(r"(--[\w-]+): ([^;]+);", block))
    for name in (
        "--primary",
        "--secondary",
        "--header-bg",
        "--link-fg",
        "--breadcrumbs-bg",
        "--button-bg",
        "--body-bg",
    ):
        light, dark = re.fullmatch(r"light-dark\((#\w+), (#\w+)\)", values[name]).groups()
        assert light != dark, name
    assert values["--primary"].startswith("light-dark(#1d4ed8,")  # the console's accent
    assert 'html[data-theme="dark"] { color-scheme: dark; }' in css and ":root { color-scheme: light dark; }" in css
    assert len(re.findall(r"--primary:", css)) == 1  # each colour written once


def test_the_permalink_is_a_link_that_opens_the_post_in_a_new_tab(admin_client):
    article = ArticleFactory(status=ArticleStatus.PUBLISHED, wordpress_permalink=PERMALINK)
    link = f'<a href="{PERMALINK}" rel="noopener noreferrer" target="_blank">{PERMALINK}'
    assert link in admin_client.get(CHANGELIST).text
    assert link in admin_client.get(reverse("admin:articles_article_change", args=[article.pk])).text


def test_a_permalink_that_is_not_http_is_not_a_link(admin_client):
    article = ArticleFactory(status=ArticleStatus.PUBLISHED, wordpress_permalink="javascript:alert(1)")
    page = admin_client.get(reverse("admin:articles_article_change", args=[article.pk])).text
    assert "javascript:alert(1)" in page and 'href="javascript:' not in page


def test_the_preview_has_a_container_with_its_own_styles(admin_client):
    article = ArticleFactory(content_html="<h2>Post</h2><blockquote><p>quoted</p></blockquote>")
    page = admin_client.get(reverse("admin:articles_article_change", args=[article.pk])).text
    assert '<div class="wpub-preview preview" hx-disable><h2>Post</h2><blockquote>' in page
    css = admin_css()
    # Everything inside is reset from the admin's styles, then styled as a post.
    assert "#content .wpub-preview * { all: revert; }" in css
    assert "#content .wpub-preview blockquote {" in css
    assert css.index("all: revert") < css.index("#content .wpub-preview blockquote {")


def test_admin_refusals_are_in_words(admin_client):
    pending = ArticleFactory()
    response = admin_client.post(
        CHANGELIST, {"action": "retry_publishing", "_selected_action": [pending.pk]}, follow=True
    )
    shown = [str(message) for message in response.context["messages"]]
    assert shown == [
        f"Article #{pending.pk} “{pending.title}”: article {pending.pk} is pending_review; only publish_failed "
        "articles can be retried"
    ]
    assert "_ERROR" not in response.text and "INVALID_TRANSITION" not in response.text
