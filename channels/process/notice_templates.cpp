// Notice templates; see notice_templates.hpp.
#include "channels/process/notice_templates.hpp"

#include <fstream>
#include <sstream>

#include "config/default_files.hpp"

namespace imta::channels::process {

std::string_view template_file_name(core::NoticeKind kind) {
  switch (kind) {
    case core::NoticeKind::delay: return "return_delay.txt";
    case core::NoticeKind::success: return "return_success.txt";
    default: return "return_failure.txt";
  }
}

std::string load_template(const std::filesystem::path& config_dir, core::NoticeKind kind) {
  const std::string name(template_file_name(kind));
  if (!config_dir.empty()) {
    std::ifstream in(config_dir / "locale" / name, std::ios::binary);
    if (in) {
      std::ostringstream text;
      text << in.rdbuf();
      if (in.good() || in.eof()) return text.str();
    }
  }
  for (const auto& f : config::default_files())
    if (f.name == "locale/" + name) return std::string(f.contents);
  return {};
}

}  // namespace imta::channels::process
