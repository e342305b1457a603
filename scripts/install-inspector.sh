#!/usr/bin/env bash
# Install the official MCP Inspector CLI, used by tests/mcp_bridge/test_inspector_cli.py as a
# third-party MCP client against wpublisher.
#
#   scripts/install-inspector.sh [DIR]
#
# DIR (default: <project root>/var/inspector, which is gitignored; a relative DIR is taken from the
# current directory) receives package.json, package-lock.json and node_modules/. The version is
# pinned exactly: an unpinned install can resolve to an old 0.x whose CLI has no --header.
#
# Idempotent: nothing is downloaded when DIR already holds that version. The last line printed on
# stdout is the path of the mcp-inspector binary, for WPUBLISHER_INSPECTOR:
#
#   WPUBLISHER_INSPECTOR="$(scripts/install-inspector.sh | tail -n 1)"
#
# Needs node and npm, and the npm registry. The package declares node >=22.19; its CLI works on
# Node 20, so the engine warning npm prints there is expected and harmless.
set -euo pipefail

PACKAGE=@modelcontextprotocol/inspector
VERSION=2.12.0

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
PROJECT_ROOT="$(dirname -- "$SCRIPT_DIR")"

log() { printf '[install-inspector] %s\n' "$*" >&2; }
die() {
  log "$*"
  exit 1
}

[[ $# -le 1 ]] || die "usage: $0 [DIR]"
DIR="${1:-$PROJECT_ROOT/var/inspector}"

command -v node >/dev/null 2>&1 || die "node is not installed"
command -v npm >/dev/null 2>&1 || die "npm is not installed"

mkdir -p -- "$DIR"
DIR="$(cd -- "$DIR" && pwd)"
BIN="$DIR/node_modules/.bin/mcp-inspector"
MANIFEST="$DIR/node_modules/$PACKAGE/package.json"

# The installed version, from the package's own package.json (reading it starts no process, unlike
# running a binary of unknown version); empty when there is none.
installed_version() {
  [[ -x "$BIN" && -f "$MANIFEST" ]] || return 0
  node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version))' \
    "$MANIFEST" 2>/dev/null || true
}

# What the binary itself reports (2.x prints the bare version for --version).
reported_version() {
  timeout 60 "$BIN" --version 2>/dev/null | tail -n 1 | tr -d '[:space:]' || true
}

current="$(installed_version)"
if [[ "$current" == "$VERSION" && "$(reported_version)" == "$VERSION" ]]; then
  log "$PACKAGE@$VERSION already installed in $DIR"
else
  if [[ -n "$current" ]]; then
    log "replacing $PACKAGE@$current in $DIR with $VERSION"
  else
    log "installing $PACKAGE@$VERSION into $DIR (node $(node --version), npm $(npm --version))"
  fi
  started=$SECONDS
  # npm's own output goes to stderr so that stdout ends with the binary's path only.
  npm install --prefix "$DIR" --no-audit --no-fund --save-exact --engine-strict=false \
    "$PACKAGE@$VERSION" >&2
  log "installed in $((SECONDS - started))s"
  current="$(installed_version)"
  [[ "$current" == "$VERSION" ]] || die "expected $PACKAGE@$VERSION in $DIR, found '${current:-nothing}'"
  reported="$(reported_version)"
  [[ "$reported" == "$VERSION" ]] || die "$BIN --version reports '${reported:-nothing}', expected $VERSION"
fi

printf '%s\n' "$BIN"
