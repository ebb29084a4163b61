#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config/aliases.hpp"
#include "config/general_db.hpp"
#include "test_support.hpp"

using namespace imta::config;
using namespace imta::config::testing;

namespace {

using Strings = std::vector<std::string>;

Aliases parse(const std::string& text, Diagnostics& diags, std::string_view local_domain = "example.org",
              const std::map<std::string, std::string>& files = {}) {
  IncludeLoader load = [&](const std::filesystem::path& p) -> std::optional<std::string> {
    auto it = files.find(p.string());
    if (it == files.end()) return std::nullopt;
    return it->second;
  };
  auto lines = split_source(text, "aliases", aliases_read_options(), diags, load);
  return parse_aliases(lines, diags, local_domain);
}

const char* const sample =
    "! local aliases\n"
    "postmaster: root\n"
    "Abuse: postmaster\n"
    "\n"
    "staff: alice@example.org, Bob,\n"
    "   carol@elsewhere.net\n"
    "team: alice, \\\n"
    "  staff\n"
    "john@example.org: john, john@elsewhere.net\n"
    "smiths: \"smith, jane\"@example.net, <\"john smith\"@example.net>\n";

}  // namespace

TEST_CASE("aliases: names, address lists, both kinds of continuation", "[aliases]") {
  Diagnostics diags;
  auto a = parse(sample, diags);
  CHECK(messages(diags).empty());
  REQUIRE(a.entries.size() == 6);
  CHECK(a.entries[1].name == "abuse");
  CHECK(a.entries[1].where.str() == "aliases:3");
  CHECK(a.entries[2].members == Strings{"alice@example.org", "Bob", "carol@elsewhere.net"});
  CHECK(a.entries[3].members == Strings{"alice", "staff"});
  CHECK(a.entries[5].members == Strings{"\"smith, jane\"@example.net", "<\"john smith\"@example.net>"});
  CHECK(a.find("ABUSE") == &a.entries[1]);
  CHECK(a.find("abuse@Example.Org", "example.org") == &a.entries[1]);
  CHECK(a.find("abuse@example.net", "example.org") == nullptr);
  CHECK(a.find("john", "example.org") == &a.entries[4]);
  CHECK(a.find("<John@EXAMPLE.org>") == &a.entries[4]);
}

TEST_CASE("aliases expand recursively to final addresses", "[aliases]") {
  Diagnostics diags;
  auto a = parse(sample, diags);
  REQUIRE(diags.ok());
  const std::string_view domain = "example.org";
  CHECK(expand_alias(a, "abuse", domain) == Strings{"root@example.org"});
  CHECK(expand_alias(a, "Postmaster@EXAMPLE.ORG", domain) == Strings{"root@example.org"});
  CHECK(expand_alias(a, "staff", domain) ==
        Strings{"alice@example.org", "Bob@example.org", "carol@elsewhere.net"});
  // alice comes once although team names her directly and through staff.
  CHECK(expand_alias(a, "team", domain) ==
        Strings{"alice@example.org", "Bob@example.org", "carol@elsewhere.net"});
  // An alias naming itself keeps itself as a final address.
  CHECK(expand_alias(a, "john", domain) == Strings{"john@example.org", "john@elsewhere.net"});
  CHECK(expand_alias(a, "smiths", domain) ==
        Strings{"\"smith, jane\"@example.net", "\"john smith\"@example.net"});
  // Not an alias: the address itself.
  CHECK(expand_alias(a, "nobody@example.net", domain) == Strings{"nobody@example.net"});
  CHECK(expand_alias(a, "nobody", domain) == Strings{"nobody@example.org"});
  // Without a local domain bare names stay bare and only exact names match.
  CHECK(expand_alias(a, "abuse") == Strings{"root"});
  CHECK(expand_alias(a, "abuse@example.org") == Strings{"abuse@example.org"});
}

TEST_CASE("aliases mistakes are errors naming file and line", "[aliases]") {
  check_diagnostics({
      {"postmaster root\n", {"aliases:1: expected \"name: address, ...\", found no \":\""}},
      {": root\n", {"aliases:1: empty alias name"}},
      {"postmaster:\n", {"aliases:1: alias postmaster expands to nothing"}},
      {"a: b\nA: c\n", {"aliases:2: alias A is defined twice (first at aliases:1)"}},
      {"a: b\na@example.org: c\n", {"aliases:2: alias a@example.org is defined twice (first at aliases:1)"}},
      {"a: b, , c\n", {"aliases:1: alias a: empty address in the list"}},
      {"a: |/usr/bin/vacation\n",
       {"aliases:1: alias a: \"|/usr/bin/vacation\": pipes and files are not alias targets (use the "
        "pipe channel)"}},
      {"a: /var/mail/a\n",
       {"aliases:1: alias a: \"/var/mail/a\": pipes and files are not alias targets (use the pipe "
        "channel)"}},
      {"a: [capture] b\n",
       {"aliases:1: alias a: \"[capture] b\": alias parameters such as [capture] are not supported"}},
      {"a: :include:/etc/list\n",
       {"aliases:1: alias a: \":include:/etc/list\": :include: lists are not supported (use <file)"}},
      {"a: b c\n", {"aliases:1: alias a: \"b c\": blank inside an address (a comma missing?)"}},
      {"a: b\n c d\n", {"aliases:1: alias a: \"b c d\": blank inside an address (a comma missing?)"}},
      {"a: \"b@example.org\n", {"aliases:1: alias a: \"\"b@example.org\": unbalanced quote"}},
      {"a: b@\n", {"aliases:1: alias a: \"b@\": empty local part or domain"}},
      {"a: <>\n", {"aliases:1: alias a: empty address <>"}},
      {"  a: b\n", {"aliases:1: indented line continues nothing (an alias line starts in column 1)"}},
      {"a b: c\n", {"aliases:1: malformed alias name \"a b\""}},
      {"a: b\\\n", {"aliases:1: continuation line at end of file"}},
  }, [](const std::string& text, Diagnostics& diags) { parse(text, diags); });
}

