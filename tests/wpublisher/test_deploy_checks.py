"""`manage.py check --deploy` is clean with production settings, and says so when they are missing."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def check_deploy(tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_SETTINGS", "PYTEST"))}
    environment.update(WPUBLISHER_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_settings_pass_the_deployment_checks(tmp_path):
    result = check_deploy(
        tmp_path, HTTPS="1", SECRET_KEY=secrets.token_urlsafe(64), ALLOWED_HOSTS="publish.example.com"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_without_https_the_checks_name_what_is_missing(tmp_path):
    result = check_deploy(tmp_path, SECRET_KEY=secrets.token_urlsafe(64))
    assert result.returncode != 0
    assert "security.W004" in result.stderr and "security.W012" in result.stderr  # HSTS, secure cookies
