#!/usr/bin/env bash
# The install steps of the avpctl GitHub Action (action.yml).
#
#   install.sh release   resolve the release tag; keep an avpctl already on
#                        PATH at that version; else download the release
#                        archive for this runner and verify its .sha256.
#                        Writes to GITHUB_OUTPUT: tag, target, bin (when
#                        installed) and need-cargo=true (when no archive
#                        could be had: no build for this runner, or the
#                        download failed).
#   install.sh cargo     cargo install --locked --git … --tag TAG avpctl
#                        (AVPCTL_TAG); writes bin to GITHUB_OUTPUT.
#
# Inputs, from the environment: AVPCTL_VERSION (a tag such as v1.2.3,
# `latest`, or empty: the Action's own ref when it is such a tag, else
# latest), AVPCTL_ACTION_REF (github.action_ref), AVPCTL_REPOSITORY (default
# avpctl/avpctl), and the runner's RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP,
# GITHUB_ACTION_PATH, GITHUB_OUTPUT, GITHUB_PATH.
#
# A checksum that does not match is an error, never a reason to fall back.
set -euo pipefail

repository="${AVPCTL_REPOSITORY:-avpctl/avpctl}"
tag_pattern='^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'

log() { printf 'avpctl-install: %s\n' "$*" >&2; }
die() {
  printf '::error title=avpctl install::%s\n' "$*"
  exit 1
}
output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}
add_path() {
  if [ -n "${GITHUB_PATH:-}" ]; then
    if command -v cygpath >/dev/null 2>&1; then
      cygpath -w "$1" >>"$GITHUB_PATH" # Git Bash on Windows
    else
      printf '%s\n' "$1" >>"$GITHUB_PATH"
    fi
  fi
}

# A directory for downloads, as a path this shell understands.
temp_dir() {
  local dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}"
  if command -v cygpath >/dev/null 2>&1; then
    dir=$(cygpath -u "$dir")
  fi
  printf '%s\n' "$dir"
}

is_tag() { printf '%s' "$1" | grep -Eq "$tag_pattern"; }

exe=""
if [ "${RUNNER_OS:-}" = Windows ]; then
  exe=".exe"
fi

latest_tag() {
  local url
  # github.com/OWNER/REPO/releases/latest redirects to …/releases/tag/TAG.
  url=$(curl --proto '=https' --fail --silent --show-error --location --retry 3 \
    --output /dev/null --write-out '%{url_effective}' \
    "https://github.com/$repository/releases/latest") || return 1
  case "$url" in
    */releases/tag/*) printf '%s\n' "${url##*/releases/tag/}" ;;
    *) return 1 ;;
  esac
}

# Sets `tag`.
resolve_tag() {
  local version="${AVPCTL_VERSION:-}"
  if [ -z "$version" ] || [ "$version" = auto ]; then
    if is_tag "${AVPCTL_ACTION_REF:-}"; then
      version="$AVPCTL_ACTION_REF"
    elif [ -n "${GITHUB_ACTION_PATH:-}" ] && is_tag "$(basename "$GITHUB_ACTION_PATH")"; then
      # github.action_ref is not always set in composite actions; the
      # runner checks an action out to …/_actions/OWNER/REPO/REF.
      version="$(basename "$GITHUB_ACTION_PATH")"
    else
      version=latest
    fi
  fi
  if [ "$version" = latest ]; then
    version=$(latest_tag) || die "could not find the latest release of $repository; set the \`version\` input (e.g. v1.2.3)"
    log "latest release: $version"
  fi
  case "$version" in
    [0-9]*) version="v$version" ;;
  esac
  is_tag "$version" || die "\`$version\` is not a release tag like v1.2.3"
  tag="$version"
}

runner_target() {
  case "${RUNNER_OS:-}/${RUNNER_ARCH:-}" in
    Linux/X64) echo x86_64-unknown-linux-gnu ;;
    Linux/ARM64) echo aarch64-unknown-linux-gnu ;;
    macOS/X64) echo x86_64-apple-darwin ;;
    macOS/ARM64) echo aarch64-apple-darwin ;;
    Windows/X64) echo x86_64-pc-windows-msvc ;;
    *) echo "" ;;
  esac
}

