#!/usr/bin/env bash
# Vendor the browser libraries from the npm registry (no CDN): pinned versions, with licences.
set -euo pipefail
cd "$(dirname "$0")/.."
LEAFLET=1.9.4
SOCKETIO=4.8.1
AXE=4.14.1  # axe-core: the browser tests' accessibility audit
GEOMAN=2.20.2  # @geoman-io/leaflet-geoman-free: drawing and editing hazard zones and flagged places
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET" "socket.io-client@$SOCKETIO" "axe-core@$AXE" \
  "@geoman-io/leaflet-geoman-free@$GEOMAN" >/dev/null)
mkdir -p "$tmp/l" "$tmp/s" "$tmp/a" "$tmp/g"
tar -xzf "$tmp/leaflet-$LEAFLET.tgz" -C "$tmp/l"
tar -xzf "$tmp/socket.io-client-$SOCKETIO.tgz" -C "$tmp/s"
tar -xzf "$tmp/axe-core-$AXE.tgz" -C "$tmp/a"
tar -xzf "$tmp/geoman-io-leaflet-geoman-free-$GEOMAN.tgz" -C "$tmp/g"
dest=app/static/vendor
rm -rf "$dest/leaflet" "$dest/socket.io" "$dest/axe-core" "$dest/leaflet-geoman"
mkdir -p "$dest/leaflet" "$dest/socket.io" "$dest/axe-core" "$dest/leaflet-geoman"
cp "$tmp/l/package/dist/leaflet.js" "$tmp/l/package/dist/leaflet.css" "$tmp/l/package/LICENSE" "$dest/leaflet/"
cp -r "$tmp/l/package/dist/images" "$dest/leaflet/"
cp "$tmp/s/package/dist/socket.io.min.js" "$tmp/s/package/LICENSE" "$dest/socket.io/"
cp "$tmp/a/package/axe.min.js" "$tmp/a/package/LICENSE" "$tmp/a/package/LICENSE-3RD-PARTY.txt" "$dest/axe-core/"
cp "$tmp/g/package/dist/leaflet-geoman.js" "$tmp/g/package/dist/leaflet-geoman.css" "$tmp/g/package/LICENSE" \
  "$dest/leaflet-geoman/"
echo "vendored leaflet $LEAFLET, socket.io-client $SOCKETIO, axe-core $AXE and leaflet-geoman-free $GEOMAN into $dest"
