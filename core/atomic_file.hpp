// Replacing a file so that readers see either the old contents or the new,
// never a mixture, and so that the new contents survive a crash once the call
// returns: write a temporary file in the same directory, fsync it, rename it
// over the target, fsync the directory.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace imta::core {

/// Writes `contents` to `path` atomically and durably. Returns an empty string
/// on success, else a message naming the path and the system error; on
/// failure the target is untouched and no temporary file is left behind.
std::string write_file_atomic(const std::filesystem::path& path, std::string_view contents,
                              mode_t mode = 0644);

}  // namespace imta::core
