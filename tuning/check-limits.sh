#!/usr/bin/env bash
# Compare this host's kernel settings and shell limits with the shardhub
# recommendations in tuning/sysctl.d/60-shardhub.conf.
#
# Usage: tuning/check-limits.sh [--apply]
#
#   (no option)  check only; changes nothing and needs no root.
#   --apply      as root: install the sysctl file as
#                /etc/sysctl.d/60-shardhub.conf, run `sysctl --system`,
#                then check again.
#
# Exit status: 0 everything meets the recommendation; 1 something does not
# (keys missing on this kernel or in this container are reported as
# "unavailable" and do not count); 2 usage error.
set -euo pipefail

usage() {
    echo "usage: $0 [--apply]" >&2
    exit 2
}

apply=no
case $# in
    0) ;;
    1) [[ $1 == --apply ]] && apply=yes || usage ;;
    *) usage ;;
esac

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
sysctl_file=$script_dir/sysctl.d/60-shardhub.conf
[[ -r $sysctl_file ]] || { echo "check-limits: cannot read $sysctl_file" >&2; exit 2; }

# Wanted open files: the unit's LimitNOFILE.
nofile_wanted=1048576
# shardhub's default ports, which the ephemeral port range must not cover.
shardhub_ports=(1883 6380 8080)

# How a current value is compared with the recommendation, per key.
#   atleast  current >= recommended (a capacity or queue length)
#   atmost   current <= recommended (a timeout)
#   equal    current == recommended (a mode switch)
#   mem      three fields, each >= recommended (tcp_mem pressure levels)
#   buf      three fields: min and start <= recommended (each is multiplied
#            by a million sockets), max >= recommended (room to autotune)
#   range    span (high - low + 1) >= recommended span, and no shardhub
#            port inside the range unless it is reserved
declare -A rule=(
    [fs.nr_open]=atleast
    [fs.file-max]=atleast
    [net.core.somaxconn]=atleast
    [net.ipv4.tcp_max_syn_backlog]=atleast
    [net.core.netdev_max_backlog]=atleast
    [net.ipv4.ip_local_port_range]=range
    [net.ipv4.tcp_mem]=mem
    [net.ipv4.tcp_rmem]=buf
    [net.ipv4.tcp_wmem]=buf
    [net.core.rmem_max]=atleast
    [net.core.wmem_max]=atleast
    [net.ipv4.tcp_fin_timeout]=atmost
    [net.ipv4.tcp_tw_reuse]=equal
)

failures=0
row() { printf '%-30s %-28s %-28s %s\n' "$@"; }

