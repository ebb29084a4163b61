// Where a configuration problem is, and what it is. Every parser reports into a
// Diagnostics list instead of stopping at the first problem, so `imta cnbuild`
// can show an administrator every mistake in one run.
#pragma once

#include <compare>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace imta::config {

/// The name of a configuration file as locations hold it. A configuration has
/// a handful of files but tens of thousands of locations (every rule, entry and
/// keyword has one), so locations share the name instead of each holding a
/// copy: copying a location never allocates, and freeing a snapshot does not
/// free one string per location. Reads like the std::string it replaces.
class SourceFile {
 public:
  SourceFile() = default;
  // Implicit on purpose: locations are written {"imta.cnf", 3} or {path, 0}.
  SourceFile(std::string_view name) : name_(share(name)) {}
  SourceFile(const std::string& name) : SourceFile(std::string_view(name)) {}
  SourceFile(const char* name) : SourceFile(std::string_view(name)) {}

  const std::string& str() const { return name_ ? *name_ : no_name(); }
  operator const std::string&() const { return str(); }
  bool empty() const { return str().empty(); }
  std::size_t size() const { return str().size(); }
  const char* c_str() const { return str().c_str(); }

  friend bool operator==(const SourceFile& a, const SourceFile& b) {
    return a.name_ == b.name_ || a.str() == b.str();
  }
  friend bool operator==(const SourceFile& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const SourceFile& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const SourceFile& a, const char* b) { return a.str() == b; }
  friend std::strong_ordering operator<=>(const SourceFile& a, const SourceFile& b) {
    return a.str().compare(b.str()) <=> 0;
  }
  friend std::string operator+(const SourceFile& a, std::string_view b) {
    return a.str() + std::string(b);
  }
  friend std::string operator+(std::string_view a, const SourceFile& b) {
    return std::string(a) + b.str();
  }

 private:
  static const std::string& no_name() {
    static const std::string empty;
    return empty;
  }
  static std::shared_ptr<const std::string> share(std::string_view name) {
    if (name.empty()) return nullptr;
    // A parser walks one file line by line, so consecutive locations nearly
    // always name the file the previous one named: remembering the last name
    // is enough to make them share it, with no table to look things up in.
    thread_local std::shared_ptr<const std::string> last;
    if (!last || *last != name) last = std::make_shared<const std::string>(name);
    return last;
  }
  std::shared_ptr<const std::string> name_;  ///< null for ""
};

/// A file and 1-based line number; line 0 means "the file as a whole".
struct SourceLocation {
  SourceFile file;
  int line = 0;
  /// "file:line" (or just "file" when line is 0).
  std::string str() const {
    return line > 0 ? file + ":" + std::to_string(line) : file.str();
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
