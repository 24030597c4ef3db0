#!/usr/bin/env bash
# Re-vendor the scanner page's QR decoder (npm "jsqr") into api/static/scanner/vendor/.
# For updates by hand: the platform serves the committed file and needs no npm at run time.
# Usage: platform/vendor-scanner.sh [VERSION]   (default: the latest on npm)
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-$(npm view jsqr version)}"
vendor=api/static/scanner/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "jsqr@$version" >/dev/null && tar xzf jsqr-*.tgz)
cp "$work/package/dist/jsQR.js" "$vendor/jsQR.js"
cp "$work/package/LICENSE" "$vendor/jsQR.LICENSE"
sed -i -E "s/jsQR\]\(([^)]*)\) [0-9][0-9.]*/jsQR](\1) $version/" "$vendor/README.md"
echo "vendored jsqr $version: $(sha256sum "$vendor/jsQR.js" | cut -c1-16)…; check the page, then commit"
