#!/usr/bin/env bash
# The one test command (`npm test`): system tools, a fresh build (the e2e tests run bin/run.js),
# then every vitest suite. Under CI=true a test whose tool is missing fails; it never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-tools.sh
npm run --silent build
export HOMELAB_TEST_BUILT=1
exec npx vitest run "$@"
