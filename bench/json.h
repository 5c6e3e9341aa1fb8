// A minimal JSON writer for the bench's result files.
#ifndef CPK_BENCH_JSON_H
#define CPK_BENCH_JSON_H

#include <cmath>
#include <cstdio>
#include <string>

namespace bench {

inline std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

// A number, or null when it was not measured (NaN).
inline std::string json_number(double value, int decimals = 3) {
    if (std::isnan(value)) {
        return "null";
    }
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value);
    return text;
}

void write_file(const std::string& path, const std::string& text);

} // namespace bench

#endif // CPK_BENCH_JSON_H