# Whether avpctl at PATH runs and is at version TAG.
has_version() {
  local shown
  shown=$("$1" --version 2>/dev/null) || return 1
  [ "$shown" = "avpctl ${2#v}" ]
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1
  fi
}

download() {
  curl --proto '=https' --fail --silent --show-error --location --retry 3 \
    --output "$2" "$1"
}

extract() {
  local archive="$1" into="$2"
  case "$archive" in
    *.tar.gz) tar -xzf "$archive" -C "$into" ;;
    *.zip)
      if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$archive" -d "$into"
      elif command -v 7z >/dev/null 2>&1; then
        7z x -y "-o$into" "$archive" >/dev/null
      else
        pwsh -NoProfile -Command "Expand-Archive -Force -LiteralPath '$archive' -DestinationPath '$into'"
      fi
      ;;
  esac
}

release() {
  local tag="" target
  resolve_tag
  target=$(runner_target)
  output tag "$tag"
  output target "$target"

  local existing
  if existing=$(command -v "avpctl$exe" 2>/dev/null) && has_version "$existing" "$tag"; then
    log "avpctl $tag is already installed: $existing"
    output bin "$existing"
    return
  fi

  if [ -z "$target" ]; then
    log "no release build for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}: building avpctl $tag with cargo"
    output need-cargo true
    return
  fi

  local name="avpctl-$tag-$target"
  local archive="$name.tar.gz"
  if [ -n "$exe" ]; then
    archive="$name.zip"
  fi
  local base="https://github.com/$repository/releases/download/$tag"
  local work
  work="$(temp_dir)/avpctl-$tag"
  rm -rf "$work"
  mkdir -p "$work/download" "$work/bin"

  log "downloading $base/$archive"
  if ! download "$base/$archive" "$work/download/$archive" ||
    ! download "$base/$archive.sha256" "$work/download/$archive.sha256"; then
    log "no release archive for $target at $tag: building avpctl $tag with cargo"
    output need-cargo true
    return
  fi

  local expected actual
  expected=$(cut -d' ' -f1 <"$work/download/$archive.sha256" | tr -d '\r\n' | tr '[:upper:]' '[:lower:]')
  actual=$(sha256_of "$work/download/$archive")
  if [ -z "$expected" ] || [ "$expected" != "$actual" ]; then
    die "checksum mismatch for $archive: expected ${expected:-nothing}, got $actual"
  fi
  log "sha256 $actual verified"

  extract "$work/download/$archive" "$work/bin"
  local bin="$work/bin/$name/avpctl$exe"
  if [ ! -f "$bin" ]; then
    die "$archive does not contain $name/avpctl$exe"
  fi
  chmod +x "$bin" 2>/dev/null || true
  if ! has_version "$bin" "$tag"; then
    # e.g. a C library older than the one the release was built against.
    log "the release binary does not run here or is not $tag: building avpctl $tag with cargo"
    output need-cargo true
    return
  fi
  add_path "$(dirname "$bin")"
  output bin "$bin"
  log "installed avpctl $tag ($target)"
}

cargo_install() {
  local tag="${AVPCTL_TAG:?AVPCTL_TAG is not set}"
  local cargo=(cargo)
  if command -v rustup >/dev/null 2>&1; then
    # avpctl needs a recent stable Rust (rust-version in Cargo.toml).
    rustup toolchain install stable --profile minimal --no-self-update >&2
    cargo=(cargo +stable)
  fi
  command -v cargo >/dev/null 2>&1 || die "cargo is not installed: cannot build avpctl $tag from source"
  log "cargo install --locked --git https://github.com/$repository --tag $tag avpctl"
  "${cargo[@]}" install --locked --git "https://github.com/$repository" --tag "$tag" avpctl
  local bin="${CARGO_HOME:-$HOME/.cargo}/bin/avpctl$exe"
  has_version "$bin" "$tag" || die "cargo installed $bin, but it is not avpctl $tag"
  add_path "$(dirname "$bin")"
  output bin "$bin"
}

case "${1:-}" in
  release) release ;;
  cargo) cargo_install ;;
  *)
    echo "usage: $0 release|cargo" >&2
    exit 2
    ;;
esac