TEST_CASE("aliases: a loop through other aliases is an error naming the chain", "[aliases]") {
  Diagnostics diags;
  auto a = parse("x: ok\na: b, x\nb: c@example.org\nc: self, c, a\nself: self\n", diags);
  CHECK(messages(diags) == Strings{"aliases:2: alias loop: a -> b -> c -> a"});

  Diagnostics two;
  parse("list1: list2\nlist2: LIST1@example.org\n", two);
  CHECK(messages(two) == Strings{"aliases:1: alias loop: list1 -> list2 -> list1"});

  // Expansion never runs away, even over an image that holds a loop.
  CHECK(expand_alias(a, "a", "example.org") ==
        Strings{"self@example.org", "c@example.org", "a@example.org", "ok@example.org"});
}

TEST_CASE("aliases: <file includes", "[aliases]") {
  Diagnostics diags;
  auto a = parse("postmaster: root\n<lists\n", diags, "example.org",
                 {{"lists", "staff: a, b\n<more\n"}, {"more", "sales: staff\n"}});
  CHECK(messages(diags).empty());
  REQUIRE(a.find("sales") != nullptr);
  CHECK(a.find("sales")->where.str() == "more:1");
  CHECK(expand_alias(a, "sales", "example.org") == Strings{"a@example.org", "b@example.org"});

  Diagnostics missing;
  parse("<nowhere\n", missing);
  CHECK(messages(missing) == Strings{"aliases:1: cannot read included file \"nowhere\""});
}

TEST_CASE("aliases survive the image unchanged", "[aliases]") {
  Diagnostics diags;
  auto a = parse(sample, diags);
  REQUIRE(diags.ok());
  auto back = read_back(a, read_aliases);
  REQUIRE(back.entries.size() == a.entries.size());
  for (const auto& e : a.entries) {
    INFO(e.name);
    REQUIRE(back.find(e.name) != nullptr);
    CHECK(back.find(e.name)->where.str() == e.where.str());
    CHECK(expand_alias(back, e.name, "example.org") == expand_alias(a, e.name, "example.org"));
  }
}

TEST_CASE("aliases: the file imta init installs parses", "[aliases]") {
  Diagnostics diags;
  auto lines = read_default_file("aliases", aliases_read_options(), diags);
  auto a = parse_aliases(lines, diags, "example.org");
  CHECK(messages(diags).empty());
  CHECK(expand_alias(a, "abuse@example.org", "example.org") == Strings{"root@example.org"});
}

// ---- general database -------------------------------------------------------

namespace {

GeneralDatabase parse_db(const std::string& text, Diagnostics& diags) {
  auto lines = split_source(text, "general.txt", general_db_read_options(), diags);
  return parse_general_db(lines, diags);
}

}  // namespace

TEST_CASE("general database: key value lines, keys without case", "[aliases][general_db]") {
  Diagnostics diags;
  auto db = parse_db("! routes\nSmartHost   relay.example.net \n\nmotd Welcome to   example.org\n", diags);
  CHECK(messages(diags).empty());
  CHECK(db.lookup("smarthost") == "relay.example.net");
  CHECK(db.lookup("SMARTHOST") == "relay.example.net");
  CHECK(db.lookup("motd") == "Welcome to   example.org");
  CHECK_FALSE(db.lookup("missing"));
  CHECK_FALSE(db.lookup("relay.example.net"));
}

TEST_CASE("general database: a repeated key keeps the first value; a bare key is an error",
          "[aliases][general_db]") {
  Diagnostics diags;
  auto db = parse_db("a one\nA two\nlonely\n", diags);
  CHECK(messages(diags) ==
        Strings{"general.txt:2: warning: key A is already defined at general.txt:1; the first value is kept",
                "general.txt:3: key lonely has no value"});
  CHECK(db.lookup("a") == "one");
  CHECK_FALSE(db.lookup("lonely"));
}

TEST_CASE("general database survives the image unchanged", "[aliases][general_db]") {
  Diagnostics diags;
  auto db = parse_db("x 1\nY two words\n", diags);
  auto back = read_back(db, read_general_db);
  CHECK(back.lookup("x") == "1");
  CHECK(back.lookup("y") == "two words");
  CHECK(back.entries.at("y").where.str() == "general.txt:2");
  CHECK(back.entries.size() == 2);

  Diagnostics defaults;
  auto lines = read_default_file("general.txt", general_db_read_options(), defaults);
  parse_general_db(lines, defaults);
  CHECK(messages(defaults).empty());
}
