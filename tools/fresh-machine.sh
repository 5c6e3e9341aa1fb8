#!/bin/sh
# Proof that the README's two commands work on a bare machine: for each Debian
# release, a throwaway minbase root (mmdebstrap, only git and ca-certificates
# added), a clone of this checkout's HEAD in it, /proc and /dev mounted, then
# each command marked `<!-- fresh-machine -->` in README.md run as root in the
# clone, with its exit status and wall time. Before them, the first command run
# as an unprivileged user must install nothing, print the `sudo apt-get` line and
# exit 2. Exit 0 iff all of this holds for every release. Needs root and
# mmdebstrap (apt-get install mmdebstrap).
#   tools/fresh-machine.sh [SUITE...]      default: bookworm trixie
#   FRESH_DIR=dir    roots and logs (default build/fresh; the roots are deleted)
#   SEED_DIR=dir     the seed, copied beside the clone (default ../shared)
#   FRESH_KEEP=1     keep the roots
set -u
repo=$(cd "$(dirname "$0")/.." && pwd) || exit 2
fresh=${FRESH_DIR:-$repo/build/fresh}
seed=${SEED_DIR:-$repo/../shared}
[ $# -gt 0 ] || set -- bookworm trixie

say() { echo "fresh-machine: $*"; }
[ "$(id -u)" -eq 0 ] || { say "must run as root (chroot, mount)"; exit 2; }
command -v mmdebstrap >/dev/null || { say "needs mmdebstrap: apt-get install -y mmdebstrap"; exit 2; }

# The commands, from README.md: the first indented line after each marker.
commands=$(awk '/<!-- fresh-machine -->/ { want = 1; next }
                want && /^    [^ ]/ { sub(/^    /, ""); print; want = 0 }' "$repo/README.md")
count=$(printf '%s\n' "$commands" | grep -c .)
[ "$count" -eq 2 ] || { say "README.md marks $count commands with <!-- fresh-machine -->, expected 2"; exit 2; }

mounted() { grep -q " $1 " /proc/mounts; }
root=""
cleanup() {
    [ -n "$root" ] || return 0
    for m in "$root/dev" "$root/proc"; do mounted "$m" && umount "$m"; done
    if grep -q " $root/" /proc/mounts; then
        say "still mounted under $root: not deleted"
    elif [ -z "${FRESH_KEEP:-}" ]; then
        rm -rf --one-file-system "$root"
    fi
    root=""
}
trap 'cleanup; exit 2' INT TERM HUP
trap cleanup EXIT

elapsed() { s=$(( $(date +%s) - $1 )); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

overall=0
summary=""
for suite in "$@"; do
    dir="$fresh/$suite"
    root="$dir/root"
    rm -rf --one-file-system "$root"
    mkdir -p "$dir"
    say "$suite: building a minbase root in $root"
    t0=$(date +%s)
    if ! mmdebstrap --quiet --variant=minbase --include=git,ca-certificates "$suite" "$root" \
            >"$dir/mmdebstrap.log" 2>&1; then
        say "$suite: mmdebstrap failed (log: $dir/mmdebstrap.log)"; tail -n 5 "$dir/mmdebstrap.log"
        overall=2; summary="$summary
$suite: mmdebstrap failed"; cleanup; continue
    fi
    say "$suite: root ready in $(elapsed "$t0")"
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    git clone --quiet "$repo" "$root/srv/cpkit"
    [ -d "$seed" ] && cp -r "$seed" "$root/srv/shared"
    mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" || { overall=2; cleanup; continue; }
    first=$(printf '%s\n' "$commands" | head -n 1)
    chroot "$root" /usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups \
        /usr/bin/env -i HOME=/nonexistent PATH=/usr/bin:/bin LANG=C.UTF-8 \
        /bin/sh -c "cd /srv/cpkit && $first" >"$dir/unprivileged.log" 2>&1 </dev/null
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q 'sudo apt-get .*install' "$dir/unprivileged.log"; then
        line="$suite: unprivileged: exit 2 with: $(grep 'sudo apt-get' "$dir/unprivileged.log" | head -n 1)"
    else
        line="$suite: unprivileged: exit $rc, expected 2 and the sudo apt-get line (log: $dir/unprivileged.log)"
        overall=1
    fi
    say "$line"
    summary="$summary
$line"
    n=0
    printf '%s\n' "$commands" > "$dir/commands.txt"
    while IFS= read -r cmd; do
        n=$((n + 1))
        say "$suite: command $n: $cmd"
        t0=$(date +%s)
        chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
            /bin/sh -c "cd /srv/cpkit && $cmd" >"$dir/command$n.log" 2>&1 </dev/null
        rc=$?
        line="$suite: command $n: exit $rc in $(elapsed "$t0"): $cmd"
        say "$line"
        tail -n 3 "$dir/command$n.log" | sed 's/^/    /'
        summary="$summary
$line"
        [ "$rc" -eq 0 ] || overall=1
    done < "$dir/commands.txt"
    cleanup
done
echo "fresh-machine: summary (logs in $fresh/<suite>/):$summary"
exit "$overall"
