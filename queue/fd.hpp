// The queue's names for the descriptor owners of core/fd.hpp.
#pragma once

#include "core/fd.hpp"

namespace imta::queue {

using core::Dir;
using core::Fd;

}  // namespace imta::queue
