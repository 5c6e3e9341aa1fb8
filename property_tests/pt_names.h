/* Readable names of the model's small enums, looked up in a table in
 * declaration order. */
#ifndef PT_NAMES_H
#define PT_NAMES_H

#include <cstddef>

namespace pt {

/* names[k], or "?" for a value the table does not name. */
template <class Enum, size_t N> const char* name_in(const char* const (&names)[N], Enum k) {
    const size_t i = static_cast<size_t>(k);
    return i < N ? names[i] : "?";
}

} // namespace pt

#endif
