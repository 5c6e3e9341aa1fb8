#!/bin/sh
# The first command on a bare Debian 12 or 13 machine (only git to clone it):
# installs make, python3 and the kit's packages for this release (mk/packages.sh)
# when run as root, otherwise prints the one `sudo apt-get ...` line and exits 2;
# then validates with tools/cpkit-validate (its arguments: make variables, e.g.
# IMPL=path/to/impl.c) and exits with the verdict: 0 conforms, 1 does not,
# 2 the kit could not judge.
cd "$(dirname "$0")/.." || exit 2
sh mk/install-deps.sh || exit 2
exec sh tools/cpkit-validate "$@"