# True when port $1 is listed in net.ipv4.ip_local_reserved_ports
# (a comma-separated list of ports and low-high ranges).
port_reserved() {
    local port=$1 list item
    local -a items
    list=$(cat /proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null || true)
    IFS=, read -ra items <<< "$list"
    for item in "${items[@]}"; do
        item=${item//[[:space:]]/}
        [[ -n $item ]] || continue
        if [[ $item == *-* ]]; then
            (( port >= ${item%-*} && port <= ${item#*-} )) && return 0
        else
            (( port == item )) && return 0
        fi
    done
    return 1
}

# Prints a verdict ("OK" or "NOT OK: reason") for one key.
judge() {
    local how=$1 current=$2 wanted=$3
    local -a cur want
    read -ra cur <<< "$current"
    read -ra want <<< "$wanted"
    local i reasons=()
    case $how in
        atleast) (( cur[0] >= want[0] )) || reasons+=("below ${want[0]}") ;;
        atmost)  (( cur[0] <= want[0] )) || reasons+=("above ${want[0]}") ;;
        equal)   [[ ${cur[*]} == "${want[*]}" ]] || reasons+=("want ${want[*]}") ;;
        mem)
            local names=(min pressure max)
            for i in 0 1 2; do
                (( cur[i] >= want[i] )) || reasons+=("${names[i]} ${cur[i]} < ${want[i]} pages")
            done ;;
        buf)
            (( cur[0] <= want[0] )) || reasons+=("min ${cur[0]} > ${want[0]}")
            (( cur[1] <= want[1] )) || reasons+=("start ${cur[1]} > ${want[1]}")
            (( cur[2] >= want[2] )) || reasons+=("max ${cur[2]} < ${want[2]}") ;;
        range)
            local span=$(( cur[1] - cur[0] + 1 )) span_wanted=$(( want[1] - want[0] + 1 )) port
            (( span >= span_wanted )) || reasons+=("span $span < $span_wanted")
            for port in "${shardhub_ports[@]}"; do
                if (( port >= cur[0] && port <= cur[1] )) && ! port_reserved "$port"; then
                    reasons+=("covers port $port")
                fi
            done ;;
        *) reasons+=("no rule for this key") ;;
    esac
    if (( ${#reasons[@]} == 0 )); then
        echo OK
        return
    fi
    local joined=${reasons[0]}
    for (( i = 1; i < ${#reasons[@]}; i++ )); do
        joined+="; ${reasons[i]}"
    done
    echo "NOT OK: $joined"
}

check_sysctls() {
    echo "Kernel settings (recommendations from $sysctl_file)"
    row KEY CURRENT RECOMMENDED STATUS
    local line key wanted path current verdict
    local -a fields
    while IFS= read -r line || [[ -n $line ]]; do
        line=${line%%[#;]*}
        [[ $line == *=* ]] || continue
        key=${line%%=*}; key=${key//[[:space:]]/}
        read -ra fields <<< "${line#*=}"
        wanted=${fields[*]}
        path=/proc/sys/${key//.//}
        if ! current=$(cat -- "$path" 2>/dev/null); then
            row "$key" "-" "$wanted" "unavailable"
            continue
        fi
        read -ra fields <<< "$current"
        current=${fields[*]}
        verdict=$(judge "${rule[$key]:-equal}" "$current" "$wanted")
        [[ $verdict == OK ]] || failures=$((failures + 1))
        row "$key" "$current" "$wanted" "$verdict"
    done < "$sysctl_file"
}

check_ulimits() {
    echo
    echo "Limits of this shell (the systemd unit sets its own: LimitNOFILE, LimitMEMLOCK)"
    row LIMIT CURRENT RECOMMENDED STATUS
    local flag name value verdict
    for flag in H S; do
        [[ $flag == H ]] && name="open files (hard, -Hn)" || name="open files (soft, -Sn)"
        value=$(ulimit -${flag}n)
        if [[ $value == unlimited ]] || (( value >= nofile_wanted )); then
            verdict=OK
        else
            verdict="NOT OK: below $nofile_wanted"
            failures=$((failures + 1))
        fi
        row "$name" "$value" "$nofile_wanted" "$verdict"
    done

    # io_uring ring memory: RLIMIT_MEMLOCK before Linux 5.12, memory cgroup since.
    local release major minor
    release=$(uname -r)
    major=${release%%.*}
    minor=${release#*.}; minor=${minor%%[!0-9]*}
    for flag in H S; do
        [[ $flag == H ]] && name="locked memory (hard, -Hl)" || name="locked memory (soft, -Sl)"
        value=$(ulimit -${flag}l)
        if [[ $value == unlimited ]]; then
            verdict=OK
        elif (( major > 5 || (major == 5 && minor >= 12) )); then
            verdict="OK (kernel $release charges io_uring rings to the memory cgroup)"
        else
            verdict="NOT OK: kernel $release charges io_uring rings to memlock"
            failures=$((failures + 1))
        fi
        [[ $value == unlimited ]] || value="$value KiB"
        row "$name" "$value" "unlimited" "$verdict"
    done
}

if [[ $apply == yes ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "check-limits: --apply must run as root" >&2
        exit 2
    fi
    install -m 0644 "$sysctl_file" /etc/sysctl.d/60-shardhub.conf
    echo "installed /etc/sysctl.d/60-shardhub.conf; running sysctl --system"
    if ! sysctl --system > /dev/null; then
        echo "check-limits: sysctl --system reported errors (see above)" >&2
        failures=$((failures + 1))
    fi
    echo
fi

check_sysctls
check_ulimits

echo
if (( failures == 0 )); then
    echo "All checked settings meet the recommendation."
    exit 0
fi
echo "$failures setting(s) do not meet the recommendation; see tuning/README.md."
exit 1
