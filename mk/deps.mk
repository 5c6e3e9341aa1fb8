# Debian packages the kit needs. `deps` installs the missing ones when run as
# root, otherwise stops with the exact command to run.
DEPS_PACKAGES := g++ make python3 catch2 librapidcheck-dev lcov

.PHONY: deps
deps:
	@sh mk/install-deps.sh $(DEPS_PACKAGES)
