#!/usr/bin/env bash
# Vendor the browser libraries from the npm registry (no CDN): pinned versions, with licences.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAFLET=1.9.4
SOCKETIO=4.8.1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET" "socket.io-client@$SOCKETIO" >/dev/null)
mkdir -p "$tmp/l" "$tmp/s"
tar -xzf "$tmp/leaflet-$LEAFLET.tgz" -C "$tmp/l"
tar -xzf "$tmp/socket.io-client-$SOCKETIO.tgz" -C "$tmp/s"
dest=app/static/vendor
rm -rf "$dest/leaflet" "$dest/socket.io"
mkdir -p "$dest/leaflet" "$dest/socket.io"
cp "$tmp/l/package/dist/leaflet.js" "$tmp/l/package/dist/leaflet.css" "$tmp/l/package/LICENSE" "$dest/leaflet/"
cp -r "$tmp/l/package/dist/images" "$dest/leaflet/"
cp "$tmp/s/package/dist/socket.io.min.js" "$tmp/s/package/LICENSE" "$dest/socket.io/"
echo "vendored leaflet $LEAFLET and socket.io-client $SOCKETIO into $dest"
