# How the kit's sanitized builds are compiled and run: the reference's unit tests,
# every IMPL built from sources, the tools' fixture and the coverage build.
# ASan+UBSan; a report ends the process whatever the run-time options say.
SAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer

# Run-time options for a recipe's command line, appended to the caller's own so that
# these win. `make validate` runs its tests with the same ones (tools/cpkit/catch2.py).
SAN_ENV  := ASAN_OPTIONS="$${ASAN_OPTIONS:+$$ASAN_OPTIONS:}detect_leaks=1:halt_on_error=1" \
            UBSAN_OPTIONS="$${UBSAN_OPTIONS:+$$UBSAN_OPTIONS:}halt_on_error=1:print_stacktrace=1"
TSAN_ENV := TSAN_OPTIONS="$${TSAN_OPTIONS:+$$TSAN_OPTIONS:}halt_on_error=1:second_deadlock_stack=1"
