// PLACEHOLDER: lands with issue 5 (see submit.hpp).
