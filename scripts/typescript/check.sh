#!/usr/bin/env bash
# Generate TypeScript types from the OpenAPI file with openapi-typescript and type-check
# scenario.ts against them with tsc. Usage: scripts/typescript/check.sh OPENAPI_JSON WORK_DIR
# Skips (exit 0, with a message) when Node.js or npm is not installed.
set -euo pipefail
openapi="$(realpath "$1")"
work="$2"
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIPPED: Node.js/npm not found; the TypeScript type check needs them"
    exit 0
fi
mkdir -p "$work"
cp "$here/package.json" "$here/tsconfig.json" "$here/scenario.ts" "$work/"
cd "$work"
npm install --no-audit --no-fund --loglevel=error >/dev/null
# Defaults do not make a property required: the same schema describes request bodies.
npx --no-install openapi-typescript "$openapi" --output crm-api.d.ts --default-non-nullable=false
npx --no-install tsc -p tsconfig.json
echo "TypeScript types from $(basename "$openapi") type-check scenario.ts (node $(node --version))"
