#!/usr/bin/env bash
# Vendor the browser libraries from the npm registry (no CDN): pinned versions, with licences.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAFLET=1.9.4
SOCKETIO=4.8.1
AXE=4.14.1  # axe-core: the browser tests' accessibility audit
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET" "socket.io-client@$SOCKETIO" "axe-core@$AXE" >/dev/null)
mkdir -p "$tmp/l" "$tmp/s" "$tmp/a"
tar -xzf "$tmp/leaflet-$LEAFLET.tgz" -C "$tmp/l"
tar -xzf "$tmp/socket.io-client-$SOCKETIO.tgz" -C "$tmp/s"
tar -xzf "$tmp/axe-core-$AXE.tgz" -C "$tmp/a"
dest=app/static/vendor
rm -rf "$dest/leaflet" "$dest/socket.io" "$dest/axe-core"
mkdir -p "$dest/leaflet" "$dest/socket.io" "$dest/axe-core"
cp "$tmp/l/package/dist/leaflet.js" "$tmp/l/package/dist/leaflet.css" "$tmp/l/package/LICENSE" "$dest/leaflet/"
cp -r "$tmp/l/package/dist/images" "$dest/leaflet/"
cp "$tmp/s/package/dist/socket.io.min.js" "$tmp/s/package/LICENSE" "$dest/socket.io/"
cp "$tmp/a/package/axe.min.js" "$tmp/a/package/LICENSE" "$tmp/a/package/LICENSE-3RD-PARTY.txt" "$dest/axe-core/"
echo "vendored leaflet $LEAFLET, socket.io-client $SOCKETIO and axe-core $AXE into $dest"
