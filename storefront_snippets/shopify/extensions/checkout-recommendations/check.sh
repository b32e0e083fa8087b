#!/usr/bin/env bash
# CI check for the cartwise checkout UI extension: clean install from package-lock.json, the
# production bundle (fails over 64 KB), the typecheck and the unit tests; then the bundle sizes.
# Needs Node 20+ and npm, and the npm registry. Run from anywhere.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
start=$SECONDS

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "check.sh: Node 20 or later is needed (found $(node --version))" >&2
  exit 1
fi

echo "== npm ci"
npm ci --no-audit --no-fund
echo "== npm run build"
npm run build
echo "== npm test"
npm test

echo "== bundle sizes (limit: 64 KB per bundle)"
node -e '
const { limit_bytes, bundles } = JSON.parse(require("fs").readFileSync("dist/sizes.json", "utf8"));
for (const b of bundles) {
  console.log(`${b.file}: ${b.bytes} bytes minified, ${b.gzip} bytes gzip (${(100 * b.bytes / limit_bytes).toFixed(0)}% of the limit)`);
}
'
echo "== checkout-recommendations: OK in $((SECONDS - start)) s"
