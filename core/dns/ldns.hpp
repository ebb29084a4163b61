// Includes ldns for C++. Without <stdbool.h> first, ldns/common.h defines
// `bool`, `true` and `false` as macros (0 and 1), which breaks the standard
// library headers included after it (std::optional's operator<=>).
#pragma once

#include <stdbool.h>  // NOLINT(modernize-deprecated-headers): sets __bool_true_false_are_defined

#include <ldns/ldns.h>
