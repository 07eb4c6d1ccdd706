#!/usr/bin/env bash
# Runs the Action's run step (scripts/action/run.sh) the way a GitHub runner
# would, against a built avpctl, and checks what it leaves behind:
#
#   scripts/action/test.sh target/debug/avpctl
#
# Each case gets fresh GITHUB_STEP_SUMMARY and GITHUB_OUTPUT files in a
# temporary directory, GITHUB_WORKSPACE is the repository root, the case runs
# from another directory (run.sh must enter the workspace itself), and the
# given binary is first on PATH as `avpctl`. Prints each check; exits 1 when
# any fails, 2 on bad usage. Needs `--format markdown` for validate, test
# and diff.
set -euo pipefail

if [ "$#" -ne 1 ]; then
  echo "usage: $0 PATH/TO/avpctl" >&2
  exit 2
fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
binary="$1"
case "$binary" in
  /*) ;;
  *) binary="$PWD/$binary" ;;
esac
if [ ! -x "$binary" ] || [ -d "$binary" ]; then
  echo "error: $1 is not an executable" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin"
ln -s "$binary" "$work/bin/avpctl"

escape="$(printf '\033')"
checks=0
failures=0
case_dir=""
status=0

# run_case NAME COMMAND DIRECTORY [SUMMARY]: runs run.sh; sets case_dir
# (stdout, stderr, summary, output in it) and status.
run_case() {
  case_dir="$work/case-$1"
  mkdir -p "$case_dir"
  : >"$case_dir/summary"
  : >"$case_dir/output"
  echo "== $1: command \`$2\`, directory \`$3\`, summary ${4:-true}"
  status=0
  (
    cd "$work"
    env -u AVPCTL \
      PATH="$work/bin:$PATH" \
      GITHUB_WORKSPACE="$root" \
      GITHUB_STEP_SUMMARY="$case_dir/summary" \
      GITHUB_OUTPUT="$case_dir/output" \
      AVPCTL_COMMAND="$2" \
      AVPCTL_DIRECTORY="$3" \
      AVPCTL_SUMMARY="${4:-true}" \
      bash "$root/scripts/action/run.sh"
  ) >"$case_dir/stdout" 2>"$case_dir/stderr" || status=$?
}

# expect DESCRIPTION COMMAND...: one check.
expect() {
  local description="$1"
  shift
  checks=$((checks + 1))
  if "$@"; then
    echo "  ok    $description"
  else
    echo "  FAIL  $description"
    failures=$((failures + 1))
    show stdout
    show stderr
    show summary
    show output
  fi
}

# Shows a file of the case, each line behind `| ` so that no line of it
# (an `::error …` annotation) acts as a workflow command when this runs in CI.
show() {
  echo "        $1:"
  sed -e 's/^/        | /' "$case_dir/$1" | head -n 40
}

status_is() { [ "$status" -eq "$1" ]; }
output_has() { grep -qx -- "$1" "$case_dir/output"; }
has() { grep -qF -- "$2" "$case_dir/$1"; }
lacks() { ! grep -qF -- "$2" "$case_dir/$1"; }
nonempty() { [ -s "$case_dir/$1" ]; }
empty() { [ ! -s "$case_dir/$1" ]; }
starts_with() { [ "$(head -c "${#2}" "$case_dir/$1")" = "$2" ]; }

run_case valid validate policies-example
expect "exits 0" status_is 0
expect "GITHUB_OUTPUT has exit-code=0" output_has exit-code=0
expect "the summary is not empty" nonempty summary
expect "the summary has no ANSI escape" lacks summary "$escape"
expect "no ::error annotation" lacks stdout "::error"

run_case type-errors validate fixtures/validate/type-errors
expect "exits 1" status_is 1
expect "GITHUB_OUTPUT has exit-code=1" output_has exit-code=1
expect "stdout has ::error file= annotations" has stdout "::error file="
expect "annotation paths are relative to the workspace" has stdout "::error file=fixtures/validate/type-errors/policies/rules.cedar,"
expect "the summary is not empty" nonempty summary
expect "the summary has no ANSI escape" lacks summary "$escape"

run_case own-format "validate --format json" policies-example
expect "exits 0" status_is 0
expect "GITHUB_OUTPUT has exit-code=0" output_has exit-code=0
expect "no summary is written" empty summary
expect "stdout is the JSON document" starts_with stdout "{"

run_case test test policies-example
expect "exits 0" status_is 0
expect "GITHUB_OUTPUT has exit-code=0" output_has exit-code=0
expect "the summary is not empty" nonempty summary
expect "the summary has no ANSI escape" lacks summary "$escape"
expect "stdout has the ::notice of the run" has stdout "::notice"

run_case diff "diff --store local:fixtures/stores/empty.json" policies-example
expect "exits 0" status_is 0
expect "GITHUB_OUTPUT has exit-code=0" output_has exit-code=0
expect "the summary is not empty" nonempty summary
expect "the summary has no ANSI escape" lacks summary "$escape"
expect "the report in the log is fenced by ::stop-commands::" has stdout "::stop-commands::"

run_case no-summary validate policies-example false
expect "exits 0" status_is 0
expect "GITHUB_OUTPUT has exit-code=0" output_has exit-code=0
expect "no summary is written" empty summary

run_case missing-project validate fixtures/does-not-exist
expect "exits 2" status_is 2
expect "GITHUB_OUTPUT has exit-code=2" output_has exit-code=2

run_case empty-command "" policies-example
expect "exits 2" status_is 2
expect "GITHUB_OUTPUT has exit-code=2" output_has exit-code=2

echo "action: $((checks - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
