#!/usr/bin/env bash
# Copies the console's browser libraries from the npm registry into
# static/vendor/ (no CDN: the console works offline). Versions are pinned in
# package.json and package-lock.json; `npm ci` installs exactly those. Runs
# again only when the lock file or this script changes. A library's source
# map comes along when its file names one (`sourceMappingURL`): the
# production static storage (WhiteNoise's manifest) refuses a missing one.
set -euo pipefail

log() { printf '[vendor] %s\n' "$*" >&2; }

hash=$(cat package-lock.json scripts/vendor_assets.sh | sha256sum | cut -c1-16)
stamp="static/vendor/.assets-$hash"
[ -f "$stamp" ] && exit 0

log "installing browser libraries (npm ci)"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null

copy() {  # copy <package dir> <vendor dir> <file>...
  local package=$1 target=static/vendor/$2; shift 2
  rm -rf "$target" && mkdir -p "$target"
  for file in "$@"; do cp "node_modules/$package/$file" "$target/"; done
  cp "node_modules/$package/LICENSE" "$target/" 2>/dev/null || true
  node -e "const p=require('./node_modules/$package/package.json');console.log(p.name+' '+p.version+' from the npm registry, '+p.license)" >"$target/VERSION"
}
copy echarts echarts dist/echarts.min.js
copy @dagrejs/dagre dagre dist/dagre.min.js dist/dagre.min.js.map

rm -f static/vendor/.assets-*
touch "$stamp"
