// A throw-away imta instance for the pipe and conversion channel tests: the
// default files of `imta init` (placeholders filled for example.test), edits
// on top, the configuration loaded as the daemon would, a queue store, and
// scripts the channels run. Everything lives under one temporary directory,
// removed at the end (also when a test fails). The directory is readable by
// everyone: under root the programs run as `nobody`.
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/default_files.hpp"
#include "config/snapshot.hpp"
#include "core/instance.hpp"
#include "queue/master.hpp"
#include "queue/store.hpp"
#include "queue/submit.hpp"

namespace imta::testing {

namespace fs = std::filesystem;

inline std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class TempInstance {
 public:
  TempInstance() {
    std::string tmpl = (fs::temp_directory_path() / "imta-filters-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root = tmpl;
    ::chmod(root.c_str(), 0755);
    for (const auto& f : config::default_files()) files[std::string(f.name)] = fill(f.contents);
    fs::create_directories(root / "config");
    fs::create_directories(root / "db");
    fs::create_directories(root / "out");
    ::chmod((root / "out").c_str(), 0777);  // programs running as nobody write here
  }
  ~TempInstance() {
    submitter.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(root, ec);
  }
  TempInstance(const TempInstance&) = delete;
  TempInstance& operator=(const TempInstance&) = delete;

  /// Replaces `from` by `to` in config file `name` (which must contain it).
  TempInstance& edit(const std::string& name, const std::string& from, const std::string& to) {
    auto& text = files[name];
    auto at = text.find(from);
    REQUIRE(at != std::string::npos);
    text.replace(at, from.size(), to);
    return *this;
  }
  TempInstance& append(const std::string& name, const std::string& text) {
    files[name] += text;
    return *this;
  }

  /// Writes the files and loads them; fails the test on any error.
  std::shared_ptr<const config::Snapshot> load() {
    for (const auto& [name, text] : files) std::ofstream(root / "config" / name, std::ios::binary) << text;
    config::Diagnostics diags;
    auto snap = config::load_configuration(root / "config", diags);
    for (const auto& d : diags.items())
      if (d.severity == config::Severity::error) FAIL_CHECK(d.str());
    REQUIRE(diags.ok());
    snapshot = std::make_shared<const config::Snapshot>(std::move(snap));
    for (const auto& ch : snapshot->imta_cnf.channels)
      if (ch.name != "defaults") fs::create_directories(root / "queue" / ch.name);
    queue::StoreOptions options;
    options.root = root / "queue";
    options.subdirs = [](std::string_view) { return 0u; };
    store = std::make_unique<queue::Store>(options);
    submitter = std::make_unique<queue::Submitter>(snapshot, *store, nullptr, nullptr);
    instance = std::make_unique<core::Instance>(root);
    services.instance = instance.get();
    services.snapshot = snapshot;
    services.store = store.get();
    services.submitter = submitter.get();
    services.now_ms = [] { return std::int64_t(1'800'000'000'000); };
    services.trace = [this](std::string_view line) { trace.emplace_back(line); };
    return snapshot;
  }

  /// An executable shell script under the instance (mode 0755).
  std::string script(const std::string& name, const std::string& body) {
    auto path = root / name;
    std::ofstream(path, std::ios::binary) << "#!/bin/sh\n" << body;
    ::chmod(path.c_str(), 0755);
    return path.string();
  }

  /// Enqueues `message` to `channel` with `envelope`; returns the file.
  queue::QueuePath enqueue(const std::string& channel, core::Envelope envelope, const std::string& message) {
    std::error_code ec;
    envelope.size = message.size();
    auto txn = store->begin({queue::Copy{channel, envelope}}, ec);
    INFO(ec.message());
    REQUIRE(txn);
    REQUIRE(!txn->write(message));
    std::vector<queue::QueuePath> out;
    REQUIRE(!txn->commit(&out));
    REQUIRE(out.size() == 1);
    return out.front();
  }

  /// Every file queued for `channel` now.
  std::vector<queue::QueueEntry> queued(const std::string& channel) const {
    std::vector<queue::QueueEntry> out;
    queue::ScanOptions scan;
    scan.channel = channel;
    scan.cleanup = false;
    store->scan(scan, [&](const queue::QueueEntry& e) { out.push_back(e); });
    return out;
  }

  /// Claims the file and runs `master` on it.
  queue::DeliveryReport deliver(queue::Master& master, const queue::QueuePath& file) {
    auto entry = store->find(file.name.str(), file.channel);
    REQUIRE(entry);
    auto claim = store->claim(*entry);
    REQUIRE(claim);
    return master.deliver(*claim);
  }

  fs::path root;
  std::map<std::string, std::string> files;
  std::shared_ptr<const config::Snapshot> snapshot;
  std::unique_ptr<queue::Store> store;
  std::unique_ptr<queue::Submitter> submitter;
  std::unique_ptr<core::Instance> instance;
  queue::MasterServices services;
  std::vector<std::string> trace;

 private:
  std::string fill(std::string_view text) const {
    std::string s(text);
    for (auto [from, to] : {std::pair<std::string, std::string>{"{{DOMAIN}}", "example.test"},
                            {"{{HOSTNAME}}", "mail.example.test"},
                            {"{{ROOT}}", root.string()}})
      for (std::size_t p; (p = s.find(from)) != std::string::npos;) s.replace(p, from.size(), to);
    return s;
  }
};

/// A simple envelope from `from` to each of `to` (active = original).
inline core::Envelope envelope(const std::string& from, const std::vector<std::string>& to,
                               const std::string& source = "tcp_local") {
  core::Envelope env;
  env.from = from;
  env.source_channel = source;
  env.received_ms = 1'800'000'000'000;
  env.message_id = "<m1@example.org>";
  for (const auto& t : to) env.recipients.push_back({t, t, 0, "rfc822;" + t});
  return env;
}

inline const std::string sample_message =
    "From: amy@example.org\r\nTo: bert@example.test\r\nSubject: hello\r\nMessage-ID: <m1@example.org>\r\n\r\n"
    "line one\r\nline two\r\n";

}  // namespace imta::testing
