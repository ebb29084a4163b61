// PLACEHOLDER: lands with issue 5 (see job_controller.hpp).
