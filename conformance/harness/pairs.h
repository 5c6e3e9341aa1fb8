/* Several unix socket pairs at once, each the kit's precondition. */
#ifndef CPK_PAIRS_H
#define CPK_PAIRS_H

#include <array>
#include <cstddef>

#include "sockets.h"
#include "verdict.h"

namespace cpk {

/* N unix_pair()s; CPK_KIT_REQUIRE that each was made. Use: auto [r, s] = cpk::unix_pairs<2>(); */
template <size_t N> std::array<SocketPair, N> unix_pairs() {
    std::array<SocketPair, N> pairs;
    for (SocketPair& sp : pairs) {
        sp = unix_pair();
        CPK_KIT_REQUIRE(sp.ok());
    }
    return pairs;
}

} // namespace cpk

#endif
