// PLACEHOLDER: the resolver lands with issue 5 (see resolver.hpp).
#include "core/dns/resolver.hpp"
