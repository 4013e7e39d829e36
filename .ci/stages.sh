#!/usr/bin/env bash
# Runs `make` targets one after another (the stages of `make test`) and prints, at the end, how
# long each took: wall time, and the CPU time (user + sys) of the processes the stage waited for
# (a daemon a stage leaves running, such as a container, is not counted). A failed stage stops
# the run; the table still shows what ran, so a CI log says where the time went either way.
#
#   .ci/stages.sh MAKE STAGE...        e.g. .ci/stages.sh make deps build unit
set -uo pipefail
make=$1
shift

# The CPU time of this shell's waited-for children so far, in milliseconds. `times` runs in
# this shell (in a command substitution it would report the subshell's children).
times_file=$(mktemp)
trap 'rm -f "$times_file" "$times_file.ms"' EXIT
children_cpu_ms() {
  local ms=0 t user sys
  times >"$times_file"
  { read -r _; read -r user sys; } <"$times_file"
  for t in "$user" "$sys"; do
    local min=${t%%m*} sec=${t#*m}
    sec=${sec%s}
    ms=$((ms + 10#$min * 60000 + $(awk -v s="$sec" 'BEGIN { printf "%d", s * 1000 }')))
  done
  echo "$ms"
}

names=() walls=() cpus=() results=()
rc=0
run_start=$(date +%s)
for stage in "$@"; do
  echo "== stage $stage: $(date -u +%H:%M:%SZ)"
  start=$(date +%s)
  children_cpu_ms >"$times_file.ms"
  cpu_before=$(<"$times_file.ms")
  if "$make" "$stage"; then result=ok; else rc=$? result=FAILED; fi
  names+=("$stage") walls+=($(($(date +%s) - start))) results+=("$result")
  children_cpu_ms >"$times_file.ms"
  cpus+=($(($(<"$times_file.ms") - cpu_before)))
  [ "$rc" -eq 0 ] || break
done

echo
echo "== stage times (wall, CPU = user+sys of the stage's processes)"
printf '%-14s %8s %8s  %s\n' stage wall cpu result
for i in "${!names[@]}"; do
  printf '%-14s %7ss %7ss  %s\n' "${names[$i]}" "${walls[$i]}" "$((cpus[i] / 1000))" "${results[$i]}"
done
printf '%-14s %7ss\n' total "$(($(date +%s) - run_start))"
exit "$rc"
