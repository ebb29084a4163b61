// PLACEHOLDER: lands with issue 5 (see notify.hpp).
