#include <catch2/catch.hpp>

#include <stdlib.h>

#include <fstream>

#include "config/default_files.hpp"
#include "config/mapping_engine.hpp"
#include "config/snapshot.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;
namespace fs = std::filesystem;

namespace {

// A configuration directory holding the default files, removed afterwards.
struct ConfigDir {
  fs::path dir;
  ConfigDir() {
    std::string tmpl = (fs::temp_directory_path() / "imta-snapshot-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    for (const auto& f : default_files()) write(std::string(f.name), fill_placeholders(f.contents));
  }
  ~ConfigDir() { fs::remove_all(dir); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(dir / name) << text; }
  void append(const std::string& name, const std::string& text) const {
    std::ofstream(dir / name, std::ios::app) << text;
  }
};

std::vector<std::string> errors_of(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& i : d.items())
    if (i.severity == Severity::error) out.push_back(i.str());
  return out;
}

bool any_contains(const std::vector<std::string>& lines, std::string_view text) {
  for (const auto& l : lines)
    if (l.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("the default configuration loads without errors", "[snapshot]") {
  ConfigDir cfg;
  Diagnostics d;
  auto snap = load_configuration(cfg.dir, d);
  INFO((d.items().empty() ? std::string() : d.items().front().str()));
  REQUIRE(errors_of(d).empty());
  CHECK(snap.imta_cnf.channels.size() == 10);  // l, 4 tcp_*, process, conversion, pipe, bitbucket, hold
  CHECK(snap.local_domain == "example.test");
  CHECK(snap.mappings.find("ORIG_SEND_ACCESS") != nullptr);
  CHECK(snap.channel_options.count("tcp_local") == 1);
  CHECK(snap.dispatcher.services.size() == 3);
}

TEST_CASE("a snapshot read back from its image answers exactly as the original", "[snapshot]") {
  ConfigDir cfg;
  cfg.append("general.txt", "relay smarthost.example.net\n");
  Diagnostics d;
  auto original = load_configuration(cfg.dir, d);
  REQUIRE(d.ok());
  auto bytes = encode_image(original);
  auto copy = decode_image(bytes);
  CHECK(encode_image(copy) == bytes);  // nothing lost or reordered

  SnapshotLookups a(original), b(copy);
  for (std::string address : {"user@example.test", "user@example.org", "user%other.org@example.test",
                              "user@[192.0.2.1]", "postmaster"}) {
    RewriteRequest request;
    request.address = address;
    auto x = rewrite_address(original.imta_cnf, a, request);
    auto y = rewrite_address(copy.imta_cnf, b, request);
    CHECK(x.ok == y.ok);
    CHECK(x.channel == y.channel);
    CHECK(x.address == y.address);
  }
  for (std::string probe : {"tcp_local|a@x.org|tcp_local|b@y.org", "tcp_intranet|a@x.org|tcp_local|b@y.org"}) {
    auto x = apply_mapping(original.mappings, "ORIG_SEND_ACCESS", probe);
    auto y = apply_mapping(copy.mappings, "ORIG_SEND_ACCESS", probe);
    CHECK(x.reject == y.reject);
    CHECK(x.reject_text == y.reject_text);
  }
  CHECK(copy.general.lookup("RELAY") == std::optional<std::string>("smarthost.example.net"));
  CHECK(copy.options.integer("LOG_CONNECTION") == 3);
  CHECK(copy.aliases.entries.size() == original.aliases.entries.size());
  CHECK(copy.job_controller.pools.size() == 3);
}

TEST_CASE("damaged images are refused with a reason, never misread", "[snapshot]") {
  ConfigDir cfg;
  Diagnostics d;
  auto bytes = encode_image(load_configuration(cfg.dir, d));

  auto refused = [](std::string_view b, std::string_view why) {
    try {
      decode_image(b);
      FAIL("image accepted");
    } catch (const ImageError& e) {
      CHECK_THAT(e.what(), Catch::Contains(std::string(why)));
    }
  };
  refused(bytes.substr(0, bytes.size() - 1), "truncated");
  auto flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  refused(flipped, "checksum");
  auto other_version = bytes;
  other_version[8] ^= 0x01;  // the version number follows the 8-byte magic
  refused(other_version, "another imta version");
  refused("hello", "not an imta configuration image");

  CHECK_THROWS_WITH(load_image(cfg.dir / "no-such.image"), Catch::Contains("run imta cnbuild"));
}

TEST_CASE("a changed text file is noticed after the image was built", "[snapshot]") {
  ConfigDir cfg;
  Diagnostics d;
  auto snap = load_configuration(cfg.dir, d);
  REQUIRE(d.ok());
  CHECK(snap.changed_sources().empty());
  cfg.append("mappings", "\nEXTRA\n  *  $Y\n");
  auto changed = snap.changed_sources();
  REQUIRE(changed.size() == 1);
  CHECK(fs::path(changed[0]).filename() == "mappings");
}

TEST_CASE("problems that span files are reported", "[snapshot]") {
  ConfigDir cfg;
  cfg.write("job_controller.cnf", "[POOL=DEFAULT]\nJOB_LIMIT=5\n");  // LOCAL_POOL and SMTP_POOL gone
  cfg.append("dispatcher.cnf", "\n[SERVICE=LMTP]\nPORT=2424\nPARAMETER=CHANNEL=lmtp_nowhere\n");
  cfg.write("nosuch_option", "MAX_B_ENTRIES=5\n");
  Diagnostics d;
  load_configuration(cfg.dir, d);
  auto errors = errors_of(d);
  CHECK(any_contains(errors, "LOCAL_POOL"));
  CHECK(any_contains(errors, "SMTP_POOL"));
  CHECK(any_contains(errors, "lmtp_nowhere"));
  bool warned = false;
  for (const auto& i : d.items())
    warned |= i.severity == Severity::warning && i.message.find("no channel \"nosuch\"") != std::string::npos;
  CHECK(warned);
}

TEST_CASE("missing optional files mean empty tables and defaults; imta.cnf is required", "[snapshot]") {
  ConfigDir cfg;
  for (auto name : {"mappings", "aliases", "general.txt", "option.dat", "tcp_local_option"}) fs::remove(cfg.dir / name);
  Diagnostics d;
  auto snap = load_configuration(cfg.dir, d);
  CHECK(errors_of(d).empty());
  CHECK(snap.mappings.tables.empty());
  CHECK(snap.options.integer("BLOCK_SIZE") == 1024);

  fs::remove(cfg.dir / "imta.cnf");
  Diagnostics d2;
  load_configuration(cfg.dir, d2);
  CHECK(any_contains(errors_of(d2), "imta.cnf: cannot read file"));
}

TEST_CASE("rewrite lookups reach the general database and $Y mappings only", "[snapshot]") {
  ConfigDir cfg;
  cfg.append("general.txt", "Alpha beta\n");
  cfg.append("mappings", "\nROUTES\n  a.example  $Yrelay.example\n  b.example  $Nno\n  c.example  plain\n");
  Diagnostics d;
  auto snap = load_configuration(cfg.dir, d);
  REQUIRE(d.ok());
  SnapshotLookups lookups(snap);
  CHECK(lookups.general("alpha") == std::optional<std::string>("beta"));
  CHECK_FALSE(lookups.general("gamma"));
  CHECK(lookups.mapping("ROUTES", "a.example") == std::optional<std::string>("relay.example"));
  CHECK_FALSE(lookups.mapping("ROUTES", "b.example"));
  CHECK_FALSE(lookups.mapping("ROUTES", "c.example"));
  CHECK_FALSE(lookups.mapping("NO_TABLE", "a.example"));
}
