// PLACEHOLDER: lands with issue 5 (see outcome.hpp).
