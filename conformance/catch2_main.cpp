// The one Catch2 main, compiled once into build/catch2_main.o and linked by
// every test binary. Catch2 v3 (Debian 13) is a compiled library whose own main
// is in libCatch2Main; this one serves both so that every link line is the same.
#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_session.hpp>

int main(int argc, char* argv[]) { return Catch::Session().run(argc, argv); }
#else
// v2: console width 300, so test names never wrap in listings (v3 lists as XML).
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_CONSOLE_WIDTH 300
#include <catch2/catch.hpp>
#endif
