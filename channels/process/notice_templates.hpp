// The editable texts of notices: config/locale/return_failure.txt,
// return_delay.txt and return_success.txt of the instance (installed by
// `imta init`), or the built-in copies of those defaults when a file is
// missing or unreadable. Read for each notice, so an edit applies at once.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "core/envelope.hpp"

namespace imta::channels::process {

/// "return_failure.txt", "return_delay.txt" or "return_success.txt".
std::string_view template_file_name(core::NoticeKind kind);

/// The template text for `kind`: the file under `config_dir`/locale, else
/// the default `imta init` installs.
std::string load_template(const std::filesystem::path& config_dir, core::NoticeKind kind);

}  // namespace imta::channels::process
