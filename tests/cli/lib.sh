# shellcheck shell=bash
# Harness shared by the CLI test scripts (sourced, not run): a scratch
# directory $tmp removed on exit, ok/bad counters, expect and finish.
# Set expect_clip=N before calling expect to cut quoted output to N chars.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
expect_clip=
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }

# expect STATUS NAME SUBSTRING -- command...: runs it, checks the exit status
# and that stdout+stderr contain SUBSTRING.
expect() {
  local want=$1 name=$2 sub=$3
  shift 4
  local out status
  out=$("$@" 2>&1)
  status=$?
  local shown=${out:0:${expect_clip:-${#out}}}
  if [ "$status" -ne "$want" ]; then
    bad "$name: exit $status, wanted $want: $shown"
  elif [[ "$out" != *"$sub"* ]]; then
    bad "$name: output lacks '$sub': $shown"
  else
    ok "$name"
  fi
}

# finish: prints the tally; its status (the script's last) is 0 when all
# checks passed.
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
