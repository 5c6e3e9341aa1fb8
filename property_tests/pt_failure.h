/* A violated property. Thrown by the model (on any thread); rapidcheck turns
 * it into a failing case with this text. */
#ifndef PT_FAILURE_H
#define PT_FAILURE_H

#include <stdexcept>
#include <string>

namespace pt {

class Failure : public std::runtime_error {
public:
    explicit Failure(const std::string& what) : std::runtime_error(what) {}
};

[[noreturn]] inline void fail(const std::string& what) { throw Failure(what); }

} // namespace pt

#endif
