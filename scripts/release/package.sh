#!/usr/bin/env bash
# Packages a release build, as .github/workflows/release.yml does for each
# target:
#
#   scripts/release/package.sh TAG TARGET BINARY OUTDIR
#
# writes OUTDIR/avpctl-TAG-TARGET.tar.gz (.zip for a Windows target) and
# OUTDIR/avpctl-TAG-TARGET.tar.gz.sha256 (`<sha256>  <file name>`, as
# `sha256sum -c` reads it). The archive holds one directory,
# avpctl-TAG-TARGET/, with the binary (avpctl or avpctl.exe), README.md and
# LICENSE when the repository has one. scripts/action/install.sh and
# cargo-binstall's metadata (`bin-dir`) expect exactly this layout.
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 TAG TARGET BINARY OUTDIR" >&2
  exit 2
fi
tag="$1"
target="$2"
binary="$3"
outdir="$4"
root="$(cd "$(dirname "$0")/../.." && pwd)"

case "$target" in
  *-windows-*) exe=".exe" format=zip ;;
  *) exe="" format=tar.gz ;;
esac

name="avpctl-$tag-$target"
archive="$name.$format"
mkdir -p "$outdir"
outdir="$(cd "$outdir" && pwd)"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

mkdir "$stage/$name"
cp "$binary" "$stage/$name/avpctl$exe"
chmod 755 "$stage/$name/avpctl$exe"
cp "$root/README.md" "$stage/$name/"
for license in LICENSE LICENSE-APACHE LICENSE-MIT; do
  if [ -f "$root/$license" ]; then
    cp "$root/$license" "$stage/$name/"
  fi
done

rm -f "$outdir/$archive"
(
  cd "$stage"
  if [ "$format" = zip ]; then
    if command -v 7z >/dev/null 2>&1; then
      7z a -tzip -bd "$outdir/$archive" "$name" >/dev/null
    else
      zip -qr "$outdir/$archive" "$name"
    fi
  else
    # Owner and group of the build machine do not belong in the archive.
    tar --owner=0 --group=0 -czf "$outdir/$archive" "$name" 2>/dev/null ||
      tar -czf "$outdir/$archive" "$name"
  fi
)

if command -v sha256sum >/dev/null 2>&1; then
  sum=$(sha256sum "$outdir/$archive" | cut -d' ' -f1)
else
  sum=$(shasum -a 256 "$outdir/$archive" | cut -d' ' -f1)
fi
printf '%s  %s\n' "$sum" "$archive" >"$outdir/$archive.sha256"
echo "$outdir/$archive"
