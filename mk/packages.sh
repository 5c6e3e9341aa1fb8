#!/bin/sh
# Prints the Debian packages the kit needs on this machine's release: one list per
# release, mk/packages-<ID><major VERSION_ID>.txt (packages-debian13.txt), else
# mk/packages.txt (Debian 12). Debian testing/sid (no VERSION_ID) takes the newest list.
dir=$(dirname "$0")
id=$(sed -n 's/^ID=//p' /etc/os-release 2>/dev/null | tr -d '"')
ver=$(sed -n 's/^VERSION_ID=//p' /etc/os-release 2>/dev/null | tr -d '"')
ver=${ver%%.*}
list="$dir/packages.txt"
if [ -n "$id" ] && [ -n "$ver" ] && [ -f "$dir/packages-$id$ver.txt" ]; then
    list="$dir/packages-$id$ver.txt"
elif [ "$id" = debian ] && [ -z "$ver" ]; then
    newest=$(ls "$dir"/packages-debian*.txt 2>/dev/null | sort -V | tail -n 1)
    [ -n "$newest" ] && list="$newest"
fi
cat "$list"
