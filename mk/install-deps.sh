#!/bin/sh
# Installs the Debian packages named as arguments (default: this release's list,
# mk/packages.sh) that are not installed yet. As root it runs apt-get; otherwise
# it prints the command and fails.
[ $# -gt 0 ] || set -- $(sh "$(dirname "$0")/packages.sh")
missing=""
for pkg in "$@"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "cpkit: missing Debian packages:$missing" >&2
    echo "cpkit: run: sudo apt-get update && sudo apt-get install -y$missing" >&2
    exit 1
fi
echo "cpkit: installing missing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq$missing >/dev/null || {
    echo "cpkit: apt-get install failed for:$missing" >&2
    exit 1
}
