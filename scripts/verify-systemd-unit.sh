#!/usr/bin/env bash
# Check systemd/shardhub.service with `systemd-analyze verify`.
#
# Usage: scripts/verify-systemd-unit.sh BINARY
#
# The unit's ExecStart points at /usr/local/bin/shardhub, which does not exist
# on a build machine, and systemd-analyze refuses a unit whose binary is
# missing. So the script copies the unit into a fresh temporary directory,
# points ExecStart at BINARY (made absolute) and verifies the copy.
#
# Set SHARDHUB_UNIT_FILE to verify another unit file instead of the one in
# the repository (used to prove that a broken unit fails).
#
# Exit status: 0 the unit is clean; 1 systemd-analyze reported a problem;
# 2 usage error or systemd-analyze is missing.
set -euo pipefail

die_usage() {
    echo "verify-systemd-unit: $*" >&2
    echo "usage: $0 BINARY" >&2
    exit 2
}

[[ $# -eq 1 ]] || die_usage "expected exactly one argument, got $#"

binary_arg=$1
[[ -e $binary_arg ]] || die_usage "binary '$binary_arg' does not exist"
[[ -f $binary_arg && -x $binary_arg ]] || die_usage "binary '$binary_arg' is not an executable file"
binary=$(readlink -f -- "$binary_arg")
# systemd splits ExecStart on whitespace and treats quotes, backslashes and
# '%' specially; refuse paths that would need quoting rather than guess.
if [[ $binary =~ [[:space:]\"\'\\%] ]]; then
    die_usage "binary path '$binary' contains whitespace, quotes, '\\' or '%'"
fi

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
unit_source=${SHARDHUB_UNIT_FILE:-$script_dir/../systemd/shardhub.service}
[[ -f $unit_source ]] || die_usage "unit file '$unit_source' not found"
unit_source=$(readlink -f -- "$unit_source")

analyze=$(command -v systemd-analyze || true)
[[ -n $analyze ]] || die_usage "systemd-analyze not found (install the systemd package)"

work_dir=$(mktemp -d)
trap 'rm -rf -- "$work_dir"' EXIT

# systemd-analyze derives the unit type from the suffix, so keep the name.
unit_name=shardhub.service
unit_copy=$work_dir/$unit_name

# Replace the program (first word) of every ExecStart= line, keep its arguments.
BINARY=$binary awk '
    /^ExecStart=/ {
        sub(/^ExecStart=[^ \t]+/, "ExecStart=" ENVIRON["BINARY"])
        replaced++
    }
    { print }
    END { if (replaced == 0) exit 3 }
' "$unit_source" > "$unit_copy" || {
    echo "verify-systemd-unit: no ExecStart= line in $unit_source" >&2
    exit 1
}

echo "verifying $unit_source"
echo "  copy:     $unit_copy"
echo "  ExecStart=$(sed -n 's/^ExecStart=//p' "$unit_copy")"

status=0
"$analyze" verify --man=no "$unit_copy" > "$work_dir/stdout" 2> "$work_dir/stderr" || status=$?

# Sort every line systemd-analyze printed into:
#   problem - it names our unit (by path or by name), or cannot be tied to
#             any unit; an unexplained line is treated as a failure;
#   ignored - it is clearly about some other unit on this host (containers
#             without systemd as PID 1 sometimes complain about those).
other_unit_re='^(/[^:]*/)?[A-Za-z0-9@._\\-]+\.(service|socket|target|mount|automount|swap|timer|path|slice|scope|device)(:[0-9]+)?: '
problems=0
while IFS= read -r line || [[ -n $line ]]; do
    [[ -n $line ]] || continue
    if [[ $line == *"$unit_copy"* || $line == *"$unit_name"* ]]; then
        echo "  problem: $line"
        problems=$((problems + 1))
    elif [[ $line =~ $other_unit_re ]]; then
        echo "  ignored (other unit): $line"
    else
        echo "  problem (unrecognised output): $line"
        problems=$((problems + 1))
    fi
done < <(cat "$work_dir/stderr" "$work_dir/stdout")

if [[ $status -ne 0 || $problems -ne 0 ]]; then
    echo "FAIL: systemd-analyze exit status $status, $problems problem line(s)"
    exit 1
fi
echo "OK: systemd-analyze verify reported no problems"
