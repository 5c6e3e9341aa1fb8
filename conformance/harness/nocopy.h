/* Base of the harness's scope and resource classes: neither copyable nor
 * movable, so that a scope cannot end twice. */
#ifndef CPK_NOCOPY_H
#define CPK_NOCOPY_H

namespace cpk {

class NoCopy {
protected:
    NoCopy() = default;
    ~NoCopy() = default;

public:
    NoCopy(const NoCopy&) = delete;
    NoCopy& operator=(const NoCopy&) = delete;
};

} // namespace cpk

#endif
