// Where a configuration problem is, and what it is. Every parser reports into a
// Diagnostics list instead of stopping at the first problem, so `imta cnbuild`
// can show an administrator every mistake in one run.
#pragma once

#include <string>
#include <vector>

namespace imta::config {

/// A file and 1-based line number; line 0 means "the file as a whole".
struct SourceLocation {
  std::string file;
  int line = 0;
  /// "file:line" (or just "file" when line is 0).
  std::string str() const {
    return line > 0 ? file + ":" + std::to_string(line) : file;
  }
};

enum class Severity { error, warning };

struct Diagnostic {
  SourceLocation where;
  Severity severity = Severity::error;
  std::string message;
  /// "file:line: problem" for errors, "file:line: warning: problem" for warnings.
  std::string str() const {
    return where.str() + (severity == Severity::warning ? ": warning: " : ": ") + message;
  }
};

class Diagnostics {
 public:
  void error(const SourceLocation& where, std::string message) {
    items_.push_back({where, Severity::error, std::move(message)});
    ++errors_;
  }
  void warning(const SourceLocation& where, std::string message) {
    items_.push_back({where, Severity::warning, std::move(message)});
  }
  const std::vector<Diagnostic>& items() const { return items_; }
  std::size_t error_count() const { return errors_; }
  std::size_t warning_count() const { return items_.size() - errors_; }
  bool ok() const { return errors_ == 0; }

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
};

}  // namespace imta::config
