// What the process-channel and submission tests share: a temporary directory,
// the default configuration of `imta init` (with edits) loaded as a snapshot,
// and a queue store with a mail.log writer in a temporary instance.
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/default_files.hpp"
#include "config/log_options.hpp"
#include "config/snapshot.hpp"
#include "core/log/async_log.hpp"
#include "queue/store.hpp"

namespace imta::testing {

namespace fs = std::filesystem;

struct TempDir {
  fs::path dir;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "imta-process-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

inline std::string fill(std::string_view text) {
  std::string s(text);
  for (auto [from, to] : {std::pair{"{{DOMAIN}}", "example.test"}, {"{{HOSTNAME}}", "mail.example.test"},
                          {"{{ROOT}}", "/srv/imta"}})
    for (std::size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, std::string_view(from).size(), to);
  return s;
}

/// The default configuration of `imta init` for example.test (host
/// mail.example.test), with edits, loaded.
struct Config {
  TempDir tmp;
  std::map<std::string, std::string> files;
  Config() {
    for (const auto& f : config::default_files()) files[std::string(f.name)] = fill(f.contents);
  }
  Config& edit(const std::string& name, const std::string& from, const std::string& to) {
    auto& text = files[name];
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return *this;
  }
  Config& add(const std::string& name, const std::string& text) {
    files[name] += text;
    return *this;
  }
  std::shared_ptr<const config::Snapshot> load() {
    for (const auto& [name, text] : files) std::ofstream(tmp.dir / name) << text;
    config::Diagnostics d;
    auto snap = config::load_configuration(tmp.dir, d);
    for (const auto& i : d.items()) {
      INFO(i.str());
      REQUIRE(i.severity != config::Severity::error);
    }
    return std::make_shared<const config::Snapshot>(std::move(snap));
  }
};

/// A queue and a log directory in a temporary instance.
struct Instance {
  TempDir tmp;
  fs::path queue_dir = tmp.dir / "queue";
  fs::path log_dir = tmp.dir / "log";
  std::unique_ptr<queue::Store> store;
  std::unique_ptr<core::log::AsyncMailLog> log;

  explicit Instance(const config::Snapshot& snapshot) {
    fs::create_directories(queue_dir);
    fs::create_directories(log_dir);
    queue::StoreOptions so;
    so.root = queue_dir;
    so.sync = queue::SyncMode::per_file;
    store = std::make_unique<queue::Store>(so);
    core::log::MailLogFileOptions lo;
    lo.log_dir = log_dir;
    lo.format = config::log_options(snapshot.options);
    log = std::make_unique<core::log::AsyncMailLog>(lo);
  }

  /// Every line of mail.log_current (after writing what is queued).
  std::vector<std::string> log_lines() {
    log->flush();
    std::ifstream in(log_dir / "mail.log_current");
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  }

  /// Every queue file (path relative to the queue directory).
  std::vector<queue::QueueEntry> files(const std::string& channel = {}) {
    std::vector<queue::QueueEntry> out;
    queue::ScanOptions opts;
    opts.channel = channel;
    opts.cleanup = false;
    store->scan(opts, [&](const queue::QueueEntry& e) { out.push_back(e); });
    return out;
  }
};

/// The fields of a log line, split on runs of blanks.
inline std::vector<std::string> words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace imta::testing
