"""A region that refreshes itself on live events and the forms that swap it are one htmx sync group: a live
refresh never lands on top of the reviewer's action (its swap would go to a region the action already
replaced, and lose what hx-preserve keeps, as the browser suite saw with the article preview). The forms
replace a refresh in flight; a refresh waits out (drops itself during) an action."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from articles.models import ArticleStatus
from tests.conftest import agent_entry, site_entry
from tests.factories import ArticleFactory, UserFactory

pytestmark = pytest.mark.django_db

VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr", "col", "area", "base", "embed", "track"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class Tree(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.root = self.node = Node("#root", {})
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs), self.node)
        self.node.children.append(node)
        if tag not in VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node.parent is not None and node.tag != tag:
            node = node.parent
        if node.parent is not None:
            self.node = node.parent


def live_regions(root: Node) -> list[Node]:
    return [n for n in root.walk() if "console:" in (n.attrs.get("hx-trigger") or "") and n.attrs.get("id")]


def forms_swapping(region: Node, root: Node) -> list[Node]:
    """Elements that post and whose swap lands on the region or on what holds it."""
    inside = [n for n in region.walk() if n.attrs.get("hx-post")]
    around = [n for n in region.ancestors() if n.attrs.get("hx-post")]
    return inside + around


@pytest.fixture
def reviewer(client, loaded_config):
    loaded_config(agents=[agent_entry("writer")], sites=[site_entry("blog")])
    client.force_login(UserFactory(username="alice", is_staff=True))
    return client


def test_every_live_region_and_the_forms_that_swap_it_share_one_sync_group(reviewer):
    pending = ArticleFactory(status=ArticleStatus.PENDING_REVIEW)
    failed = ArticleFactory(status=ArticleStatus.PUBLISH_FAILED)
    checked = 0
    for path in ["/articles/", f"/articles/{pending.pk}/", f"/articles/{failed.pk}/", "/sites/"]:
        root = Tree(reviewer.get(path).content.decode()).root
        for region in live_regions(root):
            forms = forms_swapping(region, root)
            if not forms:
                continue
            region_sync = region.attrs.get("hx-sync") or ""
            for form in forms:
                sync = form.attrs.get("hx-sync") or ""
                if form in region.ancestors():  # the form holds the region: the region syncs on it
                    assert sync == "this:replace", (path, form.attrs)
                    assert region_sync == "closest form:drop", (path, region.attrs)
                else:  # the form sits in the region: it syncs on the region
                    assert sync == f"closest #{region.attrs['id']}:replace", (path, form.attrs)
                    assert region_sync == "this:drop", (path, region.attrs)
                checked += 1
    assert checked >= 5  # batch form, approve, reject, retry, check now
