# Debian packages the kit needs on this release (mk/packages.sh picks the list:
# mk/packages.txt on Debian 12, mk/packages-debian13.txt on 13). `deps` installs
# the missing ones when run as root, otherwise stops with the exact command to run.
DEPS_PACKAGES := $(shell sh mk/packages.sh)

.PHONY: deps
deps:
	@sh mk/install-deps.sh $(DEPS_PACKAGES)
