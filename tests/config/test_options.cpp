#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/dispatcher_cnf.hpp"
#include "config/job_controller_cnf.hpp"
#include "config/options.hpp"
#include "config/source_lines.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

std::vector<SourceLine> lines_of(const std::string& text, const std::string& file = "option.dat") {
  Diagnostics ignored;
  return split_source(text, file, option_file_read_options(), ignored);
}

Options parse(const std::string& text, Diagnostics& diags,
              const OptionRegistry& registry = option_dat_registry()) {
  return parse_options(lines_of(text), registry, diags);
}

std::vector<std::string> read_lines(const std::filesystem::path& path) {
  auto text = read_file(path);
  INFO("reading " << path.string());
  REQUIRE(text.has_value());
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text->size()) {
    auto end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    lines.push_back(text->substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

// The man page must hold, for every option of the registries, a `.It Cm NAME`
// item followed by exactly the summary lines man_summary() gives (type, range,
// default, where allowed, acted on or not), and no item for an option that
// does not exist.
void check_man_page(const std::string& page, const std::vector<const OptionRegistry*>& registries) {
  auto lines = read_lines(source_root() / "man" / page);
  std::set<std::string> known;
  for (const auto* registry : registries) {
    for (const auto& spec : registry->specs) {
      known.insert(std::string(spec.name));
      std::string item = ".It Cm " + std::string(spec.name);
      auto at = std::find(lines.begin(), lines.end(), item);
      INFO(page << " must document " << spec.name << " with \"" << item << "\"");
      REQUIRE(at != lines.end());
      auto summary = man_summary(spec, *registry);
      for (std::size_t i = 0; i < summary.size(); ++i) {
        auto line = at + 1 + static_cast<std::ptrdiff_t>(i);
        INFO("line " << i + 1 << " after " << item);
        REQUIRE(line != lines.end());
        CHECK(*line == summary[i]);
      }
    }
  }
  for (const auto& line : lines) {
    if (line.rfind(".It Cm ", 0) != 0) continue;
    std::string name = line.substr(7);
    bool option_like = !name.empty() && name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") ==
                                            std::string::npos;
    if (!option_like) continue;
    INFO(page << " documents " << name << ", which no registry knows");
    CHECK(known.count(name) == 1);
  }
}

}  // namespace

TEST_CASE("unset options read as their registry defaults", "[options]") {
  Diagnostics diags;
  auto o = parse("", diags);
  CHECK(diags.items().empty());
  CHECK(o.integer("BLOCK_SIZE") == 1024);
  CHECK(o.integer("LOG_DIAGNOSTICS") == 1);
  CHECK(o.integer("LOG_FORMAT") == 1);
  CHECK(o.integer("MIN_CLEAN_MATCH_LENGTH") == 8);
  CHECK(o.text("RETURN_PERSONAL") == "Internet Mail Delivery");
  CHECK(o.list("DNS_SERVERS").empty());
  CHECK_FALSE(o.is_set("BLOCK_SIZE"));
  CHECK_FALSE(o.where("BLOCK_SIZE").has_value());

  auto c = parse_channel_options({}, diags);
  CHECK(c.integer("MAX_B_ENTRIES") == 10);
  CHECK(c.text("BANNER_BODY") == "ESMTP imta");
}

TEST_CASE("option.dat values: names in any case, radix integers, comments, continuation",
          "[options]") {
  Diagnostics diags;
  auto o = parse("! comment\n"
                 "log_connection = 3\n"
                 "# another comment\n"
                 "BLOCK_SIZE=16%800\n"
                 "; and another\n"
                 "\n"
                 "RETURN_PERSONAL=Postmaster of\\\n"
                 " example.org\n"
                 "DNS_SERVERS=127.0.0.1:5353, [::1]:5354\n",
                 diags);
  CHECK(messages(diags).empty());
  CHECK(o.integer("LOG_CONNECTION") == 3);
  CHECK(o.integer("log_connection") == 3);
  CHECK(o.integer("BLOCK_SIZE") == 2048);
  CHECK(o.text("RETURN_PERSONAL") == "Postmaster of example.org");
  CHECK(o.list("DNS_SERVERS") == std::vector<std::string>{"127.0.0.1:5353", "[::1]:5354"});
  REQUIRE(o.where("BLOCK_SIZE"));
  CHECK(o.where("BLOCK_SIZE")->str() == "option.dat:4");
  CHECK(o.where("RETURN_PERSONAL")->str() == "option.dat:7");
  CHECK(o.is_set("LOG_CONNECTION"));
  CHECK(dns_servers(o) == std::vector<ServerAddress>{{"127.0.0.1", 5353}, {"::1", 5354}});
}

TEST_CASE("option.dat mistakes are errors naming file, line and option", "[options]") {
  struct Case {
    std::string line;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"LOG_CONECTION=1", "option.dat:1: unknown option LOG_CONECTION (did you mean LOG_CONNECTION?)"},
      {"frobnicate=1", "option.dat:1: unknown option FROBNICATE"},
      {"LOG_FORMAT=3", "option.dat:1: LOG_FORMAT=3 is out of range (1 to 2)"},
      {"LOG_CONNECTION=256", "option.dat:1: LOG_CONNECTION=256 is out of range (0 to 255)"},
      {"BLOCK_LIMIT=-1", "option.dat:1: BLOCK_LIMIT=-1 is out of range (at least 0)"},
      {"BLOCK_SIZE=1k", "option.dat:1: BLOCK_SIZE: \"1k\" is not an integer"},
      {"BLOCK_SIZE=", "option.dat:1: BLOCK_SIZE: \"\" is not an integer"},
      {"LOG_FILENAME", "option.dat:1: expected NAME=value, found \"LOG_FILENAME\""},
      {"=1", "option.dat:1: option name missing before \"=\""},
      {"LOG FILENAME=1", "option.dat:1: malformed option name \"LOG FILENAME\""},
      {"RETURN_ADDRESS=postmaster", "option.dat:1: RETURN_ADDRESS: \"postmaster\" is not an "
                                    "address of the form local@domain"},
      {"DNS_SERVERS=dns.example.org", "option.dat:1: DNS_SERVERS: \"dns.example.org\" is not an "
                                      "address[:port] (IPv6 with a port: [address]:port)"},
      {"DNS_SERVERS=127.0.0.1:0", "option.dat:1: DNS_SERVERS: \"127.0.0.1:0\" is not an "
                                  "address[:port] (IPv6 with a port: [address]:port)"},
      {"DNS_SERVERS=127.0.0.1,,127.0.0.2", "option.dat:1: DNS_SERVERS: empty entry in the list"},
      {"DNS_SERVERS=1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9",
       "option.dat:1: DNS_SERVERS: more than 8 entries"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    Diagnostics diags;
    auto o = parse(c.line, diags);
    CHECK(messages(diags) == std::vector<std::string>{c.error});
    CHECK(diags.error_count() == 1);
  }
}

TEST_CASE("every problem in option.dat is reported, not just the first", "[options]") {
  Diagnostics diags;
  auto o = parse("LOG_FORMAT=9\nBLOCK_SIZE=x\nLOG_NODE=1\nNOPE=1\n", diags);
  CHECK(diags.error_count() == 3);
  CHECK(o.integer("LOG_NODE") == 1);
  CHECK(o.integer("LOG_FORMAT") == 1);  // a rejected value leaves the default
}

TEST_CASE("an option set twice warns and the later value wins", "[options]") {
  Diagnostics diags;
  auto o = parse("LOG_FILENAME=0\nLOG_FILENAME=1\n", diags);
  CHECK(messages(diags) == std::vector<std::string>{
                               "option.dat:2: warning: LOG_FILENAME is set again (first at "
                               "option.dat:1); the later value wins"});
  CHECK(diags.ok());
  CHECK(o.integer("LOG_FILENAME") == 1);
  CHECK(o.where("LOG_FILENAME")->line == 2);
}

TEST_CASE("reading an option through the wrong type or an unknown name is a logic error",
          "[options]") {
  Options o(option_dat_registry());
  CHECK_THROWS_AS(o.text("BLOCK_SIZE"), std::logic_error);
  CHECK_THROWS_AS(o.integer("RETURN_PERSONAL"), std::logic_error);
  CHECK_THROWS_AS(o.list("BLOCK_SIZE"), std::logic_error);
  CHECK_THROWS_AS(o.integer("NO_SUCH_OPTION"), std::logic_error);
  CHECK_THROWS_AS(o.is_set("NO_SUCH_OPTION"), std::logic_error);
  Options channel(channel_option_registry());
  CHECK_THROWS_AS(channel.integer("BLOCK_SIZE"), std::logic_error);  // option.dat's, not a channel's
}

TEST_CASE("channel option files have their own registry", "[options]") {
  Diagnostics diags;
  auto o = parse_channel_options(lines_of("MAX_B_ENTRIES=3\nLOG_BANNER=1\nAUTH_USERNAME=relay\n"
                                          "AUTH_PASSWORD=s3cret\nBLOCK_SIZE=1\n",
                                          "tcp_local_option"),
                                 diags);
  CHECK(messages(diags) == std::vector<std::string>{"tcp_local_option:5: unknown channel option BLOCK_SIZE "
                                                    "(it is an option.dat option)"});
  Diagnostics misplaced;
  parse("LOG_BANNER=1\n", misplaced);
  CHECK(messages(misplaced) == std::vector<std::string>{"option.dat:1: unknown option LOG_BANNER "
                                                        "(it is a <channel>_option option)"});
  CHECK(o.integer("MAX_B_ENTRIES") == 3);
  CHECK(o.integer("LOG_BANNER") == 1);
  CHECK(o.text("AUTH_USERNAME") == "relay");
  CHECK(o.text("AUTH_PASSWORD") == "s3cret");
}

TEST_CASE("cnbuild warns once per explicitly set option that nothing acts on yet", "[options]") {
  static const OptionSpec specs[] = {
      {.name = "DONE", .type = OptionType::integer, .min = 0, .max = 9, .implemented = true},
      {.name = "LATER", .type = OptionType::integer, .min = 0, .max = 9, .implemented = false},
      {.name = "UNUSED", .type = OptionType::integer, .min = 0, .max = 9, .implemented = false},
      {.name = "NEVER_SET", .type = OptionType::integer, .min = 0, .max = 9, .implemented = false},
  };
  static const OptionRegistry registry{RegistryKind::option_dat, "test option", specs};
  Diagnostics diags;
  auto o = parse("UNUSED=1\nDONE=1\n\nLATER=2\n", diags, registry);
  REQUIRE(diags.items().empty());
  warn_unimplemented(o, diags);
  CHECK(messages(diags) ==
        std::vector<std::string>{
            "option.dat:1: warning: UNUSED is accepted but not acted on yet by this version of imta",
            "option.dat:4: warning: LATER is accepted but not acted on yet by this version of imta"});
}

TEST_CASE("the option listing shows every option, its value, origin and meaning", "[options]") {
  Diagnostics diags;
  auto o = parse("LOG_CONNECTION=3\n", diags);
  auto rows = list_options(o);
  CHECK(rows.size() == option_dat_registry().specs.size());
  auto row = std::find_if(rows.begin(), rows.end(), [](auto& r) { return r.name == "LOG_CONNECTION"; });
  REQUIRE(row != rows.end());
  CHECK(row->value == "3");
  CHECK(row->origin == "option.dat:1");
  CHECK_FALSE(row->doc.empty());
  auto text = format_options(o);
  CHECK(text.find("LOG_CONNECTION=3 ") != std::string::npos);
  CHECK(text.find("BLOCK_SIZE=1024 ") != std::string::npos);
  CHECK(text.find("default") != std::string::npos);

  auto channel = parse_channel_options(lines_of("AUTH_PASSWORD=s3cret\n", "tcp_local_option"), diags);
  auto listing = format_options(channel);
  CHECK(listing.find("s3cret") == std::string::npos);
  CHECK(listing.find("AUTH_PASSWORD=(secret)") != std::string::npos);
}

TEST_CASE("DNS server entries accept IPv4, IPv6 and ports", "[options]") {
  CHECK(parse_server_address("192.0.2.1") == ServerAddress{"192.0.2.1", 53});
  CHECK(parse_server_address("192.0.2.1:5353") == ServerAddress{"192.0.2.1", 5353});
  CHECK(parse_server_address("::1") == ServerAddress{"::1", 53});
  CHECK(parse_server_address("0:0::1") == ServerAddress{"::1", 53});
  CHECK(parse_server_address("[2001:db8::1]:5353") == ServerAddress{"2001:db8::1", 5353});
  CHECK_FALSE(parse_server_address("[2001:db8::1]:"));
  CHECK_FALSE(parse_server_address("192.0.2.1:70000"));
  CHECK_FALSE(parse_server_address("localhost"));
  CHECK_FALSE(parse_server_address("256.0.0.1"));
}

TEST_CASE("options survive the image unchanged", "[options]") {
  Diagnostics diags;
  auto o = parse("LOG_CONNECTION=131\nRETURN_ADDRESS=bounces@example.org\n"
                 "DNS_SERVERS=127.0.0.1:5353,::1\nBLOCK_LIMIT=8%777\n",
                 diags);
  REQUIRE(diags.ok());
  ImageWriter w;
  write_image(w, o);
  ImageReader r(w.bytes());
  auto back = read_options(r, option_dat_registry());
  CHECK(r.at_end());
  for (const auto& spec : option_dat_registry().specs) {
    INFO(spec.name);
    CHECK(back.is_set(spec.name) == o.is_set(spec.name));
    CHECK(back.where(spec.name).has_value() == o.where(spec.name).has_value());
    if (o.where(spec.name)) CHECK(back.where(spec.name)->str() == o.where(spec.name)->str());
  }
  CHECK(format_options(back) == format_options(o));
  CHECK(back.integer("BLOCK_LIMIT") == 511);

  ImageReader wrong(w.bytes());
  CHECK_THROWS_AS(read_options(wrong, channel_option_registry()), ImageError);
  ImageReader truncated(std::string_view(w.bytes()).substr(0, w.bytes().size() - 3));
  CHECK_THROWS_AS(read_options(truncated, option_dat_registry()), ImageError);
}

TEST_CASE("the default option files installed by imta init parse cleanly", "[options]") {
  for (std::string name : {"option.dat", "tcp_local_option"}) {
    INFO(name);
    Diagnostics diags;
    auto lines = read_default_file(name, option_file_read_options(), diags);
    const auto& registry = name == "option.dat" ? option_dat_registry() : channel_option_registry();
    parse_options(lines, registry, diags);
    CHECK(messages(diags).empty());
  }
}

TEST_CASE("man pages document every registry entry exactly", "[options]") {
  check_man_page("option.dat.5", {&option_dat_registry(), &channel_option_registry()});
  check_man_page("dispatcher.cnf.5", {&dispatcher_registry()});
  check_man_page("job_controller.cnf.5", {&job_controller_registry()});
}

TEST_CASE("every registry entry has a one-line description", "[options]") {
  for (const auto* registry : {&option_dat_registry(), &channel_option_registry(),
                               &dispatcher_registry(), &job_controller_registry()}) {
    std::set<std::string> seen;
    for (const auto& spec : registry->specs) {
      INFO(registry->noun << " " << spec.name);
      CHECK_FALSE(spec.doc.empty());
      CHECK(spec.doc.find('\n') == std::string_view::npos);
      CHECK(seen.insert(std::string(spec.name)).second);
      if (spec.type == OptionType::integer && spec.synonym_of.empty() && spec.default_note.empty()) {
        CHECK(spec.default_integer >= spec.min);
        CHECK(spec.default_integer <= spec.max);
      }
      if (!spec.synonym_of.empty()) CHECK(registry->find(spec.synonym_of) != nullptr);
    }
  }
}
