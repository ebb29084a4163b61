// PLACEHOLDER: lands with issue 5 (see notice.hpp).
