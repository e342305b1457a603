"""Reviewers: Django staff users (the console and the API let staff in) in the "Reviewers" group, which holds
the admin permissions a reviewer uses. Not superusers: a reviewer cannot change users, keys or sites in the
admin."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.db import transaction

REVIEWERS_GROUP = "Reviewers"
# By app label: approve and reject articles (the admin actions need "change"), read everything else, and see
# and clear console/admin sign-in lockouts (django-axes).
REVIEWER_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "articles": ("view_article", "change_article", "view_articlerevision"),
    "agents": ("view_agent", "view_apikey", "view_mcpsession"),
    "sites": ("view_site",),
    "audit": ("view_auditlog",),
    "axes": ("view_accessattempt", "delete_accessattempt", "view_accessfailurelog", "view_accesslog"),
}


def reviewers_group_sync() -> Group:
    """The Reviewers group with exactly REVIEWER_PERMISSIONS (created, or put back, as often as it runs)."""
    wanted = [(app, codename) for app, codenames in REVIEWER_PERMISSIONS.items() for codename in codenames]
    permissions = list(
        Permission.objects.filter(
            content_type__app_label__in=list(REVIEWER_PERMISSIONS), codename__in=[c for _, c in wanted]
        ).select_related("content_type")
    )
    found = {(p.content_type.app_label, p.codename) for p in permissions}
    if missing := sorted(set(wanted) - found):
        raise LookupError(f"permissions missing (run migrate first): {', '.join(f'{a}.{c}' for a, c in missing)}")
    group, _ = Group.objects.get_or_create(name=REVIEWERS_GROUP)
    group.permissions.set([p for p in permissions if (p.content_type.app_label, p.codename) in set(wanted)])
    return group


def reviewer_create(*, username: str) -> tuple[AbstractBaseUser, bool, str]:
    """Create the reviewer `username`, or make an existing user one with a new password: staff, not superuser,
    in the Reviewers group. Returns (user, created, password); the password is to be shown once."""
    password = secrets.token_urlsafe(18)
    with transaction.atomic():
        group = reviewers_group_sync()
        user, created = get_user_model().objects.get_or_create(username=username)
        user.is_staff, user.is_superuser, user.is_active = True, False, True
        user.set_password(password)
        user.save()
        user.groups.add(group)
    return user, created, password
