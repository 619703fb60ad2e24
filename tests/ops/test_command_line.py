"""What a new user meets on the command line: a busy port, a seeded database, an unmigrated
one, a weak password, JSON logs and a clean shutdown."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from app import logs
from app.config import Settings
from app.main import create_app
from tests.conftest import ROOT


def crm(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {
        **os.environ,
        "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "CRM_ENV": "development",
        "CRM_SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
    }


def test_serve_on_a_busy_port_exits_at_once_with_a_clear_message(env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = crm("serve", "--port", str(port), env=env, timeout=30)
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr and "already in use" in result.stderr.lower()
    assert "Traceback" not in result.stderr + result.stdout


def test_seed_demo_twice_and_before_migrating_say_one_line(env):
    first = crm("seed-demo", env=env)
    assert first.returncode == 1 and first.stderr.strip().count("\n") == 0
    assert "crm migrate" in first.stderr and "Traceback" not in first.stderr
    assert crm("migrate", env=env).returncode == 0
    assert crm("seed-demo", env=env).returncode == 0
    again = crm("seed-demo", env=env)
    assert again.returncode == 1, again.stdout
    assert again.stderr.strip().count("\n") == 0 and "--if-empty" in again.stderr
    assert "Traceback" not in again.stderr
    quiet = crm("seed-demo", "--if-empty", env=env)
    assert quiet.returncode == 0 and "not seeded" in quiet.stdout


def test_create_user_with_a_weak_password_says_why(env):
    assert crm("migrate", env=env).returncode == 0
    result = crm("create-user", "--username", "bob", "--password", "12345678", "--role", "rep", env=env)
    assert result.returncode == 1 and "too weak" in result.stderr and "Traceback" not in result.stderr


def test_json_log_lines_carry_no_colour_codes():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("test.colours")
    logger.addHandler(handler)
    try:
        logger.warning(
            "Started server process [\x1b[36m%d\x1b[0m]",
            42,
            extra={"color_message": "Started [\x1b[36m%d\x1b[0m]", "path": "\x1b[1m/x\x1b[0m"},
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    assert "\x1b" not in line and "\\u001b" not in line
    entry = json.loads(line)
    assert entry["msg"] == "Started server process [42]" and entry["path"] == "/x"
    assert "color_message" not in entry


async def test_shutdown_waits_for_the_housekeeping_task_it_cancelled(tmp_path):
    settings = Settings(
        env="development",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/l.db",
        secret_key="x" * 40,
        recycle_interval_seconds=3600,
    )
    app = create_app(settings)
    before = asyncio.all_tasks()
    async with app.router.lifespan_context(app):
        await asyncio.sleep(0.05)
        started = asyncio.all_tasks() - before - {asyncio.current_task()}
        assert started, "the housekeeping task should be running"
    assert all(task.done() for task in started)
