#!/usr/bin/env bash
# The run step of the avpctl GitHub Action (action.yml), kept in a script so
# that it can be run, and tested (scripts/action/test.sh), outside GitHub.
#
# Inputs, from the environment:
#   AVPCTL_COMMAND    the subcommand and its arguments, e.g. `validate`,
#                     `test --coverage`, `diff --store dev --prove` (required)
#   AVPCTL_DIRECTORY  the project directory, passed as the positional DIR
#                     argument (default `.`; empty: pass none)
#   AVPCTL_SUMMARY    `true` (default) or `false`: write the Markdown report
#                     to the job summary
#   AVPCTL            the avpctl executable (default: `avpctl` on PATH)
# and the variables a runner sets: GITHUB_STEP_SUMMARY, GITHUB_OUTPUT,
# GITHUB_WORKSPACE (the directory commands run in, so that annotation paths
# are relative to the repository root).
#
# What runs:
#   validate, test   twice: once with `--format markdown` (appended to the
#                    job summary; skipped when AVPCTL_SUMMARY is false), once
#                    with `--format github` (annotations, on standard output)
#   diff             once, with `--format markdown`: the report goes to the
#                    job summary and to the log (diff has no github format);
#                    with AVPCTL_SUMMARY=false, once with the human report
#   anything else,   once, exactly as given (plus the directory)
#   or a command
#   with --format
# The command is split on whitespace into words; quotes are NOT interpreted
# (`--filter 'a b'` is the two words `'a` and `b'`). The first word is the
# subcommand: put global options (--verbose, --color) after it.
#
# Exit status: avpctl's (0 all checks hold, 1 a check found something,
# 2 avpctl could not do its job); of two runs, the higher. `exit-code=N` is
# also written to GITHUB_OUTPUT. Nothing here echoes the environment (no
# `set -x`): AWS credentials reach avpctl through it.
set -euo pipefail

# GitHub refuses a step summary over 1 MiB; a longer report is cut here.
SUMMARY_LIMIT=1000000

avpctl="${AVPCTL:-avpctl}"
command_text="${AVPCTL_COMMAND:-}"
directory="${AVPCTL_DIRECTORY-.}"
summary="${AVPCTL_SUMMARY:-true}"

log() { printf 'avpctl-action: %s\n' "$*" >&2; }

write_output() {
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'exit-code=%s\n' "$1" >>"$GITHUB_OUTPUT"
  fi
}

# Ends the step with avpctl's convention: 2 = could not run.
fail() {
  log "error: $*"
  write_output 2
  exit 2
}

case "$(printf '%s' "$summary" | tr '[:upper:]' '[:lower:]')" in
  true | yes | 1 | on) summary=true ;;
  false | no | 0 | off | '') summary=false ;;
  *) fail "summary must be true or false, not \`$summary\`" ;;
esac

# Whitespace-separated words (spaces, tabs, newlines), no quoting, no globbing.
words=()
read -r -d '' -a words <<<"$command_text" || true
if [ "${#words[@]}" -eq 0 ]; then
  fail "the \`command\` input is empty (e.g. \`validate\`, \`test\`, \`diff --store dev\`)"
fi
subcommand="${words[0]}"
rest=("${words[@]:1}")

user_format=false
user_color=false
for word in "${rest[@]+"${rest[@]}"}"; do
  case "$word" in
    --format | --format=*) user_format=true ;;
    --color | --color=*) user_color=true ;;
  esac
done

if [ -n "${GITHUB_WORKSPACE:-}" ]; then
  cd "$GITHUB_WORKSPACE" || fail "cannot enter GITHUB_WORKSPACE ($GITHUB_WORKSPACE)"
fi

if ! command -v "$avpctl" >/dev/null 2>&1; then
  fail "\`$avpctl\` is not installed or not on PATH"
fi

# The positional DIR argument, last; a directory that starts with `-` would
# read as an option.
dir_args=()
if [ -n "$directory" ]; then
  case "$directory" in
    -*) directory="./$directory" ;;
  esac
  dir_args=("$directory")
fi

# Reports are never coloured, whatever the terminal or the environment says.
color_args=()
if [ "$user_color" = false ]; then
  color_args=(--color never)
fi

worst=0
note_code() {
  if [ "$1" -gt "$worst" ]; then
    worst="$1"
  fi
}

# run FORMAT: avpctl SUBCOMMAND [--format FORMAT] [--color never] ARGS... [DIR],
# its standard output on ours; its exit code goes to `code`.
code=0
run() {
  local argv=("$avpctl" "$subcommand")
  if [ -n "$1" ]; then
    argv+=(--format "$1")
  fi
  argv+=(${color_args[@]+"${color_args[@]}"} ${rest[@]+"${rest[@]}"} ${dir_args[@]+"${dir_args[@]}"})
  log "running: ${argv[*]}"
  code=0
  "${argv[@]}" || code=$?
  note_code "$code"
}

# Appends REPORT (a file) to the job summary, cut to GitHub's limit.
append_summary() {
  local report="$1"
  if [ -z "${GITHUB_STEP_SUMMARY:-}" ]; then
    log "GITHUB_STEP_SUMMARY is not set: no job summary written"
    return
  fi
  if [ ! -s "$report" ]; then
    printf '**avpctl %s** printed no report (exit code %s); see the log.\n\n' \
      "$subcommand" "$code" >>"$GITHUB_STEP_SUMMARY"
    return
  fi
  local size
  size=$(wc -c <"$report" | tr -d ' ')
  if [ "$size" -gt "$SUMMARY_LIMIT" ]; then
    head -c "$SUMMARY_LIMIT" "$report" >>"$GITHUB_STEP_SUMMARY"
    printf '\n\n*(report cut at %s of its %s bytes: GitHub limits a job summary to 1 MiB; the full report is in the log)*\n' \
      "$SUMMARY_LIMIT" "$size" >>"$GITHUB_STEP_SUMMARY"
  else
    cat "$report" >>"$GITHUB_STEP_SUMMARY"
  fi
  printf '\n' >>"$GITHUB_STEP_SUMMARY"
}

# Prints FILE to the log with workflow commands switched off, so that no line
# of a report (which quotes policy text) can act as one.
print_inert() {
  local token
  token="avpctl-$(od -An -N8 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n' || true)$RANDOM$RANDOM"
  printf '::stop-commands::%s\n' "$token"
  cat "$1"
  printf '::%s::\n' "$token"
}

report=""
# shellcheck disable=SC2329 # invoked by the trap
cleanup() {
  if [ -n "$report" ]; then
    rm -f "$report"
  fi
}
trap cleanup EXIT

markdown_report() {
  report=$(mktemp "${TMPDIR:-/tmp}/avpctl-report.XXXXXX")
  code=0
  run markdown >"$report"
  append_summary "$report"
}

case "$subcommand" in
  validate | test)
    if [ "$user_format" = true ]; then
      log "the command gives --format: running it as is, without job summary or annotations"
      run ""
    else
      if [ "$summary" = true ]; then
        markdown_report
      fi
      run github
    fi
    ;;
  diff)
    if [ "$user_format" = true ]; then
      log "the command gives --format: running it as is, without job summary"
      run ""
    elif [ "$summary" = true ]; then
      markdown_report
      print_inert "$report"
    else
      run ""
    fi
    ;;
  *)
    run ""
    ;;
esac

write_output "$worst"
exit "$worst"
