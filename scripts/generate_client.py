"""Generate the Python client from openapi/openapi.json and prove it is clean.

    python scripts/generate_client.py OUTPUT_DIR [--openapi openapi/openapi.json]

Runs ``openapi-python-client generate`` (the package lands in OUTPUT_DIR, importable by the
directory's name) and fails when

* the generator says anything but "Generating …": every warning means a piece of the API
  (an operation, a response body, a model) is missing from the client;
* an operation's 2xx JSON response is not parsed into a typed value by the generated code,
  i.e. the client would hand back ``None`` for a real success.

CI runs it, then ``scripts/client_scenario.py`` uses the package against a live server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def generate(openapi: Path, output: Path) -> list[str]:
    """Run the generator; answer every line it printed that is not the expected one."""
    if output.exists():
        shutil.rmtree(output)
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(  # noqa: S603 - a fixed command from this venv
        [
            str(bin_dir / "openapi-python-client"),
            "generate",
            "--path",
            str(openapi),
            "--output-path",
            str(output),
            "--meta",
            "none",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    unexpected = [line for line in lines if not line.startswith("Generating ")]
    if run.returncode != 0 and not unexpected:
        unexpected = [f"openapi-python-client exited with {run.returncode}"]
    return unexpected


def untyped_successes(openapi: dict, output: Path) -> list[str]:
    """Operations whose 2xx JSON body the generated module does not parse into a value."""
    missing = []
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2") or "application/json" not in response.get("content", {}):
                    continue
                tag = _snake(operation.get("tags", ["default"])[0])
                module = output / "api" / tag / f"{_snake(operation['operationId'])}.py"
                source = module.read_text(encoding="utf-8") if module.exists() else ""
                parsed = re.search(
                    rf"if response\.status_code == {status}:\n\s+response_{status} = (.+)", source
                )
                if parsed is None or parsed.group(1).strip() in ("None", "cast(Any, None)"):
                    missing.append(f"{method.upper()} {path} {status}: no typed body in {module.name}")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--openapi", type=Path, default=ROOT / "openapi" / "openapi.json")
    args = parser.parse_args()
    problems = generate(args.openapi, args.output)
    if problems:
        print("openapi-python-client did not generate a clean client:", *problems, sep="\n  ")
        return 1
    openapi = json.loads(args.openapi.read_text(encoding="utf-8"))
    problems = untyped_successes(openapi, args.output)
    if problems:
        print("the generated client drops success bodies:", *problems, sep="\n  ")
        return 1
    operations = sum(len(item) for item in openapi["paths"].values())
    print(f"generated {args.output} cleanly: {operations} operations, every 2xx JSON body typed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
