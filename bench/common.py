"""What the benchmark scripts share: throw-away PostgreSQL databases, a real ``crm serve``
on loopback, a lean HTTP client, percentiles, and CPU accounting for a machine other work
may be using."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def asyncpg_url(url: str) -> str:
    return re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql://", url)


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def admin_url(url: str) -> str:
    parts = urlsplit(asyncpg_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))


async def recreate_database(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db_name(url)}"')
    finally:
        await conn.close()


async def drop_database(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url(url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db_name(url)}" WITH (FORCE)')
    finally:
        await conn.close()


def run_migrations(url: str) -> None:
    env = {**os.environ, "CRM_DATABASE_URL": url}
    subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, check=True)


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``crm serve`` in its own process group, on a free loopback port."""

    def __init__(
        self,
        url: str,
        workers: int,
        log_path: Path,
        secret: str,
        *,
        app_dir: Path = ROOT,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "CRM_DATABASE_URL": url,
            "CRM_ENV": "production",
            "CRM_SECRET_KEY": secret,
            "CRM_ACCESS_TOKEN_MINUTES": "240",
            "PYTHONPATH": str(app_dir),
            **(extra_env or {}),
        }
        self.log_file = log_path.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
            ],
            cwd=app_dir,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def wait_ready(self, seconds: float = 60) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        async with httpx.AsyncClient(base_url=self.base) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with {self.proc.returncode}")
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError("server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # our own process group (start_new_session)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


# ------------------------------------------------------------------------------------------
# The sales organisation every benchmark database gets
# ------------------------------------------------------------------------------------------

TEAMS, REPS_PER_TEAM = 5, 8


@dataclass
class BenchOrg:
    """A director, one staff user (``support1`` or ``finance1``), and 5 teams under one root,
    each with a manager and 8 reps. Ids come from the caller's seeded random generator."""

    director_id: uuid.UUID
    staff_id: uuid.UUID
    staff_role: str
    team_ids: list[uuid.UUID]
    manager_ids: list[uuid.UUID]
    rep_ids: list[uuid.UUID]
    rep_team: dict[uuid.UUID, uuid.UUID]
    usernames: dict[uuid.UUID, str]


def make_org(rng: Any, *, staff_role: str) -> BenchOrg:
    def uid() -> uuid.UUID:
        return uuid.UUID(int=rng.getrandbits(128), version=4)

    teams = [uid() for _ in range(TEAMS)]
    managers = [uid() for _ in range(TEAMS)]
    reps = [uid() for _ in range(TEAMS * REPS_PER_TEAM)]
    director, staff = uid(), uid()
    names = {director: "director", staff: f"{staff_role}1"}
    names.update({m: f"manager{k + 1}" for k, m in enumerate(managers)})
    names.update({r: f"rep{k + 1}" for k, r in enumerate(reps)})
    return BenchOrg(
        director,
        staff,
        staff_role,
        teams,
        managers,
        reps,
        {r: teams[k // REPS_PER_TEAM] for k, r in enumerate(reps)},
        names,
    )


async def create_org(conn: Any, org: BenchOrg, now: Any, *, password: str, team_names: Sequence[str]) -> None:
    """Insert the organisation with plain SQL (asyncpg connection); every user has ``password``."""
    from app.services.security import hash_password

    pw = hash_password(password)
    root = uuid.uuid4()
    await conn.execute(
        "INSERT INTO team (id, name, parent_id, path, manager_id, created_at, updated_at, version) "
        "VALUES ($1, $2, NULL, $3, NULL, $4, $4, 1)",
        root,
        "全国销售部",
        f"/{root}/",
        now,
    )
    for k, team in enumerate(org.team_ids):
        await conn.execute(
            "INSERT INTO team (id, name, parent_id, path, manager_id, created_at, updated_at, "
            "version) VALUES ($1, $2, $3, $4, NULL, $5, $5, 1)",
            team,
            team_names[k % len(team_names)],
            root,
            f"/{root}/{team}/",
            now,
        )
    users = [(org.director_id, "director", None), (org.staff_id, org.staff_role, None)]
    users += [(m, "manager", org.team_ids[k]) for k, m in enumerate(org.manager_ids)]
    users += [(r, "rep", org.rep_team[r]) for r in org.rep_ids]
    await conn.executemany(
        "INSERT INTO user_account (id, username, full_name, email, role, team_id, password_hash, "
        "is_active, created_at, updated_at, version) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, true, $8, $8, 1)",
        [
            (u, org.usernames[u], org.usernames[u], f"{org.usernames[u]}@bench.example", role, team, pw, now)
            for u, role, team in users
        ],
    )
    for k, team in enumerate(org.team_ids):
        await conn.execute("UPDATE team SET manager_id = $1 WHERE id = $2", org.manager_ids[k], team)


class HttpConnection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole answer.

    The load generator shares the machine's cores with the server and the database; httpx
    spends about 1 ms of CPU per request, which the server would otherwise get. This needs
    a tenth of that. It handles what the API answers: a Content-Length or chunked body,
    and ``Connection: close``.
    """

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        """(status, body) of one request; the latency a caller measures includes reading it all."""
        target = f"{path}?{urlencode(params)}" if params else path
        body = b"" if json_body is None else json.dumps(json_body, ensure_ascii=False).encode()
        head = {**self.headers, **(headers or {}), "Content-Length": str(len(body))}
        if json_body is not None:
            head["Content-Type"] = "application/json"
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in head.items())]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        reused = self._writer is not None
        try:
            raw_head = await self._send(message)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            # The server closes a keep-alive connection after a few idle seconds; a request
            # that met such a connection got no answer at all, and goes out again once.
            answered = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
            if not reused or answered:
                raise
            await self.close()
            raw_head = await self._send(message)
        assert self._reader is not None
        status_line, *header_lines = raw_head.decode("latin-1").split("\r\n")
        answer: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            answer[name.strip().lower()] = value.strip()
        if "content-length" in answer:
            data = await self._reader.readexactly(int(answer["content-length"]))
        elif answer.get("transfer-encoding", "").lower() == "chunked":
            data = await self._read_chunked()
        else:
            data = await self._reader.read()
            answer["connection"] = "close"
        if answer.get("connection", "").lower() == "close":
            await self.close()
        return int(status_line.split(" ", 2)[1]), data

    async def _send(self, message: bytes) -> bytes:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(message)
        return await self._reader.readuntil(b"\r\n\r\n")

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        chunks = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")  # no trailers from our server
                return b"".join(chunks)
            chunks.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


def _machine_busy_ticks() -> int:
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields[:8]) - fields[3] - fields[4]


def _proc_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return 0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    children[int(f.read().rsplit(")", 1)[1].split()[1])].append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


class CpuMeter:
    """Machine-wide busy CPU versus ours (this client, the server tree, PostgreSQL backends of
    the benchmark database): the machine is shared, so record what others used meanwhile."""

    def __init__(self, server_pids: list[int], url: str) -> None:
        self.server_pids = server_pids
        self.url = url
        self.pg_pids: list[int] = []

    async def refresh_pg_pids(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(asyncpg_url(self.url))
        try:
            self.pg_pids = [
                r["pid"]
                for r in await conn.fetch(
                    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    db_name(self.url),
                )
            ]
        finally:
            await conn.close()

    def snapshot(self) -> tuple[float, int, int, int, dict[int, int]]:
        server = sum(_proc_ticks(p) for root in self.server_pids for p in _descendants(root))
        return (
            time.monotonic(),
            _machine_busy_ticks(),
            _proc_ticks(os.getpid()),
            server,
            {p: _proc_ticks(p) for p in self.pg_pids},
        )

    @staticmethod
    def cores(
        a: tuple[float, int, int, int, dict[int, int]], b: tuple[float, int, int, int, dict[int, int]]
    ) -> dict[str, float]:
        """Backends that connected meanwhile (the pool grows lazily) count from zero: call
        ``refresh_pg_pids`` before taking ``b``."""
        seconds = max(b[0] - a[0], 1e-6)
        busy, client, server = ((b[i] - a[i]) / CLK_TCK / seconds for i in range(1, 4))
        pg = sum(t - a[4].get(p, 0) for p, t in b[4].items()) / CLK_TCK / seconds
        return {
            "busy": round(busy, 2),
            "client": round(client, 2),
            "server": round(server, 2),
            "postgres": round(pg, 2),
            "other": round(max(0.0, busy - client - server - pg), 2),
        }

    async def wait_quiet(self, max_wait: float, threshold: float = 0.3) -> float:
        started = time.monotonic()
        while True:
            a = self.snapshot()
            await asyncio.sleep(1.5)
            waited = time.monotonic() - started
            if self.cores(a, self.snapshot())["other"] < threshold or waited >= max_wait:
                return round(waited, 1)
