// CRC-32C (Castagnoli), the checksum that seals a queue file's content (see
// message_file.hpp): a recycled file renamed into place before its new bytes
// reached the disk must never pass for a whole message after a crash.
#pragma once

#include <cstdint>
#include <string_view>

namespace imta::queue {

/// Extends `crc` (0 to start) over `bytes`: crc32c(crc32c(0, a), b) equals
/// crc32c(0, a + b); crc32c(0, "123456789") is 0xE3069283. Uses the CPU's
/// CRC32 instruction where there is one.
std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes);

}  // namespace imta::queue
