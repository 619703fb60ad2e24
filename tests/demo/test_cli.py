"""The ``crm`` commands `make run` uses, end to end on a fresh SQLite file: migrate, seed the
demo once (``--if-empty`` then leaves it alone), and create a user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _crm(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRM_DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )


def test_migrate_seed_demo_and_create_user_on_a_fresh_database(tmp_path: Path):
    db = tmp_path / "crm.db"
    _crm(db, "migrate")
    first = _crm(db, "seed-demo", "--if-empty").stdout
    assert "Demo organisation created" in first
    assert "rep1" in first and "demo-pass-2026" in first
    assert "trading: 8 contracts" in first
    again = _crm(db, "seed-demo", "--if-empty").stdout
    assert "demo data not seeded" in again
    created = _crm(
        db,
        "create-user",
        "--username",
        "ops1",
        "--password",
        "a-long-password-1",
        "--role",
        "support",
        "--full-name",
        "Ops",
    ).stdout
    assert created.startswith("created user ops1 (support) id=")
