# Debian packages the kit needs (mk/packages.txt, shared with .ci/run). `deps`
# installs the missing ones when run as root, otherwise stops with the exact
# command to run.
DEPS_PACKAGES := $(shell cat mk/packages.txt)

.PHONY: deps
deps:
	@sh mk/install-deps.sh $(DEPS_PACKAGES)
