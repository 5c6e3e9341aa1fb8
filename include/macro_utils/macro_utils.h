/* The small part of azure-macro-utils-c that code written against c-pal uses
 * (a stand-in for the kit's own build: an implementation that passes its real
 * macro_utils with -I gets that one, its flags come first).
 * MU_DEFINE_ENUM lays values out as the real macro does: an <enum>_INVALID
 * value first (= 0), then the listed values in order (CPL_ABI_002, CPL_ABI_003). */
#ifndef MACRO_UTILS_H
#define MACRO_UTILS_H

#define MU_C2_(a, b) a##b
#define MU_C2(a, b) MU_C2_(a, b)
#define MU_TOSTRING_(x) #x
#define MU_TOSTRING(x) MU_TOSTRING_(x)
#define MU_C3(a, b, c) MU_C2(MU_C2(a, b), c)

/* printf helpers: "%s" needs a non-NULL string; arrays know their length. */
#define MU_P_OR_NULL(p) (((p) != NULL) ? (p) : "NULL")
#define MU_COUNT_ARRAY_ITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* A non-zero value for "failed" return codes, as in macro-utils. */
#define MU_FAILURE __LINE__

/* Argument counting up to 16 (enough for every list in this kit). */
#define MU_COUNT_ARG_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define MU_COUNT_ARG(...) MU_COUNT_ARG_(__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)

#define MU_FOR_EACH_1_1(m, x) m(x)
#define MU_FOR_EACH_1_2(m, x, ...) m(x) MU_FOR_EACH_1_1(m, __VA_ARGS__)
#define MU_FOR_EACH_1_3(m, x, ...) m(x) MU_FOR_EACH_1_2(m, __VA_ARGS__)
#define MU_FOR_EACH_1_4(m, x, ...) m(x) MU_FOR_EACH_1_3(m, __VA_ARGS__)
#define MU_FOR_EACH_1_5(m, x, ...) m(x) MU_FOR_EACH_1_4(m, __VA_ARGS__)
#define MU_FOR_EACH_1_6(m, x, ...) m(x) MU_FOR_EACH_1_5(m, __VA_ARGS__)
#define MU_FOR_EACH_1_7(m, x, ...) m(x) MU_FOR_EACH_1_6(m, __VA_ARGS__)
#define MU_FOR_EACH_1_8(m, x, ...) m(x) MU_FOR_EACH_1_7(m, __VA_ARGS__)
#define MU_FOR_EACH_1_9(m, x, ...) m(x) MU_FOR_EACH_1_8(m, __VA_ARGS__)
#define MU_FOR_EACH_1_10(m, x, ...) m(x) MU_FOR_EACH_1_9(m, __VA_ARGS__)
#define MU_FOR_EACH_1_11(m, x, ...) m(x) MU_FOR_EACH_1_10(m, __VA_ARGS__)
#define MU_FOR_EACH_1_12(m, x, ...) m(x) MU_FOR_EACH_1_11(m, __VA_ARGS__)
#define MU_FOR_EACH_1_13(m, x, ...) m(x) MU_FOR_EACH_1_12(m, __VA_ARGS__)
#define MU_FOR_EACH_1_14(m, x, ...) m(x) MU_FOR_EACH_1_13(m, __VA_ARGS__)
#define MU_FOR_EACH_1_15(m, x, ...) m(x) MU_FOR_EACH_1_14(m, __VA_ARGS__)
#define MU_FOR_EACH_1_16(m, x, ...) m(x) MU_FOR_EACH_1_15(m, __VA_ARGS__)
#define MU_FOR_EACH_1(m, ...) MU_C2(MU_FOR_EACH_1_, MU_COUNT_ARG(__VA_ARGS__))(m, __VA_ARGS__)

#define MU_ENUM_STRING_ENTRY_(x) #x,

/* Used as c-pal uses it: `MU_DEFINE_ENUM(NAME, NAME_VALUES)` with no trailing
 * semicolon (the macro supplies it).
 * typedef enum NAME_TAG { NAME_INVALID = 0, values... } NAME; plus the
 * declaration of the to-string function that MU_DEFINE_ENUM_STRINGS defines. */
#define MU_DEFINE_ENUM(enumName, ...)                                                                                  \
    typedef enum MU_C2(enumName, _TAG) { MU_C2(enumName, _INVALID) = 0, __VA_ARGS__ } enumName;                        \
    extern const char* MU_C2(enumName, Strings)(enumName value);

#define MU_DEFINE_ENUM_WITHOUT_INVALID(enumName, ...)                                                                  \
    typedef enum MU_C2(enumName, _TAG) { __VA_ARGS__ } enumName;                                                       \
    extern const char* MU_C2(enumName, Strings)(enumName value);

/* Defines NAMEStrings(value), used through MU_ENUM_TO_STRING. */
#define MU_DEFINE_ENUM_STRINGS(enumName, ...)                                                                          \
    const char* MU_C2(enumName, Strings)(enumName value) {                                                             \
        static const char* const names[] = {MU_TOSTRING(MU_C2(enumName, _INVALID)),                                    \
                                            MU_FOR_EACH_1(MU_ENUM_STRING_ENTRY_, __VA_ARGS__)};                        \
        return ((unsigned)value < sizeof(names) / sizeof(names[0])) ? names[(unsigned)value] : "UNKNOWN";              \
    }

#define MU_ENUM_TO_STRING(enumName, enumValue) MU_C2(enumName, Strings)(enumValue)

/* A format and its arguments, used together:
 *   printf("action=%" PRI_MU_ENUM "\n", MU_ENUM_VALUE(COMPLETION_PORT_EPOLL_ACTION, a));
 * prints the value's name and its number, e.g. "COMPLETION_PORT_EPOLL_EPOLLIN (2)".
 * The leading "s" and "" fill the "%" the caller writes. */
#define PRI_MU_ENUM "s%s (%d)"
#define MU_ENUM_VALUE(enumName, enumValue) "", MU_ENUM_TO_STRING(enumName, (enumValue)), (int)(enumValue)
/* The same for a bool: "true (1)" / "false (0)". */
#define PRI_BOOL "s (%d)"
#define MU_BOOL_VALUE(v) ((v) ? "true" : "false"), ((int)(v))

#endif /* MACRO_UTILS_H */
