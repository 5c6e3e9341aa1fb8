/* Catch2 for the kit's tests, v2 (Debian 12: <catch2/catch.hpp>) or v3
 * (Debian 13: the split headers). Include this instead of Catch2 itself. */
#ifndef CPK_CATCH_H
#define CPK_CATCH_H

#if __has_include(<catch2/catch_test_macros.hpp>)
#include <catch2/catch_session.hpp>
#include <catch2/catch_test_case_info.hpp>
#include <catch2/catch_test_macros.hpp>
#include <catch2/reporters/catch_reporter_event_listener.hpp>
#include <catch2/reporters/catch_reporter_registrars.hpp>
#define CPK_CATCH_V3 1
#else
#include <catch2/catch.hpp>
#define CPK_CATCH_V3 0
#endif

#endif
