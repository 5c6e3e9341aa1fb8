// The one Catch2 main, compiled once into build/catch2_main.o and linked by
// every test binary. Console width 300: test names never wrap in listings.
#define CATCH_CONFIG_MAIN
#define CATCH_CONFIG_CONSOLE_WIDTH 300
#include <catch2/catch.hpp>
