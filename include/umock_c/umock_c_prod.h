/* MOCKABLE_FUNCTION as production code sees it: a plain declaration.
 * MOCKABLE_FUNCTION(modifiers, result, name, type1, arg1, ...) declares
 * `modifiers result name(type1 arg1, ...)`; with no parameters, `(void)`. */
#ifndef UMOCK_C_PROD_H
#define UMOCK_C_PROD_H

#include "macro_utils/macro_utils.h"

#define MOCKABLE_FUNCTION_2(mod, result, name) mod result name(void)
#define MOCKABLE_FUNCTION_4(mod, result, name, t1, a1) mod result name(t1 a1)
#define MOCKABLE_FUNCTION_6(mod, result, name, t1, a1, t2, a2) mod result name(t1 a1, t2 a2)
#define MOCKABLE_FUNCTION_8(mod, result, name, t1, a1, t2, a2, t3, a3) mod result name(t1 a1, t2 a2, t3 a3)
#define MOCKABLE_FUNCTION_10(mod, result, name, t1, a1, t2, a2, t3, a3, t4, a4)                                        \
    mod result name(t1 a1, t2 a2, t3 a3, t4 a4)
#define MOCKABLE_FUNCTION_12(mod, result, name, t1, a1, t2, a2, t3, a3, t4, a4, t5, a5)                                \
    mod result name(t1 a1, t2 a2, t3 a3, t4 a4, t5 a5)

/* `modifiers` is split off so that every use passes at least one variadic
 * argument (ISO C99 pedantic forbids an empty `...`). */
#define MOCKABLE_FUNCTION(modifiers, ...) MU_C2(MOCKABLE_FUNCTION_, MU_COUNT_ARG(__VA_ARGS__))(modifiers, __VA_ARGS__)

/* MOCKABLE_FUNCTION_WITH_RETURNS(modifiers, result, name, ...)(success, failure);
 * declares the function; the values a mock would return are dropped. Used, as in
 * c-pal, for functions with a non-void result. */
#define UMOCK_C_PROD_DROP_RETURNS_(...)
#define MOCKABLE_FUNCTION_WITH_RETURNS(modifiers, ...)                                                                 \
    MOCKABLE_FUNCTION(modifiers, __VA_ARGS__) UMOCK_C_PROD_DROP_RETURNS_

/* The definition's head: IMPLEMENT_MOCKABLE_FUNCTION(, int, f, int, a) { ... } */
#define IMPLEMENT_MOCKABLE_FUNCTION(modifiers, ...) MOCKABLE_FUNCTION(modifiers, __VA_ARGS__)

#endif /* UMOCK_C_PROD_H */
