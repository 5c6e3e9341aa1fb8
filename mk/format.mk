# One style for the kit's C and C++ code, written down in .clang-format.
#   make format         rewrites every file in FORMAT_DIRS in that style
#   make format-check   lists the files `make format` would change, fails if any (.ci/run)
# conformance/selftest/impls/ has a .clang-format of its own that turns formatting off:
# those implementations stand for third parties' code, each written independently of
# the reference and of the others, and are judged as any IMPL is, style included.
# clang-format versions format some constructs differently: the tree is kept with the
# version of Debian 12 (CLANG_FORMAT_MAJOR); format-check says when another one runs.
CLANG_FORMAT       ?= clang-format
CLANG_FORMAT_MAJOR := 14
FORMAT_DIRS        := reference conformance property_tests bench examples include tools
FORMAT_FIND         = find $(FORMAT_DIRS) -type f \( -name '*.c' -o -name '*.h' -o -name '*.cpp' -o -name '*.hpp' \) | sort

.PHONY: format format-check
format: | deps
	@$(FORMAT_FIND) | xargs $(CLANG_FORMAT) -i --style=file
	@echo "format: $$($(FORMAT_FIND) | wc -l) files in the .clang-format style"

format-check: | deps
	@v=$$($(CLANG_FORMAT) --version | sed -n 's/.*version \([0-9][0-9]*\).*/\1/p'); \
	bad=""; n=0; for f in $$($(FORMAT_FIND)); do n=$$((n + 1)); \
	  $(CLANG_FORMAT) --style=file "$$f" | cmp -s - "$$f" || bad="$$bad $$f"; done; \
	if [ -z "$$bad" ]; then echo "format-check: $$n files in the .clang-format style"; exit 0; fi; \
	printf 'format-check: not in the .clang-format style (make format rewrites them):\n'; \
	printf '  %s\n' $$bad; \
	[ "$$v" = "$(CLANG_FORMAT_MAJOR)" ] || \
	  echo "format-check: this is clang-format $$v; the tree is kept with clang-format $(CLANG_FORMAT_MAJOR)"; \
	exit 1
